"""Existing annotations in, as pre-placed points to review: COCO keypoints, 300W ``.pts``, dlib's
imglab XML and the project's own JSON.

Why pre-placement and not a merge: an imported file was made by another tool, person or model, for
images that may since have been cropped or renamed; the annotator shows its points for a person to
correct and accept (Done), exactly like a model's, and never writes over an image someone already
worked on (:meth:`annotator.store.AnnotationStore.preplace`).

The readers are the project's own (:mod:`s2ld_core.data.formats`); this module only matches file
names to the open folder's images, converts point sets (68 iBUG points into ``aflw19`` or ``five``,
the conversions of :func:`s2ld_core.schemas.convert_points`) and refuses, per image, what would be a
silent wrong answer: a file of another image size, points far outside the image, a point count that
no conversion turns into the session's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from s2ld_core.data.formats import (
    FaceAnnotation,
    FormatError,
    read_annotations,
    read_coco_keypoints,
    read_imglab_xml,
    read_pts,
)
from s2ld_core.data.formats.errors import check_in_image, finite, load_json
from s2ld_core.schemas import SCHEMAS, Schema, convert_points, get_schema

__all__ = ["ImportResult", "read_import", "match_key", "IMPORT_SUFFIXES"]

IMPORT_SUFFIXES = (".json", ".xml", ".pts")
OUTSIDE_SLACK = 1.0  # px: a point this far beyond the image border means another image or scale


@dataclass
class ImportResult:
    """Faces per image key, and one line per thing that was left out (for the page)."""

    faces: dict[str, list[FaceAnnotation]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def num_faces(self) -> int:
        return sum(len(v) for v in self.faces.values())


def match_key(name: str, keys: Sequence[str]) -> str | None:
    """The image key a file name in an annotation file means: the same path, the longest key that
    ends the name (``../faces/a/b.png`` -> ``a/b.png``) or that the name ends, else a unique key with
    the same file name; ``None`` when nothing (or several keys equally) match."""
    posix = PurePosixPath(str(name).replace("\\", "/"))
    parts = [p for p in posix.parts if p not in (".", "..", "/")]
    if not parts:
        return None
    best, best_len = None, 0
    for key in keys:
        kparts = PurePosixPath(key).parts
        n = min(len(kparts), len(parts))
        common = 0
        while common < n and kparts[-1 - common] == parts[-1 - common]:
            common += 1
        if common == 0 or (common < len(kparts) and common < len(parts)):
            continue  # only the file name matches, not a whole path: handled below
        if common > best_len:
            best, best_len = key, common
        elif common == best_len:
            best = None if best is not None and best != key else best
    if best is not None:
        return best
    same = [k for k in keys if PurePosixPath(k).name == parts[-1]]
    return same[0] if len(same) == 1 else None


def _by_stem(stem: str, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if PurePosixPath(k).stem == stem]


def _convert(points: np.ndarray, visible: np.ndarray, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """``(K_file, 2)`` points into ``schema``; a count that is no known schema's is an error."""
    k = len(points)
    if k == schema.num_points:
        return points, visible
    source = next((s for s in SCHEMAS.values() if s.num_points == k), None)
    if source is None:
        raise ValueError(f"{k} points, and {schema.name} has {schema.num_points}; no known schema has {k}")
    try:
        return convert_points(points, source, schema, visible)
    except ValueError:
        raise ValueError(f"{k} points ({source.name}) cannot be converted to {schema.name}") from None


def _face(points, visible, box, schema: Schema) -> FaceAnnotation:
    pts, vis = _convert(np.asarray(points, np.float64), np.asarray(visible, bool), schema)
    placed = [None if not np.isfinite(p).all() else [float(p[0]), float(p[1])] for p in pts]
    return FaceAnnotation(placed, [bool(v) for v in vis], None if box is None else [float(v) for v in box])


def _outside(face: FaceAnnotation, size: tuple[int, int]) -> bool:
    w, h = size
    pts = face.points_array()
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = -0.5 - OUTSIDE_SLACK, np.array([w, h]) - 0.5 + OUTSIDE_SLACK
    return bool(len(pts)) and bool(((pts < lo) | (pts > hi)).any())


def _bad_box(face: FaceAnnotation, size: tuple[int, int]) -> str | None:
    """Why the face's box cannot be kept, else ``None``: not finite, not positive, more than one image
    size outside the image (:func:`s2ld_core.data.formats.errors.check_in_image`), or covering less
    than a pixel of it (the store clips boxes to the image and refuses what is left of such a one)."""
    if face.box is None:
        return None
    x, y, w, h = face.box
    shown = [float(f"{v:.6g}") for v in face.box] if all(finite(v) for v in face.box) else face.box
    if not all(finite(v) for v in face.box) or w <= 0 or h <= 0:
        return f"its box {shown} is not a box"
    outside = check_in_image([[x, y], [x + w, y + h]], *size)
    if outside is not None:
        return f"its box corner {outside}"
    iw, ih = size
    if min(x + w, iw - 0.5) - max(x, -0.5) < 1 or min(y + h, ih - 0.5) - max(y, -0.5) < 1:
        return f"its box {shown} covers less than a pixel of the {iw}x{ih} image"
    return None


class _Collector:
    """Adds faces per key after the checks every format shares."""

    def __init__(self, keys: Sequence[str], size_of, schema: Schema, source: str):
        self.keys, self.size_of, self.schema, self.source = keys, size_of, schema, source
        self.result = ImportResult()
        self.unmatched: list[str] = []

    def add(self, name: str, make, size: tuple[int, int] | None = None, key: str | None = None) -> None:
        key = key or match_key(name, self.keys)
        if key is None:
            self.unmatched.append(str(name))
            return
        try:
            actual = self.size_of(key)
        except ValueError as exc:
            self.result.notes.append(f"{key}: {exc}")
            return
        if size is not None and tuple(size) != tuple(actual):
            self.result.notes.append(f"{key}: the file describes a {size[0]}x{size[1]} image, this one is "
                                     f"{actual[0]}x{actual[1]}; left out (rescale the annotation first)")
            return
        try:
            face = make()
        except ValueError as exc:
            self.result.notes.append(f"{key}: {exc}")
            return
        if _outside(face, actual):
            self.result.notes.append(f"{key}: points lie outside the {actual[0]}x{actual[1]} image; left out "
                                     "(were they made on a larger copy?)")
            return
        bad = _bad_box(face, actual)
        if bad is not None:
            self.result.notes.append(f"{key}: {bad}; left out")
            return
        self.result.faces.setdefault(key, []).append(face)

    def finish(self) -> ImportResult:
        if self.unmatched:
            shown = ", ".join(self.unmatched[:3]) + (" …" if len(self.unmatched) > 3 else "")
            n = len(self.unmatched)
            self.result.notes.append(f"{n} image(s) in {self.source} are not in this folder ({shown})")
        return self.result


def _project_json(path: Path, col: _Collector) -> None:
    aset = read_annotations(path)
    src = aset.landmarks
    for key, ann in aset.images.items():
        for face in ann.faces:
            if not face.touched and face.box is None:
                continue

            def make(face=face):
                if src.point_names != col.schema.point_names and src.num_points == col.schema.num_points:
                    raise ValueError(f"its {src.name} points are not the {col.schema.name} points")
                return _face(face.points_array(), face.visible, face.box, col.schema)

            col.add(key, make, (ann.width, ann.height))


def _coco(path: Path, col: _Collector) -> None:
    doc = load_json(path)
    cats = doc.get("categories") if isinstance(doc, dict) else None
    cats = cats if isinstance(cats, list) else []  # a malformed one is read_coco_keypoints' to refuse
    names = next((c["keypoints"] for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)
                  and c["keypoints"]), None)
    k = len(names) if names else col.schema.num_points
    src = col.schema if k == col.schema.num_points else next(
        (s for s in SCHEMAS.values() if s.num_points == k), None)
    if src is None:
        ours = f"{col.schema.name} has {col.schema.num_points}"
        raise FormatError(path, f"its keypoints have {k} points; {ours} and no known schema has that many")
    aset = read_coco_keypoints(path, src)
    for key, ann in aset.images.items():
        if ann.status != "done":
            continue  # listed without an annotation
        for face in ann.faces:
            col.add(key, lambda face=face: _face(face.points_array(), face.visible, face.box, col.schema),
                    (ann.width, ann.height))


def _imglab(path: Path, col: _Collector) -> None:
    for face in read_imglab_xml(path, num_points=None):
        left, top, w, h = face.box
        box = [left - 0.5, top - 0.5, w, h]  # imglab boxes cover whole pixels left .. left+w-1
        pts = face.points
        if not len(pts):
            col.add(face.image, lambda box=box: FaceAnnotation.empty(col.schema.num_points, box))
            continue
        seen = np.isfinite(pts).all(axis=1)
        col.add(face.image, lambda pts=pts, box=box, seen=seen: _face(pts, seen, box, col.schema))


def _pts_files(paths: list[Path], col: _Collector) -> None:
    """``b.pts`` -> the image with stem ``b``; ``b_1.pts``, ``b_2.pts`` -> faces of image ``b`` when no
    image is called ``b_1`` (300W's naming for group photos). ``.pts`` has no box: each face of a
    group gets the box of its points, for the person to redraw."""
    for path in sorted(paths):
        stem = path.stem
        keys = _by_stem(stem, col.keys)
        if not keys and "_" in stem and stem.rsplit("_", 1)[1].isdigit():
            keys = _by_stem(stem.rsplit("_", 1)[0], col.keys)
        if len(keys) != 1:
            col.unmatched.append(path.name if not keys else f"{path.name} (several images named {stem})")
            continue
        pts = read_pts(path)
        col.add(path.name, lambda pts=pts: _face(pts, np.ones(len(pts), bool), None, col.schema), key=keys[0])
    for faces in col.result.faces.values():
        if len(faces) > 1:
            for face in faces:
                if face.box is None:
                    arr = face.points_array()
                    lo, hi = np.nanmin(arr, axis=0) - 0.5, np.nanmax(arr, axis=0) + 0.5
                    face.box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def read_import(
    files: Sequence[str | os.PathLike[str]],
    keys: Sequence[str],
    size_of,
    schema: str | Schema,
    names: Sequence[str] | None = None,
) -> ImportResult:
    """Faces from annotation ``files`` for the images ``keys`` (``size_of(key) -> (w, h)``).

    ``names`` are the files' own names where ``files`` are temporary copies (browser uploads), used to
    choose the reader and to match ``.pts`` files. A file that cannot be read at all raises
    :class:`ValueError` naming it; what is left out of a readable file is listed in ``notes``.
    """
    s = get_schema(schema)
    paths = [Path(f) for f in files]
    shown = [Path(n) for n in names] if names is not None else paths
    if not paths:
        raise ValueError("choose one or more annotation files (.json, .xml, .pts)")
    pts_group = [(p, n) for p, n in zip(paths, shown) if n.suffix.lower() == ".pts"]
    others = [(p, n) for p, n in zip(paths, shown) if n.suffix.lower() != ".pts"]
    result = ImportResult()
    try:
        if pts_group:
            col = _Collector(keys, size_of, s, f"{len(pts_group)} .pts file(s)")
            renamed = []
            for p, n in pts_group:
                renamed.append(p if p.name == n.name else _alias(p, n.name))
            _pts_files(renamed, col)
            _merge(result, col.finish())
        for p, n in others:
            col = _Collector(keys, size_of, s, n.name)
            suffix = n.suffix.lower()
            if suffix == ".xml":
                _imglab(p, col)
            elif suffix == ".json":
                doc = load_json(p)
                is_ours = isinstance(doc, dict) and doc.get("format") == "s2ld-annotations"
                (_project_json if is_ours else _coco)(p, col)
            else:
                raise ValueError(f"{n.name}: not an annotation file this tool reads (.json, .xml, .pts)")
            _merge(result, col.finish())
    except FormatError as exc:
        raise ValueError(str(exc).replace(str(exc.path), _shown_name(exc.path, paths, shown), 1)) from None
    return result


def _alias(path: Path, name: str) -> Path:
    """A link (or copy) of an uploaded temporary file under its original name, so that ``.pts``
    matching sees ``b_2.pts`` and not the upload's random name."""
    import shutil
    import tempfile

    target = Path(tempfile.mkdtemp(prefix="s2ld-import-")) / name
    shutil.copyfile(path, target)
    return target


def _shown_name(path: str, paths: list[Path], shown: list[Path]) -> str:
    for p, n in zip(paths, shown):
        if str(p) == str(path) or Path(path).name == p.name:
            return n.name
    return Path(path).name


def _merge(into: ImportResult, part: ImportResult) -> None:
    for key, faces in part.faces.items():
        into.faces.setdefault(key, []).extend(faces)
    into.notes += part.notes
