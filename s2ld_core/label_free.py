"""Checks of a detector on real faces that have no labels (e.g. LFW's 100): does it behave like one?

* **Shift equivariance.** Move the face by ``shift`` pixels inside its crop; a detector that sees the
  face moves its points by the same amount. Error: mean distance between ``pred(shifted) − shift``
  and ``pred(original)``, as a fraction of the predicted landmark box (√(w·h)), like NME. A detector
  that ignores the image (the mean shape) scores exactly ``shift / box``.
* **Mirror consistency.** Predict on the mirrored face, mirror the points back (with the schema's
  left/right permutation); they should land on the original prediction. Same normalisation. The
  mean shape scores its own asymmetry (≈ 0 for a symmetric mean), so this check tells a detector
  whose left and right disagree, not one that ignores the image.

Both use only the detector's own predictions, so they run on any unlabelled face set.
"""

from __future__ import annotations

import cv2
import numpy as np

from .schemas import get_schema

__all__ = ["shift_equivariance", "mirror_consistency"]


def _box_size(points: np.ndarray) -> np.ndarray:
    span = points.max(axis=1) - points.min(axis=1)
    return np.sqrt(np.maximum(span[:, 0] * span[:, 1], 1e-6))


def _normalised_error(a: np.ndarray, b: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1).mean(axis=1) / _box_size(reference)


def shift_equivariance(detector, images: np.ndarray, shift: float = 2.0) -> dict[str, float]:
    """Mean and median normalised error of ``pred(shift(x)) − shift`` against ``pred(x)``, over four
    shift directions (±x, ±y); borders are replicated so no black edge gives the shift away."""
    images = np.asarray(images)
    base, _ = detector.predict(images)
    errors = []
    for dx, dy in ((shift, 0), (-shift, 0), (0, shift), (0, -shift)):
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = np.stack(
            [cv2.warpAffine(im, m, im.shape[1::-1], borderMode=cv2.BORDER_REPLICATE) for im in images]
        )
        pred, _ = detector.predict(moved)
        errors.append(_normalised_error(pred - np.float32([dx, dy]), base, base))
    err = np.mean(errors, axis=0)
    return {"mean": float(err.mean()), "median": float(np.median(err)), "shift_px": float(shift)}


def mirror_consistency(detector, images: np.ndarray) -> dict[str, float]:
    """Mean and median normalised distance between ``pred(x)`` and ``mirror(pred(mirror(x)))``."""
    images = np.asarray(images)
    schema = get_schema(detector.schema)
    base, _ = detector.predict(images)
    flipped, _ = detector.predict(images[:, :, ::-1].copy())
    width = images.shape[2]
    back = flipped[:, list(schema.flip_permutation)].copy()
    back[..., 0] = width - 1 - back[..., 0]
    err = _normalised_error(back, base, base)
    return {"mean": float(err.mean()), "median": float(np.median(err))}
