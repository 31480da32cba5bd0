"""Label-free checks: a detector that follows the image scores 0, the mean shape scores shift/box."""

from __future__ import annotations

import numpy as np

from s2ld_core.inference import MeanShapeBaseline
from s2ld_core.label_free import mirror_consistency, shift_equivariance
from s2ld_core.schemas import get_schema


class DotDetector:
    """Finds the K brightest single pixels exactly: a perfectly equivariant 'detector' (5 points)."""

    schema = get_schema("five")

    def predict(self, images):
        out = []
        for im in images:
            g = im[..., 0].astype(float)
            idx = np.argsort(-g, axis=None)[:5]
            ys, xs = np.unravel_index(idx, g.shape)
            pts = np.stack([xs, ys], -1).astype(np.float32)
            out.append(pts[np.lexsort((pts[:, 1], pts[:, 0]))])  # a fixed order: by x, then y
        return np.stack(out), np.ones((len(images), 5), np.float32)


def _dots(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    for im in images:
        xs = rng.choice(np.arange(6, 26), 5, replace=False)
        ys = rng.integers(6, 26, 5)
        im[ys, xs] = 255 - np.arange(5)[:, None] * 10
    return images


def test_an_equivariant_detector_scores_zero_shift_error():
    result = shift_equivariance(DotDetector(), _dots(), shift=2)
    assert result["mean"] < 1e-6


def test_the_mean_shape_scores_shift_over_box():
    # Symmetric about x = 15.5, the mirror axis of a 32-px crop; landmark box 16 × 14.
    mean = np.array([[7.5, 10], [23.5, 10], [15.5, 16], [9.5, 24], [21.5, 24]], np.float32)
    det = MeanShapeBaseline(mean, "five", 32)
    result = shift_equivariance(det, _dots(), shift=2)
    assert abs(result["mean"] - 2 / np.sqrt(16 * 14)) < 1e-6
    assert mirror_consistency(det, _dots())["mean"] < 1e-6
