"""300W / iBUG ``.pts`` landmark files.

On disk::

    version: 1
    n_points:  68
    {
    446.000 91.000
    ...
    }

Coordinates on disk are 1-based (the Matlab tradition of 300W): the top-left pixel centre is
``(1, 1)``. The project works in 0-based pixel centres, so reading subtracts 1 and writing adds 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2ld_core.atomic import atomic_write_text

from .errors import FormatError, format_float, parse_float, read_text

__all__ = ["read_pts", "write_pts", "pts_text", "PTS_OFFSET"]

PTS_OFFSET = 1.0  # on-disk value minus our 0-based value


@dataclass
class _PtsHeader:
    """What precedes ``{``: the declared point count and the line of the opening brace."""

    n_points: int
    brace_line: int


def _read_lines(path: Path) -> list[str]:
    # A BOM (some tools write one) is dropped; splitlines handles CRLF files from Windows tools.
    return read_text(path).splitlines()


def _parse_header(path: Path, lines: list[str]) -> _PtsHeader:
    """Parse ``key: value`` lines up to ``{``; ``n_points`` is required, other keys are ignored."""
    n_points: int | None = None
    for idx, raw in enumerate(lines):
        text = raw.strip()
        lineno = idx + 1
        if not text:
            continue
        if text == "{":
            if n_points is None:
                raise FormatError(path, "'{' before any 'n_points:' line", lineno)
            return _PtsHeader(n_points, lineno)
        key, sep, value = text.partition(":")
        if not sep:
            raise FormatError(path, f"expected 'key: value' or '{{' in the header, got {text!r}", lineno)
        if key.strip() == "n_points":
            try:
                n_points = int(value.strip())
            except ValueError:
                raise FormatError(path, f"n_points: {value.strip()!r} is not an integer", lineno) from None
            if n_points <= 0:
                raise FormatError(path, f"n_points must be positive, got {n_points}", lineno)
    raise FormatError(path, "no '{' line: not a .pts file", len(lines) or None)


def _parse_body(path: Path, lines: list[str], header: _PtsHeader) -> np.ndarray:
    """Read ``x y`` lines up to ``}`` and check their count against the header."""
    rows: list[tuple[float, float]] = []
    for idx in range(header.brace_line, len(lines)):
        text = lines[idx].strip()
        lineno = idx + 1
        if not text:
            continue
        if text == "}":
            if len(rows) != header.n_points:
                what = f"header says n_points {header.n_points} but the body has {len(rows)} points"
                raise FormatError(path, what, lineno)
            _check_trailing(path, lines, idx + 1)
            return np.asarray(rows, dtype=np.float64).reshape(-1, 2)
        fields = text.split()
        if len(fields) != 2:
            raise FormatError(path, f"expected 'x y', got {text!r}", lineno)
        rows.append(tuple(parse_float(f, path, lineno, name) for f, name in zip(fields, "xy")))
    raise FormatError(path, "missing closing '}'", len(lines))


def _check_trailing(path: Path, lines: list[str], start: int) -> None:
    for idx in range(start, len(lines)):
        if lines[idx].strip():
            raise FormatError(path, f"unexpected text after '}}': {lines[idx].strip()!r}", idx + 1)


def read_pts(path: str | os.PathLike[str], expected_points: int | None = None) -> np.ndarray:
    """Read a ``.pts`` file as ``(K, 2)`` float32 0-based points.

    ``expected_points`` (e.g. 68 for 300W) turns a file with another count into a one-line error,
    which is how a truncated 67-point annotation is caught before it silently shifts every index.
    """
    p = Path(path)
    lines = _read_lines(p)
    header = _parse_header(p, lines)
    points = _parse_body(p, lines, header)
    if expected_points is not None and len(points) != expected_points:
        raise FormatError(p, f"expected {expected_points} points, file has {len(points)}")
    return (points - PTS_OFFSET).astype(np.float32)


def pts_text(points: np.ndarray) -> str:
    """The ``.pts`` text for ``(K, 2)`` 0-based points (1 is added on the way out)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points must have shape (K, 2) with K > 0, got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(".pts cannot store missing (NaN) or infinite points")
    body = [f"{format_float(x + PTS_OFFSET)} {format_float(y + PTS_OFFSET)}" for x, y in pts]
    return "\n".join(["version: 1", f"n_points:  {len(pts)}", "{", *body, "}"]) + "\n"


def write_pts(path: str | os.PathLike[str], points: np.ndarray) -> Path:
    """Write ``(K, 2)`` 0-based points as a 1-based ``.pts`` file, atomically."""
    return atomic_write_text(path, pts_text(points))
