"""Scoring a detector on labelled faces: NME per image, the summary figures and a CED plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.datasets import LabelledFaces
from .metrics import nme, per_point_error, summarize
from .schemas import convert_points, get_schema


@dataclass
class Evaluation:
    name: str
    errors: np.ndarray  # (N,) NME per image
    per_point: np.ndarray  # (K,)
    predictions: np.ndarray  # (N,K,2)
    confidence: np.ndarray  # (N,K)
    summary: dict


def evaluate_detector(
    detector, faces: LabelledFaces, normalizer: str | None = None, name: str | None = None
) -> Evaluation:
    """Predict on ``faces`` and score in the detector's schema (ground truth converted if needed).

    ``normalizer`` defaults to the schema's (``box`` for AFLW-19 and the LR sets, ``interocular`` for
    300W); the summary always names the one used.
    """
    schema = get_schema(detector.schema)
    gt, vis = faces.points, faces.visible
    if faces.schema != schema.name:
        gt, vis = convert_points(gt, faces.schema, schema.name, vis)
    norm = normalizer or schema.normalizer
    pred, conf = detector.predict(faces.images)
    errors = nme(pred, gt, normalizer=norm, schema=schema, visible=vis)
    summary = summarize(errors, norm)
    return Evaluation(
        name or getattr(detector, "name", type(detector).__name__),
        errors,
        per_point_error(pred, gt, normalizer=norm, schema=schema, visible=vis),
        pred,
        conf,
        summary,
    )


def faces_from_annotations(path: str | Path, images_root: str | Path | None = None) -> LabelledFaces:
    """The done images of an annotation JSON as labelled faces (images read from ``images_root``,
    default: the folder holding the annotation's parent ``annotations/`` folder, else its own).

    Each image is read through the guarded reader (pixel limit checked on the header) and must have
    the size its entry states: points are in that image's pixels, so scoring a 30x30 file against an
    entry that says 25x25 would be silently wrong."""
    from .data.formats import read_annotations
    from .data.images import image_size, read_rgb

    path = Path(path)
    aset = read_annotations(path)
    keys, points, visible = aset.labelled_arrays()
    if not keys:
        raise ValueError(f"{path}: no image is marked done; nothing to evaluate")
    root = (
        Path(images_root)
        if images_root
        else (path.parent.parent if path.parent.name == "annotations" else path.parent)
    )
    images = []
    for key in keys:
        file = root / key
        if not file.is_file():
            raise ValueError(f"{file}: no such image (listed in {path}; --images-root sets their folder)")
        ann = aset.images[key]
        w, h = image_size(file)  # header first: a wrong size is refused before decoding
        if (w, h) in ((ann.width, ann.height), (ann.height, ann.width)):  # (h, w): EXIF may rotate
            image = read_rgb(file)
            h, w = image.shape[:2]
        if (w, h) != (ann.width, ann.height):
            raise ValueError(f"{file}: is {w}x{h} px but {path} says {ann.width}x{ann.height}; "
                             "its points would not match this image")
        images.append(image)
    vis = visible & np.all(np.isfinite(points), axis=-1)
    return LabelledFaces(
        _ragged(images),
        np.nan_to_num(points).astype(np.float32),
        vis,
        np.full(len(keys), -1, np.int64),
        aset.schema,
    )


def _ragged(images: list[np.ndarray]):
    """Stack same-sized images; keep a list (detectors accept both) when sizes differ."""
    shapes = {im.shape for im in images}
    return np.stack(images) if len(shapes) == 1 else images
