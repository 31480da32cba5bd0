"""Joint image + landmark augmentation: random similarity transform and horizontal flip.

The paper augments with scale 0.9-1.1, rotation +-30 degrees and translation up to 20 px at 128x128,
plus horizontal flips; those are :class:`AugmentConfig`'s defaults. Translation is given at the
reference size and scaled by ``size / reference_size`` so the same config fits 32x32 faces.

The image is warped **once** (flip folded into the same matrix, so there is a single interpolation)
and the points go through the identical matrix with :func:`geometry.apply_affine`, which shares
OpenCV's pixel-centre convention; the flip then reorders points and visibility with the schema's
``flip_permutation`` because "image-left eye" becomes the image-right one.

Border mode: ``replicate`` by default. ``reflect`` (OpenCV's default) mirrors face parts into the
uncovered corners -- phantom eyes and jaw lines with no labels, which teaches the heatmap network
false positives. ``constant`` (black) leaves hard-edged black wedges that no real low-resolution
face has, an easy tell for the discriminators that compare augmented/generated and real faces.
Replicated edge pixels carry neither artefact.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from s2ld_core.geometry import apply_affine, compose_affine, similarity_matrix, warp_image
from s2ld_core.schemas import Schema, get_schema

__all__ = ["AugmentConfig", "BORDER_MODES", "random_transform", "flip_matrix", "augment"]

BORDER_MODES = {
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
}


@dataclass
class AugmentConfig:
    """Augmentation ranges; defaults are the paper's (Sec. 4, at 128x128)."""

    scale: tuple[float, float] = (0.9, 1.1)
    rotation_deg: float = 30.0  # uniform in [-rotation_deg, +rotation_deg]
    translation_px: float = 20.0  # per axis, uniform in [-t, +t] at reference_size
    reference_size: int = 128
    flip_prob: float = 0.5
    border: str = "replicate"
    enabled: bool = True

    def __post_init__(self) -> None:
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"AugmentConfig.scale must be (low, high), 0 < low <= high; got {self.scale}")
        if self.rotation_deg < 0 or self.translation_px < 0 or self.reference_size <= 0:
            raise ValueError("AugmentConfig: need rotation_deg >= 0, translation_px >= 0, reference_size > 0")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"AugmentConfig.flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.border not in BORDER_MODES:
            raise ValueError(f"unknown border {self.border!r}; choose one of {sorted(BORDER_MODES)}")


def _wh(size: int | tuple[int, int]) -> tuple[int, int]:
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def random_transform(
    rng: np.random.Generator, size: int | tuple[int, int], config: AugmentConfig
) -> tuple[np.ndarray, bool]:
    """Draw a 2x3 similarity (source -> destination pixels) about the image centre, and a flip flag.

    ``size`` is the side of a square image or ``(width, height)``. The flip is *not* in the matrix:
    :func:`augment` composes it, so callers that only want the geometry can use it as they like.
    Always draws the same number of variates, so a seeded run is reproducible whatever the config.
    """
    w, h = _wh(size)
    u = rng.uniform(size=5)
    scale = config.scale[0] + (config.scale[1] - config.scale[0]) * u[0]
    angle = config.rotation_deg * (2.0 * u[1] - 1.0)
    tx = config.translation_px * w / config.reference_size * (2.0 * u[2] - 1.0)
    ty = config.translation_px * h / config.reference_size * (2.0 * u[3] - 1.0)
    flip = bool(u[4] < config.flip_prob)
    matrix = similarity_matrix(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale, (tx, ty))
    return matrix, flip


def flip_matrix(width: int) -> np.ndarray:
    """Horizontal mirror ``x -> W - 1 - x`` (pixel centres at integers)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def _in_frame(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """A point is in frame when it lies on some pixel: ``-0.5 <= x < W - 0.5`` (and likewise y)."""
    x, y = points[:, 0], points[:, 1]
    with np.errstate(invalid="ignore"):
        return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def _check_inputs(image: np.ndarray, points: np.ndarray, visible: np.ndarray, schema: Schema) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"augment expects a uint8 HxWx3 image, got {image.dtype} {image.shape}")
    if points.shape != (schema.num_points, 2):
        raise ValueError(f"points must have shape ({schema.num_points}, 2) for {schema.name}: {points.shape}")
    if visible.shape != (schema.num_points,):
        raise ValueError(f"visible must have shape ({schema.num_points},), got {visible.shape}")


def augment(
    image: np.ndarray,
    points: np.ndarray,
    visible: np.ndarray,
    schema: str | Schema,
    rng: np.random.Generator,
    config: AugmentConfig | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Randomly transform a face and its landmarks together; returns new ``(image, points, visible)``.

    Points that leave the frame keep their (transformed) coordinates but become invisible, so a loss
    can mask them while evaluation still knows where they went. A disabled config returns copies.
    """
    config = AugmentConfig() if config is None else config
    sch = get_schema(schema)
    img = np.asarray(image)
    pts = np.asarray(points, dtype=np.float32)
    vis = np.asarray(visible, dtype=bool)
    _check_inputs(img, pts, vis, sch)
    if not config.enabled:
        return img.copy(), pts.copy(), vis.copy()
    h, w = img.shape[:2]
    matrix, flip = random_transform(rng, (w, h), config)
    if flip:
        matrix = compose_affine(flip_matrix(w), matrix)
    out_img = warp_image(img, matrix, (w, h), border=BORDER_MODES[config.border])
    out_pts = apply_affine(matrix, pts)
    out_vis = vis & _in_frame(out_pts, w, h)
    if flip:
        perm = list(sch.flip_permutation)
        out_pts, out_vis = out_pts[perm], out_vis[perm]
    return out_img, np.ascontiguousarray(out_pts, dtype=np.float32), out_vis
