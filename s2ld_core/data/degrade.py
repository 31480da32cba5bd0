"""High-to-low degradations: turn a labelled HR face (and its points) into a 32x32 LR face.

Every function takes a ``uint8`` HxWx3 RGB image and, optionally, ``(K, 2)`` points in its pixels,
and returns the degraded image together with the points mapped *exactly* into the new pixels, using
the project's resize rule ``x -> (x + 0.5) * s - 0.5`` (pixel centres at integer coordinates). That
exactness is what lets a degraded face keep its labels, so the landmark error measured on it means
what it says.

The degradations serve two roles in the study:

* ``F`` (:func:`~s2ld_core.pixels.subsample_F`, listed here as one degradation) is the paper's
  average-pooling operator used in the pixel loss of stage 1 and as the plain "known degradation"
  baseline; ``bicubic`` is the usual synthetic alternative.
* ``camera`` (:data:`TRAIN_CAMERA`) is a generic capture chain to train or augment with, while
  ``target-camera`` (:data:`TARGET_CAMERA`) is a *held-out* domain whose parameter ranges overlap
  none of the training chain's (:func:`ranges_overlap` checks it), so a held-out "target LR" set made
  with it tests generalisation to a degradation the models never saw.

:data:`DEGRADATIONS` maps names to functions with one signature ``fn(image, points, rng) ->
(image32, points32)``; :func:`degrade` is the entry point with a severity knob for notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import cv2
import numpy as np

from s2ld_core.geometry import resize_image, resize_points
from s2ld_core.pixels import subsample_F

__all__ = [
    "Range",
    "CameraChainConfig",
    "TRAIN_CAMERA",
    "TARGET_CAMERA",
    "DEGRADATIONS",
    "subsample_F",
    "bicubic_down",
    "sample_camera_params",
    "apply_camera_params",
    "camera_chain",
    "CameraFamily",
    "CAMERA_FAMILY",
    "random_camera",
    "sample_family_params",
    "scale_severity",
    "ranges_overlap",
    "motion_blur",
    "motion_kernel",
    "turbulence_field",
    "turbulence_warp",
    "degrade",
]

Range = tuple[float, float]
ChannelRanges = tuple[Range, Range, Range]
Points = np.ndarray | None
_CHANNELS = ("R", "G", "B")
LR_SIZE = 32


# --------------------------------------------------------------------------------------------- checks


def _check_image(image: np.ndarray, where: str) -> np.ndarray:
    """Refuse anything but the API-boundary image format rather than guessing a conversion."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{where}: expected a uint8 HxWx3 RGB image, got {img.dtype} of shape {img.shape}")
    return img


def _check_points(points: Points, where: str) -> Points:
    if points is None:
        return None
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{where}: expected points of shape (K, 2), got {pts.shape}")
    return pts


def _map_resize(points: Points, scale: tuple[float, float]) -> Points:
    return None if points is None else resize_points(points, scale[0], scale[1])


def _resize_interp(src_hw: tuple[int, int], size: int) -> int:
    """INTER_AREA integrates over the footprint when shrinking (no aliasing); cubic when growing."""
    return cv2.INTER_AREA if size * size < src_hw[0] * src_hw[1] else cv2.INTER_CUBIC


# ------------------------------------------------------------------------------------ F and bicubic


def bicubic_down(image: np.ndarray, points: Points = None, size: int = LR_SIZE) -> tuple[np.ndarray, Points]:
    """Bicubic resize to ``size x size``, the common synthetic LR degradation."""
    img = _check_image(image, "bicubic_down")
    pts = _check_points(points, "bicubic_down")
    out, scale = resize_image(img, size, cv2.INTER_CUBIC)
    return out, _map_resize(pts, scale)


def _pool_to(image: np.ndarray, points: Points, size: int = LR_SIZE) -> tuple[np.ndarray, Points]:
    """F-style downsample to ``size``: exact block mean when the factor is an integer, else INTER_AREA."""
    h, w = image.shape[:2]
    if h == w and h % size == 0:
        return subsample_F(image, points, h // size)
    out, scale = resize_image(image, size, cv2.INTER_AREA)
    return out, _map_resize(points, scale)


# ----------------------------------------------------------------------------------- camera chain


@dataclass(frozen=True)
class CameraChainConfig:
    """Parameter *ranges* ``(lo, hi)`` of a capture chain; each image samples one value per range.

    Units: ``blur_sigma`` in HR pixels (optics / defocus); ``lr_size`` is the side in pixels of the
    sensor image the face occupies (ints, inclusive); ``noise_sigma`` in 0-255 grey levels (sensor
    noise, per pixel and channel); ``jpeg_quality`` in 1-100 (``None`` disables compression);
    ``gain``/``offset`` are per-channel (R, G, B) ranges (white balance, black level), ``saturation``
    scales chroma about the luma, ``gamma`` is the tone curve exponent. ``final_size`` is the
    network input size the chain resizes back to.
    """

    blur_sigma: Range = (0.0, 1.0)
    lr_size: tuple[int, int] = (20, 28)
    noise_sigma: Range = (0.0, 3.0)
    jpeg_quality: tuple[int, int] | None = (60, 95)
    gain: ChannelRanges = ((0.92, 1.08),) * 3
    offset: ChannelRanges = ((-6.0, 6.0),) * 3
    saturation: Range = (0.85, 1.15)
    gamma: Range = (0.9, 1.1)
    final_size: int = LR_SIZE

    def __post_init__(self) -> None:
        for name in ("gain", "offset"):
            value = getattr(self, name)
            if len(value) != 3 or any(np.ndim(r) != 1 or len(r) != 2 for r in value):
                raise ValueError(
                    f"CameraChainConfig.{name}: expected three (lo, hi) ranges (R, G, B), got {value}"
                )
        for name, rng in self.ranges():
            if rng[0] > rng[1]:
                raise ValueError(f"CameraChainConfig.{name}: range {rng} has lo > hi")
        if self.lr_size[0] < 2 or self.final_size < 2:
            raise ValueError(f"CameraChainConfig: lr_size {self.lr_size} and final_size must be >= 2 px")
        if self.jpeg_quality is not None and not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100):
            raise ValueError(f"CameraChainConfig.jpeg_quality: {self.jpeg_quality} is outside 1..100")
        if self.blur_sigma[0] < 0 or self.noise_sigma[0] < 0 or self.gamma[0] <= 0:
            raise ValueError("CameraChainConfig: blur_sigma and noise_sigma must be >= 0 and gamma > 0")

    def ranges(self) -> list[tuple[str, Range]]:
        """Every scalar range with a readable name (``gain[G]`` for a channel); ``final_size`` is no range."""
        out: list[tuple[str, Range]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "final_size" or value is None:
                continue
            if f.name in ("gain", "offset"):
                out.extend((f"{f.name}[{c}]", tuple(r)) for c, r in zip(_CHANNELS, value))
            else:
                out.append((f.name, tuple(value)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, ready for YAML/JSON."""
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraChainConfig:
        """Inverse of :meth:`to_dict` (YAML gives lists; the dataclass is frozen on tuples)."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"CameraChainConfig: unknown fields {sorted(unknown)}")
        return cls(**{k: _tuplify(v) for k, v in data.items()})


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, (list, tuple)) else value


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, (list, tuple)) else value


TRAIN_CAMERA = CameraChainConfig()
"""A generic, mild capture chain: 20-28 px faces, light blur/noise, JPEG 60-95, near-neutral colour."""

TARGET_CAMERA = CameraChainConfig(
    blur_sigma=(1.2, 2.4),
    lr_size=(15, 19),
    noise_sigma=(3.5, 7.0),
    jpeg_quality=(30, 55),
    gain=((1.10, 1.22), (0.80, 0.90), (0.65, 0.85)),
    offset=((8.0, 20.0),) * 3,
    saturation=(0.40, 0.75),
    gamma=(1.15, 1.45),
)
"""The held-out target domain: tiny (15-19 px, TinyFace's typical size), blurry, noisy, heavily
compressed faces with a warm, washed-out colour cast (as from an old surveillance camera). Overlaps
nothing in :data:`TRAIN_CAMERA`."""


@dataclass(frozen=True)
class CameraFamily:
    """A broad random family of capture chains to train with, so that no one camera is learnt.

    Each face draws a chain from ``chain``'s wide ranges (any blur, size, noise, JPEG and colour a
    small face may come with), plus motion blur with probability ``motion_prob`` and conversion to
    grey with probability ``grey_prob``. Draws that fall inside ``exclude`` on all of ``exclude_on``
    (by default the held-out :data:`TARGET_CAMERA`'s blur, size, noise and JPEG ranges together) are
    drawn again, so the family never produces the held-out camera and a test on it stays held out.
    """

    chain: CameraChainConfig = CameraChainConfig(
        blur_sigma=(0.0, 2.6),
        lr_size=(12, 32),
        noise_sigma=(0.0, 9.0),
        jpeg_quality=(15, 95),
        gain=((0.85, 1.15),) * 3,
        offset=((-12.0, 12.0),) * 3,
        saturation=(0.5, 1.3),
        gamma=(0.75, 1.35),
    )
    grey_prob: float = 0.3
    motion_prob: float = 0.15
    motion_length: Range = (2.0, 8.0)  # HR (128 px) pixels, scaled with the input
    exclude: CameraChainConfig | None = TARGET_CAMERA
    exclude_on: tuple[str, ...] = ("blur_sigma", "lr_size", "noise_sigma", "jpeg_quality")

    def excluded(self, params: dict[str, Any]) -> bool:
        """Whether a drawn chain lies inside the excluded camera on every one of ``exclude_on``."""
        if self.exclude is None:
            return False
        box = dict(self.exclude.ranges())
        return all(
            params[name] is not None and box[name][0] <= params[name] <= box[name][1]
            for name in self.exclude_on
        )


CAMERA_FAMILY = CameraFamily()
"""Blur σ 0-2.6 HR px, 12-32 px faces, noise 0-9, JPEG 15-95, colour and gamma, 30 % grey, 15 % motion
blur; never the held-out target camera (see :class:`CameraFamily`)."""


def sample_family_params(family: CameraFamily, rng: np.random.Generator) -> dict[str, Any]:
    """One chain of ``family`` (:func:`sample_camera_params`), drawn again while it is excluded."""
    params = sample_camera_params(family.chain, rng)
    while family.excluded(params):
        params = sample_camera_params(family.chain, rng)
    return params


def random_camera(image: np.ndarray, points: Points, rng: np.random.Generator,
                  family: CameraFamily = CAMERA_FAMILY) -> tuple[np.ndarray, Points]:
    """One face through one chain drawn from ``family``: the randomised-degradation augmentation.

    The input may be any size; blur and motion lengths are given for 128 px faces and scaled to it.
    Points map exactly (only the two resizes move them).
    """
    img = _check_image(image, "random_camera")
    params = sample_family_params(family, rng)
    scale = img.shape[0] / 128.0
    params["blur_sigma"] *= scale
    if rng.random() < family.motion_prob:
        img, _ = motion_blur(img, None, rng, length=tuple(v * scale for v in family.motion_length))
    out, pts = apply_camera_params(img, points, params, rng)
    if rng.random() < family.grey_prob:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return out, pts


def ranges_overlap(a: CameraChainConfig, b: CameraChainConfig) -> list[str]:
    """Names of the ranges on which two chains overlap (closed intervals); ``[]`` means disjoint domains.

    A disabled JPEG stage (``None``) overlaps only another disabled one.
    """
    ra, rb = dict(a.ranges()), dict(b.ranges())
    out = [name for name in ra if name in rb and _closed_overlap(ra[name], rb[name])]
    if a.jpeg_quality is None and b.jpeg_quality is None:
        out.append("jpeg_quality")
    return out


def _closed_overlap(ra: Range, rb: Range) -> bool:
    return ra[0] <= rb[1] and rb[0] <= ra[1]


def sample_camera_params(config: CameraChainConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one value per range, in a fixed order so a seed always gives the same chain."""
    u = lambda r: float(rng.uniform(r[0], r[1]))
    return {
        "blur_sigma": u(config.blur_sigma),
        "lr_size": int(rng.integers(config.lr_size[0], config.lr_size[1] + 1)),
        "noise_sigma": u(config.noise_sigma),
        "jpeg_quality": (
            None if config.jpeg_quality is None
            else int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        ),
        "gain": [u(r) for r in config.gain],
        "offset": [u(r) for r in config.offset],
        "saturation": u(config.saturation),
        "gamma": u(config.gamma),
        "final_size": int(config.final_size),
    }


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return image if sigma <= 0 else cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def _add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    if sigma <= 0:
        return image
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, size=image.shape)
    return np.clip(np.floor(noisy + 0.5), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int | None) -> np.ndarray:
    """Round-trip through OpenCV's JPEG codec (with its default 4:2:0 chroma subsampling, like cameras)."""
    if quality is None:
        return image
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"camera_chain: OpenCV failed to JPEG-encode a {image.shape} image")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _colour_shift(image: np.ndarray, gain: list[float], offset: list[float], saturation: float,
                  gamma: float) -> np.ndarray:
    """Saturation about the Rec.601 luma, then per-channel gain/offset, then the gamma tone curve."""
    x = image.astype(np.float64)
    luma = x @ np.array([0.299, 0.587, 0.114])
    x = luma[..., None] + saturation * (x - luma[..., None])
    x = x * np.asarray(gain) + np.asarray(offset)
    x = 255.0 * (np.clip(x, 0.0, 255.0) / 255.0) ** gamma
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def apply_camera_params(image: np.ndarray, points: Points, params: dict[str, Any],
                        rng: np.random.Generator) -> tuple[np.ndarray, Points]:
    """Run the chain with fixed parameters: blur -> downscale -> noise -> JPEG -> colour -> resize.

    Only the geometric stages (the two resizes) move points; blur, noise, JPEG and colour act in
    place, so the points stay under the content they label.
    """
    img = _check_image(image, "camera_chain")
    pts = _check_points(points, "camera_chain")
    img = _gaussian_blur(img, params["blur_sigma"])
    lr = params["lr_size"]
    img, scale = resize_image(img, lr, _resize_interp(img.shape[:2], lr))
    pts = _map_resize(pts, scale)
    img = _add_noise(img, params["noise_sigma"], rng)
    img = _jpeg(img, params["jpeg_quality"])
    img = _colour_shift(img, params["gain"], params["offset"], params["saturation"], params["gamma"])
    final = params["final_size"]
    img, scale = resize_image(img, final, _resize_interp(img.shape[:2], final))
    return img, _map_resize(pts, scale)


def camera_chain(image: np.ndarray, points: Points, rng: np.random.Generator,
                 config: CameraChainConfig = TRAIN_CAMERA) -> tuple[np.ndarray, Points, dict[str, Any]]:
    """Simulate capturing a face with a camera described by ``config``; returns the 32x32 image, the
    mapped points and the sampled parameters (JSON-serialisable, to log what each image went through)."""
    params = sample_camera_params(config, rng)
    img, pts = apply_camera_params(image, points, params, rng)
    return img, pts, params


# Value of each range at which its stage does nothing: severity scales the distance from it.
def _neutral(config: CameraChainConfig) -> dict[str, float]:
    return {"blur_sigma": 0.0, "lr_size": float(config.final_size), "noise_sigma": 0.0, "jpeg_quality": 100.0,
            "gain": 1.0, "offset": 0.0, "saturation": 1.0, "gamma": 1.0}


_LIMITS: dict[str, tuple[float, float]] = {
    "blur_sigma": (0.0, math.inf), "lr_size": (4.0, math.inf), "noise_sigma": (0.0, math.inf),
    "jpeg_quality": (1.0, 100.0), "gain": (0.0, math.inf), "offset": (-255.0, 255.0),
    "saturation": (0.0, math.inf), "gamma": (0.1, 10.0),
}


def scale_severity(config: CameraChainConfig, strength: float) -> CameraChainConfig:
    """Move every range towards (``strength < 1``) or away from (``> 1``) its do-nothing value.

    ``strength=0`` gives a plain resize to ``final_size`` (JPEG off); ``1`` returns ``config``
    unchanged. Values are clipped to what the stage can take (e.g. at least 4 px, JPEG quality 1-100).
    """
    if strength < 0:
        raise ValueError(f"scale_severity: strength must be >= 0, got {strength}")
    if strength == 1.0:
        return config
    neutral = _neutral(config)

    def scale(name: str, rng: Range) -> tuple:
        lo, hi = _LIMITS[name]
        vals = [min(max(neutral[name] + (v - neutral[name]) * strength, lo), hi) for v in rng]
        return tuple(int(round(v)) for v in vals) if name in ("lr_size", "jpeg_quality") else tuple(vals)

    changes: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "final_size" or value is None:
            continue
        channelled = f.name in ("gain", "offset")
        changes[f.name] = tuple(scale(f.name, r) for r in value) if channelled else scale(f.name, value)
    if strength == 0:
        changes["jpeg_quality"] = None  # even quality 100 subsamples chroma; "no degradation" means no codec
    return replace(config, **changes)


# ----------------------------------------------------------------------------- motion, turbulence


def _draw(value: float | Range, rng: np.random.Generator) -> float:
    if isinstance(value, (tuple, list)):
        return float(rng.uniform(value[0], value[1]))
    return float(value)


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised line kernel of ``length`` px at ``angle_deg`` (counter-clockwise on screen).

    The line is sampled symmetrically about the kernel centre and splatted bilinearly, so its centroid
    is exactly the centre: the blur smears content without shifting it, and points need no change.
    """
    half = max(length, 1.0) / 2.0
    k = 2 * math.ceil(half) + 1
    c = k // 2
    t = np.linspace(-half, half, max(2, int(math.ceil(length * 8))))
    theta = math.radians(angle_deg)
    xs, ys = c + t * math.cos(theta), c - t * math.sin(theta)
    kernel = np.zeros((k, k), np.float64)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    corners = ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy))
    for dx, dy, wgt in corners:
        np.add.at(kernel, (np.clip(y0 + dy, 0, k - 1), np.clip(x0 + dx, 0, k - 1)), wgt)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_blur(image: np.ndarray, points: Points = None, rng: np.random.Generator | None = None,
                length: float | Range = (3, 9), angle: float | Range = (0, 180)) -> tuple[np.ndarray, Points]:
    """Linear motion blur; ``length``/``angle`` are values or ``(lo, hi)`` ranges sampled from ``rng``.

    Points come back unchanged (the kernel is centred). Without ``rng`` a fresh unseeded generator is
    used, so pass one whenever the result must be reproducible.
    """
    img = _check_image(image, "motion_blur")
    pts = _check_points(points, "motion_blur")
    rng = np.random.default_rng() if rng is None else rng
    size, theta = _draw(length, rng), _draw(angle, rng)
    if size < 1.0:
        return img.copy(), None if pts is None else pts.copy()
    out = cv2.filter2D(img, -1, motion_kernel(size, theta), borderType=cv2.BORDER_REFLECT_101)
    return out, None if pts is None else pts.copy()


def turbulence_field(shape: tuple[int, int], rng: np.random.Generator, strength: float,
                     scale: float) -> np.ndarray:
    """A smooth random displacement field ``(H, W, 2)``: white noise low-passed by a Gaussian of
    ``sigma = scale`` px, normalised to an RMS of ``strength`` px per axis.

    If the field would fold the image (its Jacobian norm reaching 1, where the warp stops being
    invertible and landmarks stop being well defined), it is shrunk to a Jacobian norm of 0.9.
    """
    h, w = shape
    noise = rng.standard_normal((h, w, 2)).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), sigmaX=scale, sigmaY=scale, borderType=cv2.BORDER_REFLECT_101)
    field = field.astype(np.float64)
    field *= strength / np.maximum(field.std(axis=(0, 1)), 1e-12)
    jac = [np.gradient(field[..., i]) for i in range(2)]  # each: (d/dy, d/dx)
    frob = np.sqrt(sum(g**2 for comp in jac for g in comp))
    if frob.max() >= 0.9:
        field *= 0.9 / frob.max()
    return field.astype(np.float32)


def _sample_bilinear(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear sample of an ``(H, W, C)`` field at float ``(x, y)`` points, clamped at the border."""
    h, w = field.shape[:2]
    x = np.clip(pts[:, 0], 0, w - 1)
    y = np.clip(pts[:, 1], 0, h - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), w - 2), np.minimum(np.floor(y).astype(int), h - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x0 + 1] * fx
    bottom = field[y0 + 1, x0] * (1 - fx) + field[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _invert_displacement(field: np.ndarray, pts: np.ndarray, iters: int = 100,
                         tol: float = 1e-5) -> np.ndarray:
    """Solve ``q + d(q) = p`` by fixed-point iteration ``q <- p - d(q)`` (a contraction: |grad d| < 1)."""
    p = pts.astype(np.float64)
    d = field.astype(np.float64)
    q = p.copy()
    for _ in range(iters):
        q_new = p - _sample_bilinear(d, q)
        if np.abs(q_new - q).max() < tol:
            return q_new
        q = q_new
    return q


def turbulence_warp(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 3.0,
                    scale: float = 24.0) -> tuple[np.ndarray, Points]:
    """Atmospheric-turbulence-like wobble: remap by a smooth random field (see :func:`turbulence_field`).

    ``cv2.remap`` samples the source at ``q + d(q)``, so the content at source point ``p`` lands at
    the ``q`` with ``q + d(q) = p``; points are moved by solving that equation, not by ``p - d(p)``.
    ``strength`` (RMS displacement, px) and ``scale`` (correlation length, px) are in this image's pixels.
    """
    img = _check_image(image, "turbulence_warp")
    pts = _check_points(points, "turbulence_warp")
    if strength <= 0 or img.shape[0] < 2 or img.shape[1] < 2:
        return img.copy(), None if pts is None else pts.copy()
    h, w = img.shape[:2]
    field = turbulence_field((h, w), rng, strength, scale)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(img, gx + field[..., 0], gy + field[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT_101)
    return out, None if pts is None else _invert_displacement(field, pts).astype(np.float32)


# ------------------------------------------------------------------------------------- registry


def _f(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 1.0):
    return _pool_to(_check_image(image, "F"), _check_points(points, "F"), LR_SIZE)


def _bicubic(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 1.0):
    return bicubic_down(image, points, LR_SIZE)


def _camera(config: CameraChainConfig) -> Callable[..., tuple[np.ndarray, Points]]:
    def run(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 1.0):
        img, pts, _ = camera_chain(image, points, rng, scale_severity(config, strength))
        return img, pts

    return run


def _motion(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 1.0):
    img, pts = motion_blur(image, points, rng, length=(3 * strength, 9 * strength))
    return _pool_to(img, pts, LR_SIZE)


def _turbulence(image: np.ndarray, points: Points, rng: np.random.Generator, strength: float = 1.0):
    img, pts = turbulence_warp(image, points, rng, strength=3.0 * strength * image.shape[0] / 128.0,
                               scale=24.0 * image.shape[0] / 128.0)
    return _pool_to(img, pts, LR_SIZE)


DEGRADATIONS: dict[str, Callable[..., tuple[np.ndarray, Points]]] = {
    "F": _f,
    "bicubic": _bicubic,
    "camera": _camera(TRAIN_CAMERA),
    "target-camera": _camera(TARGET_CAMERA),
    "camera-family": lambda image, points, rng, strength=1.0: random_camera(image, points, rng),
    "motion": _motion,
    "turbulence": _turbulence,
}
"""Name -> ``fn(image, points, rng) -> (image32, points32)``. Built-ins also take ``strength=``
(severity, 1 = default); an added entry needs that keyword only to be used with ``strength != 1``.
Motion and turbulence act at HR (their defaults are for 128 px faces, scaled with the image) and
then pool F-style to 32."""


def degrade(name: str, image: np.ndarray, points: Points, rng: np.random.Generator,
            strength: float = 1.0) -> tuple[np.ndarray, Points]:
    """Apply the registered degradation ``name``; ``strength`` scales severity where it means something
    (camera chains, motion length, turbulence amplitude) and is ignored by ``F`` and ``bicubic``."""
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(sorted(DEGRADATIONS))}")
    if strength < 0:
        raise ValueError(f"degrade: strength must be >= 0, got {strength}")
    fn = DEGRADATIONS[name]
    return fn(image, points, rng) if strength == 1.0 else fn(image, points, rng, strength=strength)
