"""Turning face arrays into training batches: augmentation, tensors, real-LR draws.

Each sample's augmentation is seeded by ``(seed, epoch, index)`` and each real-LR draw by the step's
generator, so batches are a pure function of where the run is — the basis of exact resume.
"""

from __future__ import annotations

import numpy as np
import torch

from ..augment import AugmentConfig, augment
from ..data.datasets import LabelledFaces
from ..schemas import get_schema


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B,H,W,3) RGB → float32 (B,3,H,W) in [-1, 1] (the models' input convention)."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float (B,3,H,W) in [-1, 1] → uint8 (B,H,W,3)."""
    x = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


class AugmentedFaces:
    """Labelled faces served as augmented batches (§4.1: scale 0.9–1.1, rotation ±30°, shift ≤ 20 px)."""

    def __init__(self, faces: LabelledFaces, seed: int, config: AugmentConfig | None = None):
        self.faces = faces
        self.schema = get_schema(faces.schema)
        self.seed = seed
        self.config = config or AugmentConfig()

    def __len__(self) -> int:
        return len(self.faces)

    def batch(self, index: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        images, points, visible = [], [], []
        for i in index:
            rng = np.random.default_rng([self.seed, epoch, int(i)])
            img, pts, vis = augment(
                self.faces.images[i],
                self.faces.points[i],
                self.faces.visible[i],
                self.schema,
                rng,
                self.config,
            )
            images.append(img)
            points.append(pts)
            visible.append(vis)
        return np.stack(images), np.stack(points).astype(np.float32), np.stack(visible)


def draw_real_lr(images: np.ndarray, batch_size: int, gen: torch.Generator) -> np.ndarray:
    """A random batch of unlabelled real LR faces, each flipped with probability ½."""
    idx = torch.randint(len(images), (batch_size,), generator=gen).numpy()
    flip = torch.rand(batch_size, generator=gen).numpy() < 0.5
    batch = images[idx].copy()
    batch[flip] = batch[flip][:, :, ::-1]
    return batch
