"""Face finders for whole photos, and the framing that turns a finder's box into a landmark crop.

Why this module exists: S²LD's detector sees *face crops* framed like its training renders (the
landmark box spans :data:`LANDMARK_FILL` = 68 % of a square crop, see
``s2ld_core.data.datasets.crop_face``). A photo needs two steps before that: find the faces, then
cut each one out with that framing. Every user of photos (``s2ld predict --faces auto``, the
Python photo API in :mod:`s2ld_core.photo`, the demo and the annotator's pre-placement) goes
through :func:`make_face_finder`, so one fix serves all of them.

Only finders whose model ships inside the project or an installed package are offered; nothing is
downloaded:

* ``s2ld+dlib`` (the default) — the project's small-face network (:mod:`s2ld_core.small_faces`,
  weights in the package) proposes faces from 12 px up over an octave pyramid, and dlib's HOG
  detector checks each proposal on a small patch scaled so the face is 90 px. dlib's precision and
  box shape at every face size, for the price of a few patches instead of a photo up-sampled ×5.
* ``s2ld`` — the network alone (only torch): the fallback of ``auto`` without dlib.
* ``dlib`` — dlib's HOG + linear SVM frontal detector (compiled into dlib; the ``dlib-bin`` wheel,
  extra ``s2ld[faces]``) on the photo up-sampled ×2 (``scale``), so its 80 px window reaches 40 px
  faces; ``min_face``/``max_megapixels`` up-sample by the face size sought, within a pixel budget.
* ``mmod`` — dlib's CNN face detector, where ``face-recognition-models`` ships its weights.
* ``lbp`` — scikit-image's bundled LBP frontal-face cascade (OpenCV's, 24 px window); always there.
* ``mediapipe`` — MediaPipe's BlazeFace full-range model, shipped in ``mediapipe`` ≤ 0.10.21 wheels
  (later wheels download their models, and all need ``opencv-contrib-python``, which clashes with
  the project's OpenCV): usable where it happens to be installed, never a dependency.
* ``haar`` — OpenCV's Haar cascade where the installed OpenCV still ships them (4.x wheels).

Boxes are in pixel-corner coordinates (pixel ``i`` spans ``[i, i + 1]``), in which resizing a photo
by ``s`` multiplies every box by ``s``: the boxes of a smaller photo give the same crops.
``benchmarks/bench_face_finders.py`` compares the finders on the PASCAL photos shrunk so their faces
are 16, 24 and 32 px and at native size, and measured the per-finder :class:`Framing` constants
below; ``docs/face-finders.md`` has the table.
"""

from __future__ import annotations

import math
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
    "match_boxes",
]

LANDMARK_FILL = 0.68  # landmark box side / crop side in the training renders (crop_face's ``fill``)
DEFAULT_FINDER = "s2ld+dlib"  # bench_face_finders.py: the fastest that finds 16-24 px faces
# when the default cannot run (dlib not installed): the network alone needs only torch
FALLBACK_FINDERS = ("s2ld", "lbp")
FINDERS = ("s2ld", "s2ld+dlib", "dlib", "mmod", "lbp", "mediapipe", "haar")
# min_score when the caller gives none. dlib: the 43 PASCAL faces score 0.22-3.1 (photo ×2), the false
# box it puts on the astronaut's suit (skimage.data.astronaut) 0.12. s2ld+dlib: dlib's own threshold,
# the one the network's training boxes were found with. None: keep what the finder keeps (s2ld: the
# threshold chosen on held-out real-faces photos, stored with its weights).
DEFAULT_MIN_SCORE: dict[str, float | None] = {
    "s2ld": None, "s2ld+dlib": 0.0, "dlib": 0.15, "mmod": None, "lbp": None, "mediapipe": None, "haar": None,
}


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


# Measured by benchmarks/bench_face_finders.py on the 43 pascal-faces-68 faces, in pixel-corner
# coordinates (reports/face_finders.json: per size and pooled). The network's finders are pooled over
# 16, 24, 32 px and native, where they agree (s2ld+dlib: scale 1.39-1.41, dy 0.10-0.11 at every
# size), so a face gets the same crop at any resolution; dlib ×2 and mmod ×2 at native size, where
# their boxes are reliable (dlib ×2's scale falls to 1.13 at 24 px, where only its largest window
# fires). mediapipe and haar were measured with an OpenCV 4 / mediapipe environment (points at pixel
# centres, which moves dx, dy by about 0.01). "boxes" is for boxes a user passes (dlib/imglab-style
# tight face boxes, like the XML's own).
FRAMINGS: dict[str, Framing] = {
    "boxes": Framing(1.391, 0.041, 0.081),  # the XML's own boxes (IQR of scale 1.29-1.47)
    "landmarks": Framing(round(1 / LANDMARK_FILL, 3)),  # boxes of annotated points: exact by definition
    "s2ld+dlib": Framing(1.407, 0.057, 0.109),  # IQR of scale 1.32-1.48
    "s2ld": Framing(1.432, 0.023, 0.090),  # IQR 1.38-1.52
    "dlib": Framing(1.37, 0.034, 0.098),  # dlib HOG, photo ×2 (IQR 1.26-1.45)
    "mmod": Framing(1.36, 0.062, 0.156),  # photo ×2 (IQR 1.25-1.53)
    "lbp": Framing(1.268, 0.019, 0.156),  # boxes the inner face: smaller crop, centre lower
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


def match_boxes(found: list[FaceBox], truth: list[FaceBox], iou_min: float = 0.4) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best score first: ``(found index, truth index)`` pairs whose IoU is
    at least ``iou_min`` (how the benchmark and the finder's training score boxes)."""
    pairs, used = [], set()
    for i in sorted(range(len(found)), key=lambda i: -found[i].score):
        ious = [(found[i].iou(t), j) for j, t in enumerate(truth) if j not in used]
        if ious and max(ious)[0] >= iou_min:
            j = max(ious)[1]
            used.add(j)
            pairs.append((i, j))
    return pairs


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


def _resized(image: np.ndarray, f: float) -> tuple[np.ndarray, float, float]:
    """``image`` scaled by about ``f`` (area averaging down, bilinear up) and the exact factors per
    axis; boxes found in it divide by them (pixel-corner coordinates scale exactly)."""
    if f == 1.0:
        return image, 1.0, 1.0
    h, w = image.shape[:2]
    size = (max(1, round(w * f)), max(1, round(h * f)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    return out, size[0] / w, size[1] / h


DLIB_WINDOW = 80  # px: the side of the faces dlib's frontal HOG detector sees at its finest scale


def _import_dlib(name: str):
    try:
        import dlib
    except ImportError:
        raise FinderUnavailable(
            f"face finder {name!r} needs dlib: pip install 's2ld[faces]' (the dlib-bin wheel, no compiler)"
        ) from None
    return dlib


def _dlib_rects(detector, image: np.ndarray, f: float, min_score: float | None) -> list[FaceBox]:
    """dlib's HOG boxes of ``image`` scaled by ``f``, in ``image``'s pixel-corner coordinates (a dlib
    rectangle ``left … right`` covers ``[left, right + 1)``)."""
    big, fx, fy = _resized(image, f)
    # adjust_threshold lowers the SVM's threshold (0) so that a caller's negative min_score works
    rects, scores, _ = detector.run(big, 0, min(0.0, min_score or 0.0))
    return [
        FaceBox(r.left() / fx, r.top() / fy, (r.right() - r.left() + 1) / fx, (r.bottom() - r.top() + 1) / fy,
                float(s))
        for r, s in zip(rects, scores)
    ]


def _dlib_scale(
    image: np.ndarray, scale: float, min_face: float | None, max_megapixels: float | None
) -> float:
    """The up-sampling for one photo: ``scale``, or with ``min_face`` enough to bring a face of that
    side to dlib's 80 px window, capped so the up-sampled photo stays within ``max_megapixels``."""
    f = scale if min_face is None else DLIB_WINDOW / min_face
    if max_megapixels is not None:
        f = min(f, math.sqrt(max_megapixels * 1e6 / (image.shape[0] * image.shape[1])))
    return max(f, 1.0) if min_face is not None else f


def _dlib(upsample: int | None = None, scale: float = 2.0, min_face: float | None = None,
          max_megapixels: float | None = None):
    dlib = _import_dlib("dlib")
    detector = dlib.get_frontal_face_detector()
    if upsample is not None:
        scale = 2.0**upsample

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        return _dlib_rects(detector, image, _dlib_scale(image, scale, min_face, max_megapixels), min_score)

    if min_face is None:
        how = f"photo up-sampled ×{scale:g}"
    else:
        how = f"photo up-sampled to bring {min_face:g} px faces to its 80 px window"
        how += f", at most {max_megapixels:g} megapixels" if max_megapixels else ""
    return detect, f"dlib's HOG frontal-face detector ({how})"


def mmod_model_file() -> Path | None:
    """dlib's CNN face detector, as the ``face-recognition-models`` package ships it (found without
    importing the package, whose ``__init__`` needs ``pkg_resources``), or ``None``."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "models" / "mmod_human_face_detector.dat"
        if path.is_file():
            return path
    return None


def _mmod(scale: float = 1.0):
    dlib = _import_dlib("mmod")
    path = mmod_model_file()
    if path is None:
        raise FinderUnavailable(
            "face finder 'mmod' needs dlib's CNN model: pip install face-recognition-models (and dlib-bin)"
        )
    net = dlib.cnn_face_detection_model_v1(str(path))

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        big, fx, fy = _resized(image, scale)
        found = net(big, 0)
        return [
            FaceBox(d.rect.left() / fx, d.rect.top() / fy, (d.rect.right() - d.rect.left() + 1) / fx,
                    (d.rect.bottom() - d.rect.top() + 1) / fy, float(d.confidence))
            for d in found
        ]

    return detect, f"dlib's CNN (MMOD) face detector (photo ×{scale:g})"


def _small_net():
    """The project's small-face network and its metadata, loaded once per process."""
    global _SMALL_NET
    if _SMALL_NET is None:
        from .small_faces import WEIGHTS, load_small_face_net

        if not WEIGHTS.is_file():
            raise FinderUnavailable(f"face finder 's2ld' needs its weights, {WEIGHTS}, which are missing")
        _SMALL_NET = load_small_face_net(WEIGHTS)
    return _SMALL_NET


_SMALL_NET = None


def _s2ld(top: float = 1.0):
    net, meta = _small_net()

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        import torch

        from .small_faces import find_small_faces

        with _torch_threads(torch):
            found = find_small_faces(net, image, meta["alone_threshold"] if min_score is None else min_score,
                                     top=top)
        return [FaceBox(cx - sd / 2, cy - sd / 2, sd, sd, sc) for cx, cy, sd, sc in found]

    return detect, "the project's small-face CNN (faces from 12 px; octave pyramid)"


VERIFY_SIDE = 90.0  # px: a proposal's face is scaled to this side for dlib (its window is 80 px)
VERIFY_CONTEXT = 1.6  # the patch dlib checks, in proposal sides


def _s2ld_dlib(top: float = 1.0):
    """Proposals of the small-face CNN, each checked by dlib's HOG detector on a patch scaled so the
    face is :data:`VERIFY_SIDE` px: dlib's precision and box shape at any face size, for the price
    of a few small patches instead of a photo up-sampled ×5."""
    dlib = _import_dlib("s2ld+dlib")
    detector = dlib.get_frontal_face_detector()
    net, meta = _small_net()

    def detect(image: np.ndarray, min_score: float | None) -> list[FaceBox]:
        import torch

        from .small_faces import find_small_faces

        with _torch_threads(torch):
            found = find_small_faces(net, image, meta["proposal_threshold"], top=top)
        proposals = nms([FaceBox(cx - sd / 2, cy - sd / 2, sd, sd, sc) for cx, cy, sd, sc in found])
        h, w = image.shape[:2]
        out = []
        for p in proposals:
            half = VERIFY_CONTEXT * p.w / 2
            cx, cy = p.x + p.w / 2, p.y + p.h / 2
            x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
            x1, y1 = min(w, math.ceil(cx + half)), min(h, math.ceil(cy + half))
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            boxes = _dlib_rects(detector, image[y0:y1, x0:x1], VERIFY_SIDE / p.w, min_score)
            boxes = [replace(b, x=b.x + x0, y=b.y + y0) for b in boxes]
            boxes = [b for b in boxes if b.iou(p) >= 0.25]
            if boxes:
                out.append(max(boxes, key=lambda b: b.score))
        return out

    return detect, "the project's small-face CNN, each face checked by dlib's HOG detector"


class _torch_threads:
    """Run the finder's network on one torch thread: on a 640×480 photo its layers are too small to
    share (measured on 2 cores: 35 ms with one thread, 180-780 ms with two when the other core is
    busy), and the landmark detector can use the other core."""

    def __init__(self, torch):
        self.torch, self.old = torch, None

    def __enter__(self):
        self.old = self.torch.get_num_threads()
        self.torch.set_num_threads(1)

    def __exit__(self, *exc):
        self.torch.set_num_threads(self.old)


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


_MAKERS = {
    "s2ld": _s2ld, "s2ld+dlib": _s2ld_dlib, "dlib": _dlib, "mmod": _mmod, "lbp": _lbp,
    "mediapipe": _mediapipe, "haar": _haar,
}


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
    """The finder ``name`` (one of :data:`FINDERS`), or ``"auto"``: :data:`DEFAULT_FINDER` if it can
    run here, else the first of :data:`FALLBACK_FINDERS` that can, with a ``note`` saying so.

    ``S2LD_FACE_FINDER`` in the environment overrides ``"auto"``. A named finder that cannot run
    raises :class:`FinderUnavailable` with what to install in one line. ``options`` go to the
    finder (``scale``, ``min_face``, ``max_megapixels`` for dlib; ``top`` for s2ld; ``upsample`` for
    lbp; ``model`` 0/1 for mediapipe)."""
    if name == "auto":
        name = os.environ.get("S2LD_FACE_FINDER", "auto")
    if name == "auto":
        try:
            return make_face_finder(DEFAULT_FINDER, min_score, max_faces, **options)
        except FinderUnavailable as err:
            first_error = err
        for fallback in FALLBACK_FINDERS:
            try:
                finder = make_face_finder(fallback, min_score, max_faces)
            except FinderUnavailable:
                continue
            finder.note += f" (fallback: {first_error})"
            return finder
        raise first_error
    if name not in _MAKERS:
        raise ValueError(f"unknown face finder {name!r}; choose from auto, {', '.join(FINDERS)}")
    detect, note = _MAKERS[name](**options)
    score = DEFAULT_MIN_SCORE[name] if min_score is None else min_score
    return FaceFinder(name, note, FRAMINGS[name], score, max_faces, detect)


def with_framing(finder: FaceFinder, framing: Framing) -> FaceFinder:
    """A copy of ``finder`` that crops with ``framing`` (for calibration and experiments)."""
    return replace(finder, framing=framing)
