"""Every profile's numbers in one table: the network widths, the optimiser, the data sizes and the
length of each kind of training run. ``s2ld train --profile P``, ``s2ld study --profile P`` and the
networks of a P checkpoint all read the same row, so a profile's name means one thing.

* ``paper`` — §4.1 verbatim: the dataclasses' defaults (widths 64 → 512, Adam 2e-4, β (0.5, 0.9),
  batch 32, 200 epochs, learning rate × 0.5 at epochs 80 and 160). Its row changes nothing.
* ``quick`` — the same graphs with 8–64 channels and short schedules, so that the whole study (all
  five notebooks) finishes in about a quarter of an hour on a 2-core laptop. Budgets measured with
  the README's first command on 2 idle cores (default threads), wall seconds per run at 200 steps:
  G1 76 (80 steps), S1 47, S2 74, S3 148, S4 246, HR-LD 104 (80 steps at batch 16); notebook 04's six
  LightCNN runs ~190 s at 12 epochs. That came to 16.2 min, hence G1 4 epochs, each S-setting 8
  epochs (160 steps; the same for all, a fair ablation), HR-LD 1 epoch. LightCNN: 16 epochs at batch
  16 (320 steps, where it fits its training faces in every setting: 12 epochs left the aligned
  settings at 87–89 % training accuracy; its earlier 8 epochs at 64 were 40 steps and ended near
  chance, issue 27), and L5 fine-tunes the LightCNN-9 shipped in ``s2ld_core/weights/lightcnn/``
  ("pretrained, shipped").
  One epoch of HR-LD is far from converged (42.8 % NME on held-out HR renders), so the quick study
  takes the shipped HR-LD instead (``hrld_source = "shipped"``; its rows say "pretrained, shipped").
* ``standard`` — the quick networks trained to convergence on 2 CPU cores in about two hours
  (single thread, measured per step: G1 1.6 s, S1 0.5, S2 0.6, S3 1.1, S4 2.0, HR-LD 1.5): 10,240
  rendered faces, G1 1 epoch (320 steps), each S-setting 4 epochs (1,280 steps), HR-LD 1 epoch at
  batch 16. The shipped detector is made with it (``scripts/train_weights.py``).

Why quick and standard differ from the paper beyond size: far fewer steps than the paper's schedule,
so a 10× larger Adam step on a one-cycle schedule (measured: S1 reaches NME 0.035 on F(HR) in 300
steps at 1e-3; at the paper's 2e-4 it is still at 57 % NME after 600 steps, worse than the mean
shape), and G2 sees the broad camera family beside F/G1 (without it a G2 learns the renderer's
sharp look and nothing of a camera: docs/design-choices.md), and eq. 15's b and c are lowered per
step so that the paper's ordering a·l_MSE > b·l_kp > c·l_conf holds (``eq15_weights = "ordered"``;
the constants held it on 30 of 1,200 standard S4 steps, and S4 on the target-LR test went from 7.72
to 6.69 % NME with it). The standard profile keeps each term at most a tenth of the one before
(``eq15_ratio = 0.1``): at 3,600 S4 steps the validation set chose it over a half (5.34 against
5.82 % NME; docs/experiments/eq15-ordering.md). Every profile's S4 runs G2 on the real LR faces
with BatchNorm on its running statistics (``Stage2Config.real_lr_norm = "running"``): in the quick
study the validation set chose it over the train-mode forward (7.63 against 8.63 % NME;
docs/experiments/quick-study.md). G2/D2 keep 16 channels at full resolution: their 1×1 head maps
those features to K+1 heatmaps per pixel, so fewer channels than heatmaps (20 for ``aflw19``) would
force cross-talk between landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROFILES", "Budget", "Profile", "get_profile"]

PROFILES: tuple[str, ...] = ("quick", "standard", "paper")


@dataclass(frozen=True)
class Budget:
    """How long one kind of training run learns; ``None`` keeps the configuration's default."""

    epochs: int | None = None
    batch_size: int | None = None


@dataclass(frozen=True)
class Profile:
    """One row of the table: only what differs from the configuration dataclasses' defaults."""

    name: str
    network: dict[str, Any] = field(default_factory=dict)  # NetworkConfig fields
    lr: float | None = None
    schedule: str | None = None
    lr_augment: str | None = None  # Stage2Config.lr_augment
    eq15_weights: str | None = None  # Stage2Config.eq15_weights
    eq15_ratio: float | None = None  # Stage2Config.eq15_ratio
    checkpoint_every_steps: int | None = None
    data: dict[str, int] = field(default_factory=dict)  # DataConfig.embedded_* sizes
    stage1: Budget = Budget()  # G1/D1
    settings: Budget = Budget()  # G2 in S1–S4
    hrld: Budget = Budget()  # HR-LD at 128²
    verification: dict[str, Any] = field(default_factory=dict)  # the study's VerificationConfig
    g1_real_lr: str | None = None  # the study's main G1: "target" = the target domain itself
    # the study's HR-LD (upscale + HR-LD, Table 5): "train" it in the profile's budget, or take the
    # "shipped" one (s2ld_core/weights/ibug68/hrld.pt) where that budget could not make it converge
    hrld_source: str | None = None

    def budget(self, stage: str, setting: str | None = None) -> Budget:
        """The budget of a training run: stage 1, HR-LD, or G2 in an S-setting."""
        if stage == "stage1":
            return self.stage1
        return self.hrld if setting == "hrld" else self.settings


_SMALL_NETWORKS: dict[str, Any] = {
    "noise_dim": 16,
    "g1_stem_width": 8,
    "g1_encoder_widths": (16, 32, 64, 64),
    "g1_decoder_widths": (32, 16, 16),
    "d1_widths": (16, 16, 32, 64, 64),
    "d3_widths": (8, 16, 16, 32, 32),
    "g2_widths": (16, 16, 32, 64),
    "d2_widths": (8, 16, 16, 32),
    "g1_residual": True,
}

_TABLE: dict[str, Profile] = {
    "paper": Profile("paper"),
    "quick": Profile(
        "quick",
        network=_SMALL_NETWORKS,
        lr=2e-3,
        schedule="onecycle",
        lr_augment="camera-family",
        eq15_weights="ordered",
        checkpoint_every_steps=100,
        data={
            "embedded_train_identities": 80,
            "embedded_images_per_identity": 8,
            "embedded_pool_identities": 40,
            "embedded_pool_images_per_identity": 8,
            # 100 identities × 8: 800 test faces, 400 verification probes (a 3-point top-1
            # difference is then outside chance), 4 per identity
            "embedded_test_identities": 100,
            "embedded_test_images_per_identity": 8,
        },
        stage1=Budget(epochs=4),
        settings=Budget(epochs=8),
        hrld=Budget(epochs=1, batch_size=16),
        # 16 epochs of 16 on the pool's 320 faces: 320 steps, in which LightCNN fits them in every
        # setting (97–98 % on aligned faces, eval mode; 12 epochs left the aligned settings at 87–89 %,
        # 8 epochs of 64, i.e. 40 steps, near chance); L5 fine-tunes the shipped LightCNN-9
        verification={"epochs": 16, "batch_size": 16, "disabled_pools": 0, "pretrained": "shipped"},
        g1_real_lr="target",
        hrld_source="shipped",  # one epoch of HR-LD (40 steps) is far from converged
    ),
    "standard": Profile(
        "standard",
        network=_SMALL_NETWORKS,  # the shipped detector must stay within 5 ms per face on one core
        lr=2e-3,
        schedule="onecycle",
        lr_augment="camera-family",
        eq15_weights="ordered",
        eq15_ratio=0.1,
        data={"embedded_train_identities": 1280, "embedded_images_per_identity": 8},
        stage1=Budget(epochs=1),
        settings=Budget(epochs=4),
        hrld=Budget(epochs=1, batch_size=16),
        verification={"epochs": 16, "batch_size": 16, "disabled_pools": 0, "pretrained": "shipped"},
        g1_real_lr="target",
    ),
}


def get_profile(name: str) -> Profile:
    """The row of profile ``name``; a :class:`ValueError` naming the choices for any other name."""
    if name not in _TABLE:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return _TABLE[name]
