"""Stage 1 networks: the High-to-Low generator G1 and its discriminator D1 (§3.1, Fig. 3).

G1 turns a 128² HR face plus noise into a 32² LR face that should look like the *real* LR faces D1
has seen, so that stage 2 can train a landmark detector on labelled, realistic LR images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResidualBlock, ResidualDiscriminator, conv_bn_relu
from .config import NetworkConfig

__all__ = ["HighToLowGenerator", "HighToLowDiscriminator"]


class HighToLowGenerator(nn.Module):
    """G1: residual encoder–decoder, HR (B,3,128,128) in [-1,1] + noise → LR (B,3,32,32) in [-1,1].

    §3.1: "The input to the first convolution layer is the HR image concatenated with the noise
    vector which has been projected using a fully connected layer and reshaped to match the input
    size" — a Linear(noise_dim → hr_size²) gives one extra input plane. The noise is what lets one HR
    face map to many plausible degradations.

    Encoder: stem conv (+ ``cfg.g1_stem_pools`` 2×2 max-pools) then per stage two residual blocks,
    max-pool, conv to a wider width — 128² → 4² at the paper sizes (see :class:`NetworkConfig` for
    why the stem pools once). Decoder: per stage two residual units, ×2 nearest up-sampling, conv —
    4² → 32². A last conv gives three channels and tanh keeps them in the image range. BatchNorm follows
    every conv except that last one (a BN right before tanh would fix the output statistics).

    ``cfg.g1_residual`` (off in the paper profile) adds the paper's own subsampling F(HR) before the
    tanh: ``G1(HR) = tanh(atanh(F(HR)) + net(HR, z))``. The network then learns only the degradation,
    starts from F(HR) (its last conv starts near zero), and keeps the landmarks where §3.3 assumes
    they stay — an improvement for short schedules, measured against the paper's G1 in the study.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.noise_proj = nn.Linear(cfg.noise_dim, cfg.hr_size * cfg.hr_size)
        layers: list[nn.Module] = [conv_bn_relu(3 + 1, cfg.g1_stem_width)]
        layers += [nn.MaxPool2d(2) for _ in range(cfg.g1_stem_pools)]
        prev = cfg.g1_stem_width
        for width in cfg.g1_encoder_widths:
            layers += [ResidualBlock(prev) for _ in range(cfg.g1_blocks_per_stage)]
            layers += [nn.MaxPool2d(2), conv_bn_relu(prev, width)]
            prev = width
        for width in cfg.g1_decoder_widths:
            layers += [ResidualBlock(prev) for _ in range(cfg.g1_blocks_per_stage)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), conv_bn_relu(prev, width)]
            prev = width
        self.body = nn.Sequential(*layers)
        self.to_rgb = nn.Conv2d(prev, 3, 3, padding=1)
        if cfg.g1_residual:
            nn.init.normal_(self.to_rgb.weight, std=1e-3)  # start at F(HR), gradients flowing
            nn.init.zeros_(self.to_rgb.bias)
        if cfg.g1_blur:
            # σ = 3·sigmoid(10·(w·z + b)): the ×10 lets Adam, whose steps are ~lr per parameter, cross
            # the σ range in a few hundred steps (measured: without it σ moved 0.36 → 0.38 in 80).
            # It starts at σ ≈ 0.8 px, spread over ~0.4–1.4 px by the noise.
            self.blur_sigma = nn.Linear(cfg.noise_dim, 1)
            nn.init.normal_(self.blur_sigma.weight, std=1e-2)
            nn.init.constant_(self.blur_sigma.bias, -0.1)

    def forward(self, hr: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        s = self.cfg.hr_size
        if hr.dim() != 4 or hr.shape[1:] != (3, s, s):
            raise ValueError(f"G1 expects HR images (B, 3, {s}, {s}), got {tuple(hr.shape)}")
        b = hr.shape[0]
        if noise is None:
            noise = torch.randn(b, self.cfg.noise_dim, device=hr.device, dtype=hr.dtype)
        elif noise.shape != (b, self.cfg.noise_dim):
            raise ValueError(f"G1 expects noise ({b}, {self.cfg.noise_dim}), got {tuple(noise.shape)}")
        plane = self.noise_proj(noise).view(b, 1, s, s)
        out = self.to_rgb(self.body(torch.cat([hr, plane], dim=1)))
        if self.cfg.g1_residual:
            f = F.avg_pool2d(hr, s // out.shape[-1])  # the paper's F, as in eq. 4
            if self.cfg.g1_blur:
                f = gaussian_blur_per_sample(f, self.blur_sigmas(noise))
            out = out + torch.atanh(f.clamp(-0.999, 0.999))
        return torch.tanh(out)

    def blur_sigmas(self, noise: torch.Tensor) -> torch.Tensor:
        """``g1_blur``: the σ (LR pixels) of the Gaussian G1 applies to F(HR) for each noise vector."""
        return 3.0 * torch.sigmoid(10.0 * self.blur_sigma(noise)[:, 0])


def gaussian_blur_per_sample(images: torch.Tensor, sigma: torch.Tensor, radius: int = 9) -> torch.Tensor:
    """Blur each image of ``(B, C, H, W)`` by its own Gaussian, ``sigma (B,)`` in pixels (differentiable
    in σ); separable, reflect-padded, kernel radius ``radius`` (3σ for the largest σ = 3)."""
    b, c, h, w = images.shape
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-(x**2) / (2 * sigma.clamp_min(0.05)[:, None] ** 2))
    k = (k / k.sum(-1, keepdim=True)).repeat_interleave(c, 0)  # (B·C, taps)
    out = F.pad(images.reshape(1, b * c, h, w), (radius,) * 4, mode="reflect")
    out = F.conv2d(out, k[:, None, None, :], groups=b * c)
    out = F.conv2d(out, k[:, None, :, None], groups=b * c)
    return out.reshape(b, c, h, w)


class HighToLowDiscriminator(nn.Module):
    """D1: real LR faces vs G1's outputs, (B,C,32,32) → (B,) raw scores for the hinge loss (eq. 6).

    Residual blocks, each followed by a conv (Fig. 3b); "due to low spatial resolution of the input
    image, max-pooling is only used in the last three layers"; spectral norm (eq. 1) on every conv
    and linear layer. See :class:`~s2ld_core.models.blocks.ResidualDiscriminator`.
    """

    def __init__(self, cfg: NetworkConfig, in_channels: int = 3, in_size: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = ResidualDiscriminator(in_channels, cfg.d1_widths, in_size or cfg.lr_size,
                                         cfg.d_pool_layers, cfg.d_leaky_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
