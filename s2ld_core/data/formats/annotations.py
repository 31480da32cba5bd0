"""The project's own landmark annotation file (ALRF-style), shared by the annotator and ``s2ld evaluate``.

Layout (version 1; keep it exactly, the annotator app and the evaluation command both rely on it)::

    {"format": "s2ld-annotations", "version": 1, "schema": "five", "annotator": "alice",
     "convention": "0-based pixel centres", "created": "<iso8601>", "updated": "<iso8601>",
     "images": {"<posix path relative to the image root>": {
         "width": 24, "height": 24,
         "points": [[x, y] or null, ...K],      # null = not placed yet
         "visible": [true/false, ...K],         # false = placed but occluded (COCO v=1)
         "status": "todo" | "done" | "skipped" | "flagged",
         "seconds": 12.3, "prefilled": false, "updated": "<iso8601>"}}}

Coordinates are 0-based pixel centres in the image as stored (``width`` x ``height``), and must lie
within one image size of it (``-width <= x <= 2 * width``, likewise y; :func:`.errors.check_in_image`),
so a point at 1e308 is refused instead of silently dropped from a score. Reading is
strict: an unknown or missing key, a wrong type, or a point count that does not match the schema is a
:class:`FormatError` naming the file and the image, because a silently mis-read annotation would
corrupt an evaluation without anyone noticing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from s2ld_core.atomic import atomic_write_json
from s2ld_core.schemas import SCHEMAS, get_schema

from .errors import MAX_COORDINATE, FormatError, check_in_image, finite, load_json
from .pts import write_pts

__all__ = [
    "ANNOTATION_FORMAT",
    "ANNOTATION_VERSION",
    "ANNOTATION_CONVENTION",
    "STATUSES",
    "ImageAnnotation",
    "AnnotationSet",
    "read_annotations",
    "write_annotations",
    "annotations_from_dict",
    "export_pts_dir",
    "utc_now_iso",
]

ANNOTATION_FORMAT = "s2ld-annotations"
ANNOTATION_VERSION = 1
ANNOTATION_CONVENTION = "0-based pixel centres"
STATUSES = ("todo", "done", "skipped", "flagged")
_TOP_KEYS = ("format", "version", "schema", "annotator", "convention", "created", "updated", "images")
_IMAGE_KEYS = ("width", "height", "points", "visible", "status", "seconds", "prefilled", "updated")


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 to the second, e.g. ``2020-06-14T09:30:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ImageAnnotation:
    """Landmarks of one image. ``points[k]`` is ``[x, y]`` or ``None`` (not placed yet)."""

    width: int
    height: int
    points: list[list[float] | None]
    visible: list[bool]
    status: str = "todo"
    seconds: float = 0.0
    prefilled: bool = False
    updated: str = field(default_factory=utc_now_iso)

    @classmethod
    def empty(cls, width: int, height: int, num_points: int) -> ImageAnnotation:
        """Nothing placed yet; points default to visible so a click places a visible point."""
        return cls(width=width, height=height, points=[None] * num_points, visible=[True] * num_points)

    @classmethod
    def from_arrays(
        cls,
        width: int,
        height: int,
        points: np.ndarray,
        visible: np.ndarray | None = None,
        *,
        status: str = "todo",
        prefilled: bool = False,
    ) -> ImageAnnotation:
        """Build from a ``(K, 2)`` array where NaN rows mean "not placed" (e.g. a detector's prefill)."""
        pts = np.asarray(points, dtype=np.float64)
        vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool)
        placed = [None if not np.isfinite(p).all() else [float(p[0]), float(p[1])] for p in pts]
        return cls(width, height, placed, [bool(v) for v in vis], status=status, prefilled=prefilled)

    @property
    def num_points(self) -> int:
        return len(self.points)

    def points_array(self) -> np.ndarray:
        """``(K, 2)`` float32 with NaN rows for points not placed yet."""
        out = np.full((len(self.points), 2), np.nan, dtype=np.float32)
        for k, p in enumerate(self.points):
            if p is not None:
                out[k] = p
        return out

    def coco_visibility(self) -> np.ndarray:
        """``(K,)`` int: 0 not placed, 1 placed but occluded, 2 placed and visible (COCO's ``v``)."""
        placed = np.array([p is not None for p in self.points], bool)
        vis = np.asarray(self.visible, bool)
        return np.where(placed, np.where(vis, 2, 1), 0).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "points": [None if p is None else [float(p[0]), float(p[1])] for p in self.points],
            "visible": [bool(v) for v in self.visible],
            "status": self.status,
            "seconds": float(self.seconds),
            "prefilled": bool(self.prefilled),
            "updated": self.updated,
        }


@dataclass
class AnnotationSet:
    """All annotations of one annotator on one image folder, in one landmark schema."""

    schema: str
    annotator: str
    images: dict[str, ImageAnnotation] = field(default_factory=dict)
    created: str = field(default_factory=utc_now_iso)
    updated: str = field(default_factory=utc_now_iso)

    @classmethod
    def new(cls, schema: str, annotator: str) -> AnnotationSet:
        """An empty set; an unknown schema is refused here rather than when the file is read back."""
        return cls(schema=get_schema(schema).name, annotator=annotator)

    @property
    def num_points(self) -> int:
        return get_schema(self.schema).num_points

    def labelled_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(keys, points (N, K, 2) float32, visible (N, K) bool)`` over images with status ``done``.

        Unplaced points are NaN and never visible, so ``visible`` doubles as "placed and visible".
        """
        k = self.num_points
        keys = [key for key, ann in self.images.items() if ann.status == "done"]
        points = np.full((len(keys), k, 2), np.nan, dtype=np.float32)
        visible = np.zeros((len(keys), k), dtype=bool)
        for i, key in enumerate(keys):
            ann = self.images[key]
            points[i] = ann.points_array()
            visible[i] = ann.coco_visibility() == 2
        return keys, points, visible

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ANNOTATION_FORMAT,
            "version": ANNOTATION_VERSION,
            "schema": self.schema,
            "annotator": self.annotator,
            "convention": ANNOTATION_CONVENTION,
            "created": self.created,
            "updated": self.updated,
            "images": {key: ann.to_dict() for key, ann in self.images.items()},
        }


# --- validation: one small checker per field, each naming the file and the image -----------------


class _Checker:
    """Raises :class:`FormatError` for ``path`` with an optional image key in front of the message."""

    def __init__(self, path: str | os.PathLike[str], key: str | None = None) -> None:
        self.path, self.key = path, key

    def fail(self, what: str) -> FormatError:
        prefix = "" if self.key is None else f"image {self.key!r}: "
        return FormatError(self.path, prefix + what)

    def keys(self, obj: Any, expected: tuple[str, ...], what: str) -> None:
        if not isinstance(obj, dict):
            raise self.fail(f"{what} must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in expected if k not in obj]
        unknown = [k for k in obj if k not in expected]
        if missing:
            raise self.fail(f"{what} lacks key(s) {', '.join(missing)}")
        if unknown:
            raise self.fail(f"{what} has unknown key(s) {', '.join(map(str, unknown))}")

    def typed(self, value: Any, kind: type | tuple[type, ...], name: str) -> Any:
        # bool is an int in Python; a JSON true where a number belongs is a mistake, not 1.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(f"{name} must be {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(f"{name} must be {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def timestamp(self, value: Any, name: str) -> str:
        self.typed(value, str, name)
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(f"{name} {value!r} is not an ISO 8601 time") from None
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = _as_tuple(kind)
    if float in kinds:
        return "a number"
    names = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_image_key(check: _Checker, key: str) -> None:
    """Keys are relative POSIX paths under the image root, so the file works on any machine."""
    if not key or "\\" in key or key.startswith("/") or ".." in PurePosixPath(key).parts:
        raise check.fail("key must be a POSIX path relative to the image root (no '\\', '/' prefix or '..')")


def _parse_point(check: _Checker, value: Any, k: int, width: int, height: int) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise check.fail(f"points[{k}] must be [x, y] or null, got {json.dumps(value)[:80]}")
    xy = [check.typed(v, (int, float), f"points[{k}]") for v in value]
    if not all(finite(v) for v in xy):
        raise check.fail(f"points[{k}] is not finite or beyond ±{MAX_COORDINATE:.0f}: "
                         f"{json.dumps(value)[:60]}")
    outside = check_in_image([xy], width, height)
    if outside:
        raise check.fail(f"points[{k}] {outside}")
    return [float(xy[0]), float(xy[1])]


def _parse_image(path: str | os.PathLike[str], key: str, obj: Any, num_points: int) -> ImageAnnotation:
    check = _Checker(path, key)
    _check_image_key(check, key)
    check.keys(obj, _IMAGE_KEYS, "entry")
    width, height = (check.typed(obj[n], int, n) for n in ("width", "height"))
    if not (0 < width <= MAX_COORDINATE and 0 < height <= MAX_COORDINATE):
        raise check.fail(f"width and height must be positive and at most {MAX_COORDINATE:.0f}, "
                         f"got {width}x{height}")
    points, visible = check.typed(obj["points"], list, "points"), check.typed(obj["visible"], list, "visible")
    for name, seq in (("points", points), ("visible", visible)):
        if len(seq) != num_points:
            raise check.fail(f"{name} has {len(seq)} entries, the schema has {num_points} points")
    status = check.typed(obj["status"], str, "status")
    if status not in STATUSES:
        raise check.fail(f"status {status!r} is not one of {', '.join(STATUSES)}")
    try:
        seconds = float(check.typed(obj["seconds"], (int, float), "seconds"))
    except OverflowError:  # an integer too long for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise check.fail(f"seconds must be a non-negative number, got {seconds}")
    return ImageAnnotation(
        width=width,
        height=height,
        points=[_parse_point(check, p, k, width, height) for k, p in enumerate(points)],
        visible=[check.typed(v, bool, f"visible[{k}]") for k, v in enumerate(visible)],
        status=status,
        seconds=seconds,
        prefilled=check.typed(obj["prefilled"], bool, "prefilled"),
        updated=check.timestamp(obj["updated"], "updated"),
    )


def annotations_from_dict(obj: Any, path: str | os.PathLike[str] = "<annotations>") -> AnnotationSet:
    """Validate a decoded annotation document; ``path`` only labels the error messages."""
    check = _Checker(path)
    check.keys(obj, _TOP_KEYS, "the document")
    if obj["format"] != ANNOTATION_FORMAT:
        raise check.fail(f"format is {obj['format']!r}, expected {ANNOTATION_FORMAT!r}")
    if obj["version"] != ANNOTATION_VERSION or isinstance(obj["version"], bool):
        raise check.fail(f"unsupported version {obj['version']!r}; this code reads {ANNOTATION_VERSION}")
    if obj["convention"] != ANNOTATION_CONVENTION:
        raise check.fail(f"convention is {obj['convention']!r}, expected {ANNOTATION_CONVENTION!r}")
    schema = check.typed(obj["schema"], str, "schema")
    if schema not in SCHEMAS:
        raise check.fail(f"unknown schema {schema!r}; known: {', '.join(sorted(SCHEMAS))}")
    images = check.typed(obj["images"], dict, "images")
    k = SCHEMAS[schema].num_points
    return AnnotationSet(
        schema=schema,
        annotator=check.typed(obj["annotator"], str, "annotator"),
        images={key: _parse_image(path, key, entry, k) for key, entry in images.items()},
        created=check.timestamp(obj["created"], "created"),
        updated=check.timestamp(obj["updated"], "updated"),
    )


def read_annotations(path: str | os.PathLike[str]) -> AnnotationSet:
    """Read and validate an annotation file (errors name the file, and the image where one is at fault)."""
    p = Path(path)
    return annotations_from_dict(load_json(p), p)


def write_annotations(path: str | os.PathLike[str], aset: AnnotationSet) -> Path:
    """Stamp ``aset.updated`` and write atomically.

    The document is validated by the reader's own checks first, so a file that
    :func:`read_annotations` would reject is never written (and the old file stays intact).
    """
    aset.updated = utc_now_iso()
    doc = aset.to_dict()
    annotations_from_dict(doc, path)
    return atomic_write_json(path, doc, indent=2)


def export_pts_dir(aset: AnnotationSet, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one 1-based ``.pts`` per ``done`` image, mirroring the key's folders (``a/b.png`` ->
    ``out_dir/a/b.pts``); ``.pts`` holds any point count. ``.pts`` cannot say "not placed", so a
    done image with an unplaced point is an error rather than a silently invented coordinate."""
    out = Path(out_dir)
    targets: dict[Path, str] = {}
    for key, ann in aset.images.items():
        if ann.status != "done":
            continue
        missing = [k for k, p in enumerate(ann.points) if p is None]
        if missing:
            raise ValueError(f"image {key!r} is done but points {missing} are unplaced (.pts needs all)")
        target = out / PurePosixPath(key).with_suffix(".pts")
        if target in targets:
            raise ValueError(f"images {targets[target]!r} and {key!r} would both be written to {target}")
        targets[target] = key
    return [write_pts(target, aset.images[key].points_array()) for target, key in targets.items()]
