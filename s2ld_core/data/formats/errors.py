"""The one error type readers raise for malformed input, and small parsing helpers they share.

Messages read ``"<path>:<line>: <what is wrong>"`` (the line is left out where a line number means
nothing, e.g. a JSON structure problem), the form editors and terminals turn into a clickable link.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FormatError", "format_float", "parse_float", "read_text", "load_json", "MAX_COORDINATE", "IMAGE_MARGIN",
    "check_in_image", "finite",
]

# Every number a reader returns as a coordinate or size lies within ±2**24 px: float32 (what readers
# return) holds every integer pixel position exactly up to there, and no image under any sane pixel
# limit is larger. Files with 1e300 or 1e7-wide boxes are refused here, before anything is allocated.
MAX_COORDINATE = float(2**24)
# Where the image size is known (annotation and COCO files say it; consumers read it from the image
# header), points and boxes must also lie within one image size of the image: -W <= x <= 2W, and
# likewise for y. A face partly outside its photo passes; a point a whole photo away from it is a
# broken file, and cropping around it would allocate in proportion to the square of the distance.
IMAGE_MARGIN = 1.0


_MAX_WHAT = 240  # characters of a message after the path


class FormatError(ValueError):
    """Malformed data-set or annotation file. ``path``, ``line`` and ``what`` are kept for callers."""

    def __init__(self, path: str | os.PathLike[str], what: str, line: int | None = None) -> None:
        self.path = os.fspath(path)
        self.line = line
        if len(what) > _MAX_WHAT:  # a 4 MiB line quoted back would be one line, but not a readable one
            what = what[: _MAX_WHAT - 40] + f"… ({len(what)} characters)"
        self.what = what
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {what}")

    def __reduce__(self):
        # Exceptions pickle through ``args`` (one message here); rebuild from the real fields instead
        # so that errors raised in DataLoader worker processes survive the trip to the main process.
        return (type(self), (self.path, self.what, self.line))


def read_text(path: str | os.PathLike[str]) -> str:
    """The file as UTF-8 text (a BOM dropped). Bytes that are not UTF-8 -- a binary file, a UTF-16
    export, a file under the wrong name -- are one :class:`FormatError` naming the file, not a
    ``UnicodeDecodeError`` that names only a byte; so is a NUL byte, which no text format here
    allows and which would otherwise end up inside a file name. A missing file or a folder is the
    ``OSError``."""
    p = Path(path)
    data = p.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise FormatError(p, f"NUL byte at byte {nul}: a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        what = f"not UTF-8 text ({exc.reason} at byte {exc.start}); is this the right file?"
        raise FormatError(p, what) from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; every way it can be malformed is one :class:`FormatError` naming it
    (including nesting too deep for the parser and integers too long for Python to convert)."""
    p = Path(path)
    text = read_text(p)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(p, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except RecursionError:
        raise FormatError(p, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise FormatError(p, f"invalid JSON: {exc}") from None


def format_float(value: float) -> str:
    """Shortest text that reads back to the same float32 (``11.5``, ``20``), as the readers return
    float32: no spurious digits like ``0.10000000149011612`` and no precision lost."""
    return np.format_float_positional(np.float32(value), trim="-")


def parse_float(text: str, path: str | os.PathLike[str], line: int | None, what: str) -> float:
    """``float(text)`` that rejects NaN/inf and names the file, line and field when it fails."""
    try:
        value = float(text)
    except (ValueError, OverflowError):
        raise FormatError(path, f"{what}: {text.strip()!r} is not a number", line) from None
    if not math.isfinite(value):
        raise FormatError(path, f"{what}: {text.strip()!r} is not a finite number", line)
    if abs(value) > MAX_COORDINATE:
        raise FormatError(path, f"{what}: {text.strip()!r} is beyond ±{MAX_COORDINATE:.0f}", line)
    return value


def finite(value) -> bool:
    """Whether a JSON number is finite and within ±:data:`MAX_COORDINATE` (an integer of 400 digits,
    which ``float()`` cannot even convert, is not)."""
    try:
        return math.isfinite(float(value)) and abs(float(value)) <= MAX_COORDINATE
    except (OverflowError, TypeError, ValueError):
        return False


def check_in_image(points, width: float, height: float) -> str | None:
    """Why ``points`` (``(..., 2)``, NaN rows = not placed) do not lie within :data:`IMAGE_MARGIN`
    image sizes of a ``width × height`` image, or ``None`` if they do."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return None
    lo = -IMAGE_MARGIN * np.array([width, height])
    hi = (1 + IMAGE_MARGIN) * np.array([width, height])
    bad = ~((pts >= lo) & (pts <= hi)).all(axis=1)
    if not bad.any():
        return None
    x, y = pts[np.argmax(bad)]
    return (f"({x:.6g}, {y:.6g}) lies more than one image size outside the {width:g}x{height:g} image "
            f"(allowed: x {lo[0]:g}..{hi[0]:g}, y {lo[1]:g}..{hi[1]:g})")
