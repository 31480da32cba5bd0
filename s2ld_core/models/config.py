"""Sizes of every S²LD network, as one serialisable dataclass.

The paper fixes the *topology* (§3.1, §3.2, Fig. 3 and 5): G1 is a residual encoder–decoder with
eight encoder residual blocks (max-pool after every two, 128² → 4²) and six decoder residual units;
D1/D3 are residual discriminators with max-pooling only in the last three layers; G2/D2 are U-Nets
with 16 residual blocks (8 encoder + 8 decoder, two per level). It leaves the *widths* to the
supplementary material, so they live here. Two profiles share the topology:

- ``"paper"``: widths 64 → 512, the usual choice for these blocks (GPU scale).
- ``"quick"`` and ``"standard"``: the same graphs with widths of 8–64, so that the whole study trains
  in minutes on a laptop CPU. Only the numbers of channels differ, so a bug seen in one profile is a
  bug in both. The widths sit with every other number of a profile in :mod:`s2ld_core.profiles`.

A checkpoint stores :meth:`NetworkConfig.to_dict`, so rebuilding its networks never needs the file
that made it (docs/architecture.md, "Checkpoints").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..profiles import PROFILES, get_profile

__all__ = ["NetworkConfig", "network_config", "PROFILES"]


def _is_pow2(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class NetworkConfig:
    """Widths and depths of G1, D1, G2, D2 and D3.

    G1 (§3.1, Fig. 3a): a stem conv, then one encoder *stage* per entry of ``g1_encoder_widths``
    (``g1_blocks_per_stage`` residual blocks → 2×2 max-pool → conv to the stage width). The paper's
    eight blocks with a pool after every two give four pools, i.e. 128 → 8, yet the text says the
    bottleneck is 4×4; the stem therefore pools as well, as many times as needed to reach
    ``g1_bottleneck`` (one, at the paper sizes). The decoder has one stage per entry of
    ``g1_decoder_widths`` (residual blocks → ×2 up-sampling → conv), three stages of two units
    = the paper's six, taking 4² → 32².

    D1/D3 (Fig. 3b): one stage per entry of ``d1_widths``/``d3_widths`` (one residual block → conv),
    the last ``d_pool_layers`` stages followed by a 2×2 max-pool (the paper: "max-pooling is only
    used in the last three layers").

    G2/D2 (Fig. 5): one U-Net level per entry of ``g2_widths``/``d2_widths``, with
    ``g2_blocks_per_level`` residual blocks on each side: 4 levels × 2 blocks × 2 sides = 16.
    """

    profile: str = "paper"
    hr_size: int = 128
    lr_size: int = 32
    noise_dim: int = 64
    g1_stem_width: int = 64
    g1_encoder_widths: tuple[int, ...] = (128, 256, 512, 512)
    g1_decoder_widths: tuple[int, ...] = (256, 128, 64)
    g1_blocks_per_stage: int = 2
    g1_bottleneck: int = 4
    d1_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    d3_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    d_pool_layers: int = 3
    d_leaky_slope: float = 0.2
    g2_widths: tuple[int, ...] = (64, 128, 256, 512)
    d2_widths: tuple[int, ...] = (64, 128, 256, 512)
    g2_blocks_per_level: int = 2
    # G1 predicts a change to F(HR) instead of the whole LR image (False = the paper's G1; see
    # HighToLowGenerator). The quick profile turns it on: its ~100 steps are too few for the paper's
    # 4×4-bottleneck encoder–decoder to even reconstruct a face, let alone learn a degradation.
    g1_residual: bool = False
    # With g1_residual: G1 also blurs F(HR) by a Gaussian whose σ (0–3 LR px) it draws from its noise
    # (False = no such head). The encoder–decoder sees the face through a 4² bottleneck, so its
    # residual cannot cancel F(HR)'s fine detail: measured, a quick G1 stays ~9× sharper than the
    # blurry target faces. A blur is the one degradation it cannot make and every camera does.
    g1_blur: bool = False

    def __post_init__(self) -> None:
        for name in ("g1_encoder_widths", "g1_decoder_widths", "d1_widths", "d3_widths", "g2_widths",
                     "d2_widths"):
            value = tuple(int(v) for v in getattr(self, name))
            if not value or min(value) < 1:
                raise ValueError(f"NetworkConfig.{name} must be a non-empty tuple of positive ints, "
                                 f"got {value}")
            object.__setattr__(self, name, value)
        for name in ("hr_size", "lr_size", "noise_dim", "g1_stem_width", "g1_blocks_per_stage",
                     "g1_bottleneck", "g2_blocks_per_level"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"NetworkConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (_is_pow2(self.hr_size // self.g1_bottleneck) and self.hr_size % self.g1_bottleneck == 0):
            raise ValueError(f"hr_size {self.hr_size} must be g1_bottleneck {self.g1_bottleneck} "
                             "times a power of 2")
        if self.g1_stem_pools < 0:
            raise ValueError(f"{len(self.g1_encoder_widths)} G1 encoder pools take hr_size {self.hr_size} "
                             f"below g1_bottleneck {self.g1_bottleneck}")
        if self.g1_bottleneck * 2 ** len(self.g1_decoder_widths) != self.lr_size:
            raise ValueError(f"G1 decoder: {len(self.g1_decoder_widths)} up-samplings from "
                             f"{self.g1_bottleneck}² do not reach lr_size {self.lr_size}")
        for name in ("d1_widths", "d3_widths"):
            if not 0 <= self.d_pool_layers <= len(getattr(self, name)):
                raise ValueError(f"d_pool_layers {self.d_pool_layers} must be in [0, len({name})]")
        if len(self.g2_widths) != len(self.d2_widths):
            raise ValueError("D2 has G2's shape (§3.2.2): g2_widths and d2_widths need the same length")

    @property
    def g1_stem_pools(self) -> int:
        """2×2 pools in G1's stem so that stem + encoder stages reach ``g1_bottleneck``."""
        return int(math.log2(self.hr_size // self.g1_bottleneck)) - len(self.g1_encoder_widths)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples become lists), so the result is YAML/JSON-safe."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they hint at a stale checkpoint)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown NetworkConfig keys {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def network_config(profile: str) -> NetworkConfig:
    """The :class:`NetworkConfig` of a named profile (``"paper"``, ``"standard"`` or ``"quick"``; the
    widths are in :mod:`s2ld_core.profiles`)."""
    if profile not in PROFILES:  # named from the largest networks down
        choices = ", ".join(reversed(PROFILES))
        raise ValueError(f"unknown network profile {profile!r}; choose one of {choices}")
    return replace(NetworkConfig(), profile=profile, **get_profile(profile).network)
