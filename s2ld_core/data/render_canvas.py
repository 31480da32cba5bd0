"""Drawing primitives of the face renderer: anti-aliased sub-pixel polygons, lines and ellipses in
OpenCV's fixed point, colours, Catmull-Rom curves through landmarks, and compositing through masks."""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np

_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel drawing
_ONE = 1 << _SHIFT

def _fx(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32).reshape(-1, 2)


def _fill(img: np.ndarray, pts: np.ndarray, color) -> None:
    cv2.fillPoly(img, [_fx(pts)], color, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, pts: np.ndarray, color, width: float, closed: bool = False) -> None:
    cv2.polylines(img, [_fx(pts)], closed, color, max(1, int(round(width))), cv2.LINE_AA, _SHIFT)


def _ellipse(img: np.ndarray, center, axes, angle: float, color, thickness: int = -1) -> None:
    c = (int(round(center[0] * _ONE)), int(round(center[1] * _ONE)))
    a = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(img, c, a, float(angle), 0, 360, color, thickness, cv2.LINE_AA, _SHIFT)


def _hull(pts: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(pts, np.float32)).reshape(-1, 2)


def _col(rgb, k: float = 1.0, add=(0.0, 0.0, 0.0)) -> tuple[float, float, float]:
    """``rgb * k + add`` clipped to 0..255, as the plain tuple OpenCV wants for a colour."""
    r, g, b = (min(255.0, max(0.0, float(c) * k + a)) for c, a in zip(rgb, add))
    return (r, g, b)


def _mix(a, b, t: float) -> tuple[float, float, float]:
    return _col([float(x) * (1 - t) + float(y) * t for x, y in zip(a, b)])


@functools.lru_cache(maxsize=512)
def _cr_matrix(n: int, samples: int, closed: bool) -> np.ndarray:
    """Catmull-Rom as one matrix: curve = M @ points (the extension points folded in)."""
    eye = np.eye(n)
    if closed:
        ext = np.vstack([eye[-1:], eye, eye[:2]])
    else:
        ext = np.vstack([2 * eye[0] - eye[1], eye, 2 * eye[-1] - eye[-2]])
    t = np.linspace(0.0, 1.0, samples, endpoint=False)
    basis = 0.5 * np.stack(
        [-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3], axis=1
    )  # (samples, 4)
    rows = [basis @ ext[i : i + 4] for i in range(len(ext) - 3)]
    if not closed:
        rows.append(eye[-1:])
    return np.vstack(rows)


def catmull_rom(points: np.ndarray, samples: int = 5, closed: bool = False) -> np.ndarray:
    """A smooth curve through every point (uniform Catmull-Rom), so drawn contours pass through the
    landmarks exactly instead of cutting corners between them."""
    p = np.asarray(points, np.float64)
    return _cr_matrix(len(p), samples, closed) @ p


def _composite(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """``dst = src * a + dst * (1 - a)`` with ``a = mask / 255`` (uint8 images, in place)."""
    a = mask.astype(np.float32) * (1.0 / 255.0)
    dst[:] = cv2.blendLinear(src, dst, a, 1.0 - a)


def _clip_draw(
    img: np.ndarray,
    clip: np.ndarray,
    draw: Callable[[np.ndarray, np.ndarray], None],
    soft: float = 0.0,
) -> None:
    """Run ``draw(roi, offset)`` on a copy of the clip polygon's bounding box and paste it back
    through the polygon's anti-aliased mask (irises inside eyelids, teeth inside the mouth...).

    ``soft`` feathers the mask edge (a Gaussian sigma in pixels): a beard has no hard border.
    """
    h, w = img.shape[:2]
    pad = int(np.ceil(2 * soft)) + 1
    x0, y0 = np.floor(clip.min(0)).astype(int) - pad
    x1, y1 = np.ceil(clip.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = img[y0:y1, x0:x1]
    off = np.array([x0, y0], np.float64)
    layer = roi.copy()
    draw(layer, off)
    mask = np.zeros(roi.shape[:2], np.uint8)
    _fill(mask, clip - off, 255)
    if soft > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), soft)
    _composite(roi, layer, mask)


def _blend_fill(
    img: np.ndarray,
    pts: np.ndarray,
    color,
    alpha: float,
    soft: float = 0.0,
    grain: float = 0.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Fill a polygon with a translucent colour (stubble, beard, lens tint); ``grain`` adds a
    speckle of that many grey levels so hair does not look painted on."""
    tint = np.array(color, np.float32)

    def draw(roi: np.ndarray, off: np.ndarray) -> None:
        over = np.broadcast_to(tint, roi.shape).astype(np.float32)
        if grain > 0 and rng is not None:
            over = over + rng.normal(0.0, grain, roi.shape[:2] + (1,)).astype(np.float32)
        roi[:] = np.clip(over * alpha + roi * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)

    _clip_draw(img, pts, draw, soft=soft)


def _offset_curve(curve: np.ndarray, dist: np.ndarray | float, toward: np.ndarray) -> np.ndarray:
    """Shift a polyline sideways by ``dist`` along its normal on the side of direction ``toward``."""
    d = np.gradient(curve, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    n *= np.sign(n @ toward + 1e-12)[:, None]
    return curve + n * np.asarray(dist, np.float64).reshape(-1, 1)
