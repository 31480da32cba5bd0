"""WIDER FACE box annotations (``wider_face_{train,val}_bbx_gt.txt``) and the paper's size split.

On disk, per image::

    0--Parade/0_Parade_marchingband_1_849.jpg
    1
    449 330 122 149 0 0 0 0 0 0

i.e. the image path (relative to ``WIDER_*/images``), the face count, then one line per face:
``x1 y1 w h blur expression illumination invalid occlusion pose``. ``(x1, y1)`` is the top-left
pixel and ``w``, ``h`` are in pixels, so the face covers rows ``y1 .. y1+h-1``. An image with no
faces has count 0 followed by a single line of ten zeros.

**Size split (paper, Sec. 4):** WIDER FACE is divided "into two groups based on their spatial size":
faces "between 20x20 and 40x40" (the real LR set) and faces "more than 100x100" (added to the HR
set). We read the box as a ``w x h`` size and require *both sides* to satisfy the bound: LR when
``20 <= w, h <= 40``, HR when ``w, h > 100``. That is the literal reading of "between two squares"
and keeps elongated boxes (a 15x45 sliver) out of both groups. Faces flagged ``invalid`` and boxes
with a zero side are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..images import read_rgb
from .errors import FormatError, parse_float, read_text

__all__ = [
    "WIDER_ATTRIBUTES",
    "WiderImage",
    "WiderFace",
    "read_wider_bbx",
    "split_wider_faces",
    "wider_size_group",
    "extract_wider_crops",
    "load_rgb",
]

WIDER_ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
_FIELDS_PER_FACE = 4 + len(WIDER_ATTRIBUTES)


@dataclass
class WiderImage:
    """One image of the box file: ``boxes`` is ``(n, 4)`` float32 ``x, y, w, h``; attrs are ``(n,)``."""

    file: str
    boxes: np.ndarray
    attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def faces(self) -> list[WiderFace]:
        """The image's faces as standalone records (attributes as plain ints)."""
        return [
            WiderFace(
                file=self.file,
                index=i,
                box=tuple(float(v) for v in self.boxes[i]),
                attrs={k: int(v[i]) for k, v in self.attrs.items()},
            )
            for i in range(len(self.boxes))
        ]


@dataclass
class WiderFace:
    """One face: image path, its index among the image's faces, ``(x, y, w, h)`` box, attributes."""

    file: str
    index: int
    box: tuple[float, float, float, float]
    attrs: dict[str, int] = field(default_factory=dict)


class _Lines:
    """Non-blank lines with their 1-based numbers and one line of look-ahead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = read_text(path)
        self._items = [(i + 1, s.strip()) for i, s in enumerate(text.splitlines()) if s.strip()]
        self._pos = 0

    def peek(self) -> tuple[int, str] | None:
        return self._items[self._pos] if self._pos < len(self._items) else None

    def next(self, expecting: str) -> tuple[int, str]:
        item = self.peek()
        if item is None:
            last = self._items[-1][0] if self._items else None
            raise FormatError(self.path, f"file ends where {expecting} was expected", last)
        self._pos += 1
        return item


def _parse_face_line(path: Path, lineno: int, text: str) -> list[float]:
    fields = text.split()
    if len(fields) != _FIELDS_PER_FACE:
        raise FormatError(
            path, f"expected {_FIELDS_PER_FACE} numbers (x y w h {' '.join(WIDER_ATTRIBUTES)}), got {text!r}",
            lineno,
        )
    names = ("x", "y", "w", "h", *WIDER_ATTRIBUTES)
    values = [parse_float(f, path, lineno, f"face {name}") for f, name in zip(fields, names)]
    if any(v != int(v) for v in values[4:]):
        raise FormatError(path, f"attributes must be whole numbers, got {text!r}", lineno)
    return values


def _is_zero_line(text: str) -> bool:
    fields = text.split()
    try:
        return len(fields) == _FIELDS_PER_FACE and all(float(f) == 0 for f in fields)
    except ValueError:
        return False


def _read_count(lines: _Lines, file: str) -> int:
    lineno, text = lines.next(f"the face count of {file}")
    try:
        count = int(text)
    except ValueError:
        raise FormatError(lines.path, f"expected the face count of {file}, got {text!r}", lineno) from None
    if count < 0:
        raise FormatError(lines.path, f"negative face count {count}", lineno)
    return count


def _read_image(lines: _Lines) -> WiderImage:
    lineno, file = lines.next("an image file name")
    if file.split()[0].lstrip("-").isdigit():
        raise FormatError(lines.path, f"expected an image file name, got {file!r}", lineno)
    count = _read_count(lines, file)
    if count == 0:
        nxt = lines.peek()
        if nxt is not None and _is_zero_line(nxt[1]):
            lines.next("the zero line")  # the placeholder line that follows a count of 0
    rows = [
        _parse_face_line(lines.path, *lines.next(f"face {i + 1} of {count} of {file}")) for i in range(count)
    ]
    table = np.asarray(rows, dtype=np.float64).reshape(count, _FIELDS_PER_FACE)
    attrs = {name: table[:, 4 + j].astype(np.int32) for j, name in enumerate(WIDER_ATTRIBUTES)}
    return WiderImage(file=file, boxes=table[:, :4].astype(np.float32), attrs=attrs)


def read_wider_bbx(path: str | os.PathLike[str]) -> list[WiderImage]:
    """Read a ``wider_face_*_bbx_gt.txt`` file; every image is kept, faces or not."""
    lines = _Lines(Path(path))
    if lines.peek() is None:  # an empty list of images is never what a WIDER FACE file means
        raise FormatError(path, "empty file: no images listed")
    images = []
    while lines.peek() is not None:
        images.append(_read_image(lines))
    return images


def wider_size_group(
    w: float, h: float, lr_range: tuple[float, float] = (20, 40), hr_min: float = 100
) -> str | None:
    """``'lr'``, ``'hr'`` or ``None`` for a ``w x h`` box, both sides judged (see module docstring)."""
    lo, hi = lr_range
    if lo <= min(w, h) and max(w, h) <= hi:
        return "lr"
    if min(w, h) > hr_min:
        return "hr"
    return None


def split_wider_faces(
    images: Iterable[WiderImage], lr_range: tuple[float, float] = (20, 40), hr_min: float = 100
) -> dict[str, list[WiderFace]]:
    """Group faces into the paper's ``'lr'`` (20-40 px) and ``'hr'`` (>100 px) sets.

    Faces flagged ``invalid`` and boxes with a non-positive side are skipped; the rest that fall in
    neither range are dropped, as in the paper.
    """
    groups: dict[str, list[WiderFace]] = {"lr": [], "hr": []}
    for image in images:
        for face in image.faces():
            _, _, w, h = face.box
            if face.attrs.get("invalid", 0) or w <= 0 or h <= 0:
                continue
            group = wider_size_group(w, h, lr_range, hr_min)
            if group is not None:
                groups[group].append(face)
    return groups


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``uint8`` HxWx3 RGB through the project's one guarded reader
    (:func:`s2ld_core.data.images.read_rgb`: header size checked before decoding)."""
    p = Path(path)
    if not p.is_file() and not p.exists():
        raise FileNotFoundError(f"{p}: image file not found")
    return read_rgb(p)


def _crop_padded(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` where parts outside the image repeat the edge pixels, so a face at the
    border keeps its requested extent and stays centred in its crop."""
    h, w = image.shape[:2]
    inner = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if inner.size == 0:
        raise ValueError(f"crop x {x0}..{x1}, y {y0}..{y1} lies outside the {w}x{h} image")
    pads = (max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0))
    if not any(pads):
        return np.ascontiguousarray(inner)
    return cv2.copyMakeBorder(inner, *pads, borderType=cv2.BORDER_REPLICATE)


def extract_wider_crops(
    faces: Iterable[WiderFace], images_root: str | os.PathLike[str], margin: float = 0.0
) -> Iterator[tuple[WiderFace, np.ndarray]]:
    """Yield ``(face, crop)`` with ``crop`` a uint8 RGB array of the box grown by ``margin`` x its size
    on every side (``margin=0.25`` adds a quarter of ``w`` left and right, of ``h`` top and bottom).

    Each image is decoded once for a run of consecutive faces from it (the order
    :func:`split_wider_faces` produces).
    """
    root = Path(images_root)
    cached_file, cached = None, None
    for face in faces:
        if face.file != cached_file:
            cached_file, cached = face.file, load_rgb(root / face.file)
        x, y, w, h = face.box
        x0, y0 = int(round(x - margin * w)), int(round(y - margin * h))
        x1, y1 = int(round(x + w + margin * w)), int(round(y + h + margin * h))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"{root / face.file}: face {face.index} has an empty box {face.box}")
        try:
            crop = _crop_padded(cached, x0, y0, x1, y1)
        except ValueError as exc:
            raise ValueError(f"{root / face.file}: face {face.index}: {exc}") from None
        yield face, crop
