"""G1 at inference: a trained G1 from its checkpoint (also stage 2's frozen G1), HR faces in,
generated 32² LR faces out (the pictures of Fig. 4 and Table 1's "generated LR" test row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..models.config import NetworkConfig
from ..models.high_to_low import HighToLowGenerator
from ..pixels import to_tensor, to_uint8

__all__ = ["load_g1", "generate_lr", "generated_faces"]


def load_g1(path: str | Path, device: torch.device | str = "cpu") -> HighToLowGenerator:
    """A trained G1 from its self-describing checkpoint, in eval mode."""
    blob = load_checkpoint(path, device, role="G1")
    g1 = HighToLowGenerator(NetworkConfig.from_dict(blob["network"])).to(device)
    g1.load_state_dict(blob["state_dict"])
    return g1.eval()


def generate_lr(
    g1_checkpoint: str | Path, hr_images: np.ndarray, seed: int = 0, device="cpu", batch: int = 64
) -> np.ndarray:
    """G1(HR) as uint8 32² faces, with noise drawn from ``seed`` (reproducible pictures and scores)."""
    g1 = load_g1(g1_checkpoint, torch.device(device))
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for b in range(0, len(hr_images), batch):
            x = to_tensor(hr_images[b : b + batch], torch.device(device))
            noise = torch.randn(len(x), g1.cfg.noise_dim, generator=gen).to(device)
            out.append(to_uint8(g1(x, noise)))
    return np.concatenate(out) if out else np.zeros((0, 32, 32, 3), np.uint8)


def generated_faces(g1_checkpoint: str | Path, hr, seed: int = 0, device="cpu"):
    """Labelled HR faces (:class:`~s2ld_core.data.datasets.LabelledFaces`) through G1, their points
    resized exactly to G1's output: Table 1's "generated LR" test set."""
    from ..data.datasets import LabelledFaces
    from ..geometry import resize_points

    lr = generate_lr(g1_checkpoint, hr.images, seed=seed, device=device)
    points = resize_points(hr.points, lr.shape[1] / hr.size).astype(np.float32)
    return LabelledFaces(lr, points, hr.visible, hr.identity, hr.schema)
