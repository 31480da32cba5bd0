"""The data sets a study trains and scores on, assembled from the renderer, degradations and readers.

The embedded default mirrors the paper's roles with disjoint renderer identities:

* **labelled HR** (AFLW/300W's role): rendered 128² faces with their 68 points;
* **unlabelled target LR pool** (TinyFace training split's role): other identities, degraded by the
  held-out target camera; landmarks are withheld from training — only the identity labels are kept,
  as TinyFace has them, for the face-verification experiment;
* **labelled target LR test set** (ALRF's role): yet other identities through the same target camera,
  points mapped exactly. No labelled training image ever goes through the target camera.

Rendering is cached as ``.npz`` keyed by the parameters and the source of the modules that draw and
degrade, so a code change can never serve stale faces.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..geometry import apply_affine, resize_points, similarity_matrix, warp_image
from ..schemas import convert_points, get_schema
from .config import DataConfig
from .formats.errors import check_in_image
from .images import IMAGE_EXTENSIONS, MAX_CROP_SIDE, read_rgb

# Identity ranges of the three embedded roles; far apart so they can never meet.
TRAIN_ID_BASE, POOL_ID_BASE, TEST_ID_BASE = 0, 100_000, 200_000
VALIDATION_ID_BASE = 50_000  # choices (e.g. the default decoding) are made here, never on a test set
# the shipped LightCNN's training and held-out identities (scripts/train_lightcnn.py); 300k and 400k
# are the realism meter's and its benchmark's
LIGHTCNN_ID_BASE, LIGHTCNN_HELDOUT_ID_BASE = 600_000, 700_000


@dataclass
class LabelledFaces:
    """Face crops with landmarks: ``images`` (N,S,S,3) uint8, ``points`` (N,K,2), ``visible`` (N,K),
    ``identity`` (N,) (−1 when unknown), all in the named ``schema``."""

    images: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    identity: np.ndarray
    schema: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index) -> LabelledFaces:
        return LabelledFaces(
            self.images[index], self.points[index], self.visible[index], self.identity[index], self.schema
        )

    def to_schema(self, schema: str) -> LabelledFaces:
        pts, vis = convert_points(self.points, self.schema, schema, self.visible)
        return LabelledFaces(self.images, pts, vis, self.identity, get_schema(schema).name)

    def save_npz(self, path: str | Path) -> None:
        import io as _io

        from ..atomic import atomic_write_bytes

        buf = _io.BytesIO()
        np.savez_compressed(
            buf,
            images=self.images,
            points=self.points,
            visible=self.visible,
            identity=self.identity,
            schema=np.array(self.schema),
        )
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load_npz(cls, path: str | Path) -> LabelledFaces:
        with np.load(path) as z:
            return cls(z["images"], z["points"], z["visible"], z["identity"], str(z["schema"]))


# ----------------------------------------------------------------------------- embedded default


def _cache_dir(cfg: DataConfig) -> Path:
    root = cfg.cache_dir or os.environ.get("S2LD_CACHE") or Path.home() / ".cache" / "s2ld"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _code_fingerprint() -> str:
    from . import (
        degrade,
        face_model,
        render,
        render_canvas,
        render_light,
        render_person,
        render_photo,
        render_scene,
        render_texture,
    )

    digest = hashlib.sha1()
    # every module that draws a face (render.py is split by concern; render_photo is style v2,
    # render_texture style v3, whose texture points are data too)
    for module in (render, face_model, degrade, render_canvas, render_scene, render_person, render_light,
                   render_photo, render_texture):
        digest.update(inspect.getsource(module).encode())
    if render_texture.POINTS_FILE.exists():
        digest.update(render_texture.POINTS_FILE.read_bytes())
    return digest.hexdigest()[:10]


def _cached(cfg: DataConfig, name: str, params: tuple, build) -> LabelledFaces:
    key = hashlib.sha1(repr((name, params, _code_fingerprint())).encode()).hexdigest()[:16]
    path = _cache_dir(cfg) / f"{name}-{key}.npz"
    if path.exists():
        try:
            return LabelledFaces.load_npz(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a torn cache file is rebuilt, never trusted
    faces = build()
    faces.save_npz(path)
    return faces


def _render(first_id: int, identities: int, per_identity: int, seed: int, progress: bool,
            config=None, workers: int = 1) -> LabelledFaces:
    from .render import render_dataset

    fs = render_dataset(range(first_id, first_id + identities), per_identity, seed=seed, config=config,
                        progress=progress, workers=workers)
    return LabelledFaces(fs.images, fs.points, fs.visible, fs.identity, "ibug68")


def _through_target_camera(hr: LabelledFaces, seed: int) -> LabelledFaces:
    from .degrade import TARGET_CAMERA, camera_chain

    images, points = [], []
    for i in range(len(hr)):
        rng = np.random.default_rng([seed, 7_919, i])
        img, pts, _ = camera_chain(hr.images[i], hr.points[i], rng, TARGET_CAMERA)
        images.append(img)
        points.append(pts)
    pts = np.stack(points).astype(np.float32)
    size = images[0].shape[0]
    vis = hr.visible & np.all((pts > -0.5) & (pts < size - 0.5), axis=-1)
    return LabelledFaces(np.stack(images), pts, vis, hr.identity, hr.schema)


def embedded_train_hr(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """Labelled HR faces (128², 68 points) of the training identities, in ``cfg.schema``."""
    from .render import RenderConfig

    n, per = cfg.embedded_train_identities, cfg.embedded_images_per_identity
    look = RenderConfig(style=cfg.render_style, texture_prob=cfg.texture_prob,
                        conventions=cfg.render_conventions)
    # v1, the default, keeps its old key; another style or conventions are part of the key
    params = (n, per, seed)
    if cfg.render_style != "v1":
        params += (cfg.render_style, cfg.texture_prob)
    if cfg.render_conventions != "v1":
        params += ("conventions", cfg.render_conventions)
    faces = _cached(cfg, "train-hr", params,
                    lambda: _render(TRAIN_ID_BASE, n, per, seed, progress, look, cfg.render_workers))
    return faces.to_schema(cfg.schema)


def embedded_target_pool(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """The unlabelled target-LR pool (32²). Its points exist only so tests can check the set-up; no
    training code reads them — :func:`load_target_lr` hands out images alone."""
    n, per = cfg.embedded_pool_identities, cfg.embedded_pool_images_per_identity

    def build() -> LabelledFaces:
        return _through_target_camera(
            _render(POOL_ID_BASE, n, per, seed + 1, progress, workers=cfg.render_workers), seed + 1)

    return _cached(cfg, "target-pool", (n, per, seed), build).to_schema(cfg.schema)


def embedded_test_hr(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """The HR originals of the target-LR test faces (unseen identities, before the camera): G1 turns
    them into Table 1's generated-LR test set and HR-LD is scored on them (Table 5)."""
    return _test_hr(cfg, seed, progress).to_schema(cfg.schema)


def _test_hr(cfg: DataConfig, seed: int, progress: bool) -> LabelledFaces:
    n, per = cfg.embedded_test_identities, cfg.embedded_test_images_per_identity
    return _cached(cfg, "test-hr", (n, per, seed),
                   lambda: _render(TEST_ID_BASE, n, per, seed + 2, progress, workers=cfg.render_workers))


def embedded_validation(schema: str = "ibug68", identities: int = 40, per_identity: int = 5,
                        seed: int = 0, cache_dir: str | None = None) -> LabelledFaces:
    """A validation set to make choices on: renderer identities of their own, each face through a
    chain of the broad camera family (so no target-camera face, and no test face, ever decides)."""
    from .degrade import degrade

    def build() -> LabelledFaces:
        hr = _render(VALIDATION_ID_BASE, identities, per_identity, seed + 3, False)
        views = [degrade("camera-family", im, p, np.random.default_rng([seed, 3, i]))
                 for i, (im, p) in enumerate(zip(hr.images, hr.points))]
        pts = np.stack([v[1] for v in views]).astype(np.float32)
        return LabelledFaces(np.stack([v[0] for v in views]), pts, hr.visible, hr.identity, hr.schema)

    cfg = DataConfig(cache_dir=cache_dir)
    return _cached(cfg, "validation", (identities, per_identity, seed), build).to_schema(schema)


def embedded_target_test(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """The held-out labelled target-LR set (ALRF's stand-in): unseen identities, target camera."""
    n, per = cfg.embedded_test_identities, cfg.embedded_test_images_per_identity

    def build() -> LabelledFaces:
        return _through_target_camera(_test_hr(cfg, seed, progress), seed + 2)

    return _cached(cfg, "target-test", (n, per, seed), build).to_schema(cfg.schema)


# ----------------------------------------------------------------------------- real data sets


def _checked_points(path: Path, image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` if some are placed and all lie within one image size of ``image`` (read from
    ``path``), else a ``ValueError`` naming the file: no crop is ever sized from a broken file."""
    h, w = image.shape[:2]
    if not np.isfinite(points).all(axis=1).any():
        raise ValueError(f"{path}: no landmark is placed; nothing to crop around")
    problem = check_in_image(points, w, h)
    if problem:
        raise ValueError(f"{path}: a landmark {problem}")
    return points


def crop_face(image: np.ndarray, points: np.ndarray, size: int = 128, fill: float = 0.68):
    """Crop a square around the landmarks so their box spans ``fill`` of the side (as the renderer's
    faces do); returns ``(crop, points_in_crop)``."""
    pts = points[np.all(np.isfinite(points), axis=1)]
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()), 1.0) / fill
    centre = (lo + hi) / 2.0
    scale = size / side
    m = similarity_matrix(
        tuple(centre), 0.0, scale, translate=(size / 2.0 - 0.5 - centre[0], size / 2.0 - 0.5 - centre[1])
    )
    return warp_image(image, m, size, border=cv2.BORDER_CONSTANT), apply_affine(m, points)


def _image_beside(pts_path: Path) -> Path:
    for ext in IMAGE_EXTENSIONS:
        candidate = pts_path.with_suffix(ext)
        if candidate.exists():
            return candidate
    raise ValueError(f"{pts_path}: no image with the same name ({', '.join(IMAGE_EXTENSIONS)}) beside it")


def load_300w_folder(root: Path, size: int = 128) -> LabelledFaces:
    """Every ``*.pts`` under ``root`` with its image beside it (300W/iBUG layout), cropped to ``size``."""
    from .formats import read_pts

    files = sorted(root.rglob("*.pts"))
    if not files:
        raise ValueError(f"{root}: no .pts files found (expected the 300W/iBUG layout)")
    images, points = [], []
    for f in files:
        image = read_rgb(_image_beside(f))
        crop, pts = crop_face(image, _checked_points(f, image, read_pts(f, expected_points=68)), size)
        images.append(crop)
        points.append(pts)
    pts = np.stack(points)
    return LabelledFaces(
        np.stack(images), pts, np.ones(pts.shape[:2], bool), np.full(len(pts), -1, np.int64), "ibug68"
    )


def load_aflw_csv(csv_path: Path, size: int = 128) -> LabelledFaces:
    """AFLW-19 in HRNet's CSV layout; images are looked up beside the CSV or in an ``images/`` folder."""
    from .formats import read_aflw_csv

    images, points = [], []
    for rec in read_aflw_csv(csv_path):
        candidates = [csv_path.parent / rec.image, csv_path.parent / "images" / rec.image]
        path = next((c for c in candidates if c.exists()), candidates[0])
        image = read_rgb(path)
        crop, pts = crop_face(image, _checked_points(path, image, rec.points), size)
        images.append(crop)
        points.append(pts)
    if not images:
        raise ValueError(f"{csv_path}: the CSV lists no faces")
    pts = np.stack(points)
    return LabelledFaces(
        np.stack(images), pts, np.ones(pts.shape[:2], bool), np.full(len(pts), -1, np.int64), "aflw19"
    )


def _check_crop(image: np.ndarray, pts: np.ndarray, size: int, camera: str | None, rng) -> tuple:
    """One labelled real face as a check crop: at its native resolution area-downscaled to ``size``
    (``camera=None``), or a 128² crop through the degradation ``camera`` then brought to ``size``."""
    from .degrade import degrade

    if camera is None:  # native resolution, up to MAX_CROP_SIDE (it is area-reduced to size next)
        side = max(size, int(round(float((pts.max(0) - pts.min(0)).max()) / 0.68)))
        side = min(side, max(size, MAX_CROP_SIDE))
        crop, p = crop_face(image, pts, side)
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), resize_points(p, size / side)
    crop, p = crop_face(image, pts, 128)
    crop, p = degrade(camera, crop, p, rng)
    if crop.shape[0] != size:
        crop, p = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), resize_points(
            p, size / crop.shape[0])
    return crop, p


def _check_set(faces, size: int, camera: str | None, seed: int, what: str) -> LabelledFaces:
    """:func:`_check_crop` of every ``(image, points)`` of ``faces``; the camera is seeded per face
    by ``(seed, face index)``."""
    images, points = [], []
    for image, pts in faces:
        crop, p = _check_crop(image, pts, size, camera, np.random.default_rng([seed, len(images)]))
        images.append(crop)
        points.append(p)
    if not images:
        raise ValueError(f"{what}: no annotated faces")
    pts = np.stack(points).astype(np.float32)
    return LabelledFaces(np.stack(images), pts, np.ones(pts.shape[:2], bool), np.full(len(pts), -1), "ibug68")


def load_imglab_faces(xml_paths, size: int = 32, camera: str | None = None, seed: int = 0) -> LabelledFaces:
    """Faces of dlib imglab XML files (e.g. ``pascal-faces-68``) as ``size``² crops framed like the
    renders (:func:`crop_face`), for checking on real faces.

    ``camera=None``: the face at its native resolution, area-downscaled to ``size`` (no other
    degradation). ``camera="target-camera"`` (or any name in ``degrade.DEGRADATIONS``): a 128² crop
    through that degradation, seeded per face by ``(seed, face index)``.
    """
    from .formats import read_imglab_xml

    paths = [Path(p) for p in ([xml_paths] if isinstance(xml_paths, (str, Path)) else xml_paths)]

    def faces():
        cache = {}
        for xml in paths:
            for face in read_imglab_xml(xml, num_points=68):
                path = face.image_path(xml)
                if path not in cache:
                    cache[path] = read_rgb(path)
                yield cache[path], _checked_points(xml, cache[path], face.points)

    return _check_set(faces(), size, camera, seed, ", ".join(map(str, paths)))


def load_300w_check(root: str | Path, size: int = 32, camera: str | None = None,
                    seed: int = 0) -> LabelledFaces:
    """A 300-W folder's faces as check crops, like :func:`load_imglab_faces` (e.g. the held-out
    photos of pseudo-labelled real faces: the real validation set)."""
    from .formats import read_pts

    files = sorted(Path(root).rglob("*.pts"))
    if not files:
        raise ValueError(f"{root}: no .pts files found (expected the 300W/iBUG layout)")
    def faces():
        for f in files:
            image = read_rgb(_image_beside(f))
            yield image, _checked_points(f, image, read_pts(f, expected_points=68))

    return _check_set(faces(), size, camera, seed, str(root))


def mix_real_hr(rendered: LabelledFaces, real: LabelledFaces, share: float) -> LabelledFaces:
    """The labelled training set with ``real`` making up ``share`` of it: the real faces are tiled
    (each repeated as evenly as possible) beside every rendered face, so an epoch draws a real face
    with probability ``share`` while the renders keep their number and order."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"real_hr_share must be in [0, 1), got {share}")
    if share == 0.0 or len(real) == 0:
        return rendered
    n_real = max(1, int(round(len(rendered) * share / (1.0 - share))))
    tiled = real.subset(np.arange(n_real) % len(real))
    return LabelledFaces(
        np.concatenate([rendered.images, tiled.images]),
        np.concatenate([rendered.points, tiled.points]).astype(np.float32),
        np.concatenate([rendered.visible, tiled.visible]),
        np.concatenate([rendered.identity, np.full(n_real, -1, rendered.identity.dtype)]),
        rendered.schema,
    )


def hr_data_schema(spec: str) -> tuple[str, str] | None:
    """The schema the labelled faces at ``spec`` (``--hr-data``) are annotated in, and how that was
    seen, without loading them: ``None`` for ``embedded`` (the renderer's 68 points convert to any
    schema). Lets ``s2ld train`` take the schema from the data, or refuse a mismatch, in a moment
    rather than after reading every image."""
    if spec == "embedded":
        return None
    path = Path(spec)
    if path.is_dir():
        from .formats import read_pts

        first = next(iter(sorted(path.rglob("*.pts"))), None)
        if first is None:
            raise ValueError(f"{path}: no .pts files found (expected the 300W/iBUG layout)")
        n = len(read_pts(first))
        if n != 68:
            raise ValueError(f"{first}: {n} points; a 300W folder holds 68-point .pts files (ibug68)")
        return "ibug68", "68-point .pts files"
    if path.suffix.lower() == ".csv" and path.is_file():
        return "aflw19", "an AFLW-19 CSV"
    if path.suffix.lower() == ".npz" and path.is_file():
        with np.load(path) as z:
            if "schema" not in z:
                raise ValueError(f"{path}: not a labelled-faces .npz (no 'schema' array)")
            return str(z["schema"]), "the .npz's schema"
    raise ValueError(f"--hr-data {spec!r}: expected 'embedded', a 300W folder, an AFLW CSV or an .npz")


def _load_hr_data(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """Labelled HR training faces from ``cfg.hr_data`` in ``cfg.schema``."""
    spec = cfg.hr_data
    if spec == "embedded":
        return embedded_train_hr(cfg, seed, progress)
    hr_data_schema(spec)  # a missing path or a wrong point count: one line naming it
    path = Path(spec)
    if path.is_dir():
        faces = load_300w_folder(path, cfg.hr_size)
    elif path.suffix.lower() == ".csv":
        faces = load_aflw_csv(path, cfg.hr_size)
    else:
        faces = LabelledFaces.load_npz(path)
    try:
        return faces.to_schema(cfg.schema)
    except ValueError:
        raise ValueError(
            f"{spec}: holds {faces.schema} points, which cannot become {get_schema(cfg.schema).name} points"
        ) from None


def load_hr_faces(cfg: DataConfig, seed: int = 0, progress: bool = True) -> LabelledFaces:
    """Labelled HR training faces from ``cfg.hr_data`` in ``cfg.schema``, with ``cfg.real_hr``'s
    labelled real faces mixed in at ``cfg.real_hr_share`` (:func:`mix_real_hr`)."""
    faces = _load_hr_data(cfg, seed, progress)
    if not cfg.real_hr:
        return faces
    real = load_300w_folder(Path(cfg.real_hr).expanduser(), cfg.hr_size).to_schema(cfg.schema)
    return mix_real_hr(faces, real, cfg.real_hr_share)


def load_target_lr(cfg: DataConfig, seed: int = 0, progress: bool = True) -> np.ndarray:
    """Unlabelled target LR images (M, lr, lr, 3) uint8 from ``cfg.target_lr``."""
    if cfg.target_lr == "embedded":
        return embedded_target_pool(cfg, seed, progress).images
    from .sources import resolve_lr_source

    return np.asarray(resolve_lr_source(cfg.target_lr, size=cfg.lr_size).load_all())
