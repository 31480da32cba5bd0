"""The project's own landmark annotation file (ALRF-style), shared by the annotator and ``s2ld evaluate``.

Layout, version 1 (one face per image, a built-in schema; keep it exactly, the annotator app and the
evaluation command both rely on it)::

    {"format": "s2ld-annotations", "version": 1, "schema": "five", "annotator": "alice",
     "convention": "0-based pixel centres", "created": "<iso8601>", "updated": "<iso8601>",
     "images": {"<posix path relative to the image root>": {
         "width": 24, "height": 24,
         "points": [[x, y] or null, ...K],      # null = not placed yet
         "visible": [true/false, ...K],         # false = placed but occluded (COCO v=1)
         "status": "todo" | "done" | "skipped" | "flagged",
         "seconds": 12.3, "prefilled": false, "updated": "<iso8601>"}}}

Version 2 says what version 1 cannot: several faces in one image, each with its face box, and point
sets that are not built in (``point_names`` at the top, only for such a schema)::

     "images": {"<key>": {"width": 64, "height": 48,
         "faces": [{"box": [x, y, w, h] or null, "points": [...K], "visible": [...K], "prefilled": false}],
         "status": "todo", "seconds": 12.3, "updated": "<iso8601>"}}

A file is written as version 1 whenever it fits (every image one face without a box, a built-in
schema), so files that older readers know stay readable by them; version 2 only when it must.

Coordinates are 0-based pixel centres in the image as stored (``width`` x ``height``), and points
must lie within one image size of it (``-width <= x <= 2 * width``, likewise y;
:func:`.errors.check_in_image`), so a point at 1e308 is refused instead of silently dropped from a
score. A face ``box`` is ``[x, y, w, h]`` in the same coordinates: its left edge at ``x``, so the
box of a whole W x H image is ``[-0.5, -0.5, W, H]``; its corners obey the same bound. A face with no
box is the whole image (a face crop). Reading is strict: an unknown or missing key, a wrong type, a
number that is not finite or beyond ±2**24 (a 400-digit integer included), or a point count that
does not match the schema is a :class:`FormatError` naming the file and the image, because a
silently mis-read annotation would corrupt an evaluation without anyone noticing.
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
from s2ld_core.schemas import SCHEMAS, Schema, get_schema

from .errors import MAX_COORDINATE, FormatError, check_in_image, finite, load_json
from .pts import write_pts

__all__ = [
    "ANNOTATION_FORMAT",
    "ANNOTATION_VERSION",
    "ANNOTATION_VERSIONS",
    "ANNOTATION_CONVENTION",
    "STATUSES",
    "FaceAnnotation",
    "ImageAnnotation",
    "AnnotationSet",
    "read_annotations",
    "write_annotations",
    "annotations_from_dict",
    "export_pts_dir",
    "pts_name",
    "utc_now_iso",
]

ANNOTATION_FORMAT = "s2ld-annotations"
ANNOTATION_VERSION = 1  # what a one-face-per-image file of a built-in schema is written as
ANNOTATION_VERSIONS = (1, 2)
ANNOTATION_CONVENTION = "0-based pixel centres"
STATUSES = ("todo", "done", "skipped", "flagged")
_TOP_KEYS = ("format", "version", "schema", "annotator", "convention", "created", "updated", "images")
_IMAGE_KEYS = ("width", "height", "points", "visible", "status", "seconds", "prefilled", "updated")
_IMAGE_KEYS_V2 = ("width", "height", "faces", "status", "seconds", "updated")
_FACE_KEYS = ("box", "points", "visible", "prefilled")


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 to the second, e.g. ``2020-06-14T09:30:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class FaceAnnotation:
    """One face of an image: its ``box`` ``[x, y, w, h]`` (``None``: the image is the face crop) and
    its landmarks, ``points[k]`` being ``[x, y]`` or ``None`` (not placed yet)."""

    points: list[list[float] | None]
    visible: list[bool]
    box: list[float] | None = None
    prefilled: bool = False

    @classmethod
    def empty(cls, num_points: int, box: list[float] | None = None) -> FaceAnnotation:
        """Nothing placed yet; points default to visible so a click places a visible point."""
        return cls([None] * num_points, [True] * num_points, None if box is None else list(map(float, box)))

    @property
    def complete(self) -> bool:
        return all(p is not None for p in self.points)

    @property
    def touched(self) -> bool:
        """Whether a point is placed (by a person or a pre-placement)."""
        return any(p is not None for p in self.points)

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
            "box": None if self.box is None else [float(v) for v in self.box],
            "points": [None if p is None else [float(p[0]), float(p[1])] for p in self.points],
            "visible": [bool(v) for v in self.visible],
            "prefilled": bool(self.prefilled),
        }


@dataclass
class ImageAnnotation:
    """Landmarks of one image: one :class:`FaceAnnotation` per face (always at least one).

    ``points``, ``visible``, ``prefilled``, :meth:`points_array` and :meth:`coco_visibility` read and
    write the *first* face, which is the whole story for the usual face-crop folder; tools that take
    several faces per image iterate over ``faces``.
    """

    width: int
    height: int
    faces: list[FaceAnnotation]
    status: str = "todo"
    seconds: float = 0.0
    updated: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        if not self.faces:
            raise ValueError("an image annotation holds at least one face")

    @classmethod
    def empty(cls, width: int, height: int, num_points: int) -> ImageAnnotation:
        """One face, nothing placed yet."""
        return cls(width, height, [FaceAnnotation.empty(num_points)])

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
        box: list[float] | None = None,
    ) -> ImageAnnotation:
        """Build from a ``(K, 2)`` array where NaN rows mean "not placed" (e.g. a detector's prefill)."""
        pts = np.asarray(points, dtype=np.float64)
        vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool)
        placed = [None if not np.isfinite(p).all() else [float(p[0]), float(p[1])] for p in pts]
        face = FaceAnnotation(placed, [bool(v) for v in vis], None if box is None else list(map(float, box)),
                              prefilled)
        return cls(width, height, [face], status=status)

    # ---- the first face (what one-face tools read) ------------------------------------------

    @property
    def points(self) -> list[list[float] | None]:
        return self.faces[0].points

    @points.setter
    def points(self, value: list[list[float] | None]) -> None:
        self.faces[0].points = value

    @property
    def visible(self) -> list[bool]:
        return self.faces[0].visible

    @visible.setter
    def visible(self, value: list[bool]) -> None:
        self.faces[0].visible = value

    @property
    def prefilled(self) -> bool:
        return self.faces[0].prefilled

    @prefilled.setter
    def prefilled(self, value: bool) -> None:
        self.faces[0].prefilled = value

    @property
    def num_points(self) -> int:
        return len(self.faces[0].points)

    def points_array(self) -> np.ndarray:
        """The first face's ``(K, 2)`` float32 points, NaN rows for points not placed yet."""
        return self.faces[0].points_array()

    def coco_visibility(self) -> np.ndarray:
        """The first face's COCO ``v`` per point: 0 not placed, 1 occluded, 2 visible."""
        return self.faces[0].coco_visibility()

    def face_box(self, index: int = 0) -> list[float]:
        """Face ``index``'s box, or the whole image's (``[-0.5, -0.5, W, H]``) for a face crop."""
        box = self.faces[index].box
        return list(box) if box is not None else [-0.5, -0.5, float(self.width), float(self.height)]

    @property
    def fits_v1(self) -> bool:
        """Whether version 1 can hold this image: one face and no box."""
        return len(self.faces) == 1 and self.faces[0].box is None

    def to_dict(self, version: int = 1) -> dict[str, Any]:
        if version == 1:
            if not self.fits_v1:
                raise ValueError("an image with several faces or a face box needs version 2")
            face = self.faces[0].to_dict()
            return {
                "width": self.width, "height": self.height, "points": face["points"],
                "visible": face["visible"], "status": self.status, "seconds": float(self.seconds),
                "prefilled": face["prefilled"], "updated": self.updated,
            }
        return {
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
            "status": self.status,
            "seconds": float(self.seconds),
            "updated": self.updated,
        }


@dataclass
class AnnotationSet:
    """All annotations of one annotator on one image folder, in one landmark schema.

    ``point_names`` is set only for a point set that is not built in (a custom schema file): the file
    then carries the names, so it can be read without the schema file that made it.
    """

    schema: str
    annotator: str
    images: dict[str, ImageAnnotation] = field(default_factory=dict)
    created: str = field(default_factory=utc_now_iso)
    updated: str = field(default_factory=utc_now_iso)
    point_names: tuple[str, ...] | None = None

    @classmethod
    def new(cls, schema: str | Schema, annotator: str) -> AnnotationSet:
        """An empty set; an unknown schema name is refused here rather than when the file is read back.
        A :class:`Schema` that is not one of the built-in ones keeps its point names in the file."""
        s = get_schema(schema)
        custom = SCHEMAS.get(s.name) != s
        if custom and s.name in SCHEMAS:
            raise ValueError(f"point set {s.name!r} differs from the built-in schema of that name; rename it")
        return cls(schema=s.name, annotator=annotator, point_names=tuple(s.point_names) if custom else None)

    @property
    def landmarks(self) -> Schema:
        """The :class:`Schema` of the points (a custom one has no flip pairs and the ``box`` normaliser)."""
        if self.point_names is None:
            return get_schema(self.schema)
        k = len(self.point_names)
        return Schema(self.schema, tuple(self.point_names), tuple(range(k)), "box")

    @property
    def num_points(self) -> int:
        return self.landmarks.num_points

    @property
    def version(self) -> int:
        """The layout this set is written in: 1 where it fits, else 2 (see the module docstring)."""
        fits = self.point_names is None and all(a.fits_v1 for a in self.images.values())
        return 1 if fits else 2

    def labelled_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(keys, points (N, K, 2) float32, visible (N, K) bool)`` over images with status ``done``
        that hold one face (an image of several faces has no single set of points to compare a whole
        image against; evaluate its faces from crops).

        Unplaced points are NaN and never visible, so ``visible`` doubles as "placed and visible".
        """
        k = self.num_points
        keys = [key for key, ann in self.images.items() if ann.status == "done" and len(ann.faces) == 1]
        points = np.full((len(keys), k, 2), np.nan, dtype=np.float32)
        visible = np.zeros((len(keys), k), dtype=bool)
        for i, key in enumerate(keys):
            ann = self.images[key]
            points[i] = ann.points_array()
            visible[i] = ann.coco_visibility() == 2
        return keys, points, visible

    def to_dict(self) -> dict[str, Any]:
        version = self.version
        doc = {
            "format": ANNOTATION_FORMAT,
            "version": version,
            "schema": self.schema,
            "annotator": self.annotator,
            "convention": ANNOTATION_CONVENTION,
            "created": self.created,
            "updated": self.updated,
        }
        if self.point_names is not None:
            doc["point_names"] = list(self.point_names)
        doc["images"] = {key: ann.to_dict(version) for key, ann in self.images.items()}
        return doc


# --- validation: one small checker per field, each naming the file and the image -----------------


class _Checker:
    """Raises :class:`FormatError` for ``path`` with an optional image key in front of the message."""

    def __init__(self, path: str | os.PathLike[str], key: str | None = None) -> None:
        self.path, self.key = path, key

    def fail(self, what: str) -> FormatError:
        prefix = "" if self.key is None else f"image {self.key!r}: "
        return FormatError(self.path, prefix + what)

    def keys(self, obj: Any, expected: tuple[str, ...], what: str, optional: tuple[str, ...] = ()) -> None:
        if not isinstance(obj, dict):
            raise self.fail(f"{what} must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in expected if k not in obj]
        unknown = [k for k in obj if k not in expected and k not in optional]
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


def _parse_point(
    check: _Checker, value: Any, k: int, width: int, height: int, where: str = ""
) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise check.fail(f"{where}points[{k}] must be [x, y] or null, got {json.dumps(value)[:80]}")
    xy = [check.typed(v, (int, float), f"{where}points[{k}]") for v in value]
    if not all(finite(v) for v in xy):
        raise check.fail(f"{where}points[{k}] is not finite or beyond ±{MAX_COORDINATE:.0f}: "
                         f"{json.dumps(value)[:60]}")
    outside = check_in_image([xy], width, height)
    if outside:
        raise check.fail(f"{where}points[{k}] {outside}")
    return [float(xy[0]), float(xy[1])]


def _parse_box(check: _Checker, value: Any, where: str, width: int, height: int) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise check.fail(f"{where} must be [x, y, w, h] or null, got {json.dumps(value)[:80]}")
    raw = [check.typed(v, (int, float), where) for v in value]
    # finite() before float(): a 400-digit integer is an OverflowError there
    if not all(finite(v) for v in raw) or float(raw[2]) <= 0 or float(raw[3]) <= 0:
        raise check.fail(f"{where} needs finite numbers within ±{MAX_COORDINATE:.0f} and a positive width "
                         f"and height, got {json.dumps(value)[:60]}")
    box = [float(v) for v in raw]
    outside = check_in_image([box[:2], [box[0] + box[2], box[1] + box[3]]], width, height)
    if outside:
        raise check.fail(f"{where} corner {outside}")
    return box


def _parse_face(
    check: _Checker, obj: Any, num_points: int, width: int, height: int, where: str = ""
) -> FaceAnnotation:
    """Points, visibility (and in version 2 the box and prefilled flag) of one face."""
    points, visible = check.typed(obj["points"], list, f"{where}points"), check.typed(
        obj["visible"], list, f"{where}visible")
    for name, seq in (("points", points), ("visible", visible)):
        if len(seq) != num_points:
            raise check.fail(f"{where}{name} has {len(seq)} entries, the schema has {num_points} points")
    return FaceAnnotation(
        points=[_parse_point(check, p, k, width, height, where) for k, p in enumerate(points)],
        visible=[check.typed(v, bool, f"{where}visible[{k}]") for k, v in enumerate(visible)],
        box=_parse_box(check, obj.get("box"), f"{where}box", width, height),
        prefilled=check.typed(obj["prefilled"], bool, f"{where}prefilled"),
    )


def _parse_image(
    path: str | os.PathLike[str], key: str, obj: Any, num_points: int, version: int = 1
) -> ImageAnnotation:
    check = _Checker(path, key)
    _check_image_key(check, key)
    check.keys(obj, _IMAGE_KEYS if version == 1 else _IMAGE_KEYS_V2, "entry")
    width, height = (check.typed(obj[n], int, n) for n in ("width", "height"))
    if not (0 < width <= MAX_COORDINATE and 0 < height <= MAX_COORDINATE):
        raise check.fail(f"width and height must be positive and at most {MAX_COORDINATE:.0f}, "
                         f"got {width}x{height}")
    if version == 1:
        faces = [_parse_face(check, obj, num_points, width, height)]
    else:
        items = check.typed(obj["faces"], list, "faces")
        if not items:
            raise check.fail("faces is empty; an image holds at least one face")
        faces = []
        for i, item in enumerate(items):
            check.keys(item, _FACE_KEYS, f"faces[{i}]")
            faces.append(_parse_face(check, item, num_points, width, height, f"face {i + 1} "))
    status = check.typed(obj["status"], str, "status")
    if status not in STATUSES:
        raise check.fail(f"status {status!r} is not one of {', '.join(STATUSES)}")
    try:
        seconds = float(check.typed(obj["seconds"], (int, float), "seconds"))
    except OverflowError:  # an integer too long for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise check.fail(f"seconds must be a non-negative number, got {seconds}")
    return ImageAnnotation(width, height, faces, status=status, seconds=seconds,
                           updated=check.timestamp(obj["updated"], "updated"))


def _point_names(check: _Checker, obj: dict, schema: str, version: int) -> tuple[str, ...] | None:
    """The point names a custom-schema file carries; ``None`` for a built-in schema."""
    names = obj.get("point_names")
    if names is None:
        if schema not in SCHEMAS:
            raise check.fail(f"unknown schema {schema!r}; known: {', '.join(sorted(SCHEMAS))} "
                             "(a custom point set needs version 2 and 'point_names')")
        return None
    if version == 1:
        raise check.fail("point_names needs version 2")
    if schema in SCHEMAS:
        raise check.fail(f"schema {schema!r} is built in; point_names is only for custom point sets")
    check.typed(names, list, "point_names")
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise check.fail("point_names must be a non-empty list of distinct, non-empty strings")
    return tuple(names)


def annotations_from_dict(obj: Any, path: str | os.PathLike[str] = "<annotations>") -> AnnotationSet:
    """Validate a decoded annotation document; ``path`` only labels the error messages."""
    check = _Checker(path)
    check.keys(obj, _TOP_KEYS, "the document", optional=("point_names",))
    if obj["format"] != ANNOTATION_FORMAT:
        raise check.fail(f"format is {obj['format']!r}, expected {ANNOTATION_FORMAT!r}")
    version = obj["version"]
    if version not in ANNOTATION_VERSIONS or isinstance(version, bool):
        known = ", ".join(map(str, ANNOTATION_VERSIONS))
        raise check.fail(f"unsupported version {version!r}; this code reads {known}")
    if obj["convention"] != ANNOTATION_CONVENTION:
        raise check.fail(f"convention is {obj['convention']!r}, expected {ANNOTATION_CONVENTION!r}")
    schema = check.typed(obj["schema"], str, "schema")
    names = _point_names(check, obj, schema, version)
    images = check.typed(obj["images"], dict, "images")
    k = len(names) if names is not None else SCHEMAS[schema].num_points
    return AnnotationSet(
        schema=schema,
        annotator=check.typed(obj["annotator"], str, "annotator"),
        images={key: _parse_image(path, key, entry, k, version) for key, entry in images.items()},
        created=check.timestamp(obj["created"], "created"),
        updated=check.timestamp(obj["updated"], "updated"),
        point_names=names,
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


def pts_name(key: str, face: int, faces: int) -> PurePosixPath:
    """The ``.pts`` path of face ``face`` (0-based) of image ``key``: ``a/b.pts`` for an image of one
    face, ``a/b_1.pts``, ``a/b_2.pts`` … for several (300W's own naming for group photos)."""
    stem = PurePosixPath(key).with_suffix("")
    return stem.with_name(f"{stem.name}_{face + 1}.pts") if faces > 1 else stem.with_suffix(".pts")


def export_pts_dir(aset: AnnotationSet, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one 1-based ``.pts`` per face of each ``done`` image, mirroring the key's folders
    (``a/b.png`` -> ``out_dir/a/b.pts``; several faces -> ``b_1.pts``, ``b_2.pts``, see
    :func:`pts_name`); ``.pts`` holds any point count. ``.pts`` cannot say "not placed", so a done
    image with an unplaced point is an error rather than a silently invented coordinate."""
    out = Path(out_dir)
    targets: dict[Path, tuple[str, int]] = {}
    for key, ann in aset.images.items():
        if ann.status != "done":
            continue
        for f, face in enumerate(ann.faces):
            missing = [k for k, p in enumerate(face.points) if p is None]
            if missing:
                where = f"image {key!r}" + (f" face {f + 1}" if len(ann.faces) > 1 else "")
                raise ValueError(f"{where} is done but points {missing} are unplaced (.pts needs all)")
            target = out / pts_name(key, f, len(ann.faces))
            if target in targets:
                other = targets[target][0]
                raise ValueError(f"images {other!r} and {key!r} would both be written to {target}")
            targets[target] = (key, f)
    return [write_pts(t, aset.images[key].faces[f].points_array()) for t, (key, f) in targets.items()]
