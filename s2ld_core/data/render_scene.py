"""What varies from image to image before any pixel is drawn (pose, expression, light, camera
settings, occluders), the weak-perspective view that places the face in the crop, and the drawn
renderer's backgrounds (gradients and synthetic clutter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .face_model import Expression, FaceGeometry, Identity, Pose, rotation_matrix, to_camera
from .render_canvas import _col, _ellipse, _fill, _line

if TYPE_CHECKING:
    from .render import RenderConfig


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


@dataclass
class RenderedFace:
    """One render: ``image`` uint8 (S,S,3) RGB, ``points`` float32 (68,2) 0-based pixels, ``visible``
    bool (68,) (False where turned away or occluded; the coordinates stay the true location)."""

    image: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    identity_id: int
    params: dict = field(default_factory=dict)


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
