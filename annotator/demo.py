"""The live demo: find faces in a photo, shrink each to a low resolution, run S²LD and the baselines.

What it shows is the paper's point in one picture: on a 16-32 px face, S²LD (trained at that size)
beside the baselines a user would otherwise reach for -- "upscale, then a high-resolution landmark
detector" (HR-LD, the paper's Fig. 1c) and dlib's 68-point predictor on the crop upscaled ×4, each
where it is installed and trained. A baseline that is missing, or whose checkpoint says it was not
trained (under one epoch), is *named and left out* rather than drawn: a column of collapsed points
compares nothing.

The photo path is the project's one pipeline (:class:`s2ld_core.photo.PhotoLandmarker` with a
:class:`s2ld_core.faces.FaceFinder`): faces found, cropped square with the finder's measured framing
and black outside the photo, as the training crops are. The demo adds one hook, :class:`Shrink`: it
resizes each crop so the face is ``lr`` pixels wide before the model sees it (simulating distance),
keeps those LR crops for the panels, and maps the points back to the crop.

Markers are drawn at screen resolution on the magnified LR crop (a few pixels, one colour per model),
never into the LR pixels. The face cap is stated in the page and the user can raise it.
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

from s2ld_core.faces import LANDMARK_FILL, FaceBox, FaceFinder, Framing, make_face_finder
from s2ld_core.geometry import resize_points, to_rgb_uint8
from s2ld_core.photo import WHOLE_IMAGE_MAX_SIDE, PhotoLandmarker

__all__ = [
    "WHOLE_IMAGE_MAX_SIDE",
    "MAX_UPLOAD_SIDE",
    "DEFAULT_MAX_FACES",
    "MAX_FACES_LIMIT",
    "Models",
    "load_models",
    "describe_checkpoint",
    "Shrink",
    "FaceResult",
    "analyse",
    "face_panel",
    "contact_sheet",
    "overview",
    "results_markdown",
    "checkpoint_hint",
    "example_images",
    "load_upload",
    "demo_finder",
]

MAX_UPLOAD_SIDE = 4096  # larger uploads are refused (memory, and detection time on 2 cores)
DEFAULT_MAX_FACES = 12  # faces shown by default, largest first; the page says when there are more
MAX_FACES_LIMIT = 64  # what the "max faces" slider allows (the finder's own cap)
PANEL_SIZE = 224
DOT_RADIUS = 2.2  # screen pixels: small enough that 68 points on a 224 px panel stay apart
MODEL_COLORS = [(0, 230, 118), (255, 145, 0), (64, 156, 255), (236, 72, 153)]  # RGB, one per column
DLIB_UPSCALE = 4


def demo_finder() -> FaceFinder:
    """The project's face finder (``auto``), allowed to return up to :data:`MAX_FACES_LIMIT` faces."""
    return make_face_finder("auto", max_faces=MAX_FACES_LIMIT)


# --------------------------------------------------------------------------------------------------
# Models and their truthful names
# --------------------------------------------------------------------------------------------------


def checkpoint_hint() -> str:
    """The one command that trains a usable checkpoint (from ``s2ld_core.inference``)."""
    try:
        from s2ld_core.inference import default_checkpoint_hint
    except ImportError:
        return "s2ld study --profile quick"
    return default_checkpoint_hint()


_SETTING_TITLES = {
    "S1": ("S1 baseline", "G2 trained on average-pooled HR faces, heatmap loss only (eq. 12)"),
    "S2": ("S2", "G2 trained on G1's generated LR faces, heatmap loss only (eq. 12)"),
    "S3": ("S3", "G2 on G1's faces with D2 (eq. 12-13)"),
    "S4": ("S²LD (S4)", "the full method: G2 on G1's faces with D2 and D3 (eq. 15)"),
    "hrld": ("HR-LD", "G2 trained on 128² HR faces (the baseline of Fig. 1c)"),
}


def describe_checkpoint(blob: dict) -> tuple[str, str]:
    """``(name, detail)`` of a checkpoint from what it records: its setting, its LR augmentation and
    how long it trained -- e.g. ``("S1 baseline, camera-family", "G2 trained on … ; standard profile,
    7,200 steps (22 epochs)")``. Never "S²LD" for a model that is not the full method."""
    setting = str(blob.get("setting") or "?")
    title, what = _SETTING_TITLES.get(setting, (f"G2 ({setting})", "a stage-2 landmark network"))
    stage2 = ((blob.get("train_config") or {}).get("stage2") or {})
    augment = stage2.get("lr_augment")
    if augment and augment != "none":
        title += f", {augment}"
        what += f", with {augment} LR degradations"
    data = ((blob.get("train_config") or {}).get("data") or {})
    if data.get("real_hr"):
        share = float(data.get("real_hr_share") or 0.0)
        title += ", real faces"
        what += f"; {share:.0%} of its labelled faces real (an HR teacher's points)"
    extent = []
    if blob.get("profile"):
        extent.append(f"{blob['profile']} profile")
    if blob.get("steps") is not None:
        epochs = blob.get("epochs_done")
        extent.append(f"{int(blob['steps']):,} steps" + (f" ({epochs} epochs)" if epochs is not None else ""))
    return title, what + ("; " + ", ".join(extent) if extent else "")


def _undertrained(blob: dict) -> str | None:
    """Why a checkpoint is not a fair baseline (it records under one epoch of training), else ``None``."""
    epochs = blob.get("epochs_done")
    if isinstance(epochs, (int, float)) and epochs < 1:
        return f"trained {int(blob.get('steps') or 0):,} steps ({epochs} epochs): not converged"
    return None


@dataclass
class Models:
    """The demo's detectors. ``s2ld`` may be ``None``; ``baselines`` are the comparison columns that
    loaded and are trained, ``missing`` says for each other baseline why it is not shown.

    ``errors`` holds one line per checkpoint that was *named* and could not be loaded: the command
    line reports those in the terminal and stops before a server starts.
    """

    s2ld: object | None = None
    s2ld_name: str = ""
    s2ld_detail: str = ""
    baselines: list = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[tuple[str, object]]:
        """``(name, detector)`` for every column, S²LD first."""
        cols = [(self.s2ld_name, self.s2ld)] if self.s2ld is not None else []
        return cols + [(b.name, b) for b in self.baselines]

    @property
    def baseline(self):  # the first comparison column, for callers that knew only one
        return self.baselines[0] if self.baselines else None


def _named(path: str | os.PathLike[str], exc: Exception) -> str:
    """One line that names ``path`` whether or not the exception text already does."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


def _warm(model) -> None:
    """One throw-away prediction so the first real face is not charged PyTorch's start-up."""
    size = getattr(model, "input_size", None) or 32
    model.predict([np.zeros((size, size, 3), np.uint8)])


def _shipped() -> Path:
    from s2ld_core.inference import shipped_weights

    return shipped_weights("ibug68")


def _load_hrld(models: Models, base: Path, named: bool, device: str) -> None:
    from s2ld_core.checkpoints import load_checkpoint
    from s2ld_core.inference import UpscaleHRLDBaseline

    label = "upscale + HR-LD"
    if not base.is_file():
        models.missing.append(f"{label}: no HR-LD checkpoint ({base} not found; pass --baseline-checkpoint)")
        if named:
            models.errors.append(f"{base}: no such baseline checkpoint")
        return
    try:
        blob = load_checkpoint(base, "cpu", role="G2")
        det = UpscaleHRLDBaseline.from_checkpoint(base, device=device)
        _warm(det)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        models.missing.append(f"{label}: cannot load {base} ({' '.join(str(exc).split())})")
        if named:
            models.errors.append(_named(base, exc))
        return
    why = _undertrained(blob)
    if why:
        models.missing.append(f"{label}: {base.name} was {why}; its points would compare nothing")
        return
    det.name = f"{label} ({base.name})"
    models.baselines.append(det)


def _load_dlib(models: Models) -> None:
    """dlib's 68-point predictor on the crop upscaled ×4, where the project's wrapper and dlib's model
    are installed (``s2ld_core.inference.dlib68``)."""
    label = f"dlib 68 ×{DLIB_UPSCALE}"
    try:
        from s2ld_core.inference.dlib68 import Dlib68Baseline
    except ImportError as exc:
        reason = "this version has no s2ld_core.inference.dlib68" if "dlib68" in str(exc) else str(exc)
        models.missing.append(f"{label}: {reason}")
        return
    try:
        det = Dlib68Baseline()
        _warm(det)
    except Exception as exc:  # noqa: BLE001 - an optional baseline must never stop the demo
        models.missing.append(f"{label}: {' '.join(str(exc).split()) or type(exc).__name__}")
        return
    det.name = getattr(det, "name", None) or label
    models.baselines.append(det)


def load_models(
    checkpoint: str | os.PathLike[str] | None,
    baseline_checkpoint: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> Models:
    """Load the landmark model (``checkpoint``, else the shipped one) and the baselines: HR-LD from
    ``baseline_checkpoint`` (else ``hrld.pt`` next to the model) and dlib ×4. Failures become
    messages, not exceptions: the demo still finds and crops faces without a model."""
    models = Models()
    command, _, comment = checkpoint_hint().partition("(")  # "cmd   (what it writes)": code + prose
    hint = f"`{command.strip()}`" + (f" ({html.escape(comment.strip())}" if comment else "")
    if not checkpoint and _shipped().is_file():
        checkpoint = _shipped()  # the detector shipped inside the package
    if not checkpoint:
        models.messages.append(f"No landmark checkpoint loaded. Make one with {hint}, then pass "
                               "--checkpoint.")
        return models
    try:
        from s2ld_core.checkpoints import load_checkpoint
        from s2ld_core.inference import LandmarkDetector
    except ImportError as exc:
        models.messages.append(f"s2ld_core.inference is not importable ({exc}); no landmarks can be shown.")
        return models
    try:
        blob = load_checkpoint(checkpoint, "cpu", role="G2")
        models.s2ld = LandmarkDetector.from_checkpoint(checkpoint, device=device)
        _warm(models.s2ld)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        models.messages.append(f"Cannot load the checkpoint {checkpoint}: {exc}. Make one with {hint}.")
        models.errors.append(_named(checkpoint, exc))
        models.s2ld = None
        return models
    models.s2ld_name, models.s2ld_detail = describe_checkpoint(blob)
    models.s2ld.name = models.s2ld_name
    base = Path(baseline_checkpoint) if baseline_checkpoint else Path(checkpoint).with_name("hrld.pt")
    _load_hrld(models, base, bool(baseline_checkpoint), device)
    _load_dlib(models)
    return models


# --------------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------------


class Shrink:
    """The demo's hook between :class:`PhotoLandmarker` and a detector: each crop is resized to its
    entry of ``sides`` (``None``: kept) before ``detector`` sees it, the LR crops and LR points are
    kept, and the points go back to the crop's own pixels (``x → (x + 0.5)·s − 0.5``)."""

    def __init__(self, detector, sides: list[int | None]):
        self.detector, self.sides = detector, list(sides)
        self.schema = getattr(detector, "schema", "ibug68")
        self.crops: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.confidence: list[np.ndarray] = []
        self.seconds = 0.0

    def predict(self, crops):
        out_pts, out_conf = [], []
        lr = []
        for crop in crops:
            side = self.sides[len(self.crops) + len(lr)]
            h, w = crop.shape[:2]
            if side and max(h, w) != side:  # the longer side to ``side``, the shape kept
                s = side / max(h, w)
                size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
                interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
                crop = cv2.resize(crop, size, interpolation=interp)
            lr.append(np.ascontiguousarray(crop))
        t0 = time.perf_counter()
        pts, conf = self.detector.predict(lr) if self.detector is not None else _no_points(lr)
        self.seconds += time.perf_counter() - t0
        for crop, big, p, c in zip(lr, crops, pts, conf):
            p = np.asarray(p, np.float32)
            self.crops.append(crop)
            self.points.append(p)
            self.confidence.append(np.asarray(c, np.float32))
            out_pts.append(resize_points(p, big.shape[1] / crop.shape[1], big.shape[0] / crop.shape[0]))
            out_conf.append(c)
        return np.asarray(out_pts, np.float32), np.asarray(out_conf, np.float32)


def _no_points(crops):
    return np.full((len(crops), 0, 2), np.nan, np.float32), np.zeros((len(crops), 0), np.float32)


@dataclass
class Prediction:
    points: np.ndarray  # (K, 2) in LR-crop pixels
    confidence: np.ndarray  # (K,)
    ms: float  # per face, this model's share of the batch
    photo_points: np.ndarray | None = None  # (K, 2) mapped back to the photo's pixels


@dataclass
class FaceResult:
    """One face: its box in the photo, the square crop, the LR crop every model saw, and per model
    (by column name) what it predicted."""

    box: FaceBox
    crop_origin: tuple[float, float, float]  # (x0, y0, side) of the square crop in the photo
    crop: np.ndarray  # the LR crop (uint8 RGB)
    predictions: dict[str, Prediction] = field(default_factory=dict)

    @property
    def s2ld(self) -> Prediction | None:
        return next(iter(self.predictions.values()), None)


def _plan(
    image: np.ndarray, finder: FaceFinder | None, max_faces: int
) -> tuple[object, Framing | None, str, int]:
    """``(faces argument for PhotoLandmarker, framing, note, faces found)``: the largest ``max_faces``
    boxes, or ``"whole"`` for a face crop or when nothing is found."""
    h, w = image.shape[:2]
    if max(h, w) <= WHOLE_IMAGE_MAX_SIDE:
        return "whole", None, f"image is {w}x{h} px: treated as one face crop", 1
    if finder is None:
        return "whole", None, "no face finder: the whole image is treated as one face", 1
    boxes = finder.find(image)
    if not boxes:
        return "whole", None, f"{finder.name} found no face: the whole image is treated as one face", 1
    found = len(boxes)
    boxes = sorted(boxes, key=lambda b: -b.w * b.h)[:max_faces]
    more = "" if found <= len(boxes) else (
        f", showing the {len(boxes)} largest (raise “Max faces” to see more)")
    cap = " (the finder's limit)" if found >= finder.max_faces else ""
    return boxes, finder.framing, f"{found}{cap} face(s) found with {finder.name}{more}", found


def analyse(
    image: np.ndarray,
    lr_size: int | None,
    models: Models,
    finder: FaceFinder | None,
    max_faces: int = DEFAULT_MAX_FACES,
) -> tuple[list[FaceResult], str]:
    """Find faces, shrink each so the face is ``lr_size`` px wide (``None``: native), run every model.

    A face's width is its finder box's side; its crop is ``framing.scale`` times that, so a 24 px face
    sits in a ~33 px crop as the training faces do. A whole-image face crop is shrunk so that its
    landmark box would be ``lr_size`` (crop side ``lr_size / LANDMARK_FILL``).
    """
    img = to_rgb_uint8(image)
    if max(img.shape[:2]) > MAX_UPLOAD_SIDE:
        raise ValueError(f"image is {img.shape[1]}x{img.shape[0]} px; the demo accepts at most "
                         f"{MAX_UPLOAD_SIDE} px per side")
    if not 1 <= int(max_faces) <= MAX_FACES_LIMIT:
        raise ValueError(f"max faces must be 1-{MAX_FACES_LIMIT}, got {max_faces}")
    faces, framing, note, _ = _plan(img, finder, int(max_faces))
    if faces == "whole":
        boxes = [FaceBox(0, 0, img.shape[1], img.shape[0])]
        sides = [None if not lr_size else max(4, int(round(lr_size / LANDMARK_FILL)))]
    else:
        boxes = faces
        sides = [None if not lr_size else max(4, int(round(framing.scale * lr_size))) for _ in boxes]
    columns = models.columns or [("", None)]
    results: list[FaceResult] = []
    for c, (name, det) in enumerate(columns):
        hook = Shrink(det, sides)
        found = PhotoLandmarker(hook, None)(img, faces=faces, box_framing=framing)
        if c == 0:
            results = [FaceResult(f.box, f.crop, crop) for f, crop in zip(found.faces, hook.crops)]
        if det is None:
            continue
        ms = 1000.0 * hook.seconds / max(1, len(hook.crops))
        for res, pts, conf, face in zip(results, hook.points, hook.confidence, found.faces):
            res.predictions[name] = Prediction(pts, conf, ms, face.points)
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


def _dots(canvas: np.ndarray, points: np.ndarray, scale: float, color, radius: float = DOT_RADIUS) -> None:
    """Small filled dots with a dark rim at ``points`` (pixel centres of an image magnified ``scale``
    times), drawn in screen pixels with 1/16 px precision: ``u = (x + 0.5)·scale − 0.5``."""
    for x, y in np.asarray(points, np.float64):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = (int(round(((x + 0.5) * scale - 0.5) * 16)), int(round(((y + 0.5) * scale - 0.5) * 16)))
        cv2.circle(canvas, c, int(round((radius + 1) * 16)), (20, 20, 20), -1, cv2.LINE_AA, 4)
        cv2.circle(canvas, c, int(round(radius * 16)), color, -1, cv2.LINE_AA, 4)


def _titled(view: np.ndarray, title: str, subtitle: str) -> np.ndarray:
    w = view.shape[1]
    strip = np.full((46, w, 3), 255, np.uint8)
    cv2.putText(strip, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (25, 25, 25), 1, cv2.LINE_AA)
    cv2.putText(strip, subtitle, (6, 39), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (90, 90, 90), 1, cv2.LINE_AA)
    return np.concatenate([strip, view], axis=0)


def _view(crop: np.ndarray, pred: Prediction | None, color) -> tuple[np.ndarray, int]:
    """The LR crop magnified nearest-neighbour to fit :data:`PANEL_SIZE`, then the dots on top."""
    zoom = max(1, PANEL_SIZE // max(crop.shape[:2]))
    canvas = np.repeat(np.repeat(crop, zoom, 0), zoom, 1)
    if pred is not None:
        _dots(canvas, pred.points, zoom, color)
    pad_h, pad_w = PANEL_SIZE - canvas.shape[0], PANEL_SIZE - canvas.shape[1]
    if pad_h > 0 or pad_w > 0:
        canvas = cv2.copyMakeBorder(canvas, max(0, pad_h) // 2, max(0, pad_h) - max(0, pad_h) // 2,
                                    max(0, pad_w) // 2, max(0, pad_w) - max(0, pad_w) // 2,
                                    cv2.BORDER_CONSTANT, value=(245, 245, 245))
    return canvas, zoom


def _conf(pred: Prediction | None) -> str:
    """Mean confidence, or ``n/a`` for a model that gives none (dlib's predictor answers 1.0 for every
    point; no heatmap decoder does)."""
    if pred is None or not len(pred.confidence):
        return "–"
    if np.all(pred.confidence == 1.0):
        return "n/a"
    return f"{float(np.mean(pred.confidence)):.2f}"


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def face_panel(res: FaceResult, columns: list[str] | None = None) -> np.ndarray:
    """The LR crop once per model, magnified, each with that model's points (one colour per model)."""
    names = columns if columns is not None else list(res.predictions) or [""]
    h, w = res.crop.shape[:2]
    views = []
    for c, name in enumerate(names):
        pred = res.predictions.get(name)
        view, zoom = _view(res.crop, pred, MODEL_COLORS[c % len(MODEL_COLORS)])
        size = f"{w}x{h} px, x{zoom}"
        sub = f"{size}, no model" if pred is None or not len(pred.confidence) else (
            f"{size}, {pred.ms:.1f} ms, conf {_conf(pred)}")
        views.append(_titled(view, _short(name, 24) or "crop", sub))
    gap = np.full((views[0].shape[0], 8, 3), 255, np.uint8)
    out = views[0]
    for v in views[1:]:
        out = np.concatenate([out, gap, v], axis=1)
    return out


def contact_sheet(
    results: list[FaceResult], columns: list[str] | None = None, max_width: int = 1280
) -> np.ndarray:
    """Every face's panel (:func:`face_panel`) on one sheet, numbered, as many per row as fit in
    ``max_width``: shown at its own size in the page, so the dots stay the few pixels they were drawn."""
    tiles = []
    for i, r in enumerate(results):
        panel = face_panel(r, columns)
        strip = np.full((22, panel.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, f"face {i + 1}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (25, 25, 25), 1,
                    cv2.LINE_AA)
        tiles.append(np.concatenate([strip, panel], axis=0))
    if not tiles:
        return np.full((40, 200, 3), 255, np.uint8)
    th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    gap, top = 12, 30  # ``top``: room for the page's label over the picture
    per_row = max(1, (max_width + gap) // (tw + gap))
    rows = -(-len(tiles) // per_row)
    sheet = np.full((top + rows * (th + gap) - gap, min(len(tiles), per_row) * (tw + gap) - gap, 3), 255,
                    np.uint8)
    for i, t in enumerate(tiles):
        y, x = top + (i // per_row) * (th + gap), (i % per_row) * (tw + gap)
        sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
    return sheet


def overview(image: np.ndarray, results: list[FaceResult], max_side: int = 900) -> np.ndarray:
    """The photo with numbered face boxes and the first model's points mapped back to it, drawn at the
    screen resolution of the shown picture (small photos are magnified by an integer factor)."""
    img = to_rgb_uint8(image)
    big = max(img.shape[:2])
    s = max_side / big
    s = float(int(s)) if s >= 2 else min(1.0, s)
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))  # 4000x1 stays 1 px high
    out = cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST)
    thick = 1 if max(out.shape[:2]) < 500 else 2
    for i, r in enumerate(results):
        b = r.box
        p1 = (int(round(b.x * s)), int(round(b.y * s)))
        p2 = (int(round((b.x + b.w) * s)) - 1, int(round((b.y + b.h) * s)) - 1)
        cv2.rectangle(out, p1, p2, (255, 214, 0), thick, cv2.LINE_AA)
        cv2.putText(out, str(i + 1), (p1[0] + 2, max(10, p1[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 214, 0), 1, cv2.LINE_AA)
        pred = r.s2ld
        if pred is not None and pred.photo_points is not None:
            _dots(out, pred.photo_points, s, MODEL_COLORS[0], radius=1.4 if s < 2 else 1.8)
    return out


def results_markdown(
    results: list[FaceResult], note: str, models: Models, lr_size: int | None, max_faces: int | None = None
) -> str:
    """The model names (from their checkpoints), the baselines left out and why, the face count and
    cap, then a per-face table (box, crop, per-model time and confidence)."""
    size = f"faces shrunk to {lr_size} px wide (to simulate distance)" if lr_size else "native resolution"
    lines = [f"**Faces:** {note}. **Size:** {size}."]
    if models.s2ld is not None:
        lines.append(f"**Model:** {models.s2ld_name} — {models.s2ld_detail}.")
    if models.baselines:
        lines.append("**Compared with:** " + "; ".join(b.name for b in models.baselines) + ".")
    if models.missing:
        lines.append("**Not shown:** " + "; ".join(html.escape(m) for m in models.missing) + ".")
    lines += [f"> {m}" for m in models.messages]
    if not results:
        return "\n\n".join(lines)
    names = [n for n, _ in models.columns]
    head = "| face | box (x, y, w, h) | LR crop |" + "".join(f" {_short(n, 14)} ms | conf |" for n in names)
    rule = "| ---: | --- | ---: |" + " ---: | ---: |" * len(names)
    rows = []
    for i, r in enumerate(results):
        cells = [str(i + 1), f"{r.box.x:.0f}, {r.box.y:.0f}, {r.box.w:.0f}, {r.box.h:.0f}",
                 f"{r.crop.shape[1]}×{r.crop.shape[0]}"]
        for n in names:
            p = r.predictions.get(n)
            ok = p is not None and len(p.confidence)
            cells += [f"{p.ms:.1f}" if ok else "–", _conf(p)]
        rows.append("| " + " | ".join(cells) + " |")
    lines.append("\n".join([head, rule, *rows]))
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
