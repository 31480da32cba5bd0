"""Stage 2 heatmap networks: the generator G2 and the BEGAN-style discriminator D2 (§3.2.1–3.2.2).

Both are the same residual U-Net (Fig. 5): G2 maps an image to K+1 heatmaps (K landmarks plus a
background channel); D2 takes an image *and* K+1 heatmaps and reconstructs the heatmaps, an
autoencoder whose reconstruction error is its verdict (eq. 7–8, 13).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResidualBlock, concat_image_heatmaps, conv_bn_relu
from .config import NetworkConfig

__all__ = ["ResidualUNet", "HeatmapGenerator", "HeatmapDiscriminator"]


class ResidualUNet(nn.Module):
    """U-Net with ``blocks`` residual blocks per level and side (Fig. 5: "each → represents two residual
    blocks"); with 4 levels and 2 blocks that is the paper's 16 = 8 encoder + 8 decoder blocks.

    Encoder level i: residual blocks (output kept as skip i) → 2×2 max-pool → conv to width i+1.
    Decoder level i: ×2 nearest up-sampling → concat skip i → conv to width i → residual blocks. The
    deepest level has no skip (its encoder and decoder blocks simply follow each other). A 1×1 conv
    gives ``out_channels`` *linear* maps (regression targets are Gaussian heatmaps, not classes).

    Down-sampling depth: ``len(widths) - 1`` = 3 pools from the config, whatever the input size. At 32²
    the bottom is 4² (as in G1); at 128² (HR-LD, §4.4) it is 16², where the 8 bottom 3×3 convs at
    stride 8 alone span 8·2·8 = 128 px, the whole face — so one topology serves both sizes, as the
    paper's "single U-Net" for LR and HR. Any input whose sides are divisible by 2**(levels-1) works.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: Sequence[int], blocks: int = 2) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.levels = len(widths)
        self.stem = conv_bn_relu(in_channels, widths[0])
        self.enc = nn.ModuleList(
            nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in widths
        )
        self.down = nn.ModuleList(conv_bn_relu(widths[i], widths[i + 1]) for i in range(self.levels - 1))
        self.fuse = nn.ModuleList(
            conv_bn_relu(widths[i + 1] + widths[i], widths[i]) for i in range(self.levels - 1)
        )
        self.dec = nn.ModuleList(
            nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in widths
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self._init_head()

    def _init_head(self) -> None:
        """Start from the empty prediction — landmark channels 0, background (last) channel 1 — with
        a small random head, so early steps learn where points are rather than the background level."""
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[-1] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** (self.levels - 1)
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"U-Net expects (B, {self.in_channels}, H, W) with H, W divisible by {m}, "
                             f"got {tuple(x.shape)}")
        x = self.stem(x)
        skips = []
        for i in range(self.levels):
            x = self.enc[i](x)
            if i < self.levels - 1:
                skips.append(x)
                x = self.down[i](F.max_pool2d(x, 2))
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                x = self.fuse[i](torch.cat([x, skips[i]], dim=1))
            x = self.dec[i](x)
        return self.head(x)


def _check_size(in_size: int, levels: int) -> None:
    m = 2 ** (levels - 1)
    if in_size < 2 * m or in_size % m:
        raise ValueError(f"in_size {in_size} must be a multiple of {m} and at least {2 * m} "
                         f"for a {levels}-level U-Net")


class HeatmapGenerator(nn.Module):
    """G2: image (B,3,S,S) in [-1,1] → K+1 linear heatmaps (B,K+1,S,S) (§3.2.1, Fig. 5).

    ``in_size`` is the size it is built for (32 for LR landmarks, 128 for HR-LD); it is recorded for
    self-describing checkpoints and validated, while the network itself is fully convolutional.
    """

    def __init__(self, cfg: NetworkConfig, num_points: int, in_size: int = 32) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        _check_size(in_size, len(cfg.g2_widths))
        self.cfg, self.num_points, self.in_size = cfg, num_points, in_size
        self.net = ResidualUNet(3, num_points + 1, cfg.g2_widths, cfg.g2_blocks_per_level)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HeatmapDiscriminator(nn.Module):
    """D2: BEGAN autoencoder, (image (B,3,S,S), heatmaps (B,K+1,S,S)) → reconstructed (B,K+1,S,S).

    §3.2.2: "follows the same architecture as the heatmap generator G2 with different number of input
    channels, i.e., input to the discriminator is a set of heatmaps concatenated with their respective
    color images". It learns to reconstruct ground-truth heatmaps well and predicted ones badly
    (eq. 7–9). Like G2 it keeps BatchNorm; the training loop should feed real and fake sets in
    separate calls, as eq. 7 and 8 are separate reconstruction errors.
    """

    def __init__(self, cfg: NetworkConfig, num_points: int, in_size: int = 32) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        _check_size(in_size, len(cfg.d2_widths))
        self.cfg, self.num_points, self.in_size = cfg, num_points, in_size
        self.net = ResidualUNet(3 + num_points + 1, num_points + 1, cfg.d2_widths, cfg.g2_blocks_per_level)

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.net(concat_image_heatmaps(image, heatmaps, self.num_points))

