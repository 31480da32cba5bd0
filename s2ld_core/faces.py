"""Face finders for whole photos, and the framing that turns a finder's box into a landmark crop.

Why this module exists: S²LD's detector sees *face crops* framed like its training renders (the
landmark box spans :data:`LANDMARK_FILL` = 68 % of a square crop, see
``s2ld_core.data.datasets.crop_face``). A photo needs two steps before that: find the faces, then
cut each one out with that framing. Every user of photos (``s2ld predict --faces auto``, the
Python photo API in :mod:`s2ld_core.photo`, the demo and the annotator's pre-placement) goes
through :func:`make_face_finder`, so one fix serves all of them.

Only finders whose model ships inside an installed package are offered; nothing is downloaded:

* ``dlib`` — dlib's HOG + linear SVM frontal detector (compiled into dlib; the ``dlib-bin`` wheel,
  extra ``s2ld[faces]``), run on the photo up-sampled ×2 so its 80 px window reaches 40 px faces.
* ``lbp`` — scikit-image's bundled LBP frontal-face cascade (OpenCV's, 24 px window); always there.
* ``mediapipe`` — MediaPipe's BlazeFace full-range model, shipped in ``mediapipe`` ≤ 0.10.21 wheels
  (later wheels download their models, and all need ``opencv-contrib-python``, which clashes with
  the project's OpenCV): usable where it happens to be installed, never a dependency.
* ``haar`` — OpenCV's Haar cascade where the installed OpenCV still ships them (4.x wheels).

``benchmarks/bench_face_finders.py`` compares them on real photos with small faces and measured the
per-finder :class:`Framing` constants below; ``reports/face_finders.md`` has the table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "LANDMARK_FILL",
    "DEFAULT_FINDER",
    "FINDERS",
    "FaceBox",
    "Framing",
    "FaceFinder",
    "FinderUnavailable",
    "make_face_finder",
    "available_finders",
    "nms",
]

LANDMARK_FILL = 0.68  # landmark box side / crop side in the training renders (crop_face's ``fill``)
DEFAULT_FINDER = "dlib"  # the benchmark's pick (recall at 37-50 px); "auto" falls back to "lbp"
FINDERS = ("dlib", "lbp", "mediapipe", "haar")
# min_score when the caller gives none. dlib: the 43 PASCAL faces score 0.22-3.1 (photo ×2), the false
# box it puts on the astronaut's suit (skimage.data.astronaut) 0.12. None: keep what the finder keeps.
DEFAULT_MIN_SCORE: dict[str, float | None] = {"dlib": 0.15, "lbp": None, "mediapipe": None, "haar": None}


class FinderUnavailable(ImportError):
    """The requested finder's package is not installed; the message says what to install."""


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in photo pixels (``x, y`` top-left, continuous) and the finder's
    score (higher is surer; 1.0 where the finder gives none, or for boxes the user passed)."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0

    @classmethod
    def of(cls, box) -> FaceBox:
        """A :class:`FaceBox` from itself, ``(x, y, w, h[, score])`` or a dict with those keys."""
        if isinstance(box, FaceBox):
            return box
        if isinstance(box, dict):
            return cls(*(float(box[k]) for k in ("x", "y", "w", "h")), float(box.get("score", 1.0)))
        vals = [float(v) for v in box]
        if len(vals) not in (4, 5):
            raise ValueError(f"a face box is (x, y, w, h[, score]), got {len(vals)} numbers")
        if vals[2] <= 0 or vals[3] <= 0:
            raise ValueError(f"a face box needs a positive width and height, got {vals[2]}x{vals[3]}")
        return cls(*vals)

    def as_list(self) -> list[float]:
        return [round(self.x, 2), round(self.y, 2), round(self.w, 2), round(self.h, 2)]

    def iou(self, other: FaceBox) -> float:
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        return inter / (self.w * self.h + other.w * other.h - inter)


@dataclass(frozen=True)
class Framing:
    """How a finder's box maps to a square crop framed like the training renders.

    Crop side = ``scale`` × the box's larger side; crop centre = box centre + (``dx``·w, ``dy``·h).
    Measured, not guessed: for each finder, on the faces it found in ``pascal-faces-68``,
    ``scale`` = median(landmark-box side / box side) / :data:`LANDMARK_FILL` and ``dx, dy`` = median
    offset of the landmark-box centre from the box centre (``bench_face_finders.py --framing``).
    """

    scale: float
    dx: float = 0.0
    dy: float = 0.0

    def crop(self, box: FaceBox) -> tuple[float, float, float]:
        """``(cx, cy, side)`` of the square crop for ``box``."""
        side = self.scale * max(box.w, box.h)
        return box.x + box.w * (0.5 + self.dx), box.y + box.h * (0.5 + self.dy), side


# Measured by benchmarks/bench_face_finders.py on the 43 pascal-faces-68 faces (reports/face_finders.json).
# "boxes" is for boxes a user passes (dlib/imglab-style tight face boxes, like the XML's own).
FRAMINGS: dict[str, Framing] = {
    "boxes": Framing(1.39, 0.027, 0.068),  # the XML's own boxes (IQR of scale 1.29-1.47)
    "landmarks": Framing(round(1 / LANDMARK_FILL, 3)),  # boxes of annotated points: exact by definition
    "dlib": Framing(1.36, 0.044, 0.096),  # dlib HOG, photo ×2 (IQR 1.27-1.45)
    "lbp": Framing(1.27, 0.012, 0.144),  # boxes the inner face: smaller crop, centre lower
    "mediapipe": Framing(1.34, -0.001, 0.063),
    "haar": Framing(1.20, 0.015, 0.125),
}


def nms(boxes: list[FaceBox], iou_max: float = 0.3) -> list[FaceBox]:
    """Keep the best-scored of overlapping boxes (finders fire at neighbouring scales); a box mostly
    inside a kept one goes too. Ties on score keep the larger box."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: (-b.score, -b.w * b.h)):
        if all(b.iou(k) <= iou_max and _inside(b, k) < 0.8 for k in kept):
            kept.append(b)
    return kept


def _inside(b: FaceBox, k: FaceBox) -> float:
    ix = max(0.0, min(b.x + b.w, k.x + k.w) - max(b.x, k.x))
    iy = max(0.0, min(b.y + b.h, k.y + k.h) - max(b.y, k.y))
    return ix * iy / min(b.w * b.h, k.w * k.h)


@dataclass
class FaceFinder:
    """Finds faces in uint8 RGB photos. ``name`` says which finder, ``note`` is a sentence for people
    (why this one, or why a fallback), ``min_score`` drops weaker boxes, ``max_faces`` keeps the best."""

    name: str
    note: str
    framing: Framing
    min_score: float | None = None
    max_faces: int = 64
    _detect: object = None  # callable(rgb uint8, min_score) -> list[FaceBox]

    def find(self, image: np.ndarray) -> list[FaceBox]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"face finders take uint8 RGB photos, got {image.dtype} {image.shape}")
        boxes = nms(self._detect(image, self.min_score))
        if self.min_score is not None:
            boxes = [b for b in boxes if b.score >= self.min_score]
        return boxes[: self.max_faces]

    __call__ = find


# ------------------------------------------------------------------------------------------ finders


def _dlib(upsample: int = 1):
    try:
        import dlib
    except ImportError:
        raise FinderUnavailable(
            "face finder 'dlib' needs dlib: pip install 's2ld[faces]' (the dlib-bin wheel, no compiler)"
        ) from None
    detector = dlib.get_frontal_face_detector()

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        # adjust_threshold lowers the SVM's threshold (0) so that a user's negative min_score works
        rects, scores, _ = detector.run(image, upsample, min(0.0, min_score or 0.0))
        return [
            FaceBox(r.left(), r.top(), r.right() - r.left() + 1, r.bottom() - r.top() + 1, float(s))
            for r, s in zip(rects, scores)
        ]

    return detect, f"dlib's HOG frontal-face detector (photo up-sampled ×{2 ** upsample})"


def _lbp(upsample: int = 0):
    try:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        cascade = Cascade(lbp_frontal_face_cascade_filename())
    except (ImportError, OSError):
        raise FinderUnavailable("face finder 'lbp' needs scikit-image with its bundled cascade") from None
    s = 2.0**upsample

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        big = image if s == 1 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
        gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
        h, w = gray.shape
        found = cascade.detect_multi_scale(
            img=gray, scale_factor=1.15, step_ratio=1, min_size=(24, 24), max_size=(w, h),
            min_neighbor_number=4,
        )
        return [FaceBox(d["c"] / s, d["r"] / s, d["width"] / s, d["height"] / s) for d in found]

    return detect, "scikit-image's LBP frontal-face cascade"


def _mediapipe(model: int = 1):
    try:
        from mediapipe.python.solutions import face_detection
    except ImportError:
        raise FinderUnavailable(
            "face finder 'mediapipe' needs a mediapipe wheel that ships its face models (≤ 0.10.21)"
        ) from None
    nets: dict[float, object] = {}

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        thr = 0.5 if min_score is None else float(min_score)
        if thr not in nets:
            nets[thr] = face_detection.FaceDetection(model_selection=model, min_detection_confidence=thr)
        res = nets[thr].process(image)
        h, w = image.shape[:2]
        out = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            out.append(FaceBox(bb.xmin * w, bb.ymin * h, bb.width * w, bb.height * h, float(d.score[0])))
        return out

    return detect, f"MediaPipe BlazeFace ({'full' if model else 'short'}-range model)"


def _haar():
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "") or ""
    xml = Path(folder) / "haarcascade_frontalface_default.xml"
    if not (hasattr(cv2, "CascadeClassifier") and folder and xml.is_file()):
        raise FinderUnavailable("face finder 'haar' needs an OpenCV that ships its Haar cascades (4.x)")
    cascade = cv2.CascadeClassifier(str(xml))

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        rects, _, weights = cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=4, minSize=(24, 24), outputRejectLevels=True
        )
        return [FaceBox(*map(float, r), float(s)) for r, s in zip(rects, np.ravel(weights))]

    return detect, "OpenCV's Haar frontal-face cascade"


_MAKERS = {"dlib": _dlib, "lbp": _lbp, "mediapipe": _mediapipe, "haar": _haar}


def available_finders() -> list[str]:
    """The finders that can run here, in :data:`FINDERS` order."""
    out = []
    for name in FINDERS:
        try:
            _MAKERS[name]()
        except FinderUnavailable:
            continue
        out.append(name)
    return out


def make_face_finder(
    name: str = "auto", min_score: float | None = None, max_faces: int = 64, **options
) -> FaceFinder:
    """The finder ``name`` (one of :data:`FINDERS`), or ``"auto"``: :data:`DEFAULT_FINDER` if its
    package is installed, else scikit-image's LBP cascade with a ``note`` saying so.

    ``S2LD_FACE_FINDER`` in the environment overrides ``"auto"``. A named finder that is not
    installed raises :class:`FinderUnavailable` with the install command in one line.
    ``options`` go to the finder (``upsample`` for dlib/lbp, ``model`` 0/1 for mediapipe)."""
    if name == "auto":
        name = os.environ.get("S2LD_FACE_FINDER", "auto")
    if name == "auto":
        try:
            finder = make_face_finder(DEFAULT_FINDER, min_score, max_faces, **options)
        except FinderUnavailable as err:
            finder = make_face_finder("lbp", min_score, max_faces)
            finder.note += f" (fallback: {err})"
        return finder
    if name not in _MAKERS:
        raise ValueError(f"unknown face finder {name!r}; choose from auto, {', '.join(FINDERS)}")
    detect, note = _MAKERS[name](**options)
    score = DEFAULT_MIN_SCORE[name] if min_score is None else min_score
    return FaceFinder(name, note, FRAMINGS[name], score, max_faces, detect)


def with_framing(finder: FaceFinder, framing: Framing) -> FaceFinder:
    """A copy of ``finder`` that crops with ``framing`` (for calibration and experiments)."""
    return replace(finder, framing=framing)
