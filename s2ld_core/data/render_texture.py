"""Real skin on rendered geometry (``RenderConfig.style = "v3"``): the drawn renderer's faces with the
face's interior replaced by the texture of a real, unlabelled LR face, warped onto the render's points.

The realism meter found the drawn features themselves to be what gives a render away (thin,
low-contrast eyes and mouths on a mask-like oval), and no painted variant moved it; real faces' own
eyes, brows, nostrils and mouths do not have that problem. The texture pool is scikit-image's 100 LFW
faces (25² grey, unlabelled). Their correspondence comes from the shipped ``ibug68`` detector (flip
test and shape model), run once by ``python scripts/label_texture_pool.py`` and stored
beside this module (``lfw_texture_points.npz``), so rendering needs no network. Those points are the
detector's, not the truth, so the warped features land where the render's labels are only as well as
the detector finds them on LFW; the labels themselves stay the render's exact points.

How a face is textured (on the supersampled canvas, after the face layer and before bangs and
occluders, so hair and glasses stay on top): 68 points plus ten forehead anchors (the brows lifted by
45 % of the eye-to-mouth distance) are triangulated on the render; each canvas pixel in their hull is
mapped piecewise-affinely into the texture, sampled bicubically, tinted with the identity's skin tone (the
texture's grey level over its skin median), and blended in through the face silhouette with feathered
edges. Where the render's mouth is open, its drawn mouth interior (teeth, dark) stays; the drawn
brows, eyes, nose and closed mouth that the texture would cover are not drawn at all. Which texture a
person wears is fixed by the identity (``identity_id`` modulo the pool), so identities stay
persistent; whether an image is textured (``RenderConfig.texture_prob``) is drawn from a generator
spawned from the image's, so v3's points, visibility and scene are v1's, byte for byte.

**Real colour skin** (``RenderConfig.texture_source``): instead of LFW, the pool can be a folder of
real colour faces in 300-W layout (an image and its 68-point ``.pts`` per face), e.g. the
pseudo-labelled large faces that ``scripts/pseudo_label.py`` writes from a real-faces folder
(:func:`folder_texture_pool`). Each face is framed as the training crops are (landmark box 68 % of a
128² crop, area-downscaled) and kept in colour; the tint then works per channel, mapping the
texture's own skin colour (the same cheek and nose samples) onto the identity's skin tone, so the
face keeps the photo's colour variation (lips, cheeks, shading, eye whites) and meets the drawn neck
and ears without a seam. Use the training photos' faces only where a check set comes from the same
folder's held-out photos.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .render_person import MOUTH_OPEN_SHOWS

__all__ = [
    "POINTS_FILE",
    "TexturePool",
    "texture_pool",
    "folder_texture_pool",
    "FOLDER_TEXTURE_SIZE",
    "forehead_anchors",
    "warp_texture",
    "paint_real_texture",
]

POINTS_FILE = Path(__file__).with_name("lfw_texture_points.npz")
_LIFT = 0.45  # forehead anchors: brows moved up by this fraction of the mouth-to-eyes vector
_INNER_MOUTH = np.arange(60, 68)
_SUB_BITS = 4  # sub-pixel bits when rasterising triangles
_SUB = 1 << _SUB_BITS
FOLDER_TEXTURE_SIZE = 128  # side of a folder pool's face crops (landmark box 68 % of it, ~87 px)
_FOLDER_FILL = 0.68


@dataclass(frozen=True)
class TexturePool:
    """Real faces to take skin from: ``images`` (N, H, W) float32 grey in [0, 1] (LFW) or
    (N, H, W, 3) uint8 RGB (a folder pool), ``points`` (N, 68, 2) in their pixels, ``index`` the LFW
    index (or the folder's file index) of each, so a caller can keep a held-out part apart, and
    ``names`` the folder pool's face names (file stems)."""

    images: np.ndarray
    points: np.ndarray
    index: np.ndarray
    labelled_by: str
    names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.images)

    @functools.cached_property
    def skin_levels(self) -> np.ndarray:
        """Each texture's typical skin level (:func:`_skin_median`): the grey that the tint maps onto
        the identity's skin tone; one per channel for a colour pool. Computed once per pool, not
        once per render."""
        floor = 0.05 if self.images.dtype != np.uint8 else 0.05 * 255.0
        return np.array([_skin_median(t, p, floor) for t, p in zip(self.images, self.points)], np.float32)


@functools.lru_cache(maxsize=1)
def _full_pool() -> TexturePool:
    from .sources import lfw_faces

    if not POINTS_FILE.exists():
        raise FileNotFoundError(
            f"{POINTS_FILE}: the texture pool's points are missing; make them with "
            "`python scripts/label_texture_pool.py`"
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


def _frame_texture(image: np.ndarray, points: np.ndarray, size: int,
                   fill: float = _FOLDER_FILL) -> tuple[np.ndarray, np.ndarray]:
    """``image`` cropped square around its landmark box (box ``fill`` of the side, centred) at
    ``size``²: through a crop at native scale, then area-downscaled (upsampled bicubically only when
    the face is smaller than ``size``). Returns the crop and the points in it."""
    from ..geometry import apply_affine, similarity_matrix

    pts = np.asarray(points, np.float64)
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()), 1.0) / fill
    centre = (lo + hi) / 2.0
    work = max(size, int(np.ceil(side)))
    m = similarity_matrix(tuple(centre), 0.0, work / side,
                          translate=(work / 2.0 - 0.5 - centre[0], work / 2.0 - 0.5 - centre[1]))
    crop = cv2.warpAffine(image, m, (work, work), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    out = apply_affine(m, pts)
    if work != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        out = (out + 0.5) * (size / work) - 0.5
    return crop, out.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _folder_pool(root: str, size: int) -> TexturePool:
    from .formats import read_pts
    from .images import read_rgb

    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"RenderConfig.texture_source: {root} is not a folder")
    files = sorted(folder.glob("*.pts"))
    if not files:
        raise ValueError(f"RenderConfig.texture_source: {root} holds no .pts files (expected 300-W layout)")
    images, points, names = [], [], []
    for f in files:
        image_path = next((f.with_suffix(e) for e in (".png", ".jpg", ".jpeg") if f.with_suffix(e).exists()),
                          None)
        if image_path is None:
            raise ValueError(f"{f}: no image (.png, .jpg) beside it")
        pts = read_pts(f, expected_points=68)
        if not np.isfinite(pts).all():
            raise ValueError(f"{f}: every one of the 68 points must be placed to lend a texture")
        crop, p = _frame_texture(read_rgb(image_path), pts, size)
        images.append(crop)
        points.append(p)
        names.append(f.stem)
    return TexturePool(np.stack(images), np.stack(points), np.arange(len(files)),
                       f"{folder.name}/*.pts", tuple(names))


def folder_texture_pool(root: str | Path, indices: tuple[int, ...] | None = None,
                        size: int = FOLDER_TEXTURE_SIZE) -> TexturePool:
    """A colour texture pool from a 300-W folder (every ``*.pts`` with its image beside it, sorted by
    name), or its faces at ``indices``. Read once per folder and process."""
    pool = _folder_pool(str(Path(root).expanduser().resolve()), int(size))
    if indices is None:
        return pool
    idx = np.asarray(sorted({int(i) for i in indices}), np.int64)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(pool):
        raise ValueError(f"RenderConfig.texture_faces: indices must lie in 0..{len(pool) - 1}, at least one")
    return TexturePool(pool.images[idx], pool.points[idx], idx, pool.labelled_by,
                       tuple(pool.names[i] for i in idx))


def forehead_anchors(points: np.ndarray, lift: float = _LIFT) -> np.ndarray:
    """The ten brow points moved up the face by ``lift`` times the mouth-to-eyes vector (so the warp
    covers the forehead, rolling with the head)."""
    p = np.asarray(points, np.float64)
    up = p[36:48].mean(0) - p[48:68].mean(0)
    return p[17:27] + lift * up


def _anchors(points: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(points, np.float64), forehead_anchors(points)])


def _triangle_affines(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(T, 6)`` affine maps ``[a, b, c, d, e, f]`` taking each destination triangle onto its source
    triangle (``x' = a x + b y + c``, ``y' = d x + e y + f``; zero for a degenerate triangle, which
    covers no pixel anyway). Solved in closed form (Cramer's rule): a batched ``linalg.solve`` of
    about a hundred 3×3 systems cost more than the rest of the triangle set-up."""
    (x0, y0), (x1, y1), (x2, y2) = (dst[triangles[:, i]].T for i in range(3))
    s0, s1, s2 = (src[triangles[:, i]] for i in range(3))  # (T, 2) each
    det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    ok = np.abs(det) > 1e-6
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
    d1, d2 = s1 - s0, s2 - s0  # source edges, (T, 2)
    a = (d1 * (y2 - y0)[:, None] - d2 * (y1 - y0)[:, None]) * inv  # ∂src/∂x
    b = (d2 * (x1 - x0)[:, None] - d1 * (x2 - x0)[:, None]) * inv  # ∂src/∂y
    c = np.where(ok[:, None], s0 - a * x0[:, None] - b * y0[:, None], 0.0)
    return np.stack([a[:, 0], b[:, 0], c[:, 0], a[:, 1], b[:, 1], c[:, 1]], axis=1)


def _warp_box(texture: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray,
              shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """:func:`warp_texture` inside the destination anchors' bounding box ``(x0, y0, x1, y1)``:
    ``(patch, inside, box)``, or None when the box misses the image."""
    from scipy.spatial import Delaunay

    dst, src = _anchors(dst_points), _anchors(src_points)
    h, w = shape
    x0, y0 = np.clip(np.floor(dst.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(dst.max(0)).astype(int) + 1, 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    key = np.round(dst, 2)
    _, first = np.unique(key[:, 0] + 1j * key[:, 1], return_index=True)  # coinciding points once
    keep = np.sort(first)
    dst, src = dst[keep], src[keep]
    triangles = Delaunay(dst).simplices
    coef = np.vstack([_triangle_affines(dst, src, triangles), np.zeros((1, 6))]).astype(np.float32)
    label = np.full((y1 - y0, x1 - x0), -1, np.int32)  # -1 (uncovered) reads coef's zero row
    corners = np.round((dst - [x0, y0]) * _SUB).astype(np.int32)
    for t, tri in enumerate(triangles):
        cv2.fillConvexPoly(label, corners[tri], t, lineType=cv2.LINE_8, shift=_SUB_BITS)
    a = coef.T[:, label]  # each pixel's affine, six float32 planes (6, bh, bw)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    mx = a[0] * gx + a[1] * gy + a[2]
    my = a[3] * gx + a[4] * gy + a[5]
    patch = cv2.remap(np.asarray(texture, np.float32), mx, my, cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REPLICATE)
    inside = label >= 0
    keep = inside if patch.ndim == 2 else inside[..., None]
    return np.where(keep, patch, np.float32(0.0)), inside, (int(x0), int(y0), int(x1), int(y1))


def warp_texture(texture: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray,
                 shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Map ``texture`` (H, W) so that its ``src_points`` land on ``dst_points`` in an image of
    ``shape``: piecewise affine over the Delaunay triangles of the destination's 68 points and
    forehead anchors. Returns the warped texture and a mask of the covered pixels (the anchors' hull).

    Each triangle is rasterised into a label image and every covered pixel is mapped by its
    triangle's affine, then the texture is sampled there (bicubic). Coinciding destination points (a
    closed mouth's inner lips) are triangulated once."""
    out, mask = np.zeros(tuple(shape) + np.shape(texture)[2:], np.float32), np.zeros(shape, bool)
    warped = _warp_box(texture, src_points, dst_points, shape)
    if warped is not None:
        patch, inside, (x0, y0, x1, y1) = warped
        out[y0:y1, x0:x1], mask[y0:y1, x0:x1] = patch, inside
    return out, mask


def _skin_median(texture: np.ndarray, points: np.ndarray, floor: float = 0.05):
    """The texture's typical skin level: the median over both cheeks and the nose bridge (per
    channel for a colour texture), at least ``floor``."""
    p = np.asarray(points)
    samples = np.vstack([p[[1, 2, 3, 31]] * 0.5 + p[[36, 36, 48, 48]] * 0.5,
                         p[[15, 14, 13, 35]] * 0.5 + p[[45, 45, 54, 54]] * 0.5,
                         p[27:30]])
    h, w = texture.shape[:2]
    xy = np.clip(np.round(samples).astype(int), 0, [w - 1, h - 1])
    level = np.maximum(np.median(texture[xy[:, 1], xy[:, 0]], axis=0), floor)
    return float(level) if texture.ndim == 2 else level.astype(np.float32)


def paint_real_texture(ctx, pool: TexturePool, strength: float = 1.0) -> None:
    """Blend the identity's pool texture into the face layer of ``ctx`` (a :class:`.render_person._Ctx`
    after ``_draw_face``), in place."""
    k = ctx.idn.identity_id % len(pool)
    tex, src = pool.images[k], pool.points[k]
    warped = _warp_box(tex, src, ctx.pts, ctx.img.shape[:2])
    if warped is None or not warped[1].any():
        return
    patch, inside, (bx0, by0, bx1, by1) = warped
    sigma = max(0.6, 0.025 * (float(np.ptp(ctx.pts[:17, 0])) + 1.0))
    pad = int(np.ceil(3 * sigma))  # work inside the covered box, padded for the feathering
    h, w = ctx.img.shape[:2]
    y0, y1, x0, x1 = max(0, by0 - pad), min(h, by1 + pad), max(0, bx0 - pad), min(w, bx1 + pad)
    inner = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))
    region = np.zeros((y1 - y0, x1 - x0), np.float32)
    region[inner] = inside
    level = np.zeros(region.shape + patch.shape[2:], np.float32)
    level[inner] = patch
    if ctx.scene.expression.mouth_open > MOUTH_OPEN_SHOWS:  # keep the drawn mouth interior
        cv2.fillPoly(region, [np.round(ctx.pts[_INNER_MOUTH] - [x0, y0]).astype(np.int32)], 0.0)
    face = ctx.face[y0:y1, x0:x1].astype(np.float32) * np.float32(1.0 / 255.0)
    alpha = cv2.GaussianBlur(np.minimum(region, face), (0, 0), sigma)
    a = np.float32(strength) * np.minimum(alpha, face)
    gain = np.asarray(ctx.idn.skin_rgb, np.float32) / pool.skin_levels[k]
    # tinted in uint8 (saturating; the texture is >= 0), one plane per channel: OpenCV's per-plane
    # passes cost a tenth of NumPy broadcasting over a trailing axis of three
    planes = [level] * 3 if level.ndim == 2 else [level[..., c] for c in range(3)]
    tinted = cv2.merge([cv2.convertScaleAbs(plane, alpha=float(g)) for plane, g in zip(planes, gain)])
    roi = ctx.img[y0:y1, x0:x1]
    roi[:] = cv2.blendLinear(tinted, roi, a, np.float32(1.0) - a)
