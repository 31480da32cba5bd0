"""The live demo: find faces in a photo, shrink each to a low resolution, run S²LD and a baseline.

What it shows is the paper's point in one picture: on a 16-32 px face, S²LD (trained at that size)
against "upscale, then run a high-resolution landmark detector" (Fig. 1c). Each face is cropped,
optionally downscaled to a chosen size to simulate distance, and both detectors get the same crop.

Faces are found by the project's face finder (:func:`s2ld_core.faces.make_face_finder`, the same
one ``s2ld predict`` and the photo API use: dlib's HOG detector, else scikit-image's LBP cascade; no
downloads) and cropped with that finder's measured framing. When nothing is found, the whole image is
treated as one face -- and the UI says so.
Images no larger than :data:`WHOLE_IMAGE_MAX_SIDE` are already face crops (LFW's 25x25) and skip
detection.
"""

from __future__ import annotations

import html
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from s2ld_core.geometry import resize_points, to_rgb_uint8

from .pictures import draw_markers

__all__ = [
    "WHOLE_IMAGE_MAX_SIDE",
    "MAX_UPLOAD_SIDE",
    "FaceBox",
    "FaceFinder",
    "make_face_finder",
    "Models",
    "load_models",
    "FaceResult",
    "analyse",
    "face_panel",
    "overview",
    "results_markdown",
    "checkpoint_hint",
    "example_images",
    "load_upload",
]

WHOLE_IMAGE_MAX_SIDE = 64  # images this small are face crops already
MAX_UPLOAD_SIDE = 4096  # larger uploads are refused (memory, and detection time on 2 cores)
MAX_FACES = 8
CROP_MARGIN = 1.25  # crop side / detector box side: cascades box the inner face, crops need the chin
PANEL_SIZE = 224


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in image pixels (``x, y`` top-left corner, continuous coordinates)."""

    x: float
    y: float
    w: float
    h: float
    scale: float = CROP_MARGIN  # crop side / box side: the finder's measured Framing
    dx: float = 0.0  # crop centre offset from the box centre, in box widths / heights
    dy: float = 0.0

    def square_crop(self, margin: float | None = None) -> tuple[int, int, int]:
        """``(x0, y0, side)`` of the square crop framed like the training faces (``margin`` overrides
        the finder's scale; 1.0 for a whole-image face)."""
        side = max(4, int(round(max(self.w, self.h) * (self.scale if margin is None else margin))))
        cx = self.x + self.w * (0.5 + (self.dx if margin is None else 0.0))
        cy = self.y + self.h * (0.5 + (self.dy if margin is None else 0.0))
        return int(round(cx - side / 2)), int(round(cy - side / 2)), side


@dataclass
class FaceFinder:
    """Finds faces with the best detector available; ``method`` and ``note`` say which one."""

    method: str
    note: str
    _detect: object = None

    def find(self, image: np.ndarray) -> tuple[list[FaceBox], str]:
        """Boxes (largest first, at most :data:`MAX_FACES`) and a sentence for the UI."""
        h, w = image.shape[:2]
        whole = [FaceBox(0, 0, w, h)]
        if max(h, w) <= WHOLE_IMAGE_MAX_SIDE:
            return whole, f"image is {w}x{h} px: treated as one face crop"
        if self._detect is None:
            return whole, self.note
        boxes = self._detect(image)
        if not boxes:
            return whole, f"{self.method} found no face: the whole image is treated as one face"
        boxes = sorted(boxes, key=lambda b: -b.w * b.h)[:MAX_FACES]
        return boxes, f"{len(boxes)} face(s) found with {self.method}"


def make_face_finder() -> FaceFinder:
    """The project's face finder (:mod:`s2ld_core.faces`), its boxes carrying its crop framing."""
    from s2ld_core.faces import make_face_finder as shared_finder

    finder = shared_finder("auto")
    fr = finder.framing

    def detect(image: np.ndarray) -> list[FaceBox]:
        return [FaceBox(b.x, b.y, b.w, b.h, fr.scale, fr.dx, fr.dy) for b in finder.find(image)]

    return FaceFinder(finder.name, finder.note, detect)


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def checkpoint_hint() -> str:
    """The one command that trains a usable checkpoint (from ``s2ld_core.inference``)."""
    try:
        from s2ld_core.inference import default_checkpoint_hint
    except ImportError:
        return "s2ld study --profile quick"
    return default_checkpoint_hint()


@dataclass
class Models:
    """The demo's detectors; either may be ``None``, and ``messages`` says why for the UI.

    ``errors`` holds one line per checkpoint that was *named* and could not be loaded: the command
    line reports those in the terminal and stops before a server starts.
    """

    s2ld: object | None = None
    baseline: object | None = None
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _named(path: str | os.PathLike[str], exc: Exception) -> str:
    """One line that names ``path`` whether or not the exception text already does."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


def _warm(model) -> None:
    """One throw-away prediction so the first real face is not charged PyTorch's start-up."""
    size = getattr(model, "input_size", 32)
    model.predict([np.zeros((size, size, 3), np.uint8)])


def _shipped() -> Path:
    from s2ld_core.inference import shipped_weights

    return shipped_weights("ibug68")


def load_models(
    checkpoint: str | os.PathLike[str] | None,
    baseline_checkpoint: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> Models:
    """Load S²LD and, for the baseline, an HR-LD checkpoint (``--baseline-checkpoint``, else a
    ``hrld.pt`` next to the S²LD checkpoint). Failures become messages, not exceptions: the demo
    still detects and crops faces without a model."""
    models = Models()
    command, _, comment = checkpoint_hint().partition("(")  # "cmd   (what it writes)": code + prose
    hint = f"`{command.strip()}`" + (f" ({html.escape(comment.strip())}" if comment else "")
    if not checkpoint and _shipped().is_file():
        checkpoint = _shipped()  # the detector shipped inside the package
    if not checkpoint:
        models.messages.append(f"No S²LD checkpoint loaded. Make one with {hint}, then pass --checkpoint.")
        return models
    try:
        from s2ld_core.inference import LandmarkDetector, UpscaleHRLDBaseline
    except ImportError as exc:
        models.messages.append(f"s2ld_core.inference is not importable ({exc}); no landmarks can be shown.")
        return models
    try:
        models.s2ld = LandmarkDetector.from_checkpoint(checkpoint, device=device)
        _warm(models.s2ld)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        models.messages.append(f"Cannot load S²LD checkpoint {checkpoint}: {exc}. Make one with {hint}.")
        models.errors.append(_named(checkpoint, exc))
        return models
    base = Path(baseline_checkpoint) if baseline_checkpoint else Path(checkpoint).with_name("hrld.pt")
    if not base.is_file():
        models.messages.append(
            f"No HR-LD checkpoint for the baseline ({base} not found); pass --baseline-checkpoint."
        )
        if baseline_checkpoint:
            models.errors.append(f"{base}: no such baseline checkpoint")
        return models
    try:
        models.baseline = UpscaleHRLDBaseline.from_checkpoint(base, device=device)
        _warm(models.baseline)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        models.messages.append(f"Cannot load the baseline checkpoint {base}: {exc}")
        if baseline_checkpoint:
            models.errors.append(_named(base, exc))
    return models


# --------------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------------


@dataclass
class Prediction:
    points: np.ndarray  # (K, 2) in LR-crop pixels
    confidence: np.ndarray  # (K,)
    ms: float


@dataclass
class FaceResult:
    """One face: where it is, the LR crop both detectors saw, and what each predicted."""

    box: FaceBox
    crop_origin: tuple[int, int, int]  # (x0, y0, side) of the square crop in the photo
    crop: np.ndarray  # the LR crop (uint8 RGB), after the optional downscale
    s2ld: Prediction | None = None
    baseline: Prediction | None = None


def _crop(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """Square crop that may leave the image: the outside is filled by edge replication."""
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return np.ascontiguousarray(image[y0:y0 + side, x0:x0 + side])


def _predict(model, crop: np.ndarray) -> Prediction:
    t0 = time.perf_counter()
    pts, conf = model.predict([crop])
    ms = 1000.0 * (time.perf_counter() - t0)
    return Prediction(np.asarray(pts[0], np.float32), np.asarray(conf[0], np.float32), ms)


def analyse(
    image: np.ndarray, lr_size: int | None, models: Models, finder: FaceFinder
) -> tuple[list[FaceResult], str]:
    """Detect faces, make LR crops (``lr_size`` px, or native when ``None``) and run both detectors."""
    img = to_rgb_uint8(image)
    if max(img.shape[:2]) > MAX_UPLOAD_SIDE:
        raise ValueError(f"image is {img.shape[1]}x{img.shape[0]} px; the demo accepts at most "
                         f"{MAX_UPLOAD_SIDE} px per side")
    boxes, note = finder.find(img)
    h, w = img.shape[:2]
    results = []
    for box in boxes:
        whole = (box.w, box.h) == (w, h)  # a face crop already, or detection fell back: no margin
        x0, y0, side = box.square_crop(1.0 if whole else None)
        crop = _crop(img, x0, y0, side)
        if lr_size and crop.shape[0] != lr_size:
            interp = cv2.INTER_AREA if crop.shape[0] > lr_size else cv2.INTER_CUBIC
            crop = cv2.resize(crop, (lr_size, lr_size), interpolation=interp)
        res = FaceResult(box, (x0, y0, side), crop)
        if models.s2ld is not None:
            res.s2ld = _predict(models.s2ld, crop)
        if models.baseline is not None:
            res.baseline = _predict(models.baseline, crop)
        results.append(res)
    return results, note


def load_upload(payload) -> np.ndarray:
    """Decode an uploaded photo (Gradio's file payload, a path, or an array) to uint8 RGB.

    The app hands us the raw upload (``preprocess=False``) so that a file that is not an image, or
    one too large, is refused with one readable sentence instead of a PIL traceback. The size is
    read from the header first, so a small file claiming huge dimensions is never decoded.
    """
    if isinstance(payload, np.ndarray):
        return to_rgb_uint8(payload)
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path:
        raise ValueError("no photo: upload one, take a webcam snapshot, or pick an example")
    name = (payload.get("orig_name") if isinstance(payload, dict) else None) or Path(path).name
    from s2ld_core.data.images import decode_rgb, image_size

    try:
        w, h = image_size(path)  # the project's one guarded reader: header first, real size
    except ValueError:
        raise ValueError(f"{name}: not an image this demo can read (PNG, JPEG, BMP, TIFF, WebP)") from None
    if max(w, h) > MAX_UPLOAD_SIDE:
        raise ValueError(f"{name}: {w}x{h} px is too large; at most {MAX_UPLOAD_SIDE} px per side")
    try:
        return decode_rgb(Path(path).read_bytes(), name)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the upload ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------------------------------
# Pictures and text
# --------------------------------------------------------------------------------------------------


def _titled(view: np.ndarray, title: str, subtitle: str) -> np.ndarray:
    w = view.shape[1]
    strip = np.full((46, w, 3), 255, np.uint8)
    cv2.putText(strip, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.52, (25, 25, 25), 1, cv2.LINE_AA)
    cv2.putText(strip, subtitle, (6, 39), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (90, 90, 90), 1, cv2.LINE_AA)
    return np.concatenate([strip, view], axis=0)


def _view(crop: np.ndarray, pred: Prediction | None) -> tuple[np.ndarray, int]:
    zoom = max(1, PANEL_SIZE // max(crop.shape[:2]))
    canvas = np.repeat(np.repeat(crop, zoom, 0), zoom, 1)
    if pred is not None:
        k = len(pred.points)
        canvas = draw_markers(canvas, [list(p) for p in pred.points], [True] * k, zoom, labels=k <= 19)
    pad_h, pad_w = PANEL_SIZE - canvas.shape[0], PANEL_SIZE - canvas.shape[1]
    if pad_h > 0 or pad_w > 0:
        canvas = cv2.copyMakeBorder(canvas, max(0, pad_h) // 2, max(0, pad_h) - max(0, pad_h) // 2,
                                    max(0, pad_w) // 2, max(0, pad_w) - max(0, pad_w) // 2,
                                    cv2.BORDER_CONSTANT, value=(245, 245, 245))
    return canvas, zoom


def face_panel(res: FaceResult) -> np.ndarray:
    """LR crop magnified (nearest) with S²LD's points | the same crop with the baseline's points."""
    side = res.crop.shape[0]
    views = []
    for title, pred in (("S2LD", res.s2ld), ("upscale + HR-LD", res.baseline)):
        view, zoom = _view(res.crop, pred)
        if pred is None:
            sub = "no model loaded"
        else:
            sub = f"{pred.ms:.1f} ms, conf {float(np.mean(pred.confidence)):.2f}"
        views.append(_titled(view, f"{title} ({side}px, x{zoom})", sub))
    gap = np.full((views[0].shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([views[0], gap, views[1]], axis=1)


def overview(image: np.ndarray, results: list[FaceResult], max_side: int = 720) -> np.ndarray:
    """The photo with numbered face boxes and S²LD's points mapped back from the LR crops."""
    img = to_rgb_uint8(image)
    s = min(1.0, max_side / max(img.shape[:2]))
    if max(img.shape[:2]) <= WHOLE_IMAGE_MAX_SIDE:
        s = float(PANEL_SIZE // max(img.shape[:2]))
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))  # 4000x1 stays 1 px high
    out = cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST)
    for i, r in enumerate(results):
        b = r.box
        p1 = (int(round(b.x * s)), int(round(b.y * s)))
        p2 = (int(round((b.x + b.w) * s)) - 1, int(round((b.y + b.h) * s)) - 1)
        cv2.rectangle(out, p1, p2, (255, 214, 0), 2, cv2.LINE_AA)
        cv2.putText(out, str(i + 1), (p1[0] + 3, p1[1] + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 214, 0), 2, cv2.LINE_AA)
        if r.s2ld is not None:
            x0, y0, side = r.crop_origin
            crop_scale = side / r.crop.shape[0]
            pts = resize_points(r.s2ld.points, crop_scale) + np.array([x0, y0], np.float32)
            pts = resize_points(pts, s)
            for x, y in pts:
                cv2.circle(out, (int(round(x * 16)), int(round(y * 16))), 2 * 16, (0, 255, 120), -1,
                           cv2.LINE_AA, 4)
    return out


def results_markdown(results: list[FaceResult], note: str, models: Models, lr_size: int | None) -> str:
    """Per-face table (size, times, confidence) plus the detector and model notes."""
    size = f"{lr_size} px (downscaled to simulate distance)" if lr_size else "native resolution"
    lines = [f"**Faces:** {note}. **LR crop:** {size}."]
    lines += [f"> {m}" for m in models.messages]
    if not results:
        return "\n\n".join(lines)
    lines.append("| face | box in photo (x, y, w, h) | crop | S²LD ms | S²LD conf | baseline ms |\n"
                 "| ---: | --- | ---: | ---: | ---: | ---: |\n" + "\n".join(
                     f"| {i + 1} | {r.box.x:.0f}, {r.box.y:.0f}, {r.box.w:.0f}, {r.box.h:.0f} | "
                     f"{r.crop.shape[0]} px | "
                     f"{'–' if r.s2ld is None else f'{r.s2ld.ms:.1f}'} | "
                     f"{'–' if r.s2ld is None else f'{float(np.mean(r.s2ld.confidence)):.2f}'} | "
                     f"{'–' if r.baseline is None else f'{r.baseline.ms:.1f}'} |"
                     for i, r in enumerate(results)))
    return "\n\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Bundled examples
# --------------------------------------------------------------------------------------------------


def _write_png(path: Path, image: np.ndarray) -> Path:
    from s2ld_core.atomic import atomic_write_bytes

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{path}: OpenCV failed to encode a PNG")
    atomic_write_bytes(path, buf.tobytes())
    return path


def _scene_background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A plain 'room': a vertical wall gradient, a window and a shelf, lightly noisy."""
    t = np.linspace(0, 1, h)[:, None, None]
    wall = (1 - t) * np.array([214, 206, 190]) + t * np.array([150, 140, 128])
    img = np.broadcast_to(wall, (h, w, 3)).copy()
    img[int(h * 0.08):int(h * 0.45), int(w * 0.62):int(w * 0.92)] = (196, 222, 240)
    img[int(h * 0.72):int(h * 0.76), :] = (110, 84, 60)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hang_portrait(scene: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> None:
    """Hang a square portrait at ``(x, y)``: the face resized to ``side`` px inside a dark frame."""
    border = max(2, side // 16)
    cv2.rectangle(scene, (x - border, y - border), (x + side + border - 1, y + side + border - 1),
                  (70, 52, 38), -1)
    scene[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)


def _rendered_faces(n: int, seed: int) -> list[np.ndarray]:
    """Near-frontal procedural faces (the project's renderer), or none if it is not available."""
    try:
        from s2ld_core.data.render import RenderConfig, render_face, sample_identity
    except ImportError:
        return []
    cfg = RenderConfig.plain(yaw_range=(-12.0, 12.0), pitch_range=(-6.0, 6.0), roll_range=(-6.0, 6.0),
                             ambient_range=(0.55, 0.7))
    rng = np.random.default_rng(seed)
    return [to_rgb_uint8(render_face(sample_identity(i, seed), rng, cfg).image) for i in range(n)]


def _lfw() -> np.ndarray:
    try:
        from s2ld_core.data.sources import lfw_faces

        return lfw_faces()
    except ImportError:
        from skimage.data import lfw_subset

        return np.stack([to_rgb_uint8(x) for x in lfw_subset()[:100]])


def _scene_example(path: Path) -> Path | None:
    faces = _rendered_faces(6, seed=7)[1:5]  # identities 1-4 are clearly frontal and varied
    if not faces:
        return None
    scene = _scene_background(300, 480, np.random.default_rng(3))
    frames = ((24, 40, 136), (186, 60, 96), (306, 86, 68), (400, 100, 50))  # x, y, side
    for face, (x, y, side) in zip(faces, frames):
        _hang_portrait(scene, face, x, y, side)
    return _write_png(path, scene)


def _astronaut_example(path: Path) -> Path:
    from skimage.data import astronaut

    return _write_png(path, cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA))


def example_images(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the demo's bundled examples (once; existing files are reused) and return their paths.

    * ``scene_rendered.png`` -- a wall of four framed, procedurally rendered portraits whose faces
      are about 100, 70, 50 and 35 px wide (the project's renderer, so no data is downloaded);
    * ``astronaut.png`` -- scikit-image's astronaut photo (a real face, about 90 px);
    * ``lfw_*.png`` -- real 25x25 LFW faces (native low resolution).

    Examples are a convenience: one that cannot be made is skipped with a warning, never fatal.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    makers = [("scene_rendered.png", _scene_example), ("astronaut.png", _astronaut_example)]
    makers += [(f"lfw_{i:03d}.png", lambda p, i=i: _write_png(p, _lfw()[i])) for i in (0, 11, 42)]
    paths = []
    for name, make in makers:
        path = out / name
        if not path.is_file():
            try:
                if make(path) is None:
                    continue
            except Exception as exc:  # noqa: BLE001 - an example must never stop the app from starting
                warnings.warn(f"demo example {name} skipped: {type(exc).__name__}: {exc}", stacklevel=2)
                continue
        paths.append(path)
    return paths
