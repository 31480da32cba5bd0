"""A small 3-D face model for the procedural renderer: identities, expressions, pose and visibility.

The renderer needs faces whose 68 iBUG points are *exact*, so the face is built from the points
rather than the points being guessed from a picture. This module owns the geometry: a parametric
mean face (68 landmarks with depth, in 300W order) plus the non-landmark geometry the drawing needs
(forehead/hairline, cheek surface samples for the turned silhouette, nose outline, skull/hair cap,
ears, neck), the persistent per-person :class:`Identity`, the per-image :class:`Expression`, and the
weak-perspective projection with self-occlusion tests.

Model frame: units of half the face width (jaw point 0 at ``x = -1``), ``x`` to the image right,
``y`` down, ``z`` towards the camera; ``y = 0`` is the eye-corner line. Head rotations pivot about
:data:`PIVOT`, a point inside the skull near the ears, so a turning head moves as a real one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..schemas import get_schema

__all__ = [
    "Identity",
    "Expression",
    "Pose",
    "FaceGeometry",
    "HAIR_STYLES",
    "FACIAL_HAIR",
    "PIVOT",
    "sample_identity",
    "build_face",
    "rotation_matrix",
    "to_camera",
    "surface_z",
    "CONVENTIONS",
    "Conventions",
]

PIVOT = np.array([0.0, 0.3, -1.0])
HAIR_STYLES = ("buzz", "short", "side_part", "bob", "long", "bald", "bun")
FACIAL_HAIR = ("none", "stubble", "moustache", "beard", "goatee")


@dataclass(frozen=True)
class Conventions:
    """Where the 68 points sit on the face, as constant factors on the mean face.

    ``v1`` is the model as first drawn (kept so old data stay reproducible). ``300w`` is that face
    measured against real annotation and moved to match (``benchmarks/bench_conventions.py``: in an
    eye frame, outer eye corners 1 apart, v1's mouth sits at 0.846 against 0.775 for the HR
    teacher's labels on 936 real faces and 0.779 for PASCAL's human labels; chin 1.43 against 1.32 /
    1.37; nose tip 0.44 against 0.40 / 0.37; jaw width 1.61 against 1.66 / 1.70; brows −0.19
    against −0.22 / −0.24): everything below the eye line is 0.92 as long, the jaw 1.03 as wide and
    the brows 1.15 as high. The drawn face follows its points, so pictures and labels stay one."""

    lower_face: float = 1.0
    jaw_width: float = 1.0
    brow_height: float = 1.0


CONVENTIONS = {"v1": Conventions(), "300w": Conventions(lower_face=0.92, jaw_width=1.03, brow_height=1.15)}

_FLIP = np.array(get_schema("ibug68").flip_permutation)
# Left-half (image-left) and midline landmark indices; the right half is their mirror image.
_LEFT = np.array(
    [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        17,
        18,
        19,
        20,
        21,
        31,
        32,
        36,
        37,
        38,
        39,
        40,
        41,
        48,
        49,
        50,
        58,
        59,
        60,
        61,
        67,
    ]
)
_MID = np.array([8, 27, 28, 29, 30, 33, 51, 57, 62, 66])

# Image-left half of the jaw (points 0..8) of the mean face, frontal, before identity parameters.
_JAW_HALF = np.array(
    [
        (-1.00, 0.00),
        (-0.99, 0.27),
        (-0.96, 0.54),
        (-0.91, 0.80),
        (-0.80, 1.05),
        (-0.65, 1.26),
        (-0.48, 1.44),
        (-0.25, 1.575),
        (0.00, 1.62),
    ]
)
# How strongly identity jaw width, chin width, cheek fullness and an open mouth move each jaw point.
_JAW_W = np.array([0.0, 0.0, 0.15, 0.4, 0.7, 0.9, 1.0, 1.0, 1.0])
_CHIN_W = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.7, 1.0, 0.0])
_CHEEK_W = np.array([0.0, 0.02, 0.045, 0.05, 0.03, 0.0, 0.0, 0.0, 0.0])
_OPEN_W = np.array([0.0, 0.0, 0.0, 0.1, 0.35, 0.6, 0.85, 0.97, 1.0])

# Ear outline in its own plane: u backwards from where it joins the head, v down.
_EAR_UV = np.array(
    [
        (0.0, -0.26),
        (0.08, -0.33),
        (0.19, -0.33),
        (0.28, -0.24),
        (0.32, -0.08),
        (0.30, 0.10),
        (0.24, 0.24),
        (0.17, 0.36),
        (0.10, 0.45),
        (0.03, 0.47),
        (-0.01, 0.40),
        (0.0, 0.2),
    ]
)


# ----------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class Identity:
    """Everything that stays the same across photos of one person.

    Shape factors are multipliers around 1 (offsets around 0) of the mean face; colours are RGB in
    0..255. Persistence is what makes the verification experiment possible: two renders of one
    identity share all of these and differ only in pose, expression, light and surroundings.
    """

    identity_id: int
    # face shape
    face_width: float
    face_length: float
    jaw_width: float
    chin_width: float
    chin_length: float
    cheek_fullness: float
    forehead_height: float
    # feature geometry
    eye_width: float
    eye_open: float
    eye_spacing: float
    eye_tilt: float
    brow_height: float
    brow_arch: float
    brow_thickness: float
    brow_length: float
    nose_length: float
    nose_width: float
    nose_depth: float
    mouth_width: float
    upper_lip: float
    lower_lip: float
    ear_size: float
    # appearance
    skin_rgb: tuple[float, float, float]
    lip_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    brow_rgb: tuple[float, float, float]
    iris_rgb: tuple[float, float, float]
    hair_style: str
    hair_volume: float
    hair_part: float
    bangs: bool
    facial_hair: str
    # small fixed asymmetries (68 x (dx, dy)) that make a face an individual rather than a type
    asymmetry: tuple[float, ...] = field(repr=False, default=())

    def shape_vector(self) -> np.ndarray:
        """The numeric shape parameters as one vector (for comparing identities)."""
        names = (
            "face_width",
            "face_length",
            "jaw_width",
            "chin_width",
            "chin_length",
            "cheek_fullness",
            "forehead_height",
            "eye_width",
            "eye_open",
            "eye_spacing",
            "eye_tilt",
            "brow_height",
            "brow_arch",
            "brow_thickness",
            "brow_length",
            "nose_length",
            "nose_width",
            "nose_depth",
            "mouth_width",
            "upper_lip",
            "lower_lip",
            "ear_size",
        )
        return np.array([getattr(self, n) for n in names], dtype=np.float64)


_SKIN_RAMP = np.array(
    [
        (255, 226, 204),
        (241, 196, 170),
        (226, 173, 140),
        (200, 140, 105),
        (165, 108, 76),
        (125, 80, 55),
        (90, 58, 42),
    ],
    dtype=np.float64,
)
_HAIR_TONES = np.array(
    [
        (28, 24, 22),
        (58, 40, 30),
        (100, 68, 44),
        (150, 108, 68),
        (214, 178, 120),
        (150, 68, 36),
        (140, 138, 136),
        (205, 203, 198),
    ],
    dtype=np.float64,
)
_HAIR_P_LIGHT = np.array([0.14, 0.22, 0.2, 0.14, 0.14, 0.07, 0.06, 0.03])  # for light skin
_HAIR_P_DARK = np.array([0.6, 0.28, 0.05, 0.01, 0.0, 0.0, 0.04, 0.02])
_IRIS_TONES = np.array(
    [(95, 58, 32), (55, 34, 22), (125, 98, 52), (88, 118, 72), (72, 112, 165), (118, 128, 140)],
    dtype=np.float64,
)
_IRIS_P = np.array([0.32, 0.25, 0.12, 0.09, 0.14, 0.08])
_STYLE_P_MASC = np.array([0.22, 0.35, 0.2, 0.03, 0.04, 0.14, 0.02])
_STYLE_P_FEM = np.array([0.02, 0.08, 0.12, 0.3, 0.38, 0.0, 0.1])
_FACIAL_HAIR_P = np.array([0.45, 0.2, 0.1, 0.17, 0.08])  # for a masculine face


def _tone(rng: np.random.Generator, base: np.ndarray, jitter: float) -> tuple[float, float, float]:
    c = np.clip(base * (1.0 + rng.normal(0.0, jitter, 3)), 0.0, 255.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def _skin(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    t = rng.uniform(0.0, 1.0)
    pos = t * (len(_SKIN_RAMP) - 1)
    i = min(int(pos), len(_SKIN_RAMP) - 2)
    base = _SKIN_RAMP[i] + (pos - i) * (_SKIN_RAMP[i + 1] - _SKIN_RAMP[i])
    warmth = rng.normal(0.0, 0.04)  # red/yellow undertone
    base = base * np.array([1.0 + warmth, 1.0, 1.0 - warmth])
    return np.clip(base * rng.uniform(0.96, 1.04), 0, 255), t


def sample_identity(identity_id: int, seed: int = 0) -> Identity:
    """The person ``identity_id`` of population ``seed``: deterministic in ``(seed, identity_id)``.

    Ranges are wide on purpose: a 32x32 verification network must be able to tell people apart from
    face shape, complexion, hair and facial hair, as it would with real faces.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(identity_id), 0x1D]))
    masc = float(rng.uniform())  # a latent that correlates jaw, brows, facial hair and hair length
    skin, darkness = _skin(rng)
    hair_p = (1 - darkness) * _HAIR_P_LIGHT + darkness * _HAIR_P_DARK
    hair = _HAIR_TONES[rng.choice(len(_HAIR_TONES), p=hair_p / hair_p.sum())]
    hair_rgb = np.array(_tone(rng, hair, 0.08))
    lip_rgb = np.clip(
        0.7 * skin * np.array([0.8, 0.56, 0.58]) + 0.3 * np.array([190, 85, 95]) * rng.uniform(0.75, 1.05),
        0,
        255,
    )
    brow = np.minimum(0.55 * hair_rgb + 0.45 * skin * 0.42, skin * 0.62)
    style_p = masc * _STYLE_P_MASC + (1 - masc) * _STYLE_P_FEM
    style = HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=style_p / style_p.sum())]
    facial = "none"
    if masc > 0.55:
        facial = FACIAL_HAIR[rng.choice(len(FACIAL_HAIR), p=_FACIAL_HAIR_P)]
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731 - local shorthand
    return Identity(
        identity_id=int(identity_id),
        face_width=u(0.86, 1.14),
        face_length=u(0.88, 1.15),
        jaw_width=u(0.78, 0.92) + 0.14 * masc,
        chin_width=u(0.85, 1.2) + 0.1 * masc,
        chin_length=u(0.85, 1.15),
        cheek_fullness=u(-0.5, 1.0),
        forehead_height=u(0.9, 1.15) + (0.12 * masc if style == "bald" else 0.0),
        eye_width=u(0.85, 1.12),
        eye_open=u(0.72, 1.3),
        eye_spacing=u(0.88, 1.15),
        eye_tilt=u(-0.04, 0.08),
        brow_height=u(0.8, 1.25),
        brow_arch=u(0.2, 1.2),
        brow_thickness=u(0.6, 1.2) + 0.7 * masc * float(rng.uniform()),
        brow_length=u(0.8, 1.2),
        nose_length=u(0.85, 1.15),
        nose_width=u(0.75, 1.35),
        nose_depth=u(0.8, 1.2),
        mouth_width=u(0.82, 1.2),
        upper_lip=u(0.6, 1.4),
        lower_lip=u(0.7, 1.4),
        ear_size=u(0.85, 1.15),
        skin_rgb=_tone(rng, skin, 0.0),
        lip_rgb=_tone(rng, lip_rgb, 0.03),
        hair_rgb=_tone(rng, hair_rgb, 0.0),
        brow_rgb=_tone(rng, brow, 0.04),
        iris_rgb=_tone(rng, _IRIS_TONES[rng.choice(len(_IRIS_TONES), p=_IRIS_P)], 0.08),
        hair_style=style,
        hair_volume=u(0.95, 1.18),
        hair_part=u(-1.0, 1.0),
        bangs=bool(rng.uniform() < (0.35 if style in ("short", "bob", "long") else 0.0)),
        facial_hair=facial,
        asymmetry=tuple(float(v) for v in rng.normal(0.0, 0.008, 136)),
    )


# ----------------------------------------------------------------------------- expression, pose


@dataclass(frozen=True)
class Expression:
    """Per-image expression intensities in ``[0, 1]`` and gaze (iris offset in eye half-sizes)."""

    mouth_open: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    squint: float = 0.0
    gaze: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees. ``yaw > 0`` turns the nose towards the image right, ``pitch > 0``
    looks down, ``roll > 0`` rotates the face counter-clockwise on screen."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


def rotation_matrix(pose: Pose) -> np.ndarray:
    """``R = R_roll @ R_pitch @ R_yaw`` in the model frame (x right, y down, z to the camera)."""
    y, p, r = np.deg2rad([pose.yaw, pose.pitch, pose.roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def to_camera(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Rotate model points about :data:`PIVOT`; columns are (x, y, depth towards the camera)."""
    return (np.asarray(points, np.float64) - PIVOT) @ rot.T


# ----------------------------------------------------------------------------- geometry


def surface_z(x: np.ndarray, face_width: float = 1.0) -> np.ndarray:
    """Depth of the face's front surface at ``x``: flat in the middle, turning back to the ears.

    One smooth profile serves landmarks, cheeks and forehead alike, so that what the projection
    hides (a far cheek turning behind the nose line) agrees with what the drawing shows.
    """
    return 0.15 - 1.1 * np.abs(np.asarray(x, np.float64) / face_width) ** 3


@dataclass
class FaceGeometry:
    """A pose-independent 3-D face: landmarks plus what the renderer draws around them."""

    landmarks: np.ndarray  # (68, 3)
    normals: np.ndarray  # (68, 3) outward unit normals, for turned-away tests
    forehead: np.ndarray  # (F, 3) upper face outline / hairline, image-right temple -> image-left
    cheeks: np.ndarray  # (C, 3) face-surface samples whose projection forms a turned silhouette
    nose_outline: np.ndarray  # (N, 3) nose surface points; their projected hull is the nose body
    skull: np.ndarray  # (S, 3) outer surface of the hair cap
    crown: np.ndarray  # (T, 3) the top of the skull (the bald patch)
    ears: tuple[np.ndarray, np.ndarray]  # image-left, image-right outlines (E, 3)
    ear_normals: np.ndarray  # (2, 3)
    neck_top: np.ndarray  # (2, 3) where the neck leaves the head, image-left then image-right
    hair_back: np.ndarray  # (B, 3) long hair falling behind the shoulders (empty if none)
    curtains: tuple[np.ndarray, np.ndarray]  # hair hanging beside the face (empty if none)
    eye_centers: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))  # image-left, right


def _mirror_fill(pts: np.ndarray) -> np.ndarray:
    """Fill the image-right landmarks as mirror images of the image-left ones."""
    out = pts.copy()
    right = _FLIP[_LEFT]
    out[right] = pts[_LEFT] * np.array([-1.0, 1.0, 1.0])
    return out


def _jaw(idn: Identity, ex: Expression, pts: np.ndarray, conv: Conventions = Conventions()) -> None:
    x = _JAW_HALF[:, 0] * idn.face_width * conv.jaw_width
    x = x * (1.0 + (idn.jaw_width - 1.0) * _JAW_W) * (1.0 + (idn.chin_width - 1.0) * _CHIN_W)
    x = x - idn.cheek_fullness * _CHEEK_W
    y = _JAW_HALF[:, 1] + ex.mouth_open * 0.22 * _OPEN_W
    z = surface_z(x, idn.face_width)
    pts[0:9] = np.stack([x, y, z], axis=1)


def _eyes(idn: Identity, ex: Expression, pts: np.ndarray) -> np.ndarray:
    xi = -0.28 * idn.eye_spacing
    xo = xi - 0.34 * idn.eye_width
    yo = -idn.eye_tilt
    t = np.array([0.0, 1 / 3, 2 / 3, 1.0, 2 / 3, 1 / 3])  # 36..41 along outer -> inner
    x = xo + (xi - xo) * t
    base = yo * (1 - t)
    up = 0.068 * idn.eye_open * (1 + 0.2 * ex.brow_raise) * (1 - 0.7 * ex.squint)
    low = 0.042 * idn.eye_open * (1 - 0.45 * ex.squint - 0.3 * ex.smile)
    y = base + np.array([0.0, -up, -0.95 * up, 0.0, 0.95 * low, low])
    z = surface_z(x) - 0.08 + np.array([0.0, 0.05, 0.05, 0.0, 0.03, 0.03])
    pts[36:42] = np.stack([x, y, z], axis=1)
    return np.array([(xo + xi) / 2, yo / 2 - 0.01, float(surface_z((xo + xi) / 2)) - 0.03])


def _brows(idn: Identity, ex: Expression, pts: np.ndarray, conv: Conventions = Conventions()) -> None:
    t = np.linspace(0.0, 1.0, 5)  # 17 (outer) .. 21 (inner)
    inner = -0.19 * idn.eye_spacing
    outer = max(pts[36, 0] - 0.16 * idn.brow_length, -0.86 * idn.face_width)  # tail stays on the face
    x = outer + (inner - outer) * t
    y = -(0.17 + 0.05 * t) * idn.brow_height - 0.11 * idn.brow_arch * np.sin(np.pi * t**0.75)
    y = (y - 0.09 * ex.brow_raise * (0.6 + 0.4 * t) + 0.03 * ex.squint) * conv.brow_height
    pts[17:22] = np.stack([x, y, surface_z(x) + 0.04], axis=1)


def _nose(idn: Identity, ex: Expression, pts: np.ndarray) -> np.ndarray:
    nl, nw, nd = idn.nose_length, idn.nose_width * (1 + 0.05 * ex.smile), idn.nose_depth
    t = np.linspace(0.0, 1.0, 4)
    pts[27:31] = np.stack([np.zeros(4), -0.03 + (0.52 * nl) * t, 0.14 + (0.47 * nd - 0.14) * t**1.2], axis=1)
    pts[31] = (-0.20 * nw, 0.60 * nl, 0.12)
    pts[32] = (-0.10 * nw, 0.645 * nl, 0.22 * nd)
    pts[33] = (0.0, 0.665 * nl, 0.27 * nd)
    left = np.array(
        [
            (-0.08, 0.0, 0.08),
            (-0.10, 0.2 * nl, 0.18 * nd),
            (-0.13, 0.38 * nl, 0.24 * nd),
            (-0.22 * nw, 0.47 * nl, 0.14),
            (-0.26 * nw, 0.56 * nl, 0.07),
            (-0.21 * nw, 0.62 * nl, 0.1),
            (-0.07, 0.5 * nl, 0.42 * nd),
        ]
    )
    right = left * np.array([-1.0, 1.0, 1.0])
    tip = np.array([[0.0, 0.49 * nl, 0.47 * nd], [0.0, 0.665 * nl, 0.27 * nd]])
    return np.vstack([left, right, tip])


def _mouth(idn: Identity, ex: Expression, pts: np.ndarray) -> None:
    mw, ul, ll, op, sm = idn.mouth_width, idn.upper_lip, idn.lower_lip, ex.mouth_open, ex.smile
    y0 = 0.93 + 0.03 * op
    hw = 0.39 * mw * (1 + 0.12 * sm) * (1 - 0.1 * op)
    gap = 0.012 + 0.3 * op
    y_ui, y_li = y0 - 0.015 * op - 0.02 * sm * op, y0 + gap
    corner_y = y0 - 0.08 * sm
    pts[48] = (-hw, corner_y, 0.0)
    pts[49] = (-0.25 * mw * (1 + 0.08 * sm), y0 - 0.06 * ul - 0.045 * sm, 0.2)
    pts[50] = (-0.10 * mw, y0 - 0.09 * ul - 0.01 * sm, 0.3)
    pts[51] = (0.0, y0 - 0.075 * ul - 0.01 * sm, 0.32)
    pts[60] = (-hw + 0.05, corner_y + 0.25 * gap * (1 - sm), 0.12)
    pts[61] = (-0.11 * mw, y_ui + 0.01 * sm, 0.27)
    pts[62] = (0.0, y_ui + 0.004, 0.29)
    pts[67] = (-0.11 * mw, y_li - 0.01 * sm * (1 - op), 0.26)
    pts[66] = (0.0, y_li + 0.004, 0.27)
    pts[59] = (-0.25 * mw * (1 + 0.08 * sm), y_li + 0.1 * ll - 0.05 * sm, 0.17)
    pts[58] = (-0.12 * mw, y_li + 0.135 * ll - 0.02 * sm, 0.24)
    pts[57] = (0.0, y_li + 0.145 * ll - 0.01 * sm, 0.26)
    pts[48:68, 2] = np.maximum(pts[48:68, 2], surface_z(pts[48:68, 0]))


def _normals(pts: np.ndarray, face_width: float) -> np.ndarray:
    """Outward normals from the surface profile, with the nose's own directions."""
    x = pts[:, 0]
    dzdx = -1.1 * 3.0 * np.sign(x) * np.abs(x / face_width) ** 2 / face_width
    n = np.stack([-0.8 * dzdx, np.zeros_like(x), np.ones_like(x)], axis=1)
    n[27:31] = (0.0, -0.25, 1.0)
    n[30] = (0.0, 0.2, 1.0)
    n[31:36] = [(-0.7, 0.45, 0.6), (-0.35, 0.6, 0.75), (0.0, 0.6, 0.8), (0.35, 0.6, 0.75), (0.7, 0.45, 0.6)]
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _forehead(idn: Identity, n: int = 13) -> np.ndarray:
    """Upper face outline from the image-right temple over the hairline to the image-left one."""
    t = np.linspace(0.0, np.pi, n)[1:-1]
    fw, top = idn.face_width, 1.2 * idn.forehead_height
    x = fw * (0.98 - 0.07 * np.sin(t)) * np.cos(t)
    # a side parting lifts one side of the hairline a little
    y = -top * np.sin(t) ** 0.8 * (1.0 + 0.05 * idn.hair_part * np.cos(t))
    return np.stack([x, y, surface_z(x, fw) - 0.02], axis=1)


def _cheeks(jaw: np.ndarray, forehead: np.ndarray, fw: float) -> np.ndarray:
    """Rings of face-surface points inside the outline (closer to the camera than the outline)."""
    rings = []
    for f in (0.9, 0.76, 0.56, 0.3):
        for src, cy in ((jaw[1:16], 0.55), (forehead, -0.2)):
            x = src[:, 0] * f
            y = cy + (src[:, 1] - cy) * (0.55 + 0.45 * f)
            rings.append(np.stack([x, y, surface_z(x, fw)], axis=1))
    return np.vstack(rings)


def _skull(idn: Identity, vol: float, el_min: float, el_max: float = 90.0) -> np.ndarray:
    """Hair cap: an ellipsoid's outer surface except where the face is."""
    az = np.deg2rad(np.arange(0, 360, 15))
    el = np.deg2rad(np.linspace(el_min, el_max, 7))
    a, e = np.meshgrid(az, el)
    a, e = a.ravel(), e.ravel()
    keep = ~((np.abs(np.sin(a)) < 0.82) & (np.cos(a) > 0) & (e < np.deg2rad(38)))  # face opening
    a, e = a[keep], e[keep]
    rx, ry, rz = 1.06 * idn.face_width * vol, 1.28 * vol * idn.forehead_height**0.5, 1.22 * vol
    return np.stack(
        [rx * np.cos(e) * np.sin(a), -0.38 - ry * np.sin(e), -0.98 + rz * np.cos(e) * np.cos(a)], axis=1
    )


def _ears(idn: Identity) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    flare = np.deg2rad(32.0)
    uv = _EAR_UV * idn.ear_size
    ax = 0.97 * idn.face_width
    right = np.stack(
        [ax + uv[:, 0] * np.sin(flare), 0.08 + uv[:, 1], -1.0 - uv[:, 0] * np.cos(flare)], axis=1
    )
    left = right * np.array([-1.0, 1.0, 1.0])
    normals = np.array([(-np.cos(flare), 0.0, np.sin(flare)), (np.cos(flare), 0.0, np.sin(flare))])
    return (left, right), normals


def _long_hair(idn: Identity) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Hair behind the shoulders and the curtains beside the face, by style."""
    fw, vol = idn.face_width, idn.hair_volume
    if idn.hair_style not in ("bob", "long"):
        return np.zeros((0, 3)), (np.zeros((0, 3)), np.zeros((0, 3)))
    bottom = 1.05 if idn.hair_style == "bob" else 2.3
    back_r = np.array(
        [
            (1.12 * fw * vol, -0.4, -1.3),
            (1.22 * fw * vol, 0.6, -1.45),
            (1.25 * fw * vol, bottom, -1.5),
            (0.9 * fw, bottom + 0.12, -1.5),
        ]
    )
    back = np.vstack([back_r, back_r * np.array([-1.0, 1.0, 1.0])])
    cur_r = np.array(
        [
            (0.88 * fw, -0.75, -0.55),
            (1.1 * fw * vol, -0.3, -0.85),
            (1.14 * fw * vol, bottom * 0.85, -0.95),
            (1.02 * fw, bottom, -0.95),
            (0.86 * fw, bottom * 0.8, -0.75),
            (0.9 * fw, 0.3, -0.7),
        ]
    )
    return back, (cur_r * np.array([-1.0, 1.0, 1.0]), cur_r)


def build_face(idn: Identity, ex: Expression = Expression(), conventions: str = "v1") -> FaceGeometry:
    """The 3-D face of ``idn`` wearing expression ``ex`` (pose is applied at projection), its points
    placed by ``conventions`` (a key of :data:`CONVENTIONS`)."""
    if conventions not in CONVENTIONS:
        raise ValueError(f"unknown landmark conventions {conventions!r}; "
                         f"choose one of {', '.join(CONVENTIONS)}")
    conv = CONVENTIONS[conventions]
    pts = np.zeros((68, 3))
    _jaw(idn, ex, pts, conv)
    eye_l = _eyes(idn, ex, pts)
    _brows(idn, ex, pts, conv)
    nose = _nose(idn, ex, pts)
    _mouth(idn, ex, pts)
    pts = _mirror_fill(pts)
    if idn.asymmetry:
        pts[:, :2] += np.asarray(idn.asymmetry).reshape(68, 2)
    # a longer lower face stretches everything below the eyes, a longer chin below the mouth
    below = pts[:, 1] > 0
    pts[below, 1] *= idn.face_length * conv.lower_face
    nose[nose[:, 1] > 0, 1] *= idn.face_length * conv.lower_face
    mouth_y = 0.93 * idn.face_length * conv.lower_face
    chin = pts[:, 1] > mouth_y + 0.08
    pts[chin, 1] = mouth_y + 0.08 + (pts[chin, 1] - mouth_y - 0.08) * idn.chin_length
    forehead = _forehead(idn)
    ears, ear_normals = _ears(idn)
    back, curtains = _long_hair(idn)
    crown_lo = 40.0 if idn.hair_style == "bald" else 55.0
    el_min = {"buzz": -15.0, "short": -20.0, "bald": -25.0}.get(idn.hair_style, -45.0)
    return FaceGeometry(
        landmarks=pts,
        normals=_normals(pts, idn.face_width),
        forehead=forehead,
        cheeks=_cheeks(pts[0:17], forehead, idn.face_width),
        nose_outline=nose,
        skull=_skull(idn, idn.hair_volume if idn.hair_style not in ("buzz", "bald") else 1.0, el_min),
        crown=_skull(idn, 1.0, crown_lo),
        ears=ears,
        ear_normals=ear_normals,
        neck_top=np.array([(-0.5 * idn.face_width, 0.9, -0.95), (0.5 * idn.face_width, 0.9, -0.95)]),
        hair_back=back,
        curtains=curtains,
        eye_centers=np.stack([eye_l, eye_l * np.array([-1.0, 1.0, 1.0])]),
    )
