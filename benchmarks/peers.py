"""Peer landmark networks for the speed comparison — RANDOM WEIGHTS, TIMING ONLY.

The paper's Table 2 compares S²LD's inference time with HRNet and SAN on a GTX 1080; Fig. 1 uses
2D-FAN. No pretrained weight may be downloaded here, and timing does not need one: the cost of a
forward pass depends on the architecture and the input size only. So these are *structurally
faithful* re-implementations with random weights. Nothing in this file can predict a landmark, and
every table that uses it labels the rows "random weights, timing only".

* :class:`FAN` — the Face Alignment Network of Bulat & Tzimiropoulos (ICCV 2017, "How far are we
  from solving the 2D & 3D face alignment problem?"): 7×7/2 stem and three residual blocks
  (256² → 64²), then 4 stacked hourglasses of depth 4 at 256 channels with intermediate heatmaps fed
  back into the trunk; 68 heatmaps at 64×64. Simplification: the block type. The brief (and Newell
  et al.'s stacked hourglass) uses the *bottleneck* residual block (1×1 → 3×3 → 1×1); the released
  FAN uses the hierarchical, parallel, multi-scale block (three 3×3 convs whose outputs are
  concatenated), about 1.9× the arithmetic. ``block="bottleneck"`` (default, the conservative peer)
  or ``block="hpm"`` (the released FAN's block) choose.
* :class:`S3FD` — the face detector face-alignment runs before FAN by default (``sfd``; Zhang et
  al., ICCV 2017): VGG-16's 13 convolutions, fc6 as a 3×3 conv of dilation 3 (1024), fc7 1×1, two
  extra stride-2 stages, L2-normalised conv3_3/4_3/5_3, and a class (max-out 4 on conv3_3) and box
  head on each of the six sources. Simplification: none in the graph; anchors and NMS are not run
  (they cost little beside the convolutions).
* :class:`HRNetW18` — HRNetV2-W18 as configured for facial landmarks (Wang et al., TPAMI 2020,
  ``face_alignment_*_hrnet_w18``): two 3×3/2 stem convs (256² → 64²), four bottlenecks, then stages of
  1, 4 and 3 high-resolution modules with 2, 3 and 4 parallel branches of widths 18/36/72/144 (four
  basic blocks per branch) and full multi-resolution fusion after every module; the HRNetV2 head
  up-samples all branches to 64², concatenates (270 channels), 1×1 conv–BN–ReLU, 1×1 conv to 68
  heatmaps. Simplification: none in the graph; the fusion up-sampling is nearest (as in the official
  code) and the head's is bilinear (as in the official code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FAN", "HRNetW18", "S3FD", "build_peer", "PEERS", "PEER_NOTE"]

PEER_NOTE = "random weights, timing only"


# ----------------------------------------------------------------------------- FAN (stacked hourglasses)


def _bn_relu_conv(cin: int, cout: int, kernel: int) -> nn.Sequential:
    """Pre-activation unit (BN → ReLU → conv), the order used by both Newell's and Bulat's blocks."""
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False))


class Bottleneck(nn.Module):
    """Newell et al.'s pre-activation bottleneck: 1×1 (C→C/2), 3×3 (C/2→C/2), 1×1 (C/2→C) + skip."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(_bn_relu_conv(cin, mid, 1), _bn_relu_conv(mid, mid, 3),
                                  _bn_relu_conv(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else _bn_relu_conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class HPMBlock(nn.Module):
    """Bulat & Tzimiropoulos' hierarchical, parallel, multi-scale block (the released FAN's
    ``ConvBlock``): 3×3 convs C→C/2→C/4→C/4, outputs concatenated to C, plus skip."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.c1 = _bn_relu_conv(cin, cout // 2, 3)
        self.c2 = _bn_relu_conv(cout // 2, cout // 4, 3)
        self.c3 = _bn_relu_conv(cout // 4, cout // 4, 3)
        self.skip = nn.Identity() if cin == cout else _bn_relu_conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c1(x)
        b = self.c2(a)
        c = self.c3(b)
        return torch.cat([a, b, c], dim=1) + self.skip(x)


_BLOCKS = {"bottleneck": Bottleneck, "hpm": HPMBlock}


class Hourglass(nn.Module):
    """Recursive hourglass: skip branch at this scale + (pool → block → deeper → block → up-sample)."""

    def __init__(self, depth: int, width: int, block: type[nn.Module]) -> None:
        super().__init__()
        self.up = block(width, width)
        self.low1 = block(width, width)
        self.inner = Hourglass(depth - 1, width, block) if depth > 1 else block(width, width)
        self.low3 = block(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.inner(self.low1(F.avg_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


class FAN(nn.Module):
    """Stacked-hourglass FAN: (B,3,256,256) → (B,K,64,64), the last stack's heatmaps.

    Every stack's heatmaps are predicted (intermediate supervision in training) and mapped back into
    the trunk through 1×1 convs, so all stacks' work is paid at inference, as in the original.
    """

    def __init__(self, num_stacks: int = 4, num_points: int = 68, width: int = 256, depth: int = 4,
                 block: str = "bottleneck") -> None:
        super().__init__()
        if block not in _BLOCKS:
            raise ValueError(f"unknown FAN block {block!r}; choose one of {sorted(_BLOCKS)}")
        blk = _BLOCKS[block]
        self.num_stacks, self.block = num_stacks, block
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(True))
        self.pre1 = blk(64, 128)
        self.pre2 = nn.Sequential(blk(128, 128), blk(128, width))
        self.hourglasses = nn.ModuleList(Hourglass(depth, width, blk) for _ in range(num_stacks))
        self.tops = nn.ModuleList(
            nn.Sequential(blk(width, width), nn.Conv2d(width, width, 1), nn.BatchNorm2d(width), nn.ReLU(True))
            for _ in range(num_stacks))
        self.heads = nn.ModuleList(nn.Conv2d(width, num_points, 1) for _ in range(num_stacks))
        self.back_features = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(num_stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(num_points, width, 1) for _ in range(num_stacks - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre2(F.avg_pool2d(self.pre1(self.stem(x)), 2))
        heatmaps = x
        for i in range(self.num_stacks):
            feat = self.tops[i](self.hourglasses[i](x))
            heatmaps = self.heads[i](feat)
            if i < self.num_stacks - 1:
                x = x + self.back_features[i](feat) + self.back_heatmaps[i](heatmaps)
        return heatmaps


# ----------------------------------------------------------------------------- HRNetV2-W18


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3×3 conv–BN, skip, ReLU), the HRNet branch unit."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(width, width), _conv_bn(width, width, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ResBottleneck(nn.Module):
    """ResNet bottleneck (1×1, 3×3, 1×1 ×4 expansion) of HRNet's first stage."""

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, planes, 1), _conv_bn(planes, planes),
                                  _conv_bn(planes, planes * 4, 1, relu=False))
        self.skip = nn.Identity() if cin == planes * 4 else _conv_bn(cin, planes * 4, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class HRModule(nn.Module):
    """One high-resolution module: parallel branches of basic blocks, then every output resolution
    receives the sum of all branches (1×1 conv + up-sample from lower, strided 3×3 convs from
    higher resolutions)."""

    def __init__(self, widths: Sequence[int], blocks: int = 4) -> None:
        super().__init__()
        n = len(widths)
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(w) for _ in range(blocks)]) for w in widths)
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:
                    row.append(_conv_bn(widths[j], widths[i], 1, relu=False))
                else:
                    steps = [_conv_bn(widths[j], widths[j], stride=2) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(widths[j], widths[i], stride=2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse):
            total = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                y = layer(xs[j])
                if j > i:
                    y = F.interpolate(y, scale_factor=float(2 ** (j - i)), mode="nearest")
                total = total + y
            out.append(F.relu(total))
        return out


class HRNetW18(nn.Module):
    """HRNetV2-W18 for facial landmarks: (B,3,256,256) → (B,K,64,64)."""

    def __init__(self, num_points: int = 68, widths: Sequence[int] = (18, 36, 72, 144),
                 modules_per_stage: Sequence[int] = (1, 4, 3), blocks: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, 64, stride=2), _conv_bn(64, 64, stride=2))
        self.layer1 = nn.Sequential(ResBottleneck(64, 64), *[ResBottleneck(256, 64) for _ in range(3)])
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        prev = [256]
        for stage, n_modules in enumerate(modules_per_stage):
            cur = list(widths[: stage + 2])
            trans = nn.ModuleList()
            for i, w in enumerate(cur):
                if i < len(prev):
                    trans.append(nn.Identity() if prev[i] == w else _conv_bn(prev[i], w))
                else:  # a new, lower-resolution branch from the lowest existing one
                    trans.append(_conv_bn(prev[-1], w, stride=2))
            self.transitions.append(trans)
            self.stages.append(nn.Sequential(*[HRModule(cur, blocks) for _ in range(n_modules)]))
            prev = cur
        total = sum(widths)
        self.head = nn.Sequential(_conv_bn(total, total, 1), nn.Conv2d(total, num_points, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [self.layer1(self.stem(x))]
        for trans, stage in zip(self.transitions, self.stages):
            xs = [t(xs[i] if i < len(xs) else xs[-1]) for i, t in enumerate(trans)]
            xs = stage(xs)
        size = xs[0].shape[-2:]
        ups = [xs[0]] + [F.interpolate(y, size=size, mode="bilinear", align_corners=False) for y in xs[1:]]
        return self.head(torch.cat(ups, dim=1))


# ----------------------------------------------------------------------------- registry

class S3FD(nn.Module):
    """S3FD's graph (see the module docstring); ``forward`` returns the six heads' outputs."""

    def __init__(self):
        super().__init__()
        vgg = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), "M",
               (256, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512), "M"]
        self.stages = nn.ModuleList()
        layers: list[nn.Module] = []
        for item in vgg:
            if item == "M":
                self.stages.append(nn.Sequential(*layers))
                layers = [nn.MaxPool2d(2, 2)]
            else:
                layers += [nn.Conv2d(item[0], item[1], 3, padding=1), nn.ReLU(inplace=True)]
        self.fc = nn.Sequential(
            *layers, nn.Conv2d(512, 1024, 3, padding=3, dilation=3), nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True),
        )
        self.conv6 = nn.Sequential(nn.Conv2d(1024, 256, 1), nn.ReLU(True), nn.Conv2d(256, 512, 3, 2, 1),
                                   nn.ReLU(True))
        self.conv7 = nn.Sequential(nn.Conv2d(512, 128, 1), nn.ReLU(True), nn.Conv2d(128, 256, 3, 2, 1),
                                   nn.ReLU(True))
        widths = (256, 512, 512, 1024, 512, 256)
        self.heads = nn.ModuleList(
            nn.Conv2d(w, (4 if i == 0 else 2) + 4, 3, padding=1) for i, w in enumerate(widths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        sources = []
        for i, stage in enumerate(self.stages[:5]):
            x = stage(x)
            if i >= 2:  # conv3_3, conv4_3, conv5_3 (before their pools), L2-normalised
                sources.append(F.normalize(x, dim=1))
        x = self.fc(x)
        sources.append(x)
        x = self.conv6(x)
        sources.append(x)
        sources.append(self.conv7(x))
        return [head(s) for head, s in zip(self.heads, sources)]


PEERS: dict[str, dict] = {
    "FAN-4": {"input": 256, "paper": "Bulat & Tzimiropoulos 2017 (2D-FAN), bottleneck blocks"},
    "FAN-4 (HPM)": {"input": 256, "paper": "Bulat & Tzimiropoulos 2017 (2D-FAN), released HPM blocks"},
    "HRNet-W18": {"input": 256, "paper": "Wang et al. 2020 (HRNetV2-W18, facial landmarks)"},
}


def build_peer(name: str, num_points: int = 68) -> nn.Module:
    """A peer network by its :data:`PEERS` name, with random weights, in eval mode."""
    if name == "FAN-4":
        net: nn.Module = FAN(4, num_points, block="bottleneck")
    elif name == "FAN-4 (HPM)":
        net = FAN(4, num_points, block="hpm")
    elif name == "HRNet-W18":
        net = HRNetW18(num_points)
    else:
        raise ValueError(f"unknown peer {name!r}; choose one of {sorted(PEERS)}")
    return net.eval()
