"""COCO keypoints JSON export/import of an :class:`AnnotationSet` (one annotation per face).

Per labelled point ``keypoints`` holds ``x, y, v`` (``v``: 0 not labelled, 1 labelled but not
visible, 2 labelled and visible); ``num_keypoints`` counts ``v > 0``; the single category ``face``
lists the schema's point names.

**Coordinate convention (decided here, pinned by tests): keypoint values are written unchanged.**
COCO keypoints are integer pixel indices in ``[0, W-1]``, i.e. a value ``x`` names the pixel whose
centre is at continuous coordinate ``x + 0.5`` -- which is exactly our 0-based pixel-centre value.
That is how the two largest COCO keypoint consumers read them: detectron2 adds 0.5 on load "to
convert [pixel indices] to floating point coordinates" and subtracts 0.5 on export, and mmpose
uses the values directly as integer-centred pixels. Adding 0.5 ourselves would shift every point by
half a pixel in those tools -- at 16-32 px faces that is 2-3 % NME. Boxes (``bbox``, ``area``), on
the other hand, *are* continuous in COCO (pixel ``i`` spans ``[i, i+1]``). ``bbox`` is the **face
box**, as COCO's person keypoints carry the person's box: the box drawn for the face, or the whole
image for a face crop (a face with no box), written as ``[x+0.5, y+0.5, w, h]`` of our box
``[x, y, w, h]`` (pixel ``i`` spans ``[i-0.5, i+0.5]`` in our coordinates). Reading takes ``bbox``
back as the face box; one that covers the whole image means a face crop (no box).

Only images with status ``done`` are exported (COCO has no notion of "to do"); reading marks images
with an annotation ``done`` and the others ``todo``.

**Portable files.** ``file_name`` is relative to the folder the COCO file is written to (e.g.
``../faces/a.png``), so the export keeps working when the whole tree is moved, copied to another
machine or zipped; a relative ``image_root`` is taken as relative to that folder already. Coordinates
are rounded to 1/1000 px: the values carry no more than that (clicks at ×16 are 1/16 px apart), and
float32 noise such as ``8.708333015441895`` only makes diffs and reviews noisy.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from s2ld_core.atomic import atomic_write_json
from s2ld_core.schemas import Schema, get_schema

from .annotations import AnnotationSet, FaceAnnotation, ImageAnnotation, utc_now_iso
from .errors import MAX_COORDINATE, FormatError, check_in_image, finite, load_json

__all__ = [
    "write_coco_keypoints", "read_coco_keypoints", "read_coco_boxes", "coco_boxes", "coco_dict",
    "COCO_KEYPOINT_OFFSET", "COCO_CATEGORY_ID",
]

COCO_KEYPOINT_OFFSET = 0.0  # COCO keypoint value minus our 0-based value (see module docstring)
_PIXEL_CENTRE = 0.5  # continuous coordinate of pixel 0's centre in COCO boxes
COCO_CATEGORY_ID = 1
_DECIMALS = 3  # 1/1000 px


def _r(value: float) -> float:
    return round(float(value), _DECIMALS)


def _coco_bbox(box: list[float]) -> list[float]:
    """Our face box ``[x, y, w, h]`` (left edge at ``x`` in pixel-centre coordinates) as COCO's."""
    x, y, w, h = (float(v) for v in box)
    return [_r(x + _PIXEL_CENTRE), _r(y + _PIXEL_CENTRE), _r(w), _r(h)]


def _points64(face: FaceAnnotation) -> np.ndarray:
    """``(K, 2)`` float64 with NaN rows for unplaced points: the stored values, without float32 noise."""
    return np.array([[np.nan, np.nan] if p is None else p for p in face.points], np.float64).reshape(-1, 2)


def _flat_keypoints(face: FaceAnnotation) -> list[float]:
    pts, vis = _points64(face), face.coco_visibility()
    flat: list[float] = []
    for (x, y), v in zip(pts + COCO_KEYPOINT_OFFSET, vis):
        flat += [0.0, 0.0, 0] if v == 0 else [_r(x), _r(y), int(v)]
    return flat


def _annotation_entry(ann_id: int, image_id: int, ann: ImageAnnotation, index: int) -> dict[str, Any]:
    face = ann.faces[index]
    bbox = _coco_bbox(ann.face_box(index))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": COCO_CATEGORY_ID,
        "keypoints": _flat_keypoints(face),
        "num_keypoints": int((face.coco_visibility() > 0).sum()),
        "bbox": bbox,
        "area": _r(bbox[2] * bbox[3]),
        "iscrowd": 0,
    }


def _file_name(key: str, image_root: str | os.PathLike[str] | None, export_dir: Path | None) -> str:
    """``key`` as seen from ``export_dir``: an absolute ``image_root`` becomes a relative path
    (``../faces/a.png``); a relative one is already relative to the export folder and is kept."""
    if image_root is None:
        return key
    root = Path(image_root)
    if not root.is_absolute() or export_dir is None:
        return (PurePosixPath(root.as_posix()) / key).as_posix()
    try:
        return Path(os.path.relpath(root.resolve() / key, export_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return (root / key).as_posix()


def coco_dict(
    aset: AnnotationSet,
    image_root: str | os.PathLike[str] | None = None,
    export_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The COCO document for the ``done`` images of ``aset``.

    ``file_name`` is the image key under ``image_root``, relative to ``export_dir`` (the folder of the
    COCO file) when both are given; see the module docstring.
    """
    schema = aset.landmarks
    images, annotations = [], []
    done = [(key, ann) for key, ann in aset.images.items() if ann.status == "done"]
    folder = Path(export_dir) if export_dir is not None else None
    for image_id, (key, ann) in enumerate(done, start=1):
        name = _file_name(key, image_root, folder)
        images.append({"id": image_id, "file_name": name, "width": ann.width, "height": ann.height})
        for index, face in enumerate(ann.faces):
            if face.touched:
                annotations.append(_annotation_entry(len(annotations) + 1, image_id, ann, index))
    category = {
        "id": COCO_CATEGORY_ID, "name": "face", "supercategory": "face",
        "keypoints": list(schema.point_names), "skeleton": [],
    }
    info = {
        "description": f"s2ld landmark annotations ({schema.name}, keypoints = 0-based pixel indices)",
        "version": "1.0", "contributor": aset.annotator, "date_created": aset.updated,
    }
    return {"info": info, "images": images, "annotations": annotations, "categories": [category]}


def write_coco_keypoints(
    path: str | os.PathLike[str], aset: AnnotationSet, image_root: str | os.PathLike[str] | None = None
) -> Path:
    """Export the ``done`` images of ``aset`` as COCO keypoints JSON, atomically; ``file_name`` is
    relative to the folder of ``path``."""
    return atomic_write_json(path, coco_dict(aset, image_root, Path(path).parent), indent=2)


# --- reading ------------------------------------------------------------------------------------


def _list_field(p: Path, doc: Any, name: str) -> list[Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get(name), list):
        raise FormatError(p, f"a COCO file needs a list {name!r} at the top level")
    return doc[name]


def _scalar_id(value: Any) -> bool:
    """Ids are numbers or strings (a list or object would not even be a dictionary key)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _check_categories(p: Path, categories: list[Any], schema: Schema) -> dict[Any, dict]:
    cats = {c.get("id"): c for c in categories if isinstance(c, dict) and _scalar_id(c.get("id"))}
    for cid, cat in cats.items():
        names = cat.get("keypoints")
        if names is not None and not isinstance(names, list):
            raise FormatError(p, f"category {cid}: keypoints must be a list of point names")
        if names is not None and len(names) != schema.num_points:
            raise FormatError(
                p, f"category {cid} has {len(names)} keypoints, schema {schema.name} has {schema.num_points}"
            )
    return cats


def _key(p: Path, name: Any, image_root: str | os.PathLike[str] | None) -> str:
    """The image key of ``file_name``: relative to ``image_root``, whether ``file_name`` starts with
    the root (older exports, absolute paths) or is relative to the COCO file's folder (portable ones)."""
    posix = PurePosixPath(str(name).replace("\\", "/"))
    if image_root is None:
        return posix.as_posix()
    root = PurePosixPath(Path(image_root).as_posix())
    if posix.is_relative_to(root):
        return posix.relative_to(root).as_posix()
    here = PurePosixPath(p.parent.resolve().as_posix())
    full = PurePosixPath(posixpath.normpath((here / posix).as_posix()))
    base = PurePosixPath(posixpath.normpath((here / root).as_posix()))
    if root.is_absolute():
        base = PurePosixPath(Path(image_root).resolve().as_posix())
    return full.relative_to(base).as_posix() if full.is_relative_to(base) else posix.as_posix()


def _image_table(p: Path, images: list[Any], image_root: str | os.PathLike[str] | None) -> dict[Any, tuple]:
    """``image id -> (key, width, height)``, keys relative to ``image_root`` (see :func:`_key`)."""
    table: dict[Any, tuple] = {}
    seen: set[str] = set()
    for img in images:
        try:
            image_id, name, width, height = img["id"], img["file_name"], int(img["width"]), int(img["height"])
        except (KeyError, TypeError, ValueError, OverflowError):
            what = f"image entry {json.dumps(img)[:80]} needs id, file_name, width, height"
            raise FormatError(p, what) from None
        if not (isinstance(name, str) and name) or not _scalar_id(image_id):
            raise FormatError(p, f"image entry {json.dumps(img)[:80]}: id must be a number or string and "
                                 "file_name a non-empty string")
        if not (0 < width <= MAX_COORDINATE and 0 < height <= MAX_COORDINATE):
            raise FormatError(p, f"image {name!r}: width and height must be positive and at most "
                                 f"{MAX_COORDINATE:.0f}, got {width}x{height}")
        if image_id in table:
            raise FormatError(p, f"duplicate image id {image_id}")
        key = _key(p, name, image_root)
        if key in seen:
            raise FormatError(p, f"file_name {key!r} is listed twice")
        seen.add(key)
        table[image_id] = (key, width, height)
    return table


def _parse_keypoints(p: Path, entry: dict, k: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``(points (K,2) float64 with NaN where v=0, v (K,) int)`` from a flat ``[x, y, v]*K`` list;
    placed points must lie within one image size of the image (:func:`.errors.check_in_image`)."""
    where = f"annotation id {entry.get('id')}"
    flat = entry.get("keypoints")
    if not isinstance(flat, list) or len(flat) != 3 * k:
        got = len(flat) if isinstance(flat, list) else type(flat).__name__
        raise FormatError(p, f"{where}: keypoints must be a list of 3x{k} numbers, got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v) for v in flat):
        raise FormatError(p, f"{where}: keypoints must be finite numbers within ±{MAX_COORDINATE:.0f}")
    arr = np.asarray(flat, dtype=np.float64).reshape(k, 3)
    v = arr[:, 2]
    if not np.isin(v, (0, 1, 2)).all() or not np.isfinite(arr).all():
        raise FormatError(p, f"{where}: visibility flags must be 0, 1 or 2 and coordinates finite")
    pts = arr[:, :2] - COCO_KEYPOINT_OFFSET
    pts[v == 0] = np.nan
    outside = check_in_image(pts, width, height)
    if outside:
        raise FormatError(p, f"{where}: keypoint {outside}")
    return pts, v.astype(np.int64)


def _parse_bbox(p: Path, entry: dict, width: int, height: int) -> list[float] | None:
    """Our face box from COCO's ``bbox`` (absent, or the whole image: ``None``, a face crop). The
    numbers are checked as :func:`read_coco_boxes` checks them, and the box must lie within one image
    size of the image (:func:`.errors.check_in_image`), so a 400-digit integer or a box a whole photo
    away is one :class:`FormatError`, not an ``OverflowError`` or a huge crop later."""
    bbox = entry.get("bbox")
    if bbox is None:
        return None
    where = f"annotation id {_show(entry.get('id'))}"
    x, y, w, h = _coco_box(p, where, bbox)
    box = [x - _PIXEL_CENTRE, y - _PIXEL_CENTRE, w, h]
    outside = check_in_image([box[:2], [box[0] + w, box[1] + h]], width, height)
    if outside:
        raise FormatError(p, f"{where}: bbox corner {outside}")
    if np.allclose([x, y, w, h], [0, 0, width, height], atol=1e-3):
        return None
    return box


def read_coco_keypoints(
    path: str | os.PathLike[str], schema: str | Schema, image_root: str | os.PathLike[str] | None = None
) -> AnnotationSet:
    """Read a COCO keypoints file into an :class:`AnnotationSet`: each annotation of an image is one
    face (its ``bbox`` the face box), in file order."""
    p, sch = Path(path), get_schema(schema)
    doc = load_json(p)
    cats = _check_categories(p, _list_field(p, doc, "categories"), sch)
    table = _image_table(p, _list_field(p, doc, "images"), image_root)
    aset = AnnotationSet.new(sch, str((doc.get("info") or {}).get("contributor") or "coco"))
    faces: dict[str, list[FaceAnnotation]] = {key: [] for key, _, _ in table.values()}
    for entry in _list_field(p, doc, "annotations"):
        image_id = entry.get("image_id") if isinstance(entry, dict) else None
        if not _scalar_id(image_id) or image_id not in table:
            raise FormatError(p, f"annotation {json.dumps(entry)[:80]} refers to no listed image")
        if cats and (not _scalar_id(entry.get("category_id")) or entry["category_id"] not in cats):
            what = f"annotation id {entry.get('id')}: unknown category {entry.get('category_id')}"
            raise FormatError(p, what)
        key, width, height = table[entry["image_id"]]
        pts, v = _parse_keypoints(p, entry, sch.num_points, width, height)
        face = ImageAnnotation.from_arrays(width, height, pts, v != 1).faces[0]
        face.box = _parse_bbox(p, entry, width, height)
        faces[key].append(face)
    for key, width, height in table.values():
        if faces[key]:
            ann = ImageAnnotation(width, height, faces[key], status="done", updated=utc_now_iso())
            aset.images[key] = ann
        else:
            aset.images[key] = ImageAnnotation.empty(width, height, sch.num_points)
    return aset


def _show(value: Any) -> str:
    """A JSON value as a short excerpt for a message."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coco_box(p: Path, where: str, bbox: Any) -> tuple[float, float, float, float]:
    """A validated ``bbox``: four finite numbers within ±:data:`MAX_COORDINATE`, positive sides."""
    ok = isinstance(bbox, list) and len(bbox) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    if not ok:
        raise FormatError(p, f"{where}: bbox must be [x, y, w, h] (four numbers), got {_show(bbox)}")
    if not all(finite(v) for v in bbox):
        raise FormatError(p, f"{where}: bbox {_show(bbox)} is not finite or beyond "
                             f"±{MAX_COORDINATE:.0f}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise FormatError(p, f"{where}: bbox {_show(bbox)} needs a positive width and height")
    return x, y, w, h


def read_coco_boxes(path: str | os.PathLike[str]) -> dict[str, list[tuple[float, float, float, float]]]:
    """``{file_name: [(x, y, w, h), …]}`` from the ``bbox`` of each annotation of a COCO file (any
    category; annotations without ``bbox`` are skipped). Every malformed field -- a missing or
    non-string ``file_name``, an id that is a list, a ``null`` or infinite ``bbox``, ``annotations``
    that is not a list -- is one :class:`FormatError` naming the file and the entry."""
    return coco_boxes(load_json(path), path)


def coco_boxes(doc: Any, path: str | os.PathLike[str]) -> dict[str, list[tuple[float, float, float, float]]]:
    """:func:`read_coco_boxes` of a document already parsed; ``path`` labels the errors."""
    p = Path(path)
    names: dict[Any, str] = {}
    for i, img in enumerate(_list_field(p, doc, "images")):
        if not isinstance(img, dict):
            raise FormatError(p, f"images[{i}] must be an object with id and file_name, got {_show(img)}")
        image_id, name = img.get("id"), img.get("file_name")
        if not _scalar_id(image_id):
            raise FormatError(p, f"images[{i}]: id must be a number or string, got {_show(image_id)}")
        if not isinstance(name, str) or not name or "\0" in name:
            raise FormatError(p, f"images[{i}]: file_name must be a non-empty string, got {_show(name)}")
        if image_id in names:
            raise FormatError(p, f"images[{i}]: duplicate image id {image_id}")
        names[image_id] = name
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for i, ann in enumerate(_list_field(p, doc, "annotations")):
        if not isinstance(ann, dict):
            raise FormatError(p, f"annotations[{i}] must be an object, got {_show(ann)}")
        if "bbox" not in ann:
            continue
        image_id = ann.get("image_id")
        where = f"annotations[{i}]"
        if not _scalar_id(image_id) or image_id not in names:
            raise FormatError(p, f"{where}: image_id {_show(image_id)} names no listed image")
        out.setdefault(names[image_id], []).append(_coco_box(p, where, ann["bbox"]))
    return out
