"""AFLW-19 landmark CSV in the layout of HRNet-Facial-Landmark-Detection (``data/aflw/*.csv``).

One header row, then one face per row::

    image_name,scale,box_size,center_w,center_h,x1,y1,...,x19,y19

Columns are read by position, as HRNet's loader does (``pandas.read_csv`` then ``iloc``), so the
header's spelling does not matter. ``scale`` is HRNet's crop scale (box side / 200 px, enlarged by
1.25 at load time), ``box_size`` the normaliser of AFLW's NME, ``center_*`` the crop centre.

**Coordinates are 0-based and read unchanged.** HRNet's ``lib/datasets/aflw.py`` passes
``pts + 1`` to ``transform_pixel`` (whose maths is 1-based: it subtracts 1, transforms, adds 1) and
then draws the heatmap at ``tpts - 1``; ``compute_nme`` compares predictions with the raw CSV values.
So the CSV holds 0-based pixel coordinates, which is already the project convention (unlike ``.pts``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2ld_core.atomic import atomic_write_text

from .errors import FormatError, format_float, parse_float, read_text

__all__ = ["AflwRecord", "read_aflw_csv", "write_aflw_csv", "AFLW_NUM_POINTS", "AFLW_CSV_HEADER"]

AFLW_NUM_POINTS = 19
_META_COLUMNS = ("image_name", "scale", "box_size", "center_w", "center_h")
AFLW_CSV_HEADER: tuple[str, ...] = _META_COLUMNS + tuple(
    f"{axis}{i}" for i in range(1, AFLW_NUM_POINTS + 1) for axis in "xy"
)


@dataclass
class AflwRecord:
    """One AFLW face: image path (relative to the image root), HRNet crop parameters, 19 points."""

    image: str
    scale: float
    box_size: float
    center: tuple[float, float]
    points: np.ndarray  # (19, 2) float32, 0-based pixel centres


def _parse_row(path: Path, lineno: int, row: list[str]) -> AflwRecord:
    if len(row) != len(AFLW_CSV_HEADER):
        raise FormatError(
            path, f"expected {len(AFLW_CSV_HEADER)} columns (5 + 2x{AFLW_NUM_POINTS}), got {len(row)}", lineno
        )
    image = row[0].strip()
    if not image:
        raise FormatError(path, "empty image_name", lineno)
    values = [parse_float(v, path, lineno, name) for v, name in zip(row[1:], AFLW_CSV_HEADER[1:])]
    scale, box_size, cx, cy = values[:4]
    if box_size <= 0:
        raise FormatError(path, f"box_size must be positive, got {box_size}", lineno)
    points = np.asarray(values[4:], dtype=np.float32).reshape(AFLW_NUM_POINTS, 2)
    return AflwRecord(image=image, scale=scale, box_size=box_size, center=(cx, cy), points=points)


def _looks_like_header(row: list[str]) -> bool:
    """A header's second cell is a column name, a data row's is a number."""
    try:
        float(row[1])
    except (IndexError, ValueError):
        return True
    return False


def read_aflw_csv(path: str | os.PathLike[str]) -> list[AflwRecord]:
    """Read an HRNet-layout AFLW CSV (header row required) into records with 0-based points."""
    p = Path(path)
    reader = csv.reader(io.StringIO(read_text(p), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise FormatError(p, "empty file: expected a header row")
        if not _looks_like_header(header):
            raise FormatError(p, f"first row is data, expected a header ({AFLW_CSV_HEADER[0]},...)", 1)
        if len(header) != len(AFLW_CSV_HEADER):  # any other file would pass as "a header, no rows"
            n = len(AFLW_CSV_HEADER)
            raise FormatError(p, f"header has {len(header)} columns, an AFLW CSV has {n}: not an AFLW CSV", 1)
        records = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            records.append(_parse_row(p, reader.line_num, row))
    except csv.Error as exc:  # e.g. a NUL byte or a 4 MB field: not a CSV this reader should guess at
        raise FormatError(p, f"not a readable CSV ({exc})", reader.line_num) from None
    return records


def _record_row(rec: AflwRecord) -> list[str]:
    pts = np.asarray(rec.points, dtype=np.float64)
    if pts.shape != (AFLW_NUM_POINTS, 2):
        raise ValueError(f"{rec.image}: AFLW records need ({AFLW_NUM_POINTS}, 2) points, got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(f"{rec.image}: the AFLW CSV cannot store missing (NaN) points")
    numbers = [rec.scale, rec.box_size, rec.center[0], rec.center[1], *pts.reshape(-1)]
    return [rec.image, *(format_float(v) for v in numbers)]


def write_aflw_csv(path: str | os.PathLike[str], records: Iterable[AflwRecord]) -> Path:
    """Write records (0-based points, written unchanged) in HRNet's layout, atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(AFLW_CSV_HEADER)
    writer.writerows(_record_row(rec) for rec in records)
    return atomic_write_text(path, buf.getvalue())
