"""Real skin on rendered geometry (``RenderConfig.style = "v3"``): the drawn renderer's faces with the
face's interior replaced by the texture of a real, unlabelled LR face, warped onto the render's points.

The realism meter found the drawn features themselves to be what gives a render away (thin,
low-contrast eyes and mouths on a mask-like oval), and no painted variant moved it; real faces' own
eyes, brows, nostrils and mouths do not have that problem. The texture pool is scikit-image's 100 LFW
faces (25² grey, unlabelled). Their correspondence comes from the shipped ``ibug68`` detector (flip
test and shape model), run once by ``python -m s2ld_core.data.render_texture --label`` and stored
beside this module (``lfw_texture_points.npz``), so rendering needs no network. Those points are the
detector's, not the truth, so the warped features land where the render's labels are only as well as
the detector finds them on LFW; the labels themselves stay the render's exact points.

How a face is textured (on the supersampled canvas, after the face layer and before bangs and
occluders, so hair and glasses stay on top): 68 points plus ten forehead anchors (the brows lifted by
45 % of the eye-to-mouth distance) are triangulated on the render; each canvas pixel in their hull is
mapped piecewise-affinely into the texture, sampled bicubically, tinted with the identity's skin tone (the
texture's grey level over its skin median), and blended in through the face silhouette with feathered
edges. Where the render's mouth is open, its drawn mouth interior (teeth, dark) stays. Which texture a
person wears is fixed by the identity (``identity_id`` modulo the pool), so identities stay
persistent; whether an image is textured (``RenderConfig.texture_prob``) is drawn from a generator
spawned from the image's, so v3's points, visibility and scene are v1's, byte for byte.
"""

from __future__ import annotations

import argparse
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "POINTS_FILE",
    "TexturePool",
    "texture_pool",
    "forehead_anchors",
    "warp_texture",
    "paint_real_texture",
    "label_pool",
]

POINTS_FILE = Path(__file__).with_name("lfw_texture_points.npz")
_LIFT = 0.45  # forehead anchors: brows moved up by this fraction of the mouth-to-eyes vector
_INNER_MOUTH = np.arange(60, 68)
_SUB_BITS = 4  # sub-pixel bits when rasterising triangles
_SUB = 1 << _SUB_BITS


@dataclass(frozen=True)
class TexturePool:
    """Real faces to take skin from: ``images`` (N, H, W) float32 grey in [0, 1], ``points`` (N, 68, 2)
    in their pixels, ``index`` the LFW index of each (so a caller can keep a held-out part apart)."""

    images: np.ndarray
    points: np.ndarray
    index: np.ndarray
    labelled_by: str

    def __len__(self) -> int:
        return len(self.images)


@functools.lru_cache(maxsize=1)
def _full_pool() -> TexturePool:
    from .sources import lfw_faces

    if not POINTS_FILE.exists():
        raise FileNotFoundError(
            f"{POINTS_FILE}: the texture pool's points are missing; make them with "
            "`python -m s2ld_core.data.render_texture --label`"
        )
    with np.load(POINTS_FILE) as z:
        points, labelled_by = z["points"].astype(np.float32), str(z["labelled_by"])
    faces = lfw_faces()
    if points.shape != (len(faces), 68, 2):
        raise ValueError(f"{POINTS_FILE}: points of shape {points.shape}; expected ({len(faces)}, 68, 2)")
    grey = faces[..., 0].astype(np.float32) / 255.0
    return TexturePool(grey, points, np.arange(len(faces)), labelled_by)


@functools.lru_cache(maxsize=8)
def texture_pool(indices: tuple[int, ...] | None = None) -> TexturePool:
    """The LFW texture pool, or its faces at ``indices`` (e.g. one half, the other held out)."""
    pool = _full_pool()
    if indices is None:
        return pool
    idx = np.asarray(sorted({int(i) for i in indices}), np.int64)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(pool):
        raise ValueError(f"RenderConfig.texture_faces: indices must lie in 0..{len(pool) - 1}, at least one")
    return TexturePool(pool.images[idx], pool.points[idx], idx, pool.labelled_by)


def forehead_anchors(points: np.ndarray, lift: float = _LIFT) -> np.ndarray:
    """The ten brow points moved up the face by ``lift`` times the mouth-to-eyes vector (so the warp
    covers the forehead, rolling with the head)."""
    p = np.asarray(points, np.float64)
    up = p[36:48].mean(0) - p[48:68].mean(0)
    return p[17:27] + lift * up


def _anchors(points: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(points, np.float64), forehead_anchors(points)])


def _triangle_affines(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(T, 2, 3)`` affine maps taking each destination triangle onto its source triangle (zero for
    a degenerate triangle, which covers no pixel anyway)."""
    d = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1))], axis=2)  # (T, 3, 3)
    ok = np.abs(np.linalg.det(d)) > 1e-6
    out = np.zeros((len(triangles), 2, 3))
    out[ok] = np.linalg.solve(d[ok], src[triangles[ok]]).transpose(0, 2, 1)
    return out


def warp_texture(texture: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray,
                 shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Map ``texture`` (H, W) so that its ``src_points`` land on ``dst_points`` in an image of
    ``shape``: piecewise affine over the Delaunay triangles of the destination's 68 points and
    forehead anchors. Returns the warped texture and a mask of the covered pixels (the anchors' hull).

    Each triangle is rasterised into a label image and every covered pixel is mapped by its
    triangle's affine, then the texture is sampled there (bicubic). Coinciding destination points (a
    closed mouth's inner lips) are triangulated once."""
    from scipy.spatial import Delaunay

    dst, src = _anchors(dst_points), _anchors(src_points)
    h, w = shape
    out, mask = np.zeros(shape, np.float32), np.zeros(shape, bool)
    x0, y0 = np.clip(np.floor(dst.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(dst.max(0)).astype(int) + 1, 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return out, mask
    _, first = np.unique(np.round(dst, 2), axis=0, return_index=True)
    keep = np.sort(first)
    dst, src = dst[keep], src[keep]
    triangles = Delaunay(dst).simplices
    affines = _triangle_affines(dst, src, triangles)
    bw, bh = x1 - x0, y1 - y0
    label = np.full((bh, bw), -1, np.int32)
    corners = np.round((dst - [x0, y0]) * _SUB).astype(np.int32)
    for t, tri in enumerate(triangles):
        cv2.fillConvexPoly(label, corners[tri], t, lineType=cv2.LINE_8, shift=_SUB_BITS)
    inside = label >= 0
    a = affines[np.maximum(label, 0)]  # (bh, bw, 2, 3)
    gx = np.arange(x0, x1, dtype=np.float64)[None, :]
    gy = np.arange(y0, y1, dtype=np.float64)[:, None]
    mx = (a[..., 0, 0] * gx + a[..., 0, 1] * gy + a[..., 0, 2]).astype(np.float32)
    my = (a[..., 1, 0] * gx + a[..., 1, 1] * gy + a[..., 1, 2]).astype(np.float32)
    patch = cv2.remap(texture.astype(np.float32), mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    out[y0:y1, x0:x1] = np.where(inside, patch, 0.0)
    mask[y0:y1, x0:x1] = inside
    return out, mask


def _skin_median(texture: np.ndarray, points: np.ndarray) -> float:
    """The texture's typical skin level: the median over both cheeks and the nose bridge."""
    p = np.asarray(points)
    samples = np.vstack([p[[1, 2, 3, 31]] * 0.5 + p[[36, 36, 48, 48]] * 0.5,
                         p[[15, 14, 13, 35]] * 0.5 + p[[45, 45, 54, 54]] * 0.5,
                         p[27:30]])
    h, w = texture.shape
    xy = np.clip(np.round(samples).astype(int), 0, [w - 1, h - 1])
    return float(max(np.median(texture[xy[:, 1], xy[:, 0]]), 0.05))


def paint_real_texture(ctx, pool: TexturePool, strength: float = 1.0) -> None:
    """Blend the identity's pool texture into the face layer of ``ctx`` (a :class:`.render_person._Ctx`
    after ``_draw_face``), in place."""
    k = ctx.idn.identity_id % len(pool)
    tex, src = pool.images[k], pool.points[k]
    warped, covered = warp_texture(tex, src, ctx.pts, ctx.img.shape[:2])
    if not covered.any():
        return
    sigma = max(0.6, 0.025 * (float(np.ptp(ctx.pts[:17, 0])) + 1.0))
    ys, xs = np.nonzero(covered)  # work inside the covered box, padded for the feathering
    pad = int(np.ceil(3 * sigma))
    h, w = covered.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)
    region = covered[y0:y1, x0:x1].astype(np.uint8)
    if ctx.scene.expression.mouth_open > 0.05:  # keep the drawn mouth interior (teeth, dark)
        cv2.fillPoly(region, [np.round(ctx.pts[_INNER_MOUTH] - [x0, y0]).astype(np.int32)], 0)
    face = ctx.face[y0:y1, x0:x1].astype(np.float32) / 255.0
    alpha = cv2.GaussianBlur(np.minimum(region.astype(np.float32), face), (0, 0), sigma)
    a = (strength * np.minimum(alpha, face))[..., None]
    level = warped[y0:y1, x0:x1, None] / _skin_median(tex, src)
    tinted = np.clip(level * np.asarray(ctx.idn.skin_rgb, np.float32), 0.0, 255.0)
    roi = ctx.img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1.0 - a) + tinted * a + 0.5, 0, 255).astype(roi.dtype)


# ----------------------------------------------------------------------------- labelling the pool


def label_pool(checkpoint: str | Path | None = None, out: str | Path = POINTS_FILE) -> Path:
    """Find the 68 points on every LFW face with the shipped detector (flip test, shape model) and
    store them atomically at ``out``, with the detector that found them."""
    from ..atomic import atomic_write_bytes
    from ..inference import LandmarkDetector
    from ..inference.detector import shipped_weights
    from .sources import lfw_faces

    path = Path(checkpoint) if checkpoint else shipped_weights("ibug68")
    det = LandmarkDetector.from_checkpoint(path).set_flip_test()
    points, _ = det.predict(lfw_faces())
    buf = io.BytesIO()
    np.savez_compressed(buf, points=points.astype(np.float32),
                        labelled_by=np.array(f"{path.parent.name}/{path.name} (flip test, shape model)"))
    return atomic_write_bytes(Path(out), buf.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Label the LFW texture pool with the shipped detector.")
    ap.add_argument("--label", action="store_true", help="run the detector and write the points file")
    ap.add_argument("--checkpoint", default=None, help="a G2 checkpoint instead of the shipped ibug68 one")
    ap.add_argument("--out", default=str(POINTS_FILE))
    args = ap.parse_args(argv)
    if not args.label:
        ap.error("nothing to do: pass --label")
    print(label_pool(args.checkpoint, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
