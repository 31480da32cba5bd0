"""Coordinate conventions shared by every module.

Pixel centres sit at integer coordinates (OpenCV's convention), so resizing by a factor ``s`` maps
``x -> (x + 0.5) * s - 0.5``. Affine maps are 2x3 float matrices acting on ``(x, y, 1)`` and are
applied to images with :func:`cv2.warpAffine` under the same convention, so a point and the pixel
under it move together.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "resize_points",
    "resize_image",
    "apply_affine",
    "compose_affine",
    "invert_affine",
    "similarity_matrix",
    "warp_image",
    "to_rgb_uint8",
]


def resize_points(points: np.ndarray, scale_x: float, scale_y: float | None = None) -> np.ndarray:
    """Map points through a resize by ``scale`` (new size / old size) per axis."""
    sy = scale_x if scale_y is None else scale_y
    pts = np.asarray(points, dtype=np.float32)
    out = pts.copy()
    out[..., 0] = (pts[..., 0] + 0.5) * scale_x - 0.5
    out[..., 1] = (pts[..., 1] + 0.5) * sy - 0.5
    return out


def resize_image(image: np.ndarray, size: int | tuple[int, int], interpolation: int = cv2.INTER_AREA):
    """Resize to ``size`` (an int for square, or ``(width, height)``); returns ``(image, (sx, sy))``."""
    w, h = (size, size) if isinstance(size, int) else size
    sx, sy = w / image.shape[1], h / image.shape[0]
    return cv2.resize(image, (w, h), interpolation=interpolation), (sx, sy)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``(..., 2)`` points."""
    m = np.asarray(matrix, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def compose_affine(*matrices: np.ndarray) -> np.ndarray:
    """``compose_affine(A, B)`` applies ``B`` first, then ``A`` (like function composition)."""
    out = np.eye(3)
    for m in matrices:
        out = out @ np.vstack([np.asarray(m, dtype=np.float64), [0, 0, 1]])
    return out[:2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def similarity_matrix(
    center: tuple[float, float], angle_deg: float, scale: float, translate: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Rotate by ``angle_deg`` (counter-clockwise on screen) and scale about ``center``, then translate."""
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(angle_deg), float(scale))
    m[:, 2] += np.asarray(translate, dtype=np.float64)
    return m


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    size: int | tuple[int, int],
    interpolation: int = cv2.INTER_LINEAR,
    border: int = cv2.BORDER_REFLECT_101,
) -> np.ndarray:
    """Warp with a 2x3 matrix mapping source pixel coordinates to destination coordinates."""
    w, h = (size, size) if isinstance(size, int) else size
    m = np.asarray(matrix, np.float64)
    return cv2.warpAffine(image, m, (w, h), flags=interpolation, borderMode=border)


_FLOAT_UNIT_MAX = 1.05  # floats up to this are [0, 1] images (bicubic overshoot clipped)
_FLOAT_BYTE_MAX = 260.0  # floats up to this are [0, 255] images
_FLOAT_MIN = -0.05  # below this a float image is not [0, 1] nor [0, 255] (e.g. a [-1, 1] tensor)


def _values_to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 values of an image array by the rule of its dtype (see :func:`to_rgb_uint8`)."""
    kind = img.dtype.kind
    if img.size == 0:
        raise ValueError(f"empty image (shape {img.shape})")
    if img.dtype == np.uint8:
        return img
    if kind == "b":
        raise ValueError("a boolean array is a mask, not an image; use mask.astype(np.uint8) * 255")
    if kind in "iu":
        lo, hi = int(img.min()), int(img.max())
        if lo >= 0 and hi <= 255:
            return img.astype(np.uint8)
        if img.dtype == np.uint16:  # a 16-bit image: 65535 is white
            return np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
        raise ValueError(f"{img.dtype} values run {lo}..{hi}; integer images must hold 0..255 "
                         "(or be uint16 for 16-bit)")
    if kind != "f":
        raise ValueError(f"an array of dtype {img.dtype} is not an image")
    f = img.astype(np.float64)
    if not np.isfinite(f).all():
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = float(f.min()), float(f.max())
    if lo < _FLOAT_MIN:
        raise ValueError(f"float values down to {lo:.4g}: expected [0, 1] or [0, 255] "
                         "(a network tensor in [-1, 1] converts with (x + 1) / 2)")
    if hi <= _FLOAT_UNIT_MAX:
        return np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
    if hi <= _FLOAT_BYTE_MAX:
        return np.round(np.clip(f, 0.0, 255.0)).astype(np.uint8)
    raise ValueError(f"float values up to {hi:.4g}: expected [0, 1] or [0, 255]")


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Bring any image to the API-boundary format: ``uint8`` HxWx3 RGB (gray expanded, alpha dropped).

    Values by dtype, one stated rule each (never a silent clip to white): ``uint8`` as is; other
    integer types as 0..255 values, except ``uint16`` holding values above 255, which is a 16-bit
    image (divided by 257); floats are ``[0, 1]`` when the largest value is at most 1.05, else
    ``[0, 255]`` when at most 260 (overshoot from interpolation is clipped). Anything else -- NaN or
    infinity, float values below -0.05, integers outside 0..255, booleans, an empty array -- is a
    ``ValueError`` that says which rule failed.
    """
    img = _values_to_uint8(np.asarray(image))
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"cannot interpret an array of shape {np.asarray(image).shape} as an image "
                         "(expected H×W, H×W×1, H×W×3 or H×W×4)")
    return np.ascontiguousarray(img)
