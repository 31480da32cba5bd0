"""The one error type readers raise for malformed input, and small parsing helpers they share.

Messages read ``"<path>:<line>: <what is wrong>"`` (the line is left out where a line number means
nothing, e.g. a JSON structure problem), the form editors and terminals turn into a clickable link.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["FormatError", "format_float", "parse_float"]


class FormatError(ValueError):
    """Malformed data-set or annotation file. ``path``, ``line`` and ``what`` are kept for callers."""

    def __init__(self, path: str | os.PathLike[str], what: str, line: int | None = None) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.what = what
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {what}")

    def __reduce__(self):
        # Exceptions pickle through ``args`` (one message here); rebuild from the real fields instead
        # so that errors raised in DataLoader worker processes survive the trip to the main process.
        return (type(self), (self.path, self.what, self.line))


def format_float(value: float) -> str:
    """Shortest text that reads back to the same float32 (``11.5``, ``20``), as the readers return
    float32: no spurious digits like ``0.10000000149011612`` and no precision lost."""
    return np.format_float_positional(np.float32(value), trim="-")


def parse_float(text: str, path: str | os.PathLike[str], line: int | None, what: str) -> float:
    """``float(text)`` that rejects NaN/inf and names the file, line and field when it fails."""
    try:
        value = float(text)
    except ValueError:
        raise FormatError(path, f"{what}: {text.strip()!r} is not a number", line) from None
    if not math.isfinite(value):
        raise FormatError(path, f"{what}: {text.strip()!r} is not a finite number", line)
    return value
