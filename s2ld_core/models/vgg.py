"""A frozen VGG-19 feature extractor for G1's perceptual loss (eq. 2, Johnson et al. [12]).

§3.1 trains G1 with a "perceptual loss back-propagated from a pre-trained VGG network". torchvision is
not a dependency and nothing is downloaded at run time, so the network is rebuilt here with exactly
torchvision's ``vgg19().features`` layout (module indices, hence state-dict keys ``features.0.weight``
…) and loads weights from a local file the user provides. Without such a file the perceptual term
is simply off (:func:`load_perceptual` returns ``None``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = ["VGG19_CFG", "VGG19_LAYERS", "build_vgg19_features", "VGGPerceptual", "load_perceptual"]

#: torchvision's configuration "E" (VGG-19): conv widths, "M" = 2×2 max-pool.
VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                    512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "pool5": 36}``: index of each named layer in ``features``."""
    names: dict[str, int] = {}
    idx, block, conv = 0, 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"], names[f"relu{block}_{conv}"] = idx, idx + 1
            idx, conv = idx + 2, conv + 1
    return names


#: Layer name → index in ``features`` (torchvision numbering).
VGG19_LAYERS: dict[str, int] = _layer_names()

# ImageNet statistics the pretrained weights expect (inputs in [0, 1] before this normalisation).
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def build_vgg19_features(last_index: int | None = None) -> nn.Sequential:
    """torchvision's ``vgg19().features`` (same modules, same indices), optionally cut after
    ``last_index``. ReLUs are not in-place so that intermediate activations stay intact."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = int(v)
    return nn.Sequential(*layers[: None if last_index is None else last_index + 1])


def _read_state_dict(path: Path, features: nn.Sequential) -> dict[str, torch.Tensor]:
    """Read ``path`` and return the entries ``features`` needs, or raise one clear error."""
    if not path.is_file():
        raise FileNotFoundError(f"VGG-19 weights file not found: {path}")
    from ..checkpoints import safe_torch_load

    raw = safe_torch_load(path, "cpu", what="VGG-19 weights file")  # a malicious pickle: refused in one line
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError(f"{path}: expected a state dict of tensors (VGG-19 'features'), "
                         f"got {type(raw).__name__}")
    expected = features.state_dict()
    found: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in raw.items():
        if key.startswith("classifier."):
            continue  # a full torchvision vgg19 state dict: the classifier is not needed
        short = key.removeprefix("features.")
        m = re.fullmatch(r"(\d+)\.(weight|bias)", short)
        if m is None:
            unexpected.append(key)
        elif short in expected:
            found[short] = value
        elif int(m.group(1)) < len(features):
            unexpected.append(key)  # a parameter where VGG-19 has a ReLU or a pool: another network
    missing = sorted(set(expected) - set(found), key=lambda k: (int(k.split(".")[0]), k))
    wrong = [f"{k} {tuple(found[k].shape)}≠{tuple(v.shape)}" for k, v in expected.items()
             if k in found and found[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:4]}" if missing else "",
                 f"unexpected {unexpected[:4]}" if unexpected else "",
                 f"wrong shapes {wrong[:3]}" if wrong else ""]
        raise ValueError(f"{path}: not VGG-19 features weights: " + "; ".join(p for p in parts if p))
    return found


class VGGPerceptual(nn.Module):
    """Frozen VGG-19 returning the activations of ``layers`` (names like ``"relu2_2"``) for images in
    [-1, 1]; they are mapped to [0, 1] and ImageNet-normalised as the pretrained weights expect.

    The module is always in eval mode with ``requires_grad=False`` parameters: gradients flow *through*
    it to G1 (eq. 2) but never change it. Only layers up to the deepest requested one are built.
    The weights file may hold ``features.N.*`` keys (a torchvision ``vgg19`` state dict, whose
    ``classifier.*`` keys are ignored) or bare ``N.*`` keys (a ``features`` state dict).
    """

    def __init__(self, weights_path: str | Path, layers: Sequence[str] = ("relu2_2",)) -> None:
        super().__init__()
        if isinstance(layers, str) or not layers:
            raise ValueError(f"layers must be a non-empty sequence of VGG-19 layer names, got {layers!r}")
        bad = [name for name in layers if name not in VGG19_LAYERS]
        if bad:
            raise ValueError(f"unknown VGG-19 layers {bad}; e.g. relu1_2, relu2_2, relu3_4, relu4_4, relu5_4")
        self.layers = tuple(layers)
        self.indices = tuple(VGG19_LAYERS[name] for name in self.layers)
        self.weights_path = str(weights_path)
        self.features = build_vgg19_features(max(self.indices))
        self.features.load_state_dict(_read_state_dict(Path(weights_path), self.features))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGPerceptual:
        """Stays in eval mode whatever a caller's ``model.train()`` cascades down."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGPerceptual expects images (B, 3, H, W) in [-1, 1], got {tuple(x.shape)}")
        h = ((x + 1.0) * 0.5 - self.mean) / self.std
        out: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.indices:
                out[i] = h
        return [out[i] for i in self.indices]


def load_perceptual(weights_path: str | Path | None,
                    layers: Sequence[str] = ("relu2_2",)) -> VGGPerceptual | None:
    """:class:`VGGPerceptual` from ``weights_path``, or ``None`` when no path is given (then eq. 2's
    perceptual term is off: :func:`s2ld_core.losses.perceptual_loss` returns 0)."""
    if weights_path is None or str(weights_path) == "":
        return None
    return VGGPerceptual(weights_path, layers)
