"""Procedural labelled HR faces: the embedded stand-in for AFLW/300W (no face data can be downloaded).

Every feature is *drawn from the 68 iBUG points*, so the labels are exact by construction: the jaw
points are the face outline, brow points run along the brows, eye points on the drawn lid lines,
nose points on the bridge and the lower nose curve, lip points on the lip contours. The 3-D geometry
(identities, expressions, pose, self-occlusion) lives in :mod:`.face_model`; this module samples the
per-image scene, draws it with OpenCV at ``supersample``-times the output size (anti-aliased, then
``INTER_AREA`` down, points mapped by ``x -> (x + 0.5) * s - 0.5``), shades it with a height-map
Lambert model, and packs many renders into a :class:`FaceSet`.

Run ``python -m s2ld_core.data.render`` to write ``reports/figures/render_preview.png``.
``RenderConfig.style = "v2"`` hands the painting to :mod:`.render_photo` (photo-like faces on the
same geometry and points); ``"v1"``, this module's drawn faces, stays the default.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..geometry import resize_points
from .face_model import (
    Expression,
    FaceGeometry,
    Identity,
    Pose,
    build_face,
    rotation_matrix,
    sample_identity,
    surface_z,
    to_camera,
)

__all__ = [
    "RenderConfig",
    "RenderedFace",
    "FaceSet",
    "Identity",
    "sample_identity",
    "render_face",
    "render_dataset",
    "save_preview",
    "main",
]

_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel drawing
_ONE = 1 << _SHIFT


# ----------------------------------------------------------------------------- configuration


@dataclass
class RenderConfig:
    """What varies from image to image. Ranges are ``(low, high)``; angles in degrees.

    ``pose_concentration`` is the Beta(c, c) shape used to draw angles inside their range: 1 is
    uniform, larger values favour near-frontal heads as face data sets do. ``box_fraction`` is the
    larger side of the landmark box as a fraction of the image side (a 300W/AFLW-style crop).
    """

    size: int = 128
    supersample: int = 2
    yaw_range: tuple[float, float] = (-45.0, 45.0)
    pitch_range: tuple[float, float] = (-20.0, 20.0)
    roll_range: tuple[float, float] = (-20.0, 20.0)
    pose_concentration: float = 1.6
    box_fraction: tuple[float, float] = (0.60, 0.75)
    center_jitter: float = 0.04
    mouth_open_prob: float = 0.3
    smile_prob: float = 0.35
    brow_raise_prob: float = 0.2
    squint_prob: float = 0.15
    glasses_prob: float = 0.12
    fringe_prob: float = 0.08
    hand_prob: float = 0.08
    clutter: bool = True
    ambient_range: tuple[float, float] = (0.35, 0.7)
    light_angle_max: float = 60.0  # light direction, degrees off the viewing axis
    brightness_range: tuple[float, float] = (0.8, 1.2)
    contrast_range: tuple[float, float] = (0.8, 1.15)
    color_cast: float = 0.05
    noise_std_range: tuple[float, float] = (0.0, 2.0)
    # "v1": the drawn renderer (flat fills, drawn features, synthetic clutter), kept as it was so the
    # paper-faithful data stay reproducible; "v2": the photo-like renderer of :mod:`.render_photo`.
    style: str = "v1"

    @classmethod
    def plain(cls, **overrides) -> RenderConfig:
        """No clutter, no occluders, flat light, no noise: for checks that read pixel colours."""
        base = cls(
            glasses_prob=0.0,
            fringe_prob=0.0,
            hand_prob=0.0,
            clutter=False,
            ambient_range=(1.0, 1.0),
            brightness_range=(1.0, 1.0),
            contrast_range=(1.0, 1.0),
            color_cast=0.0,
            noise_std_range=(0.0, 0.0),
        )
        return replace(base, **overrides)


@dataclass
class RenderedFace:
    """One render: ``image`` uint8 (S,S,3) RGB, ``points`` float32 (68,2) 0-based pixels, ``visible``
    bool (68,) (False where turned away or occluded; the coordinates stay the true location)."""

    image: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    identity_id: int
    params: dict = field(default_factory=dict)


@dataclass
class FaceSet:
    """Many renders as arrays: ``images`` (N,S,S,3) uint8, ``points`` (N,68,2) float32, ``visible``
    (N,68) bool, ``identity`` (N,) int64."""

    images: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    identity: np.ndarray

    def __len__(self) -> int:
        return int(len(self.images))

    def subset(self, indices) -> FaceSet:
        idx = np.asarray(indices)
        return FaceSet(self.images[idx], self.points[idx], self.visible[idx], self.identity[idx])

    def save_npz(self, path: str | os.PathLike[str], compress: bool = True) -> Path:
        """Write atomically (temp file beside ``path``, then rename), so a cache is never torn."""
        save = np.savez_compressed if compress else np.savez
        arrays = {
            "images": self.images,
            "points": self.points,
            "visible": self.visible,
            "identity": self.identity,
        }
        return _atomic_write(Path(path), lambda f: save(f, **arrays))

    @classmethod
    def load_npz(cls, path: str | os.PathLike[str]) -> FaceSet:
        with np.load(path) as z:
            return cls(
                z["images"],
                z["points"].astype(np.float32),
                z["visible"].astype(bool),
                z["identity"].astype(np.int64),
            )


# ----------------------------------------------------------------------------- drawing primitives


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


# ----------------------------------------------------------------------------- scene sampling


@dataclass
class _Scene:
    """Everything random about one image, drawn before any pixel is touched."""

    pose: Pose
    expression: Expression
    box_fraction: float
    center: np.ndarray
    ambient: float
    light: np.ndarray
    specular: float
    shadow: float
    brightness: float
    contrast: float
    gain: np.ndarray
    noise: float
    glasses: bool
    fringe: bool
    hand: bool
    clothes: tuple[float, float, float]


def _in_range(rng: np.random.Generator, r: tuple[float, float], conc: float = 1.0) -> float:
    lo, hi = r
    return float(lo + (hi - lo) * (rng.beta(conc, conc) if conc != 1.0 else rng.uniform()))


def _intensity(rng: np.random.Generator, prob: float) -> float:
    return float(rng.uniform(0.3, 1.0)) if rng.uniform() < prob else 0.0


def _sample_scene(rng: np.random.Generator, cfg: RenderConfig) -> _Scene:
    c = cfg.pose_concentration
    pose = Pose(
        _in_range(rng, cfg.yaw_range, c),
        _in_range(rng, cfg.pitch_range, c),
        _in_range(rng, cfg.roll_range, c),
    )
    expr = Expression(
        mouth_open=_intensity(rng, cfg.mouth_open_prob),
        smile=_intensity(rng, cfg.smile_prob),
        brow_raise=_intensity(rng, cfg.brow_raise_prob),
        squint=_intensity(rng, cfg.squint_prob),
        gaze=(float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-0.2, 0.2))),
    )
    az, el = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(0, cfg.light_angle_max))
    ambient = _in_range(rng, cfg.ambient_range)
    return _Scene(
        pose=pose,
        expression=expr,
        box_fraction=_in_range(rng, cfg.box_fraction),
        center=rng.uniform(-1, 1, 2) * cfg.center_jitter * cfg.size,
        ambient=ambient,
        light=np.array([np.sin(el) * np.cos(az), np.sin(el) * np.sin(az), np.cos(el)]),
        specular=float(rng.uniform(0.0, 0.25)) * (1 - ambient),
        shadow=float(rng.uniform(0.2, 0.6)) * (1 - ambient),
        brightness=_in_range(rng, cfg.brightness_range),
        contrast=_in_range(rng, cfg.contrast_range),
        gain=1.0 + rng.uniform(-1, 1, 3) * cfg.color_cast,
        noise=_in_range(rng, cfg.noise_std_range),
        glasses=bool(rng.uniform() < cfg.glasses_prob),
        fringe=bool(rng.uniform() < cfg.fringe_prob),
        hand=bool(rng.uniform() < cfg.hand_prob),
        clothes=_col(rng.uniform(20, 235, 3)),
    )


# ----------------------------------------------------------------------------- projection


@dataclass
class _View:
    """Weak perspective: rotate about the pivot, scale by ``scale`` px/unit, shift by ``offset``.
    ``px`` gives output-pixel coordinates, ``sp`` supersampled-canvas ones (``x -> (x + 0.5) * ss - 0.5``)."""

    rot: np.ndarray
    scale: float
    offset: np.ndarray
    ss: int

    def px(self, pts3: np.ndarray) -> np.ndarray:
        return to_camera(pts3, self.rot)[:, :2] * self.scale + self.offset

    def sp(self, pts3: np.ndarray) -> np.ndarray:
        return self.to_ss(self.px(pts3))

    def to_ss(self, pts2: np.ndarray) -> np.ndarray:
        return (np.asarray(pts2, np.float64) + 0.5) * self.ss - 0.5

    def turn(self, vecs: np.ndarray) -> np.ndarray:
        return np.asarray(vecs, np.float64) @ self.rot.T


def _place(geo: FaceGeometry, scene: _Scene, cfg: RenderConfig) -> _View:
    """Scale and centre the face so its landmark box looks like a 300W/AFLW crop."""
    rot = rotation_matrix(scene.pose)
    unit = to_camera(geo.landmarks, rot)[:, :2]
    lo, hi = unit.min(0), unit.max(0)
    scale = scene.box_fraction * cfg.size / float((hi - lo).max())
    target = np.full(2, cfg.size / 2.0 - 0.5) + scene.center
    return _View(rot, scale, target - scale * (lo + hi) / 2.0, cfg.supersample)


# ----------------------------------------------------------------------------- background


def _scene_color(rng: np.random.Generator) -> np.ndarray:
    """A colour as walls and objects in photos have: mostly muted, now and then vivid."""
    grey = rng.uniform(15, 245)
    hue = rng.uniform(0, 255, 3)
    saturation = rng.uniform(0.0, 0.35) if rng.uniform() < 0.85 else rng.uniform(0.4, 0.8)
    return np.clip(grey + saturation * (hue - hue.mean()) * 1.5, 0, 255)


def _contrasting(rng: np.random.Generator, skin) -> np.ndarray:
    """A background colour that stays distinguishable from the skin (a face must have an outline)."""
    skin = np.asarray(skin)
    for _ in range(20):
        c = _scene_color(rng)
        if np.abs(c - skin).mean() > 45:
            return c
    return np.clip(255 - skin, 0, 255)


def _background(rng: np.random.Generator, size: int, ss: int, skin, clutter: bool) -> np.ndarray:
    """A gradient (+ texture and random shapes when ``clutter``) drawn at the output size, slightly
    out of focus, then enlarged to the supersampled canvas: it is blurry anyway, so this is free."""
    corners = np.stack([_contrasting(rng, skin) for _ in range(4)]).reshape(2, 2, 3)
    if not clutter:
        corners = corners.mean(axis=(0, 1), keepdims=True) * 0.6 + corners * 0.4
    grid = cv2.resize(corners.astype(np.float32), (6, 6), interpolation=cv2.INTER_LINEAR)
    if clutter:
        grid += rng.normal(0, 14, grid.shape).astype(np.float32)
    img = cv2.resize(np.clip(grid, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    if clutter:
        for _ in range(int(rng.integers(3, 12))):
            _clutter_shape(img, rng, size)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3))
    return img if ss == 1 else cv2.resize(img, (size * ss, size * ss), interpolation=cv2.INTER_LINEAR)


def _clutter_shape(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    color = _col(_scene_color(rng))
    kind = rng.integers(0, 5)
    c = rng.uniform(-0.1, 1.1, 2) * n
    r = rng.uniform(0.05, 0.4, 2) * n
    if kind == 0:
        _fill(img, np.array([c - r, (c[0] + r[0], c[1] - r[1]), c + r, (c[0] - r[0], c[1] + r[1])]), color)
    elif kind == 1:
        _ellipse(img, c, r, rng.uniform(0, 180), color)
    elif kind == 2:
        _line(img, np.array([c - r, c + r * rng.uniform(-1, 1, 2)]), color, rng.uniform(1, 0.05 * n))
    elif kind == 3:
        k = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        _fill(img, c + np.stack([np.cos(ang), np.sin(ang)], 1) * r * rng.uniform(0.5, 1, (k, 1)), color)
    else:  # stripes: a window blind, a shelf
        step = rng.uniform(0.03, 0.1) * n
        for y in np.arange(c[1] - r[1], c[1] + r[1], step * 2):
            _fill(
                img,
                np.array(
                    [(c[0] - r[0], y), (c[0] + r[0], y), (c[0] + r[0], y + step), (c[0] - r[0], y + step)]
                ),
                color,
            )


# ----------------------------------------------------------------------------- the person


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


def _draw_eye(img: np.ndarray, ctx: _Ctx, idx: np.ndarray, center3: np.ndarray) -> None:
    """Sclera, iris and pupil inside the lids, lash line on the upper lid, crease above it."""
    idn, sc, s = ctx.idn, ctx.scene, ctx.unit
    p = ctx.pts[idx]  # outer, upper x2, inner, lower x2 (or mirrored order for the right eye)
    upper = catmull_rom(p[0:4], 4)
    lower = catmull_rom(np.vstack([p[3:6], p[0:1]]), 4)
    outline = np.vstack([upper, lower[1:-1]])
    width = float(np.linalg.norm(p[3] - p[0]))
    height = float(np.linalg.norm((p[1] + p[2]) / 2 - (p[4] + p[5]) / 2))
    skin = idn.skin_rgb
    _fill(img, outline, _mix((236, 232, 226), skin, 0.3))
    r = 0.115 * s * idn.eye_width**0.5
    cen = ctx.view.sp(center3[None])[0]
    side = p[3] - p[0]
    side /= np.linalg.norm(side) + 1e-9
    up = ctx.up()
    cen = cen + side * sc.expression.gaze[0] * 0.25 * width - up * sc.expression.gaze[1] * height * 0.5
    squash = max(0.35, float(abs(ctx.view.rot[2, 2])))
    angle = float(np.degrees(np.arctan2(side[1], side[0])))
    iris = idn.iris_rgb

    def draw_iris(roi: np.ndarray, off: np.ndarray) -> None:
        c = cen - off
        _ellipse(roi, c, (r * squash, r), angle, _col(iris, 0.75))
        _ellipse(roi, c, (0.8 * r * squash, 0.8 * r), angle, iris)
        _ellipse(roi, c, (0.42 * r * squash, 0.42 * r), angle, (18, 14, 14))
        _ellipse(roi, c + (0.3 * r, -0.35 * r), (0.16 * r, 0.16 * r), 0, (245, 245, 245))

    _clip_draw(img, outline, draw_iris)
    lash = _mix(idn.hair_rgb, (15, 12, 12), 0.7)
    _line(img, upper, lash, max(2.0, 0.045 * s))
    _line(img, lower, _col(skin, 0.55), max(1.0, 0.022 * s))
    crease = _offset_curve(upper[2:-2], max(2.0, 0.045 * s) + 0.55 * height, up)
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


def _draw_face(ctx: _Ctx, visible: np.ndarray) -> list[np.ndarray]:
    """Skin and features on a copy of the canvas, composited through the face's own silhouette so
    nothing on the far side of a turned head leaks past the cheek."""
    regions = _face_regions(ctx)
    layer = ctx.img.copy()
    mask = np.zeros(ctx.person.shape, np.uint8)
    skin = ctx.idn.skin_rgb
    for r in regions:
        _fill(layer, r, skin)
        _fill(mask, r, 255)
    _draw_facial_hair(layer, ctx)
    _draw_brows(layer, ctx)
    left, right = np.arange(36, 42), np.array([45, 44, 43, 42, 47, 46])
    for idx, c3 in ((left, ctx.geo.eye_centers[0]), (right, ctx.geo.eye_centers[1])):
        _draw_eye(layer, ctx, idx, c3)
    _draw_nose(layer, ctx, regions[2], visible)
    _draw_mouth(layer, ctx)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
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


# ----------------------------------------------------------------------------- lighting


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


# ----------------------------------------------------------------------------- the renderer


def render_face(
    identity: Identity, rng: np.random.Generator, config: RenderConfig | None = None
) -> RenderedFace:
    """Render one labelled face of ``identity``; all randomness comes from ``rng``.

    Order of work: sample the scene (pose, expression, light, occluders), build and place the 3-D
    face, decide self-occlusion from geometry, paint back to front on the supersampled canvas
    (background, clothes, hair behind, neck, hair cap, ears, face with its features, bangs,
    occluders), mark points under occluders, shrink to ``size`` and light it.
    ``config=None`` means ``RenderConfig()``.
    """
    cfg = config or RenderConfig()
    if cfg.style != "v1":
        if cfg.style != "v2":
            raise ValueError(f"RenderConfig.style: unknown style {cfg.style!r}; choose 'v1' or 'v2'")
        from .render_photo import render_face_photo

        return render_face_photo(identity, rng, cfg)
    scene = _sample_scene(rng, cfg)
    geo = build_face(identity, scene.expression)
    view = _place(geo, scene, cfg)
    n = cfg.size * cfg.supersample
    points = view.px(geo.landmarks).astype(np.float32)
    canvas = _background(rng, cfg.size, cfg.supersample, identity.skin_rgb, cfg.clutter)
    masks = [np.zeros((n, n), np.uint8) for _ in range(3)]
    ctx = _Ctx(
        identity, geo, view, scene, view.to_ss(points), view.scale * cfg.supersample, rng, canvas, *masks
    )
    for draw in (_draw_clothes, _draw_hair_back, _draw_neck, _draw_hair_cap, _draw_ears, _draw_curtains):
        draw(ctx)
    regions = _face_regions(ctx)
    vis_geo = _visibility(ctx, regions)
    _draw_face(ctx, vis_geo)
    _draw_bangs(ctx)
    occluders = []
    for name, on, draw in (
        ("glasses", scene.glasses, _draw_glasses),
        ("fringe", scene.fringe, _draw_fringe),
        ("hand", scene.hand, _draw_hand),
    ):
        if on:
            draw(ctx)
            occluders.append(name)
    visible = vis_geo & _drawn(ctx)
    small = [
        cv2.resize(a, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        for a in (ctx.img, ctx.person, ctx.face)
    ]
    image = _light(*small, points, view.scale, view, scene, rng)
    params = _params(scene, view, identity, occluders, cfg)
    return RenderedFace(image, points, visible, identity.identity_id, params)


def _params(sc: _Scene, view: _View, idn: Identity, occluders: list[str], cfg: RenderConfig) -> dict:
    ex = sc.expression
    return {
        "yaw": sc.pose.yaw,
        "pitch": sc.pose.pitch,
        "roll": sc.pose.roll,
        "scale": float(view.scale),
        "box_fraction": sc.box_fraction,
        "center": [float(c) for c in sc.center],
        "mouth_open": ex.mouth_open,
        "smile": ex.smile,
        "brow_raise": ex.brow_raise,
        "squint": ex.squint,
        "gaze": list(ex.gaze),
        "ambient": sc.ambient,
        "light": [float(c) for c in sc.light],
        "brightness": sc.brightness,
        "contrast": sc.contrast,
        "noise": sc.noise,
        "occluders": occluders,
        "clutter": cfg.clutter,
        "hair_style": idn.hair_style,
        "facial_hair": idn.facial_hair,
    }


def image_rng(seed: int, identity_id: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``identity_id``: any subset of a data set renders the same."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(identity_id), int(index), 0x5EED]))


def render_dataset(
    identity_ids: Sequence[int],
    images_per_identity: int,
    seed: int,
    config: RenderConfig | None = None,
    progress: bool = False,
    identity_seed: int = 0,
) -> FaceSet:
    """``images_per_identity`` renders of each identity, deterministic in ``seed``.

    Identities come from population ``identity_seed`` (fixed by default), so identity ``k`` is the
    same person in every data set; ``seed`` only changes the photos.
    """
    cfg = config or RenderConfig()
    ids = [int(i) for i in identity_ids]
    jobs = [(i, k) for i in ids for k in range(images_per_identity)]
    n, size = len(jobs), cfg.size
    out = FaceSet(
        np.zeros((n, size, size, 3), np.uint8),
        np.zeros((n, 68, 2), np.float32),
        np.zeros((n, 68), bool),
        np.zeros(n, np.int64),
    )
    it = jobs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(jobs, desc="rendering faces", unit="face")
    idn: Identity | None = None
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # images this small only pay for OpenCV's thread pool, never gain
    try:
        for j, (i, k) in enumerate(it):
            if idn is None or idn.identity_id != i:
                idn = sample_identity(i, identity_seed)
            face = render_face(idn, image_rng(seed, i, k), cfg)
            out.images[j], out.points[j], out.visible[j], out.identity[j] = (
                face.image,
                face.points,
                face.visible,
                i,
            )
    finally:
        cv2.setNumThreads(threads)
    return out


# ----------------------------------------------------------------------------- preview


def _atomic_write(path: Path, write: Callable[[object], None]) -> Path:
    """Write through a temp file beside ``path`` then rename, so readers never see a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make caches and figures private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _atomic_png(path: Path, rgb: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    return _atomic_write(path, lambda f: f.write(buf.tobytes()))


def _grid(images: list[np.ndarray], cols: int, pad: int = 4) -> np.ndarray:
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = im
    return out


def _with_points(face: RenderedFace, zoom: int) -> np.ndarray:
    img = cv2.resize(face.image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    pts = resize_points(face.points, zoom)
    for (x, y), v in zip(pts, face.visible):
        _ellipse(img, (x, y), (1.6, 1.6), 0, (40, 255, 40) if v else (255, 40, 40))
    return img


def save_preview(
    path: str | os.PathLike[str] = "reports/figures/render_preview.png",
    n: int = 24,
    seed: int = 0,
    config: RenderConfig | None = None,
    cols: int = 6,
) -> Path:
    """Two grids of the same ``n`` faces (one identity each): as rendered, then 2x with the 68 points
    (green visible, red hidden)."""
    faces = [render_face(sample_identity(i), image_rng(seed, i, 0), config) for i in range(n)]
    zoom = 2
    plain = _grid(
        [cv2.resize(f.image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST) for f in faces], cols
    )
    marked = _grid([_with_points(f, zoom) for f in faces], cols)
    sep = np.full((12, plain.shape[1], 3), 255, np.uint8)
    return _atomic_png(Path(path), np.vstack([plain, sep, marked]))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a preview grid of rendered faces.")
    ap.add_argument("--out", default="reports/figures/render_preview.png")
    ap.add_argument("-n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="no clutter, occluders or lighting")
    ap.add_argument("--style", default="v1", choices=("v1", "v2"), help="drawn (v1) or photo-like (v2)")
    args = ap.parse_args(argv)
    cfg = RenderConfig.plain(style=args.style) if args.plain else RenderConfig(style=args.style)
    print(save_preview(args.out, args.n, args.seed, cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
