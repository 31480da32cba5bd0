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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .faces import FRAMINGS, FaceBox, FaceFinder, Framing, make_face_finder
from .geometry import to_rgb_uint8
from .pixels import crop_square

__all__ = ["Face", "PhotoResult", "PhotoLandmarker", "load_photo", "crop_square"]

WHOLE_IMAGE_MAX_SIDE = 64  # with faces="auto", photos this small are taken to be face crops already


def load_photo(photo) -> np.ndarray:
    """uint8 RGB from a path, a PIL image or an array (gray, RGB, RGBA, float in [0, 1])."""
    if isinstance(photo, (str, os.PathLike)):
        img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if img is None:
            what = "no such file" if not Path(photo).exists() else "cannot read this image"
            raise ValueError(f"{photo}: {what}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if hasattr(photo, "convert") and hasattr(photo, "size"):  # PIL.Image without importing PIL
        return np.asarray(photo.convert("RGB"))
    return to_rgb_uint8(np.asarray(photo))


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
            box_framing = FRAMINGS[box_framing or "boxes"]
        return [FaceBox.of(b) for b in faces], box_framing, "given"

    def __call__(self, photos, faces=None, box_framing: Framing | str | None = None):
        """Landmarks of every face in ``photos`` (one photo → one :class:`PhotoResult`; a list →
        a list). ``faces``: ``None``/``"auto"`` (find them), ``"whole"``, boxes ``(x, y, w, h)`` for
        one photo, or one list of boxes per photo. ``box_framing`` crops given boxes: a
        :class:`Framing` or a key of ``FRAMINGS`` (default ``"boxes"``: tight face boxes as dlib's;
        ``"landmarks"``: boxes of annotated points)."""
        batch = isinstance(photos, (list, tuple)) or (isinstance(photos, np.ndarray) and photos.ndim == 4)
        single = not batch
        items = [photos] if single else list(photos)
        per_photo = _faces_per_photo(faces, len(items), single)
        images = [load_photo(p) for p in items]
        crops, plan = [], []
        for i, (img, fc) in enumerate(zip(images, per_photo)):
            boxes, framing, how = self._boxes(img, fc, box_framing)
            plan.append(how)
            for b in boxes:
                if framing is None:
                    crop, x0, y0 = img, 0, 0
                    side = float(max(img.shape[:2]))
                else:
                    crop, x0, y0 = crop_square(img, *framing.crop(b))
                    side = float(crop.shape[0])
                crops.append((i, b, crop, x0, y0, side))
        points, conf = [], []
        for start in range(0, len(crops), self.batch_size):  # all faces of all photos, in batches
            p, c = self.detector.predict([c[2] for c in crops[start : start + self.batch_size]])
            points += list(p)
            conf += list(c)
        results = [
            PhotoResult(img, [], self.schema, how, str(p) if isinstance(p, (str, os.PathLike)) else None)
            for img, how, p in zip(images, plan, items)
        ]
        for (i, b, _, x0, y0, side), p, c in zip(crops, points, conf):
            face = Face(b, p + np.array([x0, y0], np.float32), c, (x0, y0, side))
            if self.min_landmark_score is not None and face.landmark_score < self.min_landmark_score:
                results[i].notes.append(f"dropped {b.as_list()}: landmark score {face.landmark_score:.2f}")
                continue
            results[i].faces.append(face)
        return results[0] if single else results


def _faces_per_photo(faces, n: int, single: bool) -> list:
    """Spread the ``faces`` argument over ``n`` photos."""
    if faces is None or isinstance(faces, str):
        return [faces] * n
    faces = list(faces)
    if single:
        return [faces]
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
