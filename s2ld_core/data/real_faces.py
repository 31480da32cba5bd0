"""Real photos with face boxes (a ``boxes.json`` folder such as ``../shared/data/real-faces``): the
paper's real domains, read from outside the repository.

The paper trains on real faces twice: labelled real HR faces (AFLW, 300-W) and unlabelled real small
faces (WIDER FACE) for G1/D1 and D3. A folder of photos with face boxes gives both:

* its **small faces** (box side ≤ 32 px, the WIDER role) are the unlabelled real LR domain:
  :class:`RealFacesSource`, which ``--real-lr`` / ``--target-lr`` / ``--g1-real-lr`` accept as
  ``real-faces`` (the folder :func:`~.external.real_faces_dir` finds), ``real-faces:val`` or a
  folder path with an optional ``:train`` / ``:val`` / ``:all`` suffix;
* its **large faces** can be pseudo-labelled by an HR teacher (``scripts/pseudo_label.py``, dlib's
  68-point predictor) and then train as a 300-W folder.

Faces are cut *framed like ours*: the boxes are dlib HOG boxes, so the crop is the one
:data:`s2ld_core.faces.FRAMINGS` ``["dlib"]`` gives (side 1.36 × the box, measured on the PASCAL
faces), at native resolution with black outside the photo, then brought to the network's size
(area averaging when shrinking).

**Split by source photo.** A photo is held out for validation when the first byte of the SHA-1 of
its file name is below 51 (one in five, in expectation); a face never shares a photo with a face of
the other split. The rule depends on the name alone, so it is the same on every machine and for every
subset of the folder.

``boxes.json``: a list of ``{file, width, height, faces: [{box: [x, y, w, h], score, ...}]}``; each
entry is checked (finite numbers, positive sizes, boxes within reach of the image) before anything is
allocated from it, and a bad one is a one-line error naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "SPLITS",
    "LR_MAX_PX",
    "BoxedFace",
    "Photo",
    "read_boxes",
    "split_of",
    "faces_of",
    "crop_boxed_face",
    "RealFacesSource",
    "is_real_faces_spec",
    "parse_real_faces_spec",
]

SPLITS = ("train", "val", "all")
LR_MAX_PX = 32.0  # the WIDER role: faces whose box side is at most this many pixels
_VAL_BYTE = 51  # SHA-1's first byte below this: the photo is held out (51 / 256 ≈ 1 in 5)
_MAX_SIDE = 100_000  # no photo or box side beyond this is believed


@dataclass(frozen=True)
class BoxedFace:
    """One face box in a photo: ``(x, y, w, h)`` in photo pixels (dlib's inclusive convention) and
    the finder's score."""

    photo: str
    index: int
    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def side(self) -> float:
        """The box side in native pixels (the folder's "native px")."""
        return max(self.w, self.h)

    @property
    def name(self) -> str:
        return f"{Path(self.photo).stem}__f{self.index}"


@dataclass(frozen=True)
class Photo:
    file: str
    width: int
    height: int
    faces: tuple[BoxedFace, ...]


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _photo(entry, i: int, source: Path) -> Photo:
    where = f"{source}: entry {i}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    file = entry.get("file")
    if not isinstance(file, str) or not file or "/" in file or "\\" in file or file.startswith("."):
        raise ValueError(f"{where}: 'file' must be a plain file name, got {file!r}")
    width, height = (_number(entry.get(k), f"{where} ({file}) '{k}'") for k in ("width", "height"))
    if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
        raise ValueError(f"{where} ({file}): image size {width:g}x{height:g} is out of range")
    faces = entry.get("faces", [])
    if not isinstance(faces, list):
        raise ValueError(f"{where} ({file}): 'faces' must be a list")
    out = []
    for k, face in enumerate(faces):
        fw = f"{where} ({file}) face {k}"
        box = face.get("box") if isinstance(face, dict) else None
        if not isinstance(box, list) or len(box) != 4:
            raise ValueError(f"{fw}: 'box' must be [x, y, w, h]")
        x, y, w, h = (_number(v, f"{fw} box") for v in box)
        if not (0 < w <= _MAX_SIDE and 0 < h <= _MAX_SIDE):
            raise ValueError(f"{fw}: box size {w:g}x{h:g} is out of range")
        if x + w < 0 or y + h < 0 or x > width or y > height:
            raise ValueError(f"{fw}: box {box} lies outside the {width:g}x{height:g} image")
        score = _number(face.get("score", 1.0), f"{fw} 'score'")
        out.append(BoxedFace(file, k, x, y, w, h, score))
    return Photo(file, int(width), int(height), tuple(out))


@lru_cache(maxsize=4)
def _read_boxes_cached(path: str, mtime: float) -> tuple[Photo, ...]:
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{source}: cannot read as JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"{source}: expected a list of photos, got {type(data).__name__}")
    return tuple(_photo(entry, i, source) for i, entry in enumerate(data))


def read_boxes(root: str | Path) -> tuple[Photo, ...]:
    """Every photo of ``root/boxes.json`` with its checked face boxes."""
    path = Path(root) / "boxes.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: no boxes.json (expected a real-faces folder: photos, face boxes)")
    return _read_boxes_cached(str(path.resolve()), path.stat().st_mtime)


def split_of(file: str) -> str:
    """``"val"`` for the held-out photos, else ``"train"`` (by the SHA-1 of the file name)."""
    return "val" if hashlib.sha1(file.encode("utf-8")).digest()[0] < _VAL_BYTE else "train"


def faces_of(root: str | Path, split: str = "train", min_px: float = 0.0,
             max_px: float = math.inf) -> list[BoxedFace]:
    """The faces of ``split`` whose box side lies in ``[min_px, max_px]``, in file order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [f for p in read_boxes(root) if split in ("all", split_of(p.file))
            for f in p.faces if min_px <= f.side <= max_px]


def crop_boxed_face(image: np.ndarray, face: BoxedFace, size: int) -> np.ndarray:
    """The face framed like the training faces (dlib framing), ``size``² uint8 RGB."""
    from ..faces import FRAMINGS, FaceBox
    from ..pixels import crop_square, resize_face

    crop, _, _ = crop_square(image, *FRAMINGS["dlib"].crop(FaceBox(face.x, face.y, face.w, face.h)))
    return resize_face(crop, size)


class RealFacesSource:
    """The small faces (box side ≤ ``max_px``) of one split of a real-faces folder, as LR crops:
    the unlabelled real LR domain, with the :class:`~.sources.LRSource` interface. Photos are read
    once at construction (a few hundred files)."""

    def __init__(self, root: str | Path, split: str = "train", size: int = 32, max_px: float = LR_MAX_PX,
                 min_px: float = 0.0, progress: bool = False) -> None:
        from .images import read_rgb

        self.root, self.split, self.size = Path(root), split, int(size)
        self.faces = faces_of(self.root, split, min_px, max_px)
        if not self.faces:
            raise ValueError(f"{self.root}: no faces of {min_px:g}-{max_px:g} px in split {split!r}")
        crops, image, current = [], None, None
        for face in tqdm(self.faces, desc=f"real faces ({split})", disable=not progress, leave=False):
            if face.photo != current:
                image, current = read_rgb(self.root / "images" / face.photo), face.photo
            crops.append(crop_boxed_face(image, face, self.size))
        self._images = np.stack(crops)
        self._images.setflags(write=False)

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._images[index].copy()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.faces]

    @property
    def photos(self) -> list[str]:
        """Each face's source photo (to group faces that are not independent)."""
        return [f.photo for f in self.faces]

    def load_all(self) -> np.ndarray:
        return self._images.copy()

    def __repr__(self) -> str:
        return f"RealFacesSource({str(self.root)!r}, split={self.split!r}, size={self.size}, n={len(self)})"


def is_real_faces_spec(spec: str) -> bool:
    """Whether ``spec`` names a real-faces folder (``real-faces[:split]`` or ``DIR[:split]`` with a
    ``boxes.json``)."""
    try:
        parse_real_faces_spec(spec)
    except (ValueError, FileNotFoundError):
        return False
    return True


def parse_real_faces_spec(spec: str) -> tuple[Path, str]:
    """``real-faces`` / ``real-faces:val`` / ``DIR`` / ``DIR:train`` → ``(folder, split)``; the split
    defaults to ``train``."""
    from .external import real_faces_dir

    text, split = str(spec).strip(), "train"
    head, sep, tail = text.rpartition(":")
    if sep and tail in SPLITS:
        text, split = head, tail
    if text == "real-faces":
        root = real_faces_dir()
        if root is None:
            raise FileNotFoundError("real-faces: not found; set $S2LD_REAL_FACES or give the folder's path")
    else:
        root = Path(text).expanduser()
    if not (root / "boxes.json").is_file():
        raise ValueError(f"{spec!r}: {root} has no boxes.json")
    return root, split
