"""The heatmap confidence discriminator D3 (§3.2.3).

D3 is what makes S²LD semi-supervised: besides ground-truth and predicted heatmaps on *generated*
LR faces it also sees G2's predictions on *real*, unlabelled LR faces, so to fool it G2 must produce
heatmaps with the structure of a face on the target domain too. Trained least-squares (eq. 11, 14).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ResidualDiscriminator, concat_image_heatmaps
from .config import NetworkConfig

__all__ = ["ConfidenceDiscriminator"]


class ConfidenceDiscriminator(nn.Module):
    """D3: (image (B,3,S,S), heatmaps (B,K+1,S,S)) → (B,) raw scores.

    "The architecture of D3 is identical to D1 except for the number of input channels" (§3.2.3):
    the residual, spectrally normalised discriminator of Fig. 3b on 3+K+1 channels, widths
    ``cfg.d3_widths``. Scores are unbounded; eq. 11 pulls them to 1 (ground truth) or 0 (predicted).
    """

    def __init__(self, cfg: NetworkConfig, num_points: int, in_size: int = 32) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        self.cfg, self.num_points, self.in_size = cfg, num_points, in_size
        self.net = ResidualDiscriminator(3 + num_points + 1, cfg.d3_widths, in_size, cfg.d_pool_layers,
                                         cfg.d_leaky_slope)

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.net(concat_image_heatmaps(image, heatmaps, self.num_points))
