"""G1 at inference: HR faces in, generated 32² LR faces out (the pictures of Fig. 4 and Table 1's
"generated LR" test row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..pixels import to_tensor, to_uint8

__all__ = ["generate_lr"]


def generate_lr(
    g1_checkpoint: str | Path, hr_images: np.ndarray, seed: int = 0, device="cpu", batch: int = 64
) -> np.ndarray:
    """G1(HR) as uint8 32² faces, with noise drawn from ``seed`` (reproducible pictures and scores)."""
    from ..train.stage1 import load_g1

    g1 = load_g1(g1_checkpoint, torch.device(device))
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for b in range(0, len(hr_images), batch):
            x = to_tensor(hr_images[b : b + batch], torch.device(device))
            noise = torch.randn(len(x), g1.cfg.noise_dim, generator=gen).to(device)
            out.append(to_uint8(g1(x, noise)))
    return np.concatenate(out) if out else np.zeros((0, 32, 32, 3), np.uint8)
