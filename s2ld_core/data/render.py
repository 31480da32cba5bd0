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
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ..geometry import resize_points
from .face_model import Identity, build_face, sample_identity
from .render_canvas import _ellipse, catmull_rom
from .render_light import _light
from .render_person import (
    _Ctx,
    _draw_bangs,
    _draw_clothes,
    _draw_curtains,
    _draw_ears,
    _draw_face,
    _draw_fringe,
    _draw_glasses,
    _draw_hair_back,
    _draw_hair_cap,
    _draw_hand,
    _draw_neck,
    _drawn,
    _face_regions,
    _visibility,
)
from .render_scene import RenderedFace, _background, _params, _place, _sample_scene

__all__ = [
    "RenderConfig",
    "RenderedFace",
    "FaceSet",
    "Identity",
    "sample_identity",
    "render_face",
    "render_dataset",
    "image_rng",
    "catmull_rom",
    "save_preview",
    "main",
    "STYLES",
]

STYLES = ("v1", "v2", "v3")


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
    # paper-faithful data stay reproducible; "v2": the photo-like renderer of :mod:`.render_photo`;
    # "v3": v1 with the face's interior taken from a real unlabelled LFW face (:mod:`.render_texture`).
    style: str = "v1"
    # v3 only: the share of images textured, and which LFW faces may lend their skin (None: all 100)
    texture_prob: float = 1.0
    texture_faces: tuple[int, ...] | None = None
    # v3: where the skin comes from: None, LFW's grey faces; a 300-W folder (image + 68-point .pts per
    # face, e.g. pseudo-labelled real colour faces), colour skin (render_texture.folder_texture_pool)
    texture_source: str | None = None
    # v3: how much of the drawn light's shading a textured face gets (0: only the photo's own light)
    texture_light: float = 0.0
    # where the points sit on the face (a key of face_model.CONVENTIONS): "v1" as first drawn,
    # "300w" moved to match real annotation (jaw, lower-face height, brows)
    conventions: str = "v1"

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
    if cfg.style not in STYLES:
        raise ValueError(f"RenderConfig.style: unknown style {cfg.style!r}; choose one of "
                         f"{', '.join(STYLES)}")
    if cfg.style == "v2":
        from .render_photo import render_face_photo

        return render_face_photo(identity, rng, cfg)
    # v3 draws from its own child generator, so its scenes, points and visibility are v1's
    texture_rng = rng.spawn(1)[0] if cfg.style == "v3" else None
    scene = _sample_scene(rng, cfg)
    geo = build_face(identity, scene.expression, cfg.conventions)
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
    textured = texture_rng is not None and texture_rng.random() < cfg.texture_prob
    _draw_face(ctx, vis_geo, regions, features=not textured)  # a texture will cover drawn features
    if textured:
        from .render_texture import folder_texture_pool, paint_real_texture, texture_pool

        faces = None if cfg.texture_faces is None else tuple(cfg.texture_faces)  # a list from a config
        pool = (texture_pool(faces) if cfg.texture_source is None
                else folder_texture_pool(cfg.texture_source, faces))
        paint_real_texture(ctx, pool)
        # the texture was lit when it was photographed: the drawn light would shade it twice
        scene.ambient = 1.0 - cfg.texture_light * (1.0 - scene.ambient)
        scene.specular *= cfg.texture_light
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
    params["style"], params["textured"] = cfg.style, textured
    return RenderedFace(image, points, visible, identity.identity_id, params)


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
    workers: int = 1,
) -> FaceSet:
    """``images_per_identity`` renders of each identity, deterministic in ``seed``.

    Identities come from population ``identity_seed`` (fixed by default), so identity ``k`` is the
    same person in every data set; ``seed`` only changes the photos. ``workers > 1`` renders blocks
    of identities in that many processes; every image has its own generator (:func:`image_rng`), so
    the result is byte-for-byte the one process's.
    """
    cfg = config or RenderConfig()
    ids = [int(i) for i in identity_ids]
    if workers > 1 and len(ids) > 1:
        return _render_parallel(ids, images_per_identity, seed, cfg, progress, identity_seed, workers)
    return _render_block(ids, images_per_identity, seed, cfg, identity_seed, progress)


def _render_block(ids: list[int], images_per_identity: int, seed: int, cfg: RenderConfig,
                  identity_seed: int, progress: bool = False) -> FaceSet:
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


def _render_parallel(ids: list[int], images_per_identity: int, seed: int, cfg: RenderConfig,
                     progress: bool, identity_seed: int, workers: int) -> FaceSet:
    """Blocks of identities in ``workers`` spawned processes, reassembled in order. Spawned, not
    forked: a fork inherits the parent's OpenCV and PyTorch thread pools mid-state and can hang. A
    spawned worker re-imports the caller's ``__main__`` file, so from code that has none on disk
    (``python - < script``) the blocks are rendered here, in one process."""
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        return _render_block(ids, images_per_identity, seed, cfg, identity_seed, progress)
    blocks = [b.tolist() for b in np.array_split(np.asarray(ids), min(len(ids), 8 * workers)) if len(b)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ids) * images_per_identity, desc=f"rendering faces ({workers} processes)",
                   unit="face")
    parts: list[FaceSet] = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_render_block, b, images_per_identity, seed, cfg, identity_seed)
                   for b in blocks]
        for b, fut in zip(blocks, futures):
            parts.append(fut.result())
            if bar is not None:
                bar.update(len(b) * images_per_identity)
    if bar is not None:
        bar.close()
    return FaceSet(*(np.concatenate([getattr(p, k) for p in parts])
                     for k in ("images", "points", "visible", "identity")))


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
    ap.add_argument("--style", default="v1", choices=STYLES,
                    help="drawn (v1), photo-like (v2) or drawn with real LFW skin (v3)")
    args = ap.parse_args(argv)
    cfg = RenderConfig.plain(style=args.style) if args.plain else RenderConfig(style=args.style)
    print(save_preview(args.out, args.n, args.seed, cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
