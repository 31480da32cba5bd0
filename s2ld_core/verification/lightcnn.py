"""LightCNN (Wu, He, Sun & Tan, "A Light CNN for Deep Face Representation with Noisy Labels", 2018).

§4.3 of S²LD trains LightCNN from scratch on TinyFace because deeper models over-fit its ~8k training
faces, and, "since inputs to the network are images of size 32×32, we disable first two max-pooling
layers to keep the spatial resolution". With two of the four 2×2 pools disabled a 32×32 input reaches
the same 8×8×128 map as the original 128×128 input, so the 256-d ``fc1`` keeps its original shape and
published 128×128 weights (e.g. CASIA-WebFace, setting L5) load unchanged.

Module and parameter names follow the authors' reference implementation (``features.*``/``fc1``/
``fc2`` for the 9-layer net, ``conv1``/``block*``/``group*``/``fc``/``fc2`` for the 29-layer one), so
:func:`load_pretrained` needs no key translation beyond stripping DataParallel's ``module.``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import vector_math  # noqa: F401  (MKL's code path settled before the first forward)

__all__ = [
    "LightCNNArch",
    "MFM",
    "ArcMarginHead",
    "LightCNN",
    "LightCNN9",
    "LightCNN29",
    "build_lightcnn",
    "init_mfm_weights",
    "images_to_tensor",
    "load_pretrained",
    "pretrained_arch",
    "shipped_lightcnn",
    "CLASSIFIER_PREFIXES",
    "SHIPPED_LIGHTCNN",
]

_NUM_POOLS = 4
CLASSIFIER_PREFIXES = ("fc2.", "head.")  # identity-specific: never part of shipped weights
# LightCNN-9 at 32² pretrained on rendered identities (scripts/train_lightcnn.py; README.md beside it)
SHIPPED_LIGHTCNN = Path(__file__).resolve().parents[1] / "weights" / "lightcnn" / "lightcnn9_32.pt"


@dataclass
class LightCNNArch:
    """Architecture of one LightCNN.

    ``disabled_pools``: how many of the four max-pools, counted from the input, are replaced by the
    identity (the paper: 2 at 32×32; the original: 0 at 128×128). ``head``: ``softmax`` (a linear
    classifier, the original) or ``arcface`` (additive angular margin, Deng et al. 2019).
    ``pixel_range``: ``signed`` maps uint8 to [-1, 1] (the project's convention); ``unit`` to [0, 1],
    what the authors' published weights were trained on. ``norm``: ``none`` (the original: no
    normalisation, so the authors' weights load) or ``batch`` (BatchNorm on every MFM's ``2·out``
    responses before the max), which lets a from-scratch net learn at the step counts a small set
    affords — see :func:`init_mfm_weights`.
    """

    variant: str = "9"
    num_classes: int = 10
    in_channels: int = 1
    input_size: int = 32
    disabled_pools: int = 2
    embedding_dim: int = 256
    head: str = "softmax"
    margin: float = 0.5
    margin_scale: float = 30.0
    dropout: float = 0.5
    pixel_range: str = "signed"
    norm: str = "none"

    def __post_init__(self) -> None:
        if self.variant not in ("9", "29"):
            raise ValueError(f"LightCNN variant must be '9' or '29', got {self.variant!r}")
        if self.head not in ("softmax", "arcface"):
            raise ValueError(f"LightCNN head must be 'softmax' or 'arcface', got {self.head!r}")
        if self.in_channels not in (1, 3):
            raise ValueError(f"LightCNN in_channels must be 1 or 3, got {self.in_channels}")
        if not 0 <= self.disabled_pools <= _NUM_POOLS:
            raise ValueError(f"disabled_pools must be in 0..{_NUM_POOLS}, got {self.disabled_pools}")
        if self.norm not in ("none", "batch"):
            raise ValueError(f"LightCNN norm must be 'none' or 'batch', got {self.norm!r}")
        if self.pixel_range not in ("signed", "unit"):
            raise ValueError(f"pixel_range must be 'signed' or 'unit', got {self.pixel_range!r}")
        if self.feature_size() < 1:
            raise ValueError(f"input_size {self.input_size} is too small for LightCNN")

    def feature_size(self) -> int:
        """Side of the last conv map: each active pool halves it (rounding up, ``ceil_mode``)."""
        s = self.input_size
        for _ in range(_NUM_POOLS - self.disabled_pools):
            s = math.ceil(s / 2)
        return s


class MFM(nn.Module):
    """Max-Feature-Map: a conv (or linear) layer with ``2·out`` outputs, halves max-ed elementwise.

    MFM is LightCNN's activation: a competitive, learnt selection between two feature maps that
    suppresses noisy-label-driven responses and halves the channel count at the same time.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int = 1,
                 linear: bool = False, norm: bool = False) -> None:
        super().__init__()
        self.out_channels = out_ch
        if linear:
            self.filter: nn.Module = nn.Linear(in_ch, 2 * out_ch, bias=not norm)
        else:
            self.filter = nn.Conv2d(in_ch, 2 * out_ch, kernel_size=kernel, stride=stride, padding=padding,
                                    bias=not norm)
        # BatchNorm before the max (both halves normalised alike, so the competition stays fair)
        bn = nn.BatchNorm1d if linear else nn.BatchNorm2d
        self.norm: nn.Module = bn(2 * out_ch) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(self.norm(self.filter(x)), self.out_channels, dim=1)
        return torch.max(a, b)


class Group(nn.Module):
    """A 1×1 MFM (a cheap "network in network" mixing) followed by a k×k MFM."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int = 1,
                 norm: bool = False) -> None:
        super().__init__()
        self.conv_a = MFM(in_ch, in_ch, 1, 1, 0, norm=norm)
        self.conv = MFM(in_ch, out_ch, kernel, stride, padding, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """The 29-layer net's residual block: two 3×3 MFMs and an identity shortcut."""

    def __init__(self, channels: int, norm: bool = False) -> None:
        super().__init__()
        self.conv1 = MFM(channels, channels, norm=norm)
        self.conv2 = MFM(channels, channels, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


class ArcMarginHead(nn.Module):
    """Additive angular margin logits (ArcFace): ``s·cos(θ_y + m)`` for the true class, ``s·cos θ_j`` else.

    Without labels (evaluation) it returns ``s·cos θ`` for every class. Where ``θ + m`` would pass π
    the logit continues linearly (``cos θ − m·sin m``), insightface's guard against a non-monotone
    target logit.
    """

    def __init__(self, in_features: int, num_classes: int, margin: float = 0.5, scale: float = 30.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)
        self.margin, self.scale = margin, scale

    def forward(self, emb: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1.0 + 1e-7, 1.0 - 1e-7)
        if labels is None:
            return self.scale * cos
        m = self.margin
        sin = torch.sqrt(1.0 - cos**2)
        phi = cos * math.cos(m) - sin * math.sin(m)
        phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        return self.scale * torch.where(onehot, phi, cos)


def _pool(index: int, arch: LightCNNArch) -> nn.Module:
    """The ``index``-th (0-based) 2×2 max-pool, or the identity if it is one of the disabled ones."""
    if index < arch.disabled_pools:
        return nn.Identity()
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


class LightCNN(nn.Module):
    """Shared LightCNN behaviour: trunk → flatten → MFM fc (the embedding) → dropout → classifier.

    ``forward(x, labels=None)`` returns ``(logits, embedding)``; ``labels`` only matter for the
    ArcFace head during training. Subclasses build ``_trunk`` and name the embedding layer.
    """

    embedding_layer: str

    def __init__(self, arch: LightCNNArch) -> None:
        super().__init__()
        self.arch = arch
        self.bn = arch.norm == "batch"

    def _build_heads(self) -> None:
        flat = 128 * self.arch.feature_size() ** 2
        setattr(self, self.embedding_layer, MFM(flat, self.arch.embedding_dim, linear=True, norm=self.bn))
        if self.arch.head == "softmax":
            self.fc2 = nn.Linear(self.arch.embedding_dim, self.arch.num_classes)
        else:
            self.head = ArcMarginHead(self.arch.embedding_dim, self.arch.num_classes, self.arch.margin,
                                      self.arch.margin_scale)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 256-d face representation (before dropout), ``(N, embedding_dim)``."""
        return getattr(self, self.embedding_layer)(torch.flatten(self._trunk(x), 1))

    def classify(self, emb: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = F.dropout(emb, p=self.arch.dropout, training=self.training)
        if self.arch.head == "softmax":
            return self.fc2(emb)
        return self.head(emb, labels if self.training else None)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(x)
        return self.classify(emb, labels), emb


class LightCNN9(LightCNN):
    """LightCNN-9: conv1 (5×5 MFM) and four ``Group``s, four 2×2 max-pools (the first ones optional)."""

    embedding_layer = "fc1"

    def __init__(self, arch: LightCNNArch) -> None:
        super().__init__(arch)
        bn = self.bn
        self.features = nn.Sequential(
            MFM(arch.in_channels, 48, 5, 1, 2, norm=bn),
            _pool(0, arch),
            Group(48, 96, norm=bn),
            _pool(1, arch),
            Group(96, 192, norm=bn),
            _pool(2, arch),
            Group(192, 128, norm=bn),
            Group(128, 128, norm=bn),
            _pool(3, arch),
        )
        self._build_heads()

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class LightCNN29(LightCNN):
    """LightCNN-29 (v1): the 9-layer layout with 1, 2, 3 and 4 residual blocks before the groups."""

    embedding_layer = "fc"

    def __init__(self, arch: LightCNNArch, layers: tuple[int, int, int, int] = (1, 2, 3, 4)) -> None:
        super().__init__(arch)
        bn = self.bn
        self.conv1 = MFM(arch.in_channels, 48, 5, 1, 2, norm=bn)
        self.pool1 = _pool(0, arch)
        self.block1 = nn.Sequential(*[ResBlock(48, bn) for _ in range(layers[0])])
        self.group1 = Group(48, 96, norm=bn)
        self.pool2 = _pool(1, arch)
        self.block2 = nn.Sequential(*[ResBlock(96, bn) for _ in range(layers[1])])
        self.group2 = Group(96, 192, norm=bn)
        self.pool3 = _pool(2, arch)
        self.block3 = nn.Sequential(*[ResBlock(192, bn) for _ in range(layers[2])])
        self.group3 = Group(192, 128, norm=bn)
        self.block4 = nn.Sequential(*[ResBlock(128, bn) for _ in range(layers[3])])
        self.group4 = Group(128, 128, norm=bn)
        self.pool4 = _pool(3, arch)
        self._build_heads()

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.group1(self.block1(x)))
        x = self.pool3(self.group2(self.block2(x)))
        x = self.group3(self.block3(x))
        return self.pool4(self.group4(self.block4(x)))


def init_mfm_weights(model: nn.Module) -> None:
    """Variance-preserving initialisation for MFM networks: weights ~ N(0, 1/fan_in), zero biases.

    For i.i.d. zero-mean ``a, b`` with variance σ², ``E[max(a, b)²] = σ²`` (max and min share it by
    symmetry and sum to ``a² + b²``), so an MFM layer keeps the second moment at gain 1. PyTorch's
    default (variance 1/(3·fan_in)) shrinks it threefold per layer, which leaves a from-scratch
    LightCNN's logits near zero for many epochs — costly on a set as small as TinyFace's. The softmax
    classifier itself starts small instead, so the first steps are not driven by huge random logits.
    """
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="linear")
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
    if isinstance(getattr(model, "fc2", None), nn.Linear):
        nn.init.normal_(model.fc2.weight, std=0.01)  # near-uniform initial softmax: loss starts at ln C


def build_lightcnn(arch: LightCNNArch) -> LightCNN:
    """A fresh LightCNN of ``arch.variant``, initialised by :func:`init_mfm_weights`."""
    model = LightCNN9(arch) if arch.variant == "9" else LightCNN29(arch)
    init_mfm_weights(model)
    return model


def images_to_tensor(
    images: np.ndarray, arch: LightCNNArch, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` RGB → float ``(N, C, H, W)`` in the model's pixel range.

    One-channel models see ITU-R BT.601 luma, the grey the original LightCNN was trained on.
    """
    imgs = np.asarray(images)
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {imgs.dtype} {imgs.shape}")
    x = torch.from_numpy(np.ascontiguousarray(imgs)).to(device).permute(0, 3, 1, 2).float() / 255.0
    if arch.in_channels == 1:
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    return x * 2.0 - 1.0 if arch.pixel_range == "signed" else x


def _read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"pretrained LightCNN weights not found: {path}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # the authors' checkpoints: {"epoch", "arch", "state_dict", ...}
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (or a checkpoint holding 'state_dict')")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_pretrained(model: LightCNN, path: str | Path) -> dict[str, list[str]]:
    """Load user-provided LightCNN weights into ``model`` (in place); returns what was loaded/skipped.

    Every backbone tensor must be present with the model's shape — otherwise ``ValueError`` naming the
    file and the first offending key (a wrong variant, ``in_channels`` or ``disabled_pools`` /
    input size shows up here). The classifier (``fc2`` / ``head``) is specific to the training
    identities, so a missing or mismatched one is skipped and keeps its fresh init — with a warning
    when the file has a classifier that does not fit (a file without one, such as the shipped
    backbone, is what L5 expects).
    """
    src = _read_state_dict(path)
    own = model.state_dict()
    loaded, skipped = {}, []
    for key, tensor in own.items():
        is_classifier = key.startswith(CLASSIFIER_PREFIXES)
        theirs = src.get(key)
        if theirs is not None and theirs.shape == tensor.shape:
            loaded[key] = theirs
        elif is_classifier:
            skipped.append(key)
        elif theirs is None:
            variant = model.arch.variant
            raise ValueError(f"{path}: missing LightCNN weight {key!r} (is it a LightCNN-{variant}?)")
        else:
            raise ValueError(f"{path}: weight {key!r} has shape {tuple(theirs.shape)}, the model needs "
                             f"{tuple(tensor.shape)} (check variant, in_channels and input size/pools)")
    mismatched = [k for k in skipped if k in src]
    if mismatched:
        warnings.warn(f"{path}: classifier weights {mismatched} do not fit this model and were skipped",
                      stacklevel=2)
    model.load_state_dict(loaded, strict=False)
    unused = sorted(set(src) - set(loaded) - set(skipped))
    return {"loaded": sorted(loaded), "skipped": skipped, "unused": unused}


def shipped_lightcnn() -> Path:
    """The LightCNN-9 shipped in the package (:data:`SHIPPED_LIGHTCNN`); ``FileNotFoundError`` if absent."""
    if not SHIPPED_LIGHTCNN.is_file():
        raise FileNotFoundError(f"{SHIPPED_LIGHTCNN}: no shipped LightCNN in this installation (make it "
                                "with `python scripts/train_lightcnn.py`)")
    return SHIPPED_LIGHTCNN


def pretrained_arch(path: str | Path, input_size: int = 32) -> dict[str, object]:
    """The architecture fields (``variant``, ``in_channels``, ``disabled_pools``, ``norm`` and, where the
    file records it, ``pixel_range``) a LightCNN needs at ``input_size`` to load the weights in ``path``.

    A file written by ``scripts/train_lightcnn.py`` records its architecture; for any other state dict
    (e.g. the authors' published weights) it is read off the tensors: the variant from the layer names,
    ``in_channels`` from the first convolution, BatchNorm from ``.norm.`` entries, and the pools from
    ``fc1``'s width (``128 · side²`` inputs, so 8×8 at 32² means the paper's two disabled pools).
    """
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and obj.get("kind") == "s2ld-lightcnn" and isinstance(obj.get("arch"), dict):
        arch = obj["arch"]
        if int(arch.get("input_size", input_size)) == input_size:
            return {k: arch[k] for k in ("variant", "in_channels", "disabled_pools", "norm", "pixel_range")
                    if k in arch}
    state = _read_state_dict(path)
    variant = "29" if any(k.startswith("conv1.") for k in state) else "9"
    first = state.get("conv1.filter.weight" if variant == "29" else "features.0.filter.weight")
    emb = state.get("fc.filter.weight" if variant == "29" else "fc1.filter.weight")
    if first is None or emb is None:
        raise ValueError(f"{path}: not a LightCNN state dict (no first convolution or embedding layer)")
    side = math.isqrt(int(emb.shape[1]) // 128)
    pools = [d for d in range(_NUM_POOLS + 1)
             if LightCNNArch(input_size=input_size, disabled_pools=d).feature_size() == side]
    if not pools:
        raise ValueError(f"{path}: its embedding layer expects a {side}×{side} map, which no pool layout "
                         f"gives at {input_size}×{input_size}")
    norm = "batch" if any(".norm." in k for k in state) else "none"
    return {"variant": variant, "in_channels": int(first.shape[1]), "disabled_pools": pools[0], "norm": norm}
