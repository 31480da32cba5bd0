"""dlib's 68-point shape predictor: the HR landmark detector a user would actually reach for.

It serves twice, and is never needed at run time (an optional extra: ``pip install 's2ld[teacher]'``,
which brings ``dlib-bin`` and the predictor file shipped in the ``face-recognition-models`` package):

* as a **baseline** on LR crops (:class:`Dlib68Baseline`): the crop upscaled ×4 (bicubic), dlib's
  predictor run in the box a face finder would give for a crop framed like ours — the paper's
  "upscale, then an HR detector" with the HR detector people use;
* as an **HR teacher** (:func:`teacher_points`) for pseudo-labelling real HR faces: the predictor on
  the face and on its mirror image, the mirror's points mapped back and averaged, with their
  disagreement (NME, box) so that faces where the two disagree can be dropped.

dlib's predictor was trained on iBUG 300-W's 68 points in boxes from dlib's HOG frontal detector; its
points are 0-based pixel centres like ours. Its box convention is dlib's: ``left, top, right, bottom``
inclusive, so a box ``(x, y, w, h)`` spans ``x .. x + w - 1``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..faces import FRAMINGS, FaceBox
from ..schemas import get_schema
from .detector import as_image_list

__all__ = ["TeacherUnavailable", "predictor_path", "Dlib68", "Dlib68Baseline", "teacher_points"]

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
INSTALL_HINT = "pip install 's2ld[teacher]'  (dlib-bin and face-recognition-models)"


class TeacherUnavailable(ImportError):
    """dlib or its 68-point predictor file is not installed; the message says what to install."""


def predictor_path() -> Path:
    """Where ``face-recognition-models`` keeps dlib's 68-point predictor.

    Found without importing that package: its ``__init__`` needs ``pkg_resources``, which recent
    setuptools no longer ship."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise TeacherUnavailable(f"dlib's 68-point predictor needs face-recognition-models: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise TeacherUnavailable(f"{path}: predictor file missing; reinstall face-recognition-models")
    return path


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise TeacherUnavailable(f"dlib's 68-point predictor needs dlib: {INSTALL_HINT}") from exc
    return dlib


class Dlib68:
    """dlib's 68-point predictor on RGB images with ``(x, y, w, h)`` boxes (dlib's box convention)."""

    def __init__(self) -> None:
        dlib = _dlib()
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(predictor_path()))

    def __call__(self, image: np.ndarray, box: FaceBox | tuple) -> np.ndarray:
        """The 68 points ``(68, 2) float32`` in ``image``'s pixels for the face in ``box``."""
        b = FaceBox.of(box)
        rect = self._dlib.rectangle(int(round(b.x)), int(round(b.y)),
                                    int(round(b.x + b.w - 1)), int(round(b.y + b.h - 1)))
        shape = self._predictor(np.ascontiguousarray(image), rect)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def teacher_points(model: Dlib68, image: np.ndarray, box: FaceBox | tuple) -> tuple[np.ndarray, float]:
    """Flip-averaged points of the face in ``box`` and the two passes' disagreement.

    The mirror image's box is the box mirrored (``x → W − x − w``); its points come back by
    ``x → W − 1 − x`` and the schema's flip permutation. Returns ``(points (68, 2), disagreement)``,
    the disagreement being the mean distance between the two passes' points over the square root of
    their landmark box's area (NME, box)."""
    b = FaceBox.of(box)
    width = image.shape[1]
    direct = model(image, b)
    mirrored = model(np.ascontiguousarray(image[:, ::-1]), FaceBox(width - b.x - b.w, b.y, b.w, b.h))
    back = mirrored.copy()
    back[:, 0] = width - 1 - back[:, 0]
    back = back[list(get_schema("ibug68").flip_permutation)]
    lo, hi = direct.min(0), direct.max(0)
    norm = float(np.sqrt(max((hi[0] - lo[0]) * (hi[1] - lo[1]), 1e-6)))
    disagreement = float(np.linalg.norm(direct - back, axis=1).mean() / norm)
    return ((direct + back) / 2).astype(np.float32), disagreement


class Dlib68Baseline:
    """"Upscale ×4, then dlib's 68-point predictor" on face crops framed like the training faces.

    The box given to the predictor is the one dlib's HOG finder would give for such a crop (the
    inverse of :data:`s2ld_core.faces.FRAMINGS` ``["dlib"]``, measured on the PASCAL faces), so the
    baseline sees what it would in a photo pipeline. Same ``predict`` interface as the detectors."""

    name = "upscale ×4 + dlib 68"

    def __init__(self, upscale: int = 4) -> None:
        self.model = Dlib68()
        self.schema = get_schema("ibug68")
        self.upscale = int(upscale)
        self.input_size = None

    @staticmethod
    def box_in_crop(side: float) -> FaceBox:
        """The dlib-style box of a square crop of ``side`` pixels framed like ours."""
        f = FRAMINGS["dlib"]
        w = side / f.scale  # Framing.crop: crop centre = box centre + (dx, dy) · w
        return FaceBox(side / 2 - (0.5 + f.dx) * w, side / 2 - (0.5 + f.dy) * w, w, w)

    def predict(self, images, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        imgs = as_image_list(images)
        points = np.zeros((len(imgs), 68, 2), np.float32)
        for i, im in enumerate(imgs):
            h, w = im.shape[:2]
            up = cv2.resize(im, (w * self.upscale, h * self.upscale), interpolation=cv2.INTER_CUBIC)
            p = self.model(up, self.box_in_crop(up.shape[1]))
            points[i] = (p + 0.5) / self.upscale - 0.5  # back to the crop's pixels (pixel centres)
        return points, np.ones((len(imgs), 68), np.float32)

    def __repr__(self) -> str:
        return f"Dlib68Baseline(upscale={self.upscale})"
