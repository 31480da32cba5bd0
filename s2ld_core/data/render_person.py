"""Painting the person back to front on the supersampled canvas: clothes, neck, hair, ears, the face
layer with its features drawn *from the landmarks* (so the labels are exact), bangs, occluders
(glasses, a lock of hair, a hand), and which points end up visible."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .face_model import FaceGeometry, Identity, surface_z
from .render_canvas import (
    _ONE,
    _SHIFT,
    _blend_fill,
    _clip_draw,
    _col,
    _composite,
    _ellipse,
    _fill,
    _hull,
    _line,
    _mix,
    _offset_curve,
    catmull_rom,
)
from .render_scene import _Scene, _View


@dataclass
class _Ctx:
    """Shared state of one drawing: the view, geometry, identity and the projected landmarks."""

    idn: Identity
    geo: FaceGeometry
    view: _View
    scene: _Scene
    pts: np.ndarray  # (68, 2) supersampled-canvas coordinates
    unit: float  # supersampled pixels per model unit
    rng: np.random.Generator
    img: np.ndarray  # the supersampled RGB canvas
    person: np.ndarray  # mask of everything the light falls on as the person (skin, hair, clothes)
    occluder: np.ndarray  # mask of glasses frames/dark lenses, fringe, hand: hides landmarks
    face: np.ndarray  # mask of the face silhouette (filled by _draw_face)

    def paint(self, pts: np.ndarray, color) -> None:
        """Fill a polygon that belongs to the person (so it is lit as the person)."""
        _fill(self.img, pts, color)
        _fill(self.person, pts, 255)

    def up(self) -> np.ndarray:
        """The face's 'up' direction on screen (rolls with the head)."""
        v = self.view.turn(np.array([0.0, -1.0, 0.0]))[:2]
        return v / (np.linalg.norm(v) + 1e-9)


# a mouth opened more than this keeps its drawn interior (teeth, dark) under a real texture (v3)
MOUTH_OPEN_SHOWS = 0.05
_STRAND_T = np.linspace(0.0, 1.0, 6)[None, :, None]


def _strands(ctx: _Ctx, region: np.ndarray, root: np.ndarray, color, count: int) -> None:
    """Hair texture: curved strands fanning out from ``root``, clipped to the hair ``region``.

    Strands are quadratic curves through a jittered midpoint, drawn in four tones, one
    ``polylines`` call per tone (a face has hundreds of strands; per-strand Python would dominate).
    """
    rng = ctx.rng
    lo, hi = region.min(0), region.max(0)
    ends = lo + rng.uniform(0, 1, (count, 2)) * (hi - lo)
    mids = (root + ends) / 2 + rng.normal(0, 0.06 * ctx.unit, (count, 2))
    ctrl = 2 * mids - (root + ends) / 2
    t = _STRAND_T
    curves = (1 - t) ** 2 * root + 2 * (1 - t) * t * ctrl[:, None] + t**2 * ends[:, None]
    tone = rng.integers(0, 4, count)
    width = 1 if ctx.unit < 60 else 2

    def draw(roi: np.ndarray, off: np.ndarray) -> None:
        fixed = np.round((curves - off) * _ONE).astype(np.int32)
        for k, f in enumerate((0.62, 0.8, 1.25, 1.45)):
            sel = fixed[tone == k]
            if len(sel):
                cv2.polylines(roi, list(sel), False, _col(color, f), width, cv2.LINE_AA, _SHIFT)

    _clip_draw(ctx.img, region, draw)


def _draw_clothes(ctx: _Ctx) -> None:
    """Shoulders in a random colour; they hang below the projected pivot, unrotated."""
    body = np.array(
        [
            (-0.7, 2.05),
            (-1.3, 2.25),
            (-2.3, 2.5),
            (-2.9, 3.2),
            (-3.0, 6.0),
            (3.0, 6.0),
            (2.9, 3.2),
            (2.3, 2.5),
            (1.3, 2.25),
            (0.7, 2.05),
        ]
    )
    ctx.paint(_body_origin(ctx) + body * ctx.unit, ctx.scene.clothes)


def _body_origin(ctx: _Ctx) -> np.ndarray:
    return ctx.view.to_ss(ctx.view.offset)  # where the head's pivot lands on screen


def _draw_neck(ctx: _Ctx) -> None:
    """The neck, from under the head to a collar (its shadow under the jaw is ambient occlusion in
    :func:`_light`)."""
    s, base = ctx.unit, _body_origin(ctx)
    top = ctx.view.sp(ctx.geo.neck_top)
    neck = np.vstack([top[0], base + np.array([(-0.58, 2.1), (0.0, 2.45), (0.58, 2.1)]) * s, top[1]])
    ctx.paint(neck, _col(ctx.idn.skin_rgb, 0.8))
    _line(
        ctx.img,
        base + np.array([(-0.6, 2.08), (0.0, 2.47), (0.6, 2.08)]) * s,
        _col(ctx.scene.clothes, 0.6),
        0.04 * s,
    )


def _draw_hair_back(ctx: _Ctx) -> None:
    idn, v = ctx.idn, ctx.view
    if idn.hair_style == "bun":
        c = v.sp(np.array([[0.0, -1.55, -1.55]]))[0]
        _ellipse(ctx.img, c, (0.42 * ctx.unit, 0.36 * ctx.unit), 0, _col(idn.hair_rgb, 0.9))
        _ellipse(ctx.person, c, (0.42 * ctx.unit, 0.36 * ctx.unit), 0, 255)
    if len(ctx.geo.hair_back):
        region = _hull(v.sp(ctx.geo.hair_back))
        ctx.paint(region, _col(idn.hair_rgb, 0.82))
        _strands(ctx, region, region[np.argmin(region[:, 1])], _col(idn.hair_rgb, 0.82), 14)


def _draw_hair_cap(ctx: _Ctx) -> None:
    idn, v, geo = ctx.idn, ctx.view, ctx.geo
    lifted = geo.forehead + np.array([0.0, -0.04, 0.02])
    cap = _hull(v.sp(np.vstack([geo.skull, lifted])))
    skin = np.asarray(idn.skin_rgb)
    if idn.hair_style == "buzz":
        ctx.paint(cap, _mix(skin * 0.85, idn.hair_rgb, 0.55))
        return
    ctx.paint(cap, idn.hair_rgb)
    part = v.sp(np.array([[0.45 * idn.hair_part, -1.45, -0.4]]))[0]
    _strands(ctx, cap, part, idn.hair_rgb, 22)
    if idn.hair_style == "bald":
        _fill(ctx.img, _hull(v.sp(geo.crown)), _col(skin, 0.96))


def _draw_ears(ctx: _Ctx) -> None:
    skin, s = ctx.idn.skin_rgb, ctx.unit
    facing = ctx.view.turn(ctx.geo.ear_normals)[:, 2]
    for ear, nz in zip(ctx.geo.ears, facing):
        if nz < -0.3:
            continue  # behind the head
        p = ctx.view.sp(ear)
        ctx.paint(p, _col(skin, 0.93, (6, -4, -4)))
        c = p.mean(0)
        inner = c + (p - c) * 0.55 + (p[0] - c) * 0.15
        _fill(ctx.img, inner, _col(skin, 0.72))
        _line(ctx.img, p[1:9], _col(skin, 0.74), max(1.0, 0.025 * s))


def _draw_curtains(ctx: _Ctx) -> None:
    for cur in ctx.geo.curtains:
        if len(cur):
            region = _hull(ctx.view.sp(cur))
            ctx.paint(region, ctx.idn.hair_rgb)
            _strands(ctx, region, region[np.argmin(region[:, 1])], ctx.idn.hair_rgb, 10)


# ----------------------------------------------------------------------------- the face layer


def _face_outline(ctx: _Ctx) -> np.ndarray:
    jaw = catmull_rom(ctx.pts[0:17], 5)
    top = catmull_rom(np.vstack([ctx.pts[16], ctx.view.sp(ctx.geo.forehead), ctx.pts[0]]), 4)
    return np.vstack([jaw, top[1:-1]])


def _face_regions(ctx: _Ctx) -> list[np.ndarray]:
    """The skin polygons: outline, the turned-cheek silhouette, the nose body and the lips."""
    v, geo = ctx.view, ctx.geo
    cheeks = _hull(v.sp(np.vstack([geo.cheeks, geo.forehead])))
    nose = _hull(np.vstack([v.sp(geo.nose_outline), ctx.pts[27:36]]))
    return [_face_outline(ctx), cheeks, nose, ctx.pts[48:60]]


def _draw_facial_hair(img: np.ndarray, ctx: _Ctx) -> None:
    """Stubble, beard, moustache or goatee: translucent, grainy, feathered; the lips stay on top."""
    idn, p, v = ctx.idn, ctx.pts, ctx.view
    kind = idn.facial_hair
    if kind == "none":
        return
    up = ctx.up() * ctx.unit
    cheek3 = np.array([(-0.74, 0.58 * idn.face_length, 0.0), (-0.52, 0.74 * idn.face_length, 0.0)])
    cheek3[:, 2] = surface_z(cheek3[:, 0])
    left, right = v.sp(cheek3), v.sp(cheek3 * np.array([-1.0, 1.0, 1.0]))
    jaw = catmull_rom(p[2:15], 3)  # image-left -> image-right along the bottom
    nose_base = p[[35, 34, 33, 32, 31]] - up * 0.04
    beard = np.vstack([jaw, right, nose_base, left[::-1]])
    moustache = np.vstack(
        [
            p[31] - up * 0.02,
            p[33],
            p[35] - up * 0.02,
            p[54] + up * 0.03 + (p[54] - p[48]) * 0.06,
            p[[53, 52, 51, 50, 49]] + up * 0.015,
            p[48] + up * 0.03 + (p[48] - p[54]) * 0.06,
        ]
    )
    chin = np.vstack([p[[59, 58, 57, 56, 55]] - up * 0.03, catmull_rom(p[6:11], 3)[::-1]])
    hair = np.asarray(idn.hair_rgb)
    dark = np.minimum(hair, np.asarray(idn.skin_rgb) * 0.5)  # stubble reads as a shadow
    soft, rng = 0.06 * ctx.unit, ctx.rng
    if kind == "stubble":
        _blend_fill(img, beard, dark, 0.28, soft=soft, grain=14, rng=rng)
    if kind == "beard":
        _blend_fill(img, beard, hair, 0.9, soft=0.5 * soft, grain=14, rng=rng)
    if kind in ("moustache", "goatee"):
        _blend_fill(img, moustache, hair, 0.9, soft=0.25 * soft, grain=14, rng=rng)
    if kind == "goatee":
        _blend_fill(img, chin, hair, 0.9, soft=0.5 * soft, grain=14, rng=rng)


def _draw_brows(img: np.ndarray, ctx: _Ctx) -> None:
    idn, up = ctx.idn, ctx.up()
    thick = 0.075 * idn.brow_thickness * ctx.unit
    for idx in (slice(17, 22), slice(22, 27)):
        pts = ctx.pts[idx]
        inner_first = idx.start == 22
        c = catmull_rom(pts, 4)
        t = np.linspace(0.0, 1.0, len(c))
        t_in = (1 - t) if inner_first else t  # 0 at the outer tail, 1 at the inner head
        w = thick * (0.45 + 0.55 * np.sqrt(t_in))
        top = _offset_curve(c, 0.38 * w, up)
        bottom = _offset_curve(c, 0.62 * w, -up)
        _fill(img, np.vstack([top, bottom[::-1]]), idn.brow_rgb)


@dataclass
class EyeGeometry:
    """Where an eye is drawn, shared by both render styles: the lid curves and the iris's centre
    (moved by the gaze), its in-plane angle and its foreshortening."""

    upper: np.ndarray
    lower: np.ndarray
    outline: np.ndarray
    height: float
    up: np.ndarray
    centre: np.ndarray
    squash: float
    angle: float


def eye_geometry(ctx: _Ctx, idx: np.ndarray, center3: np.ndarray) -> EyeGeometry:
    """The lids through the eye's six points (outer, upper ×2, inner, lower ×2, or mirrored for the
    right eye) and the gaze-shifted iris centre."""
    p = ctx.pts[idx]
    upper = catmull_rom(p[0:4], 4)
    lower = catmull_rom(np.vstack([p[3:6], p[0:1]]), 4)
    width = float(np.linalg.norm(p[3] - p[0]))
    height = float(np.linalg.norm((p[1] + p[2]) / 2 - (p[4] + p[5]) / 2))
    side = p[3] - p[0]
    side /= np.linalg.norm(side) + 1e-9
    up = ctx.up()
    gaze = ctx.scene.expression.gaze
    centre = ctx.view.sp(center3[None])[0] + side * gaze[0] * 0.25 * width - up * gaze[1] * height * 0.5
    return EyeGeometry(upper, lower, np.vstack([upper, lower[1:-1]]), height, up, centre,
                       max(0.35, float(abs(ctx.view.rot[2, 2]))),
                       float(np.degrees(np.arctan2(side[1], side[0]))))


def _draw_eye(img: np.ndarray, ctx: _Ctx, idx: np.ndarray, center3: np.ndarray) -> None:
    """Sclera, iris and pupil inside the lids, lash line on the upper lid, crease above it."""
    idn, s = ctx.idn, ctx.unit
    eye = eye_geometry(ctx, idx, center3)
    skin = idn.skin_rgb
    _fill(img, eye.outline, _mix((236, 232, 226), skin, 0.3))
    r = 0.115 * s * idn.eye_width**0.5
    squash, angle, iris = eye.squash, eye.angle, idn.iris_rgb

    def draw_iris(roi: np.ndarray, off: np.ndarray) -> None:
        c = eye.centre - off
        _ellipse(roi, c, (r * squash, r), angle, _col(iris, 0.75))
        _ellipse(roi, c, (0.8 * r * squash, 0.8 * r), angle, iris)
        _ellipse(roi, c, (0.42 * r * squash, 0.42 * r), angle, (18, 14, 14))
        _ellipse(roi, c + (0.3 * r, -0.35 * r), (0.16 * r, 0.16 * r), 0, (245, 245, 245))

    _clip_draw(img, eye.outline, draw_iris)
    lash = _mix(idn.hair_rgb, (15, 12, 12), 0.7)
    _line(img, eye.upper, lash, max(2.0, 0.045 * s))
    _line(img, eye.lower, _col(skin, 0.55), max(1.0, 0.022 * s))
    crease = _offset_curve(eye.upper[2:-2], max(2.0, 0.045 * s) + 0.55 * eye.height, eye.up)
    _line(img, crease, _col(skin, 0.78), max(1.0, 0.02 * s))


def _draw_nose(img: np.ndarray, ctx: _Ctx, nose_body: np.ndarray, visible: np.ndarray) -> None:
    idn, p, s, v = ctx.idn, ctx.pts, ctx.unit, ctx.view
    skin = idn.skin_rgb
    _fill(img, nose_body, skin)  # covers the far eye when the head is turned
    outline = v.sp(ctx.geo.nose_outline)
    yaw = ctx.scene.pose.yaw
    k = min(1.0, abs(yaw) / 35.0)
    if k > 0.15:
        far = outline[7:12] if yaw > 0 else outline[0:5]
        _line(img, catmull_rom(far, 3), _col(skin, 1 - 0.35 * k), max(1.0, 0.03 * s))
    _line(img, catmull_rom(p[28:31], 3), _col(skin, 1.08, (6, 6, 6)), max(1.0, 0.045 * s))
    for side, (a, b) in ((0, (31, 32)), (7, (35, 34))):
        ala = outline[side + 3 : side + 6]
        if visible[a]:
            _line(
                img,
                catmull_rom(np.vstack([ala[2], ala[1], ala[0]]), 3),
                _col(skin, 0.72),
                max(1.0, 0.022 * s),
            )
            c = (p[a] * 0.55 + p[b] * 0.45) - ctx.up() * 0.025 * s
            d = p[b] - p[a]
            _ellipse(
                img,
                c,
                (0.5 * np.linalg.norm(d), 0.028 * s * idn.nose_width),
                float(np.degrees(np.arctan2(d[1], d[0]))),
                _col(skin, 0.32),
            )
    _line(img, catmull_rom(p[31:36], 3), _col(skin, 0.62), max(1.0, 0.03 * s))


def _draw_mouth(img: np.ndarray, ctx: _Ctx) -> None:
    idn, p, s = ctx.idn, ctx.pts, ctx.unit
    lip = idn.lip_rgb
    up_out = catmull_rom(p[48:55], 4)
    low_out = catmull_rom(np.vstack([p[54:60], p[48:49]]), 4)
    up_in = catmull_rom(p[60:65], 4)
    low_in = catmull_rom(np.vstack([p[64:68], p[60:61]]), 4)
    gap = float(np.linalg.norm(p[62] - p[66]))
    if gap > 0.03 * s:
        mouth = np.vstack([up_in, low_in[1:-1]])
        down = -ctx.up()

        def inside(roi: np.ndarray, off: np.ndarray) -> None:
            _fill(roi, mouth - off, (58, 18, 24))
            teeth = np.vstack([up_in, (up_in + down * min(0.5 * gap, 0.09 * s))[::-1]]) - off
            _fill(roi, teeth, (228, 222, 208))
            _ellipse(
                roi,
                p[66] - off - down * 0.1 * gap,
                (0.28 * np.linalg.norm(p[64] - p[60]), 0.3 * gap),
                0,
                (150, 62, 70),
            )

        _clip_draw(img, mouth, inside)
    _fill(img, np.vstack([up_out, up_in[::-1]]), _col(lip, 0.86))
    _fill(img, np.vstack([low_out, low_in[::-1]]), lip)
    dark = _col(lip, 0.45)
    if gap <= 0.03 * s:
        _line(img, np.vstack([p[48:49], up_in, p[54:55]]), dark, max(1.5, 0.03 * s))
    for c in (p[48], p[54]):
        _ellipse(img, c, (0.022 * s, 0.022 * s), 0, dark)
    hl = p[57] * 0.6 + p[66] * 0.4
    _ellipse(img, hl, (0.09 * s * idn.mouth_width, 0.025 * s), 0, _col(lip, 1.12, (8, 8, 8)))


def _draw_face(ctx: _Ctx, visible: np.ndarray, regions: list[np.ndarray] | None = None,
               features: bool = True) -> list[np.ndarray]:
    """Skin and features on a copy of the canvas, composited through the face's own silhouette so
    nothing on the far side of a turned head leaks past the cheek.

    ``features=False`` leaves out the brows, eyes, nose and a closed mouth, for a face whose
    interior a real texture will cover (style v3); they draw nothing from ``ctx.rng``, so the
    image's random stream stays the same. An open mouth is still drawn: its interior shows."""
    regions = _face_regions(ctx) if regions is None else regions
    layer = ctx.img.copy()
    mask = np.zeros(ctx.person.shape, np.uint8)
    skin = ctx.idn.skin_rgb
    for r in regions:
        _fill(layer, r, skin)
        _fill(mask, r, 255)
    _draw_facial_hair(layer, ctx)
    if features:
        _draw_brows(layer, ctx)
        left, right = np.arange(36, 42), np.array([45, 44, 43, 42, 47, 46])
        for idx, c3 in ((left, ctx.geo.eye_centers[0]), (right, ctx.geo.eye_centers[1])):
            _draw_eye(layer, ctx, idx, c3)
        _draw_nose(layer, ctx, regions[2], visible)
    if features or ctx.scene.expression.mouth_open > MOUTH_OPEN_SHOWS:
        _draw_mouth(layer, ctx)
    x0, y0, w, h = cv2.boundingRect(mask)
    y1, x1 = y0 + h, x0 + w
    _composite(ctx.img[y0:y1, x0:x1], layer[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    np.maximum(ctx.person, mask, out=ctx.person)
    ctx.face[:] = mask
    return regions


def _draw_bangs(ctx: _Ctx) -> None:
    """A fringe cut straight-ish above the brows, framed by the hairline at the temples."""
    idn, v = ctx.idn, ctx.view
    if not idn.bangs:
        return
    top = ctx.geo.forehead[1:-1] + np.array([0.0, -0.05, 0.03])  # image-right -> image-left
    brow_top = ctx.geo.landmarks[17:27, 1].min() - 0.1 * idn.brow_thickness - 0.05
    x = np.linspace(top[-1, 0], top[0, 0], 15)  # back from image-left to image-right
    xn = x / max(abs(x[0]), abs(x[-1]))
    y = brow_top - 0.28 * xn**4 - 0.06 * idn.hair_part * xn + 0.025 * (np.arange(15) % 2)
    edge = np.stack([x, y, surface_z(x) + 0.04], axis=1)
    region = np.vstack([v.sp(top), v.sp(edge)])
    _fill(ctx.img, region, idn.hair_rgb)
    _strands(ctx, region, v.sp(np.array([[0.4 * idn.hair_part, -1.3, 0.0]]))[0], idn.hair_rgb, 12)


# ----------------------------------------------------------------------------- occluders


def _occlude(ctx: _Ctx, pts: np.ndarray, color) -> None:
    _fill(ctx.img, pts, color)
    _fill(ctx.occluder, pts, 255)


def _draw_glasses(ctx: _Ctx) -> None:
    rng, v, s = ctx.rng, ctx.view, ctx.unit
    frame = _col(
        [(20, 20, 22), (70, 45, 30), (180, 150, 80), (170, 170, 175), (120, 20, 30)][rng.integers(0, 5)]
    )
    sun = rng.uniform() < 0.3
    n = rng.uniform(2.2, 4.5)
    a, b = rng.uniform(0.19, 0.25), rng.uniform(0.12, 0.17)
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    shape = np.stack([a * np.sign(ct) * np.abs(ct) ** (2 / n), b * np.sign(st) * np.abs(st) ** (2 / n)], 1)
    width = max(2.0, rng.uniform(0.03, 0.06) * s)
    lenses = []
    for c3 in ctx.geo.eye_centers:
        c = c3 + np.array([0.0, 0.02, 0.16])
        lens3 = np.hstack([c[:2] + shape, np.full((len(shape), 1), c[2])])
        lenses.append((v.sp(lens3), lens3))
    for lens, _ in lenses:
        if sun:
            _occlude(ctx, lens, (25, 25, 30))
        else:
            _blend_fill(ctx.img, lens, (200, 215, 230), 0.15)
    bridge3 = np.array(
        [
            lenses[0][1][np.argmax(lenses[0][1][:, 0])],
            (0.0, -0.06, 0.22),
            lenses[1][1][np.argmin(lenses[1][1][:, 0])],
        ]
    )
    for lens, l3 in lenses:
        _line(ctx.img, lens, frame, width, closed=True)
        _line(ctx.occluder, lens, 255, width, closed=True)
        outer = l3[np.argmax(np.abs(l3[:, 0]))]
        temple = np.array([outer, (np.sign(outer[0]) * 0.98 * ctx.idn.face_width, -0.05, -0.95)])
        if v.turn(np.array([np.sign(outer[0]), 0.0, 0.3]))[2] > 0:
            _line(ctx.img, v.sp(temple), frame, width)
            _line(ctx.occluder, v.sp(temple), 255, width)
    bridge = catmull_rom(v.sp(bridge3), 4)
    _line(ctx.img, bridge, frame, width)
    _line(ctx.occluder, bridge, 255, width)


def _draw_fringe(ctx: _Ctx) -> None:
    """A lock of hair swept from the hairline over a brow, sometimes an eye."""
    idn, rng, v = ctx.idn, ctx.rng, ctx.view
    if idn.hair_style in ("bald", "buzz"):
        return
    side = float(rng.choice([-1.0, 1.0]))
    inner = side * rng.uniform(-0.15, 0.2)
    outer = side * rng.uniform(0.6, 0.95)
    x0, x1 = min(inner, outer), max(inner, outer)
    y_end = rng.uniform(-0.2, 0.12)
    sweep = side * rng.uniform(0.0, 0.25)  # the lock falls towards the outer side
    k = int(rng.integers(4, 8))
    xs = np.linspace(x0, x1, k)
    top = np.stack([xs[::-1], np.full(k, -1.1 * idn.forehead_height), surface_z(xs[::-1]) + 0.05], 1)
    tips = []
    for i in range(k - 1):
        xm = (xs[i] + xs[i + 1]) / 2
        tips += [
            (xs[i] + sweep, y_end - rng.uniform(0.05, 0.15)),
            (xm + sweep, y_end + rng.uniform(-0.03, 0.08)),
        ]
    tips.append((xs[-1] + sweep, y_end - rng.uniform(0.05, 0.2)))
    tips = np.array(tips)
    low = np.hstack([tips, surface_z(tips[:, :1]) + 0.06])
    region = catmull_rom(v.sp(np.vstack([top, low])), 3, closed=True)
    _occlude(ctx, region, _col(idn.hair_rgb, 0.95))
    _strands(ctx, region, v.sp(top[k // 2][None])[0], idn.hair_rgb, 14)


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _draw_hand(ctx: _Ctx) -> None:
    """A hand on the lower face: forearm from outside the frame, palm at the face's edge, fingers
    reaching in. Outlines are drawn first, fills second, so fingers stay separate."""
    rng, s, p = ctx.rng, ctx.unit, ctx.pts
    anchor = p[int(rng.choice([8, 5, 11, 3, 13, 48, 54, 57]))]
    out = anchor - p[[27, 30, 33, 8]].mean(0)
    out = out / (np.linalg.norm(out) + 1e-9) + rng.normal(0, 0.25, 2)
    out /= np.linalg.norm(out)
    skin = _col(ctx.idn.skin_rgb, rng.uniform(0.82, 0.95), (8, -2, -4))  # hands run redder, darker
    edge = _col(skin, 0.72)
    palm = anchor + out * rng.uniform(0.35, 0.6) * s
    ang = float(np.degrees(np.arctan2(out[1], out[0])))
    pr = (0.42 * s, 0.34 * s)
    fw = 0.17 * s
    inward, perp = -out, np.array([out[1], -out[0]])
    segments = []
    for i, a in enumerate(np.deg2rad(np.array([-24.0, -8.0, 8.0, 24.0]) + rng.normal(0, 4, 4))):
        start = palm + inward * 0.25 * s + perp * (i - 1.5) * fw * 0.95
        segments.append((np.array([start, start + _rotate(inward, a) * rng.uniform(0.5, 0.8) * s]), fw))
    segments.append((np.array([palm + perp * 0.35 * s, palm + perp * 0.55 * s + inward * 0.35 * s]), fw))
    segments.append((np.array([palm, palm + out * 3.0 * s]), 0.55 * s))  # the forearm
    for seg, w in segments:
        _line(ctx.img, seg, edge, w + 2)
        for tgt in (ctx.occluder, ctx.person):
            _line(tgt, seg, 255, w + 2)
    _ellipse(ctx.img, palm, (pr[0] + 1, pr[1] + 1), ang, edge)
    _ellipse(ctx.img, palm, pr, ang, skin)
    for tgt in (ctx.occluder, ctx.person):
        _ellipse(tgt, palm, pr, ang, 255)
    for seg, w in segments:
        _line(ctx.img, seg, skin, max(1.0, w - 2))


# ----------------------------------------------------------------------------- visibility


def _visibility(ctx: _Ctx, regions: list[np.ndarray]) -> np.ndarray:
    """Self-occlusion, decided from geometry before drawing: a point is hidden when its surface
    faces away (normals), a jaw point when the turned cheek's silhouette passes outside it, and an
    eye or brow point when the nose body (drawn over the eyes) covers it. The mouth is drawn after
    the nose, so it is not tested against it."""
    v, p, s = ctx.view, ctx.pts, ctx.unit
    vis = v.turn(ctx.geo.normals)[:, 2] > 0.05
    cheeks = regions[1].astype(np.float32)
    for i in range(17):
        vis[i] = cv2.pointPolygonTest(cheeks, (float(p[i, 0]), float(p[i, 1])), True) < 0.03 * s
    nose = regions[2].astype(np.float32)
    for i in range(17, 48):
        if 27 <= i <= 35:
            continue
        if cv2.pointPolygonTest(nose, (float(p[i, 0]), float(p[i, 1])), True) > 0.01 * s:
            vis[i] = False
    return vis


def _sample(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Mask values under points (0 outside the canvas)."""
    h, w = mask.shape
    xy = np.round(pts).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.zeros(len(pts), np.uint8)
    out[inside] = mask[xy[inside, 1], xy[inside, 0]]
    return out


def _drawn(ctx: _Ctx) -> np.ndarray:
    """After drawing: inner points must lie inside the face silhouette (features outside it are
    clipped away) and not under an occluder. Jaw points sit on the silhouette edge by design."""
    ok = _sample(ctx.occluder, ctx.pts) <= 127
    ok[17:] &= _sample(ctx.face, ctx.pts[17:]) > 127
    return ok
