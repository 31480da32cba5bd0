"""Photo in, landmarks out: find every face in a photo, run the landmark detector, return points in
the photo's own pixels.

Why a layer above :class:`~s2ld_core.inference.LandmarkDetector`: the detector sees face *crops*
framed like its training renders (landmark box = 68 % of a square crop). People hand over whole
photos, so this module finds the faces (:mod:`s2ld_core.faces`), cuts each one out with the finder's
measured :class:`~s2ld_core.faces.Framing`, runs all crops of all photos as one batch, and maps the
points back::

    landmarker = PhotoLandmarker(LandmarkDetector.pretrained("ibug68"))
    result = landmarker("photo.jpg")                 # or an RGB array, a PIL image, or a list of them
    result.faces[0].box, result.faces[0].points, result.faces[0].confidence, result.faces[0].score
    landmarker(photo, faces=[(x, y, w, h)])          # boxes you already have (face-alignment's
                                                     # ``detected_faces``); ``faces="whole"``: the photo
                                                     # is one face crop

A :class:`PhotoResult` renders itself inline in Jupyter (``_repr_png_``), serialises with
``to_dict`` and gives aligned crops with ``aligned(size)``.

**Inputs** are whatever :func:`s2ld_core.data.images.image_from` takes (a path, read through the
guarded reader with its pixel limit; a PIL image; an array or tensor by the stated dtype rules).
**Boxes** you pass are checked before anything is cropped: a :class:`~s2ld_core.faces.FaceBox`,
``(x, y, w, h[, score])`` or a dict with those keys, finite, ``w, h > 0``, and within one photo size
of the photo (``-W <= x``, ``x + w <= 2W``, likewise for y); anything else is a ``ValueError`` naming
the box. A crop larger than :data:`MAX_CROP_SIDE` px is cut from a downscaled copy of the photo (the
detector sees a 32² or 128² version of it anyway), so no box can make a crop cost gigabytes.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from numbers import Real

import cv2
import numpy as np

from .data.images import MAX_CROP_SIDE, image_from
from .faces import FRAMINGS, FaceBox, FaceFinder, Framing, make_face_finder
from .geometry import resize_points
from .pixels import crop_square

__all__ = ["Face", "PhotoResult", "PhotoLandmarker", "load_photo", "crop_square", "MAX_CROP_SIDE"]

WHOLE_IMAGE_MAX_SIDE = 64  # with faces="auto", photos this small are taken to be face crops already


def load_photo(photo, what: str = "photo") -> np.ndarray:
    """uint8 RGB from a path, a PIL image, an array or a tensor (the rules of
    :func:`s2ld_core.data.images.image_from`)."""
    return image_from(photo, what)


def _box_of(box, index: int, width: int, height: int) -> FaceBox:
    """A checked :class:`FaceBox` for a box a caller passed (module docstring: the rules)."""
    where = f"box {index + 1}"
    if isinstance(box, FaceBox):
        vals = [box.x, box.y, box.w, box.h, box.score]
    elif isinstance(box, dict):
        missing = [k for k in ("x", "y", "w", "h") if k not in box]
        if missing:
            raise ValueError(f"{where} {box!r}: a box dict needs x, y, w, h; missing {', '.join(missing)}")
        vals = [box[k] for k in ("x", "y", "w", "h")] + [box.get("score", 1.0)]
    elif isinstance(box, (list, tuple, np.ndarray)) and len(box) in (4, 5):
        vals = list(box) + ([1.0] if len(box) == 4 else [])
    else:
        raise ValueError(f"{where} {box!r:.60}: a box is (x, y, w, h[, score]), a dict or a FaceBox")
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"{where} {box!r:.60}: coordinates must be numbers")
    x, y, w, h, score = (float(v) for v in vals)
    if not all(math.isfinite(v) for v in (x, y, w, h, score)):
        raise ValueError(f"{where} {box!r:.60}: coordinates must be finite")
    if w <= 0 or h <= 0:
        raise ValueError(f"{where} {box!r:.60}: needs a positive width and height")
    if x < -width or y < -height or x + w > 2 * width or y + h > 2 * height:
        raise ValueError(f"{where} ({x:g}, {y:g}, {w:g}, {h:g}) lies more than one photo size outside the "
                         f"{width}x{height} photo")
    return FaceBox(x, y, w, h, score)


def _face_crop(image: np.ndarray, framing: Framing, box: FaceBox) -> tuple[np.ndarray, tuple]:
    """The square crop ``framing`` gives for ``box`` and how its pixels map to the photo's:
    ``(x0, y0, scale_x, scale_y)`` with photo = (crop + (x0, y0) + 0.5) / scale - 0.5. Crops above
    :data:`MAX_CROP_SIDE` come from a downscaled photo (``scale < 1``), others at native size."""
    cx, cy, side = framing.crop(box)
    if side <= MAX_CROP_SIDE:
        crop, x0, y0 = crop_square(image, cx, cy, side)
        return crop, (x0, y0, 1.0, 1.0)
    h, w = image.shape[:2]
    f = MAX_CROP_SIDE / side
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    sx, sy = small.shape[1] / w, small.shape[0] / h
    crop, x0, y0 = crop_square(small, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5,
                               min(side * sx, MAX_CROP_SIDE))  # rounding never passes the limit
    return crop, (x0, y0, sx, sy)


def _to_photo(points: np.ndarray, mapping: tuple) -> np.ndarray:
    x0, y0, sx, sy = mapping
    shifted = points + np.array([x0, y0], np.float32)
    return shifted if (sx, sy) == (1.0, 1.0) else resize_points(shifted, 1.0 / sx, 1.0 / sy)


@dataclass
class Face:
    """One face: its box and finder ``score``, 68 (or K) ``points`` in photo pixels with per-point
    ``confidence``, and ``landmark_score`` (mean confidence: low on things that are not faces)."""

    box: FaceBox
    points: np.ndarray  # (K, 2) float32, photo pixels
    confidence: np.ndarray  # (K,) float32
    crop: tuple[float, float, float]  # (x0, y0, side) of the square crop the detector saw

    @property
    def score(self) -> float:
        return self.box.score

    @property
    def landmark_score(self) -> float:
        return float(np.mean(self.confidence)) if len(self.confidence) else 0.0

    def __repr__(self) -> str:
        return (f"Face(box={self.box.as_list()}, score={self.score:.2f}, "
                f"landmark_score={self.landmark_score:.2f}, {len(self.points)} points)")

    def to_dict(self) -> dict:
        return {
            "box": self.box.as_list(),
            "score": round(float(self.score), 4),
            "landmark_score": round(self.landmark_score, 4),
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
            "confidence": [round(float(c), 4) for c in self.confidence],
        }


@dataclass
class PhotoResult:
    """The faces of one photo; ``image`` is kept for drawing and alignment."""

    image: np.ndarray
    faces: list[Face]
    schema: str
    finder: str
    source: str | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.faces)

    def __repr__(self) -> str:
        """One line: the photo, its size and its faces (the pixels and points stay in the fields)."""
        h, w = self.image.shape[:2]
        where = f"{self.source!r}, " if self.source else ""
        faces = ", ".join(f"[{', '.join(f'{v:g}' for v in f.box.as_list())}]" for f in self.faces[:3])
        more = f", … {len(self.faces) - 3} more" if len(self.faces) > 3 else ""
        listed = f": {faces}{more}" if faces else ""
        notes = f", {len(self.notes)} note(s)" if self.notes else ""
        return (f"PhotoResult({where}{w}x{h}, {len(self.faces)} face(s){listed}, "
                f"schema={self.schema}, finder={self.finder}{notes})")

    def to_dict(self) -> dict:
        h, w = self.image.shape[:2]
        return {
            "file": self.source,
            "width": w,
            "height": h,
            "finder": self.finder,
            "faces": [f.to_dict() for f in self.faces],
        }

    def draw(self, max_side: int = 960, min_dot: int = 1) -> np.ndarray:
        """The photo with each face's box (yellow, numbered) and points (green), enlarged so that
        small faces stay readable (photos under ``max_side`` are scaled up by an integer factor)."""
        h, w = self.image.shape[:2]
        s = max_side / max(h, w)
        s = float(int(s)) if s >= 2 else min(1.0, s)
        interp = cv2.INTER_NEAREST if s > 1 else cv2.INTER_AREA
        out = cv2.resize(self.image, None, fx=s, fy=s, interpolation=interp) if s != 1 else self.image.copy()
        for i, f in enumerate(self.faces):
            b = f.box
            thick = max(1, int(round(max(out.shape[:2]) / 500)))
            p1 = (int(round(b.x * s)), int(round(b.y * s)))
            p2 = (int(round((b.x + b.w) * s)) - 1, int(round((b.y + b.h) * s)) - 1)
            cv2.rectangle(out, p1, p2, (255, 214, 0), thick, cv2.LINE_AA)
            cv2.putText(out, str(i + 1), (p1[0], max(10, p1[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * thick, (255, 214, 0), thick, cv2.LINE_AA)
            r = max(min_dot, int(round(max(b.w, b.h) * s / 60)))
            for x, y in f.points:
                c = (int(round((x + 0.5) * s - 0.5) * 16), int(round((y + 0.5) * s - 0.5) * 16))
                cv2.circle(out, c, r * 16, (0, 255, 120), -1, cv2.LINE_AA, 4)
        return out

    def _repr_png_(self) -> bytes:
        """Jupyter shows a result as its overlay."""
        ok, buf = cv2.imencode(".png", cv2.cvtColor(self.draw(max_side=720), cv2.COLOR_RGB2BGR))
        return buf.tobytes() if ok else b""

    def aligned(self, size: int = 32):
        """Each face warped so its eyes, nose and mouth land on the canonical template (ArcFace's,
        at ``size``): :class:`s2ld_core.verification.align.AlignmentResult` (faces whose points are
        degenerate are flagged, not warped)."""
        from .verification.align import align_faces

        pts = np.stack([f.points for f in self.faces]) if self.faces else np.zeros((0, 68, 2), np.float32)
        return align_faces([self.image] * len(self.faces), pts, self.schema, size=size)


class PhotoLandmarker:
    """A landmark detector plus a face finder: call it on photos.

    ``finder``: a :class:`~s2ld_core.faces.FaceFinder`, a finder name (``"auto"``, ``"dlib"``,
    ``"lbp"`` …) or ``None`` (then ``faces=`` must be given on each call). ``min_score`` drops boxes
    the finder is unsure of; ``min_landmark_score`` drops faces whose landmarks the detector is unsure
    of (its mean confidence), which removes false faces that a cascade puts on texture.
    """

    def __init__(
        self,
        detector,
        finder: FaceFinder | str | None = "auto",
        min_score: float | None = None,
        min_landmark_score: float | None = None,
        batch_size: int = 256,
    ):
        self.detector = detector
        self.finder = make_face_finder(finder, min_score) if isinstance(finder, str) else finder
        self.min_landmark_score = min_landmark_score
        self.batch_size = batch_size

    @property
    def schema(self) -> str:
        from .schemas import get_schema

        return get_schema(self.detector.schema).name

    def _boxes(self, image: np.ndarray, faces, box_framing) -> tuple[list[FaceBox], Framing | None, str]:
        """Boxes for one photo, the framing to crop them with (``None``: the box is the crop), and
        the name of where they came from."""
        h, w = image.shape[:2]
        whole = [FaceBox(0, 0, w, h)]
        if isinstance(faces, str) and faces == "whole":
            return whole, None, "whole"
        if faces is None or (isinstance(faces, str) and faces == "auto"):
            if max(h, w) <= WHOLE_IMAGE_MAX_SIDE:
                return whole, None, "whole"
            if self.finder is None:
                raise ValueError("no face finder: pass faces=[(x, y, w, h), …] or faces='whole'")
            return self.finder.find(image), self.finder.framing, self.finder.name
        if isinstance(faces, str):
            raise ValueError(f"faces must be 'auto', 'whole' or a list of boxes, got {faces!r}")
        if not isinstance(box_framing, Framing):
            if (box_framing or "boxes") not in FRAMINGS:
                raise ValueError(f"box_framing {box_framing!r}: choose one of {', '.join(FRAMINGS)} "
                                 "or pass a Framing")
            box_framing = FRAMINGS[box_framing or "boxes"]
        return [_box_of(b, i, w, h) for i, b in enumerate(faces)], box_framing, "given"

    def __call__(self, photos, faces=None, box_framing: Framing | str | None = None):
        """Landmarks of every face in ``photos`` (one photo → one :class:`PhotoResult`; a list →
        a list). ``faces``: ``None``/``"auto"`` (find them), ``"whole"``, boxes ``(x, y, w, h)`` for
        one photo, or one list of boxes per photo. ``box_framing`` crops given boxes: a
        :class:`Framing` or a key of ``FRAMINGS`` (default ``"boxes"``: tight face boxes as dlib's;
        ``"landmarks"``: boxes of annotated points)."""
        batch = isinstance(photos, (list, tuple)) or (
            hasattr(photos, "ndim") and hasattr(photos, "shape") and photos.ndim == 4)
        single = not batch
        items = [photos] if single else list(photos)
        per_photo = _faces_per_photo(faces, len(items), single)
        images = [load_photo(p, "photo" if single else f"photo {i}") for i, p in enumerate(items)]
        crops, plan = [], []
        for i, (img, fc) in enumerate(zip(images, per_photo)):
            boxes, framing, how = self._boxes(img, fc, box_framing)
            plan.append(how)
            for b in boxes:
                if framing is None:
                    crop, mapping = img, (0, 0, 1.0, 1.0)
                    side = float(max(img.shape[:2]))
                else:
                    crop, mapping = _face_crop(img, framing, b)
                    side = float(crop.shape[0]) / mapping[2]
                crops.append((i, b, crop, mapping, side))
        points, conf = [], []
        from .inference.detector import LargeInputWarning

        with warnings.catch_warnings():  # crops here are faces framed on purpose, whatever their size
            warnings.simplefilter("ignore", LargeInputWarning)
            for start in range(0, len(crops), self.batch_size):  # all faces of all photos, in batches
                p, c = self.detector.predict([c[2] for c in crops[start : start + self.batch_size]])
                points += list(p)
                conf += list(c)
        results = [
            PhotoResult(img, [], self.schema, how, str(p) if isinstance(p, (str, os.PathLike)) else None)
            for img, how, p in zip(images, plan, items)
        ]
        for (i, b, _, mapping, side), p, c in zip(crops, points, conf):
            x0, y0 = ((mapping[0] + 0.5) / mapping[2] - 0.5, (mapping[1] + 0.5) / mapping[3] - 0.5)
            face = Face(b, _to_photo(p, mapping), c, (x0, y0, side))
            if self.min_landmark_score is not None and face.landmark_score < self.min_landmark_score:
                results[i].notes.append(f"dropped {b.as_list()}: landmark score {face.landmark_score:.2f}")
                continue
            results[i].faces.append(face)
        return results[0] if single else results


def _faces_per_photo(faces, n: int, single: bool) -> list:
    """Spread the ``faces`` argument over ``n`` photos."""
    if faces is None or isinstance(faces, str):
        return [faces] * n
    if isinstance(faces, (dict, FaceBox)) or not hasattr(faces, "__iter__"):
        if single and isinstance(faces, (dict, FaceBox)):
            return [[faces]]
        raise ValueError(f"faces must be 'auto', 'whole' or a list of boxes, got {type(faces).__name__}")
    faces = list(faces)
    if single:
        flat = len(faces) in (4, 5) and all(isinstance(v, Real) and not isinstance(v, bool) for v in faces)
        return [[faces] if flat else faces]  # one box given as (x, y, w, h) is a list of one
    if len(faces) != n:
        raise ValueError(f"faces: one list of boxes per photo expected ({n} photos, {len(faces)} lists)")
    return faces



def one_face_each(landmarker: PhotoLandmarker, images: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """``(points, confidence)`` of the single face in each image, as annotation tools want: images of
    at most 64 px are the face; in larger ones the finder's best face by landmark score, or the whole
    image when it finds none (so every image gets points to correct)."""
    results = landmarker(list(images), faces="auto")
    out = []
    for img, res in zip(images, results):
        if not res.faces:
            res = landmarker(img, faces="whole")
        best = max(res.faces, key=lambda f: f.landmark_score)
        out.append((best.points, best.confidence))
    return out
