"""Five-point face alignment to canonical coordinates (§4.3: "training and testing images are aligned to
the canonical coordinates using affine transformation").

The canonical template is ArcFace's 112×112 five-point layout; smaller outputs use the same template
mapped through the project's resize convention ``x -> (x + 0.5)·s − 0.5``, so a 32×32 aligned face is
exactly a 112×112 aligned face downsized. Every matrix this module returns maps *source* pixel
coordinates to *aligned* pixel coordinates (``geometry.apply_affine`` / ``geometry.warp_image``).

A detector that fails on a tiny face gives points a similarity would happily fit — and the crop it
produces is garbage that silently poisons verification training. :func:`align_faces` therefore checks
the five points first and, when they are degenerate, falls back to a plain resize of the whole crop
and records why (``flagged`` / ``reasons``), or raises with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from s2ld_core.geometry import compose_affine, resize_image, resize_points, to_rgb_uint8, warp_image
from s2ld_core.schemas import Schema, convert_points

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "TEMPLATE_32",
    "canonical_template",
    "estimate_similarity",
    "estimate_affine",
    "DegeneracyLimits",
    "check_five_points",
    "AlignmentResult",
    "align_faces",
]

# ArcFace (insightface) canonical landmarks for a 112×112 crop, order of the ``five`` schema:
# image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def canonical_template(size: int) -> np.ndarray:
    """The five-point template for a ``size``×``size`` crop: ArcFace's 112 template, resized."""
    if size < 8:
        raise ValueError(f"alignment size must be at least 8 px, got {size}")
    return resize_points(ARCFACE_TEMPLATE_112, size / 112.0)


TEMPLATE_32 = canonical_template(32)


def _check_pairs(src: np.ndarray, dst: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2 or s.shape != d.shape or s.shape[0] < min_points:
        raise ValueError(
            f"expected two (K, 2) point arrays with K >= {min_points}, got {s.shape} and {d.shape}"
        )
    return s, d


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``.

    Umeyama (1991) closed form. Reflections are excluded on purpose: a mirrored face is not the same
    face aligned, so when the best orthogonal fit would reflect, the last singular direction is flipped
    and the best *proper* rotation is returned instead. Returns a 2×3 float64 matrix.
    """
    s, d = _check_pairs(src, dst, 2)
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    var_s = (sc**2).sum() / len(s)
    if var_s <= 1e-12:
        raise ValueError("estimate_similarity: source points have no spread")
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    scale = float((sig * sign).sum() / var_s)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def estimate_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares full affine (6 degrees of freedom) mapping ``src`` onto ``dst``; 2×3 float64.

    Needs three non-collinear points. With five noisy LR landmarks it can shear the face, which is why
    :func:`align_faces` defaults to the similarity.
    """
    s, d = _check_pairs(src, dst, 3)
    design = np.hstack([s, np.ones((len(s), 1))])
    if np.linalg.matrix_rank(design) < 3:
        raise ValueError("estimate_affine: source points are collinear")
    sol, *_ = np.linalg.lstsq(design, d, rcond=None)
    return sol.T


@dataclass
class DegeneracyLimits:
    """When five detected points are too broken to align with. Lengths are in source pixels.

    ``max_outside`` is how far (as a fraction of the image's larger side) a point may lie outside the
    frame: a little is normal for a tight crop, a lot means the detector hallucinated.
    ``min_flatness`` is the ratio of the points' two principal spreads below which they count as
    collinear (a real face, even in profile, is far from a line). ``max_eye_fraction`` caps the eye
    distance as a fraction of the image's larger side: in a face crop the eyes are ~⅓ of the width
    apart, so eyes wider apart than the whole crop mean scattered, untrustworthy points (aligning to
    them would shrink the face into a tiled, mostly-border crop).
    """

    min_eye_distance: float = 1.0
    max_eye_fraction: float = 0.9
    min_spread: float = 1.0
    min_flatness: float = 0.1
    max_outside: float = 0.5


def check_five_points(
    points: np.ndarray, image_shape: tuple[int, ...], limits: DegeneracyLimits | None = None
) -> str | None:
    """Why these five points (``five`` schema, source pixels) can't be aligned, or ``None`` if they can.

    "Eyes below the mouth" is judged relative to the eye line, not the image axes: a face rotated by
    180° with correctly labelled points is a valid similarity away from upright, whereas points with the
    mouth on the wrong side of the line from the left to the right eye describe a mirrored face.
    """
    lim = limits or DegeneracyLimits()
    p = np.asarray(points, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        return "non-finite landmark coordinates"
    h, w = image_shape[:2]
    margin = lim.max_outside * max(h, w)
    if (p[:, 0] < -margin).any() or (p[:, 0] > w - 1 + margin).any() or (p[:, 1] < -margin).any() or (
        p[:, 1] > h - 1 + margin
    ).any():
        return f"landmarks far out of frame (more than {margin:.1f} px outside the {w}x{h} image)"
    spread = np.linalg.svd(p - p.mean(axis=0), compute_uv=False) / np.sqrt(len(p))
    if spread[0] < lim.min_spread:
        return f"landmark spread {spread[0]:.2f} px is near zero"
    if spread[1] < lim.min_flatness * spread[0]:
        return f"landmarks are (nearly) collinear (spread ratio {spread[1] / spread[0]:.3f})"
    eye_vec = p[1] - p[0]
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < lim.min_eye_distance:
        return f"eye distance {eye_dist:.2f} px is below {lim.min_eye_distance} px"
    if eye_dist > lim.max_eye_fraction * max(h, w):
        return f"eye distance {eye_dist:.1f} px exceeds {lim.max_eye_fraction:.0%} of the {w}x{h} image"
    down = np.array([-eye_vec[1], eye_vec[0]]) / eye_dist  # (0, 1) for a level, upright face
    if float((p[3:5].mean(axis=0) - p[0:2].mean(axis=0)) @ down) <= 0:
        return "eyes below the mouth (mouth on the wrong side of the eye line)"
    return None


@dataclass
class AlignmentResult:
    """Aligned crops and how they were made.

    ``matrices[i]`` maps image ``i``'s source pixels to its aligned crop (for a flagged image, the
    plain-resize matrix). ``reasons[i]`` is ``None`` unless image ``i`` was flagged.
    """

    images: np.ndarray  # (N, size, size, 3) uint8
    matrices: np.ndarray  # (N, 2, 3) float64
    flagged: np.ndarray  # (N,) bool
    reasons: list[str | None]

    @property
    def num_flagged(self) -> int:
        return int(self.flagged.sum())


def _resize_matrix(sx: float, sy: float) -> np.ndarray:
    """The 2×3 matrix of a resize by ``(sx, sy)`` under the pixel-centre convention."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def _plain_resize(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    interp = cv2.INTER_AREA if min(image.shape[:2]) >= size else cv2.INTER_LINEAR
    out, (sx, sy) = resize_image(image, size, interpolation=interp)
    return out, _resize_matrix(sx, sy)


def _warp_antialiased(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp, pre-shrinking with area averaging when the map shrinks the face.

    ``warpAffine`` samples bilinearly, which aliases when a 128-px face goes to 32 px; shrinking first
    by (almost) the map's scale with ``INTER_AREA`` and composing the remainder keeps it smooth.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    h, w = image.shape[:2]
    if scale >= 0.75 or min(h, w) * scale < 2:
        return warp_image(image, matrix, size)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pre = _resize_matrix(new_w / w, new_h / h)
    rest = compose_affine(matrix, np.linalg.inv(np.vstack([pre, [0, 0, 1]]))[:2])
    return warp_image(small, rest, size)


def _as_image_list(images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [to_rgb_uint8(im) for im in images]
    if isinstance(images, np.ndarray) and images.ndim in (2, 3):
        raise ValueError(f"images: expected a batch (N, H, W, 3) or a list of images, got {images.shape}")
    return [to_rgb_uint8(im) for im in images]


def align_faces(
    images: Sequence[np.ndarray] | np.ndarray,
    points: np.ndarray | Sequence[np.ndarray],
    schema: str | Schema,
    size: int = 32,
    kind: str = "similarity",
    strict: bool = False,
    limits: DegeneracyLimits | None = None,
) -> AlignmentResult:
    """Align each face so its five points land on :func:`canonical_template` (``size``).

    ``points`` are ``(N, K, 2)`` in ``schema`` and in each image's own pixels (what a detector's
    ``predict`` returns); they are reduced to the ``five`` schema first. ``kind`` is ``similarity``
    (default; keeps the face's aspect) or ``affine``. Faces whose points fail :func:`check_five_points`
    are resized whole instead and flagged with the reason; with ``strict=True`` the first such face
    raises ``ValueError`` naming its index and reason.
    """
    if kind not in ("similarity", "affine"):
        raise ValueError(f"align_faces: kind must be 'similarity' or 'affine', got {kind!r}")
    imgs = _as_image_list(images)
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 3 or len(pts) != len(imgs):
        raise ValueError(f"align_faces: points of shape {pts.shape} do not match {len(imgs)} images")
    five, _ = convert_points(pts, schema, "five")
    template = canonical_template(size)
    estimate = estimate_similarity if kind == "similarity" else estimate_affine
    out = np.empty((len(imgs), size, size, 3), np.uint8)
    mats = np.empty((len(imgs), 2, 3), np.float64)
    reasons: list[str | None] = []
    for i, (img, p) in enumerate(zip(imgs, five)):
        reason = check_five_points(p, img.shape, limits)
        if reason is None:
            mats[i] = estimate(p, template)
            out[i] = _warp_antialiased(img, mats[i], size)
        else:
            if strict:
                raise ValueError(f"align_faces: image {i}: {reason}")
            out[i], mats[i] = _plain_resize(img, size)
        reasons.append(reason)
    flagged = np.array([r is not None for r in reasons], dtype=bool)
    return AlignmentResult(images=out, matrices=mats, flagged=flagged, reasons=reasons)
