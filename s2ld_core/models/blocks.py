"""Building blocks shared by the S²LD networks.

Two families, because the paper normalises generators and discriminators differently:

- generator blocks (G1, G2, D2): conv → BatchNorm → ReLU, "BatchNorm is used after every
  convolution layer" (§3.1);
- discriminator blocks (D1, D3): spectrally normalised convs (eq. 1, Miyato et al.) and LeakyReLU,
  *without* BatchNorm: D1 is also trained with a gradient penalty (eq. 5), which is defined per sample
  and is ill-posed under batch statistics (Gulrajani et al. 2017); spectral norm already provides
  the normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "conv_bn_relu",
    "sn_conv",
    "sn_linear",
    "ResidualBlock",
    "SNResidualBlock",
    "ResidualDiscriminator",
    "count_parameters",
    "concat_image_heatmaps",
]


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module`` (spectral-norm ``u``/``v`` are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters())


def concat_image_heatmaps(image: torch.Tensor, heatmaps: torch.Tensor, num_points: int) -> torch.Tensor:
    """Channel-concatenate images (B,3,S,S) and their K+1 heatmaps, the input of D2 and D3 (§3.2.2-3),
    checking that the two belong together."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, S, S), got {tuple(image.shape)}")
    expected = (image.shape[0], num_points + 1, *image.shape[2:])
    if heatmaps.shape != expected:
        raise ValueError(f"expected heatmaps {expected} to match images {tuple(image.shape)}, "
                         f"got {tuple(heatmaps.shape)}")
    return torch.cat([image, heatmaps], dim=1)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    """Conv (no bias: BatchNorm's shift replaces it) → BatchNorm → ReLU, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def sn_conv(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Module:
    """Spectrally normalised conv, 'same' padding: W / σ(W) (eq. 1)."""
    return spectral_norm(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2))


def sn_linear(in_features: int, out_features: int) -> nn.Module:
    """Spectrally normalised linear layer (eq. 1)."""
    return spectral_norm(nn.Linear(in_features, out_features))


class ResidualBlock(nn.Module):
    """``relu(x + BN(conv(relu(BN(conv(x))))))`` — the classic two-conv residual block with BN after
    every conv, as in G1 (§3.1) and the U-Net of G2/D2 (§3.2.1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class SNResidualBlock(nn.Module):
    """``lrelu(x + sn_conv(lrelu(sn_conv(x))))`` — the discriminators' residual block (Fig. 3b)."""

    def __init__(self, channels: int, slope: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            sn_conv(channels, channels),
            nn.LeakyReLU(slope),
            sn_conv(channels, channels),
        )
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ResidualDiscriminator(nn.Module):
    """The residual discriminator of Fig. 3b, shared by D1 (§3.1) and D3 (§3.2.3: "identical to D1
    except for the number of input channels").

    stem sn-conv → for each width: one residual block, [2×2 max-pool in the last ``pool_layers``
    stages], sn-conv to the width → flatten → sn-linear → one raw score per image. Flattening (rather
    than global pooling) keeps *where* a feature is, which matters on aligned faces; it fixes the
    input size, checked in :meth:`forward`.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], in_size: int, pool_layers: int = 3,
                 slope: float = 0.2) -> None:
        super().__init__()
        if in_size % (2 ** pool_layers):
            raise ValueError(f"discriminator input size {in_size} is not divisible by 2**{pool_layers}")
        self.in_channels, self.in_size = in_channels, in_size
        layers: list[nn.Module] = [sn_conv(in_channels, widths[0]), nn.LeakyReLU(slope)]
        prev = widths[0]
        first_pool = len(widths) - pool_layers
        for i, width in enumerate(widths):
            layers.append(SNResidualBlock(prev, slope))
            if i >= first_pool:
                layers.append(nn.MaxPool2d(2))
            layers += [sn_conv(prev, width), nn.LeakyReLU(slope)]
            prev = width
        self.features = nn.Sequential(*layers)
        out_size = in_size // (2 ** pool_layers)
        self.score = sn_linear(prev * out_size * out_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (self.in_size, self.in_size):
            c, s = self.in_channels, self.in_size
            raise ValueError(f"discriminator expects (B, {c}, {s}, {s}), got {tuple(x.shape)}")
        return self.score(self.features(x).flatten(1)).squeeze(1)
