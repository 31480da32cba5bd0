"""Turning face arrays into training batches: augmentation and real-LR draws (the [-1, 1] tensors are
:func:`s2ld_core.pixels.to_tensor`).

Each sample's augmentation is seeded by ``(seed, epoch, index)`` and each real-LR draw by the step's
generator, so batches are a pure function of where the run is — the basis of exact resume.
"""

from __future__ import annotations

import numpy as np
import torch

from ..augment import AugmentConfig, augment
from ..data.datasets import LabelledFaces
from ..pixels import to_tensor, to_uint8  # noqa: F401 - the value range lives in pixels; old import path
from ..schemas import get_schema


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
