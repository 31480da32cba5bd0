"""The photo-like face renderer (``RenderConfig.style = "v2"``): the same 3-D faces, points and
visibility as the drawn renderer (``"v1"``, :mod:`.render`), painted to look like a photograph at
16-32 px rather than like a drawing.

What changes, guided by the realism meter (:mod:`.realism`) and by what survives at 16-32 px:

* **backgrounds** are patches of real photographs that ship with scikit-image (brick, grass, gravel,
  a camera man, a cat, coffee, coins, a clock, a motorbike, a rocket, a page of text...), cropped,
  flipped, defocused and colour-graded per image, instead of synthetic clutter;
* **shading**: a smoother head relief under a harder, more directional light (lower ambient), plus
  occlusion shading where real faces are dark at low resolution — the inner eye corners, under the
  lower lids, the nostrils, under the nose, the nasolabial folds, the lip line, under the lower lip —
  and highlights on the brow bone, forehead, nose ridge and cheekbones;
* **skin**: multiplicative low- and high-frequency texture, redder cheeks, a sheen;
* **features**: dim sclera and dark irises, bold lash lines with a shadow on the upper lid (an eye
  reads as a dark blob at 25 px, as in real faces), translucent grainy brows, no drawn nose-bridge
  line, nostrils as dark blobs, lips closer to the skin tone with a dark line between them;
* **people**: warmer skin (the drawn style's lightest tones read as plaster) and a lower hairline,
  per identity (:func:`photo_identity`), so identities persist;
* **clothes** in muted colours, and a lens blur and colour grading (saturation, white balance) of the
  whole picture.

Identities, poses, expressions, hair, glasses, beards, hands and the far cheek's self-occlusion are
the drawn renderer's: only appearance differs, so every landmark is still exactly on its feature.
The light and texture extras only run where the scene has directional light (``ambient < 1``), so
:meth:`RenderConfig.plain` renders keep exact colours for tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import render_canvas as _c
from . import render_light as _l
from . import render_person as _p
from . import render_scene as _s
from .face_model import Identity, build_face

__all__ = ["render_face_photo", "photo_identity", "photo_background", "background_photos"]

# scikit-image's bundled photographs (no download)
_PHOTOS = (
    "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel", "rocket", "page",
    "text", "moon", "stereo_motorcycle", "cat", "hubble_deep_field", "immunohistochemistry",
)


@functools.lru_cache(maxsize=1)
def background_photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as RGB uint8, at most 320 px on the long side (loaded once).

    The astronaut photograph is left out: it holds a face, and a background must not."""
    from skimage import data

    out = []
    for name in _PHOTOS:
        try:
            im = getattr(data, name)()
        except Exception:  # a photo that needs a download or a missing optional dependency
            continue
        if isinstance(im, tuple):
            im = im[0]
        im = np.asarray(im)
        if im.dtype != np.uint8:
            scale = 255.0 if im.max() <= 1 else 1.0
            im = np.clip(im.astype(np.float64) * scale, 0, 255).astype(np.uint8)
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=2)
        im = np.ascontiguousarray(im[..., :3])
        long = max(im.shape[:2])
        if long > 320:
            k = 320 / long
            wh = (round(im.shape[1] * k), round(im.shape[0] * k))
            im = cv2.resize(im, wh, interpolation=cv2.INTER_AREA)
        out.append(im)
    if not out:
        raise RuntimeError("no scikit-image photograph could be loaded for backgrounds")
    return tuple(out)


def photo_background(rng: np.random.Generator, size: int, ss: int) -> np.ndarray:
    """A defocused, colour-graded patch of a real photograph, ``size`` px then enlarged by ``ss``."""
    photos = background_photos()
    im = photos[int(rng.integers(len(photos)))]
    h, w = im.shape[:2]
    side = int(min(h, w) * rng.uniform(0.25, 1.0))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    patch = cv2.resize(im[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.uniform() < 0.5:
        patch = patch[:, ::-1]
    k = int(rng.integers(4))
    patch = np.ascontiguousarray(np.rot90(patch, k) if rng.uniform() < 0.3 else patch)
    # one 3x3 colour matrix: desaturate (photos behind faces are rarely vivid), tint, expose
    sat = float(rng.uniform(0.2, 1.0))
    tint = 1.0 + (_s._scene_color(rng) / 128.0 - 1.0) * 0.15
    grade = (tint * float(rng.uniform(0.45, 1.1)))[:, None] * (sat * np.eye(3) + (1 - sat) / 3.0)
    patch = cv2.transform(patch, grade.astype(np.float32))
    img = cv2.GaussianBlur(patch, (0, 0), float(rng.uniform(0.4, 2.5)))  # out of focus behind the head
    return img if ss == 1 else cv2.resize(img, (size * ss, size * ss), interpolation=cv2.INTER_LINEAR)


@dataclass
class _Look:
    """Per-image appearance of the photo-like style, drawn after the scene."""

    occlusion: float  # depth of eye sockets, nose and lip shadows (0..1)
    relief: float  # height-map exaggeration
    cheeks: float  # redness of the cheeks
    texture: float  # skin texture amplitude
    lens: float  # lens blur sigma at the output size
    saturation: float
    sclera: float  # how bright the eye whites are (0 skin .. 1 white)
    brows: float  # opacity of the brows
    noise: float  # sensor noise (grey levels) on top of the config's


def _sample_look(rng: np.random.Generator) -> _Look:
    return _Look(
        occlusion=float(rng.uniform(0.3, 0.65)),
        relief=float(rng.uniform(0.8, 1.25)),
        cheeks=float(rng.uniform(0.0, 0.12)),
        texture=float(rng.uniform(0.03, 0.09)),
        lens=float(rng.uniform(0.2, 0.8)),
        saturation=float(rng.uniform(0.55, 1.05)),
        sclera=float(rng.uniform(0.2, 0.6)),
        brows=float(rng.uniform(0.5, 0.85)),
        noise=float(rng.uniform(1.0, 5.0)),
    )


def _muted(rng: np.random.Generator) -> tuple[float, float, float]:
    grey = rng.uniform(15, 200)
    hue = rng.uniform(0, 255, 3)
    return _c._col(np.clip(grey + rng.uniform(0.0, 0.45) * (hue - hue.mean()), 0, 255))


# ----------------------------------------------------------------------------- the face layer


def _draw_brows(img: np.ndarray, ctx, look: _Look) -> None:
    idn, up = ctx.idn, ctx.up()
    thick = 0.06 * idn.brow_thickness * ctx.unit
    colour = np.minimum(np.asarray(idn.brow_rgb), np.asarray(idn.skin_rgb) * 0.55)
    for idx in (slice(17, 22), slice(22, 27)):
        pts = ctx.pts[idx]
        c = _c.catmull_rom(pts, 4)
        t = np.linspace(0.0, 1.0, len(c))
        t_in = (1 - t) if idx.start == 22 else t
        w = thick * (0.45 + 0.55 * np.sqrt(t_in))
        poly = np.vstack([_c._offset_curve(c, 0.4 * w, up), _c._offset_curve(c, 0.6 * w, -up)[::-1]])
        _c._blend_fill(img, poly, colour, look.brows, soft=0.012 * ctx.unit, grain=12, rng=ctx.rng)


def _draw_eye(img: np.ndarray, ctx, idx: np.ndarray, center3: np.ndarray, look: _Look) -> None:
    idn, s = ctx.idn, ctx.unit
    eye = _p.eye_geometry(ctx, idx, center3)
    upper, lower, outline, height, up = eye.upper, eye.lower, eye.outline, eye.height, eye.up
    skin = idn.skin_rgb
    _c._fill(img, outline, _c._mix(_c._col(skin, 0.7), (225, 218, 210), look.sclera))
    r = 0.09 * s * idn.eye_width**0.5
    squash, angle, iris = eye.squash, eye.angle, idn.iris_rgb

    def draw_iris(roi: np.ndarray, off: np.ndarray) -> None:
        c = eye.centre - off
        _c._ellipse(roi, c, (r * squash, r), angle, _c._col(iris, 0.45))
        _c._ellipse(roi, c, (0.78 * r * squash, 0.78 * r), angle, _c._col(iris, 0.72))
        _c._ellipse(roi, c, (0.4 * r * squash, 0.4 * r), angle, (14, 11, 11))
        _c._ellipse(roi, c + (0.25 * r, -0.3 * r), (0.1 * r, 0.1 * r), 0, (215, 215, 215))

    _c._clip_draw(img, outline, draw_iris)
    lash = _c._mix(idn.hair_rgb, (12, 10, 10), 0.75)
    lid = _c._offset_curve(upper, max(2.0, 0.055 * s) + 0.35 * height, up)
    _c._blend_fill(img, np.vstack([upper, lid[::-1]]), _c._col(skin, 0.4), 0.5, soft=0.01 * s)  # lid shadow
    _c._line(img, _c._offset_curve(upper, 0.025 * s, up), lash, max(2.0, 0.09 * s))
    _c._line(img, lower, _c._col(skin, 0.5), max(1.0, 0.035 * s))
    crease = _c._offset_curve(upper[2:-2], max(2.0, 0.05 * s) + 0.5 * height, up)
    _c._line(img, crease, _c._col(skin, 0.72), max(1.0, 0.03 * s))


def _draw_nose(img: np.ndarray, ctx, nose_body: np.ndarray, visible: np.ndarray) -> None:
    idn, p, s, v = ctx.idn, ctx.pts, ctx.unit, ctx.view
    skin = idn.skin_rgb
    _c._fill(img, nose_body, skin)  # covers the far eye when the head is turned
    outline = v.sp(ctx.geo.nose_outline)
    yaw = ctx.scene.pose.yaw
    k = min(1.0, abs(yaw) / 35.0)
    if k > 0.15:
        far = outline[7:12] if yaw > 0 else outline[0:5]
        _c._line(img, _c.catmull_rom(far, 3), _c._col(skin, 1 - 0.25 * k), max(1.0, 0.04 * s))
    for side, (a, b) in ((0, (31, 32)), (7, (35, 34))):
        ala = outline[side + 3 : side + 6]
        if visible[a]:
            _c._line(img, _c.catmull_rom(np.vstack([ala[2], ala[1], ala[0]]), 3), _c._col(skin, 0.8),
                     max(1.0, 0.03 * s))
            c = (p[a] * 0.55 + p[b] * 0.45) - ctx.up() * 0.02 * s
            d = p[b] - p[a]
            _c._ellipse(img, c, (0.55 * np.linalg.norm(d), 0.045 * s * idn.nose_width),
                        float(np.degrees(np.arctan2(d[1], d[0]))), _c._col(skin, 0.3))
    _c._line(img, _c.catmull_rom(p[31:36], 3), _c._col(skin, 0.68), max(1.0, 0.035 * s))


def _draw_mouth(img: np.ndarray, ctx) -> None:
    idn, p, s = ctx.idn, ctx.pts, ctx.unit
    lip = _c._col(_c._mix(idn.lip_rgb, idn.skin_rgb, 0.15), 0.85)
    up_out = _c.catmull_rom(p[48:55], 4)
    low_out = _c.catmull_rom(np.vstack([p[54:60], p[48:49]]), 4)
    up_in = _c.catmull_rom(p[60:65], 4)
    low_in = _c.catmull_rom(np.vstack([p[64:68], p[60:61]]), 4)
    gap = float(np.linalg.norm(p[62] - p[66]))
    if gap > 0.03 * s:
        mouth = np.vstack([up_in, low_in[1:-1]])
        down = -ctx.up()

        def inside(roi: np.ndarray, off: np.ndarray) -> None:
            _c._fill(roi, mouth - off, (40, 14, 18))
            teeth = np.vstack([up_in, (up_in + down * min(0.5 * gap, 0.09 * s))[::-1]]) - off
            _c._fill(roi, teeth, (196, 186, 170))
            tongue = (0.28 * np.linalg.norm(p[64] - p[60]), 0.3 * gap)
            _c._ellipse(roi, p[66] - off - down * 0.1 * gap, tongue, 0, (120, 50, 56))

        _c._clip_draw(img, mouth, inside)
    _c._fill(img, np.vstack([up_out, up_in[::-1]]), _c._col(lip, 0.72))
    _c._fill(img, np.vstack([low_out, low_in[::-1]]), lip)
    dark = _c._col(idn.skin_rgb, 0.22)
    if gap <= 0.03 * s:
        _c._line(img, np.vstack([p[48:49], up_in, p[54:55]]), dark, max(2.0, 0.055 * s))
    for c in (p[48], p[54]):
        _c._ellipse(img, c, (0.038 * s, 0.038 * s), 0, dark)


def _draw_face(ctx, visible: np.ndarray, look: _Look) -> None:
    """As the drawn renderer's face layer (composited through the face's own silhouette), with the
    photo-like features."""
    regions = _p._face_regions(ctx)
    layer = ctx.img.copy()
    mask = np.zeros(ctx.person.shape, np.uint8)
    skin = ctx.idn.skin_rgb
    for reg in regions:
        _c._fill(layer, reg, skin)
        _c._fill(mask, reg, 255)
    _p._draw_facial_hair(layer, ctx)
    _draw_brows(layer, ctx, look)
    left, right = np.arange(36, 42), np.array([45, 44, 43, 42, 47, 46])
    for idx, c3 in ((left, ctx.geo.eye_centers[0]), (right, ctx.geo.eye_centers[1])):
        _draw_eye(layer, ctx, idx, c3, look)
    _draw_nose(layer, ctx, regions[2], visible)
    _draw_mouth(layer, ctx)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    _c._composite(ctx.img[y0:y1, x0:x1], layer[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    np.maximum(ctx.person, mask, out=ctx.person)
    ctx.face[:] = mask


# ----------------------------------------------------------------------------- light


def _occlusion(
    shape: tuple[int, int], pts: np.ndarray, unit: float, up: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a real face is darker than its relief alone makes it (eye sockets, under the brows and
    nose, the lip line, under the lower lip) and where it is lighter (forehead, nose ridge,
    cheekbones): two soft maps in 0..1 at the output size."""
    dark = np.zeros(shape, np.float32)
    light = np.zeros(shape, np.float32)
    u = unit
    for eye, brow in ((slice(36, 42), slice(17, 22)), (slice(42, 48), slice(22, 27))):
        e, b = pts[eye], pts[brow]
        d = e[3] - e[0]
        ang = float(np.degrees(np.arctan2(d[1], d[0])))
        _c._ellipse(dark, e[3] * 0.8 + pts[27] * 0.2, (0.07 * u, 0.07 * u), 0, 0.5)  # inner corner
        bone = e[1:3].mean(0) * 0.45 + b.mean(0) * 0.55
        _c._ellipse(light, bone, (0.55 * np.linalg.norm(d), 0.06 * u), ang, 0.7)  # brow bone, upper lid
        cheek = e.mean(0) - up * (-0.38 * u)
        _c._ellipse(light, cheek, (0.16 * u, 0.09 * u), ang, 0.6)
    _c._ellipse(dark, pts[33] * 0.55 + pts[51] * 0.45, (0.16 * u, 0.045 * u), 0, 0.7)
    for a in (31, 35):
        _c._ellipse(dark, pts[a], (0.06 * u, 0.08 * u), 0, 0.6)
    _c._fill(dark, pts[60:68], 1.0)
    _c._ellipse(dark, pts[57] + (pts[57] - pts[51]) * 0.3, (0.17 * u, 0.05 * u), 0, 0.6)
    for a, b, sign in ((31, 48, -1.0), (35, 54, 1.0)):  # nasolabial folds, nose wing to mouth corner
        side = np.array([sign * 0.09 * u, 0.0])
        mid = (pts[a] + pts[b]) / 2 + side
        fold = np.array([pts[a] + side * 0.6 - up * 0.05 * u, mid, pts[b] + side * 0.5])
        _c._line(dark, fold, 0.55, max(1.0, 0.05 * u))
    for eye in (slice(36, 42), slice(42, 48)):  # under the lower lid
        lower = pts[eye][[3, 4, 5, 0]] if eye.start == 36 else pts[eye][[0, 5, 4, 3]]
        _c._line(dark, lower - up * 0.07 * u, 0.35, max(1.0, 0.05 * u))
    _c._line(light, pts[27:31], 0.8, max(1.0, 0.07 * u))
    _c._ellipse(light, pts[30], (0.05 * u, 0.05 * u), 0, 1.0)
    fore = (pts[19] + pts[24]) / 2 + up * 0.35 * u
    _c._ellipse(light, fore, (0.35 * u, 0.15 * u), 0, 0.5)
    sigma = max(0.8, 0.08 * u)
    return cv2.GaussianBlur(dark, (0, 0), sigma), cv2.GaussianBlur(light, (0, 0), 1.5 * sigma)


def _height_map(
    person: np.ndarray, face: np.ndarray, pts: np.ndarray, unit: float, view
) -> tuple[np.ndarray, np.ndarray]:
    """The drawn style's relief (:func:`.render._height_map`) with rounder, smoother forms: a broad
    nose ridge instead of a narrow one, deeper eye sockets, fuller cheekbones and chin."""
    h = np.zeros(person.shape, np.float32)
    u = unit
    line = _c._fx(pts[27:31])
    cv2.polylines(h, [line], False, 0.22 * u, max(1, int(0.3 * u)), cv2.LINE_AA, _c._SHIFT)
    _c._ellipse(h, pts[30], (0.15 * u, 0.13 * u), 0, 0.34 * u)
    for a in (31, 35):
        _c._ellipse(h, pts[a], (0.09 * u, 0.09 * u), 0, 0.16 * u)
    for e in (slice(36, 42), slice(42, 48)):
        _c._ellipse(h, pts[e].mean(0), (0.3 * u, 0.2 * u), 0, -0.12 * u)
    for b in (slice(17, 22), slice(22, 27)):
        cv2.polylines(h, [_c._fx(pts[b])], False, 0.07 * u, max(1, int(0.16 * u)), cv2.LINE_AA, _c._SHIFT)
    for a, b in ((36, 48), (45, 54)):
        _c._ellipse(h, pts[a] * 0.6 + pts[b] * 0.4, (0.26 * u, 0.26 * u), 0, 0.08 * u)
    cv2.fillPoly(h, [_c._fx(pts[48:60])], 0.08 * u, cv2.LINE_AA, _c._SHIFT)
    _c._ellipse(h, pts[8] * 0.75 + pts[57] * 0.25, (0.24 * u, 0.2 * u), 0, 0.1 * u)
    h = _l._smooth(h, 0.12 * u)
    face_soft = _l._smooth(face, 0.18 * u)
    dome = np.sqrt(np.maximum(_l._smooth(person, 0.3 * u), 0.0)) * (0.45 * u)
    dome += np.sqrt(np.maximum(face_soft, 0.0)) * (0.6 * u)
    n = view.turn(np.array([0.0, 0.0, 1.0]))
    xx, yy = _l._centered_grid(person.shape[0])
    tilt = (-0.5 / max(n[2], 0.3)) * (float(n[0]) * xx + float(n[1]) * yy)
    return (dome + h * face + tilt * person).astype(np.float32), face_soft


def _light(img, mask, face, pts, unit, view, sc, look: _Look, rng) -> np.ndarray:
    f = img.astype(np.float32)
    if sc.ambient < 1.0:
        m = mask.astype(np.float32) * (1.0 / 255.0)
        fm = face.astype(np.float32) * (1.0 / 255.0)
        hmap, face_soft = _height_map(m, fm, pts, unit, view)
        hmap = cv2.GaussianBlur(hmap * np.float32(look.relief), (0, 0), 1.0)
        gx = cv2.Sobel(hmap, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(hmap, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        inv_norm = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
        lx, ly, lz = (float(c) for c in sc.light)
        amb = 0.2 + 0.9 * (sc.ambient - 0.35)  # a little harder light than the drawn style's
        ndotl = np.maximum((lz - gx * lx - gy * ly) * inv_norm, 0.0)
        shade = (amb + (1 - amb) * ndotl) / (amb + (1 - amb) * lz)
        half = sc.light + np.array([0.0, 0.0, 1.0])
        hx, hy, hz = (float(c) for c in half / np.linalg.norm(half))
        spec = np.clip((hz - gx * hx - gy * hy) * inv_norm, 0.0, 1.0)
        spec *= spec
        spec *= spec
        spec = spec * spec * spec
        shift = np.float32([[1, 0, sc.light[0] * 0.25 * unit], [0, 1, sc.light[1] * 0.25 * unit]])
        cast = _l._smooth(cv2.warpAffine(m, shift, m.shape[::-1]), 0.12 * unit)
        occlusion = 1.0 - 0.55 * np.clip(face_soft * 1.6, 0.0, 1.0) * (1.0 - fm)
        up = view.turn(np.array([0.0, -1.0, 0.0]))[:2]
        up = up / (np.linalg.norm(up) + 1e-9)
        dark, light = _occlusion(m.shape, pts, unit, up)
        features = (1.0 - look.occlusion * dark) * (1.0 + 0.25 * look.occlusion * light)
        size = m.shape[0]
        grain = cv2.GaussianBlur(rng.standard_normal((size, size), dtype=np.float32), (0, 0), 2.5) * 3.5
        grain += rng.standard_normal((size, size), dtype=np.float32) * 0.35
        texture = 1.0 + np.float32(look.texture) * grain
        lit = shade * occlusion * (fm * features + (1.0 - fm)) * texture
        gain = m * lit + (1.0 - m) * (1.0 - sc.shadow * cast)
        f *= gain[..., None]
        f += (m * spec * (sc.specular * 255.0) * (0.5 + light))[..., None]
        if look.cheeks > 0:
            blush = np.zeros_like(m)
            for a, b in ((36, 48), (45, 54)):
                c = pts[a] * 0.55 + pts[b] * 0.45 + (pts[b] - pts[a]) * np.array([0.0, 0.0])
                _c._ellipse(blush, c, (0.2 * unit, 0.15 * unit), 0, 1.0)
            blush = cv2.GaussianBlur(blush, (0, 0), max(0.6, 0.1 * unit)) * fm * np.float32(look.cheeks)
            f[..., 0] *= 1.0 + blush
            f[..., 2] *= 1.0 - blush
        f = cv2.GaussianBlur(f, (0, 0), look.lens)
        grey = f.mean(-1, keepdims=True)
        f = grey + (f - grey) * np.float32(look.saturation)
    mean = float(f.mean())
    scale = (sc.contrast * sc.brightness * sc.gain).astype(np.float32)
    f = f * scale + (mean * (1.0 - sc.contrast) * sc.brightness * sc.gain).astype(np.float32)
    noise = sc.noise + (look.noise if sc.ambient < 1.0 else 0.0)
    if noise > 0:
        f += rng.standard_normal(f.shape, dtype=np.float32) * np.float32(noise)
    np.clip(f + 0.5, 0, 255, out=f)
    return f.astype(np.uint8)


# ----------------------------------------------------------------------------- the renderer


def photo_identity(identity: Identity) -> Identity:
    """The person as the photo-like style paints them: warmer, less chalky skin (the drawn style's
    lightest tones read as white plaster) and a lower hairline. Neither moves a landmark."""
    skin = np.asarray(identity.skin_rgb) * _WARM
    return replace(identity, skin_rgb=_c._col(skin), forehead_height=identity.forehead_height * 0.85)


_WARM = np.array([0.96, 0.87, 0.80])


def render_face_photo(identity: Identity, rng: np.random.Generator, cfg) -> _s.RenderedFace:
    """One photo-like render: the drawn renderer's scene, geometry, order of painting and
    visibility, with this module's background, features and light."""
    identity = photo_identity(identity)
    scene = _s._sample_scene(rng, cfg)
    look = _sample_look(rng)
    scene.clothes = _muted(rng)
    geo = build_face(identity, scene.expression, cfg.conventions)
    view = _s._place(geo, scene, cfg)
    n = cfg.size * cfg.supersample
    points = view.px(geo.landmarks).astype(np.float32)
    if cfg.clutter:
        canvas = photo_background(rng, cfg.size, cfg.supersample)
    else:
        canvas = _s._background(rng, cfg.size, cfg.supersample, identity.skin_rgb, False)
    masks = [np.zeros((n, n), np.uint8) for _ in range(3)]
    unit = view.scale * cfg.supersample
    ctx = _p._Ctx(identity, geo, view, scene, view.to_ss(points), unit, rng, canvas, *masks)
    for draw in (_p._draw_clothes, _p._draw_hair_back, _p._draw_neck, _p._draw_hair_cap, _p._draw_ears,
                 _p._draw_curtains):
        draw(ctx)
    regions = _p._face_regions(ctx)
    vis_geo = _p._visibility(ctx, regions)
    _draw_face(ctx, vis_geo, look)
    _p._draw_bangs(ctx)
    occluders = []
    for name, on, draw in (
        ("glasses", scene.glasses, _p._draw_glasses),
        ("fringe", scene.fringe, _p._draw_fringe),
        ("hand", scene.hand, _p._draw_hand),
    ):
        if on:
            draw(ctx)
            occluders.append(name)
    visible = vis_geo & _p._drawn(ctx)
    small = [
        cv2.resize(a, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        for a in (ctx.img, ctx.person, ctx.face)
    ]
    image = _light(*small, points, view.scale, view, scene, look, rng)
    params = _s._params(scene, view, identity, occluders, cfg)
    params["style"] = "v2"
    return _s.RenderedFace(image, points, visible, identity.identity_id, params)
