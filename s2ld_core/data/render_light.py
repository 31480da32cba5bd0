"""Light on the drawn face: a coarse height map of the head whose normals give Lambert shading and a
sheen, a soft cast shadow and ambient occlusion, then exposure, contrast, colour cast and noise."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .render_canvas import _SHIFT, _ellipse, _fx
from .render_scene import _Scene, _View


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run at a quarter of the size (same result, a fraction of the cost)."""
    if sigma < 3.0:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    h, w = x.shape[:2]
    small = cv2.resize(x, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    # cubic, not linear: the result is differentiated for normals, and linear leaves facets
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / 2.0), (w, h), interpolation=cv2.INTER_CUBIC)


@functools.lru_cache(maxsize=8)
def _centered_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
    return np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(c[:, None], (size, size))


def _height_map(
    person: np.ndarray, face: np.ndarray, pts: np.ndarray, unit: float, view: _View
) -> tuple[np.ndarray, np.ndarray]:
    """A coarse relief of the head whose normals the Lambert model turns into shading: smooth domes
    over the person and over the face (blurred masks, so no creases), the head's overall tilt, and
    bumps for the nose, brow ridge, eye sockets, cheekbones, lips and chin. Also returns the blurred
    face mask, which doubles as ambient occlusion around the face (under the jaw, at the hair)."""
    h = np.zeros(person.shape, np.float32)
    u = unit

    def disc(c, r, val):
        _ellipse(h, c, (r, r), 0, float(val))

    cv2.polylines(h, [_fx(pts[27:31])], False, 0.3 * u, max(1, int(0.16 * u)), cv2.LINE_AA, _SHIFT)
    disc(pts[30], 0.11 * u, 0.42 * u)
    for a in (31, 35):
        disc(pts[a], 0.07 * u, 0.18 * u)
    for e in (slice(36, 42), slice(42, 48)):
        _ellipse(h, pts[e].mean(0), (0.26 * u, 0.17 * u), 0, -0.1 * u)
    for b in (slice(17, 22), slice(22, 27)):
        cv2.polylines(h, [_fx(pts[b])], False, 0.06 * u, max(1, int(0.12 * u)), cv2.LINE_AA, _SHIFT)
    for a, b in ((36, 48), (45, 54)):
        disc(pts[a] * 0.6 + pts[b] * 0.4, 0.22 * u, 0.06 * u)
    cv2.fillPoly(h, [_fx(pts[48:60])], 0.1 * u, cv2.LINE_AA, _SHIFT)
    disc(pts[8] * 0.75 + pts[57] * 0.25, 0.2 * u, 0.08 * u)
    h = _smooth(h, 0.08 * u)
    face_soft = _smooth(face, 0.18 * u)
    dome = np.sqrt(np.maximum(_smooth(person, 0.3 * u), 0.0)) * (0.45 * u)
    dome += np.sqrt(np.maximum(face_soft, 0.0)) * (0.6 * u)
    n = view.turn(np.array([0.0, 0.0, 1.0]))
    xx, yy = _centered_grid(person.shape[0])
    tilt = (-0.5 / max(n[2], 0.3)) * (float(n[0]) * xx + float(n[1]) * yy)
    return (dome + h * face + tilt * person).astype(np.float32), face_soft


def _light(
    img: np.ndarray,
    mask: np.ndarray,
    face: np.ndarray,
    pts: np.ndarray,
    unit: float,
    view: _View,
    sc: _Scene,
    rng: np.random.Generator,
) -> np.ndarray:
    """Lambert shading + a little specular on the person, a soft cast shadow on the background,
    then exposure, contrast, colour cast and sensor noise.

    All per-pixel factors are folded into one gain map and one additive map before touching the
    three colour channels: this runs for every face, so it must stay a handful of array passes.
    """
    f = img.astype(np.float32)
    if sc.ambient < 1.0:
        m = mask.astype(np.float32) * (1.0 / 255.0)
        fm = face.astype(np.float32) * (1.0 / 255.0)
        hmap, face_soft = _height_map(m, fm, pts, unit, view)
        hmap = cv2.GaussianBlur(hmap, (0, 0), 1.0)  # no pixel-scale kinks left for the normals
        gx = cv2.Sobel(hmap, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(hmap, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        inv_norm = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
        lx, ly, lz = (float(c) for c in sc.light)
        ndotl = np.maximum((lz - gx * lx - gy * ly) * inv_norm, 0.0)
        shade = (sc.ambient + (1 - sc.ambient) * ndotl) / (sc.ambient + (1 - sc.ambient) * lz)
        half = sc.light + np.array([0.0, 0.0, 1.0])
        hx, hy, hz = (float(c) for c in half / np.linalg.norm(half))
        spec = np.clip((hz - gx * hx - gy * hy) * inv_norm, 0.0, 1.0)
        spec *= spec  # ^2
        spec *= spec  # ^4
        spec = spec * spec * spec  # ^12: a broad sheen, not a mirror
        shift = np.float32([[1, 0, sc.light[0] * 0.25 * unit], [0, 1, sc.light[1] * 0.25 * unit]])
        cast = _smooth(cv2.warpAffine(m, shift, m.shape[::-1]), 0.12 * unit)
        occlusion = 1.0 - 0.5 * np.clip(face_soft * 1.6, 0.0, 1.0) * (1.0 - fm)
        gain = m * shade * occlusion + (1.0 - m) * (1.0 - sc.shadow * cast)
        f *= gain[..., None]
        f += (m * spec * (sc.specular * 255.0))[..., None]
    mean = float(f.mean())
    scale = (sc.contrast * sc.brightness * sc.gain).astype(np.float32)
    f = f * scale + (mean * (1.0 - sc.contrast) * sc.brightness * sc.gain).astype(np.float32)
    if sc.noise > 0:
        f += rng.standard_normal(f.shape, dtype=np.float32) * np.float32(sc.noise)
    np.clip(f + 0.5, 0, 255, out=f)
    return f.astype(np.uint8)
