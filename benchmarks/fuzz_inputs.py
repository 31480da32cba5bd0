"""Fuzz every entry point that takes a user's files or arrays: ``s2ld predict``, ``s2ld evaluate``, the
annotator opening a folder (images and an existing annotation file), the demo's upload path and the
Python API (``LandmarkDetector.predict``, ``PhotoLandmarker``).

    python benchmarks/fuzz_inputs.py [--quick] [--out reports/fuzz_inputs.json] [--seed 0]

What is fed in (all deterministic from ``--seed``):

* **images** -- ten valid seeds (PNG, JPEG, 16-bit, grey, RGBA, BMP, WebP, TIFF; face crops and a
  photo), each through :func:`benchmarks.fuzz_readers.corruptions` (truncations, byte flips, NULs,
  random bytes, 4 MiB files, other formats under its name ...), plus headers patched to claim
  20000², 60000², 4000×1, 0×0 or 2**31 px, and real images at and above the pixel limit;
* **box and landmark files** (``--faces`` COCO / WIDER / imglab / annotation JSON, ``--annotations``,
  ``--imglab``, an annotation file the annotator opens) -- the same byte corruptions plus field
  mutations: every JSON field deleted or replaced by ``null``, lists, objects, strings, booleans,
  ``1e300``, ``±Infinity``, ``2**64``, nesting; every XML attribute set to ``1e300``, ``-20000``,
  ``99999999999999``, ``nan`` ...; every WIDER number likewise;
* **the annotator's imports** (``annotator.imports.read_import``, "annotate import" too) -- a COCO
  keypoints file with a face box, a version-2 annotation file of two boxed faces, a ``.pts`` and an
  imglab XML, each through the same corruptions and field mutations (from their own random stream,
  so the other cases stay as they were), and every number of the JSON ones set to ``±10**400``,
  ``1e308`` and ``2**64``; the imported faces are then pre-placed, listed and exported;
* **outputs aimed at inputs** -- ``--overlay`` on the input folder, ``--out`` on an input image or
  on the ``--faces`` file;
* **API inputs** -- arrays and tensors of every dtype and layout, PIL images of every mode, paths,
  boxes that are infinite, flat, dicts missing keys, far outside the photo (:data:`API_CASES`).

Each input runs in a forked child (the parent holds the imported libraries, so a case costs
milliseconds, not an interpreter start), limited to 6 GiB of address space and 120 s. Every call is
classified: **success** (it returned / exit 0), **clean error** (a ``ValueError`` / ``OSError`` or
``s2ld: error:`` exit 2, one line, naming the input), **unclear** (the right kind, but several lines or
no name), **traceback** (anything else: another exception, a crash, a timeout). Before and after,
every file in the case's input folder is fingerprinted: **inputs modified** counts cases where one
changed or vanished (outputs written elsewhere are not inputs). **Peak RSS** is the child's
``ru_maxrss`` (it includes the parent's ~0.2 GB of imported libraries that the child shares).

The script prints one row per entry point, writes JSON, and exits 1 if any case gave a traceback, an
unclear error or a modified input, or used more than 1 GiB for an input file under 2 MB.
``run_cases(quick=True)`` is the few-second subset the test suite runs.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fuzz_readers import _fingerprint, corruptions  # noqa: E402

SMALL_INPUT = 2 * 10**6  # the bound: inputs under 2 MB must stay under 1 GiB
RSS_BOUND_MB = 1024
CHILD_ADDRESS_SPACE = 6 * 2**30
CHILD_SECONDS = 120

__all__ = ["Case", "Outcome", "BOX_CASES", "api_inputs", "api_table", "build_cases", "iter_cases",
           "run_cases", "summarise", "table", "main"]


@dataclass
class Case:
    """One input: ``setup(folder)`` writes the input files into ``folder`` and returns the call."""

    entry: str
    name: str
    setup: Callable[[Path], Callable[[], object]]
    names: tuple[str, ...] = ()  # words a clean error must contain (the input's name)


@dataclass
class Outcome:
    entry: str
    case: str
    result: str  # success | error | unclear | traceback
    message: str = ""
    modified: list[str] = field(default_factory=list)
    rss_mb: float = 0.0
    input_bytes: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------------
# Valid seeds
# --------------------------------------------------------------------------------------------------


def _face() -> np.ndarray:
    from s2ld_core.data.sources import lfw_faces

    return lfw_faces()[7]


def _photo() -> np.ndarray:
    """320×240: a noisy background with six 48 px faces, so the finder has work to do."""
    import cv2

    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    from s2ld_core.data.sources import lfw_faces

    for i, f in enumerate(lfw_faces()[:6]):
        y, x = 30 + 110 * (i // 3), 20 + 100 * (i % 3)
        photo[y:y + 48, x:x + 48] = cv2.resize(f, (48, 48), interpolation=cv2.INTER_CUBIC)
    return photo


def _encode(image: np.ndarray, suffix: str, *params) -> bytes:
    import cv2

    bgr = image[..., ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = image[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(bgr), list(params))
    assert ok, suffix
    return buf.tobytes()


def image_seeds() -> dict[str, tuple[str, bytes]]:
    """name -> (suffix, valid bytes)."""
    import cv2

    face, photo = _face(), _photo()
    big = cv2.resize(face, (64, 64), interpolation=cv2.INTER_CUBIC)
    rgba = np.dstack([face, np.full(face.shape[:2], 200, np.uint8)])
    return {
        "png-face": (".png", _encode(face, ".png")),
        "jpeg-face": (".jpg", _encode(big, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90)),
        "png-photo": (".png", _encode(photo, ".png")),
        "jpeg-photo": (".jpg", _encode(photo, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85)),
        "png-16bit": (".png", _encode(face.astype(np.uint16) * 257, ".png")),
        "png-grey": (".png", _encode(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), ".png")),
        "png-rgba": (".png", _encode(rgba, ".png")),
        "bmp": (".bmp", _encode(face, ".bmp")),
        "webp": (".webp", _encode(big, ".webp")),
        "tiff": (".tif", _encode(face, ".tif")),
    }


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width: int, height: int, idat: bytes = b"\0" * 200) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width × height`` (CRCs correct)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(idat))
            + _png_chunk(b"IEND", b""))


def _jpeg_claiming(seed: bytes, width: int, height: int) -> bytes:
    """The JPEG ``seed`` with its SOF0 frame header patched to ``width × height``."""
    i = seed.find(b"\xff\xc0")
    out = bytearray(seed)
    out[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def _bmp_claiming(seed: bytes, width: int, height: int) -> bytes:
    out = bytearray(seed)
    out[18:26] = struct.pack("<ii", width, height)
    return bytes(out)


def special_images(seeds: dict[str, tuple[str, bytes]],
                   quick: bool = False) -> Iterator[tuple[str, str, bytes]]:
    """``(case, suffix, bytes)``: header bombs and real images at the edges of the limit."""
    import cv2

    from s2ld_core.data.images import DEFAULT_MAX_PIXELS

    for w, h in ((20000, 20000), (60000, 60000), (4000, 1), (1, 4000), (0, 0), (2**31 - 1, 1),
                 (65535, 65535), (4097, 3073)):
        yield f"PNG header claims {w}x{h}", ".png", png_claiming(w, h)
    jpeg = seeds["jpeg-face"][1]
    for w, h in ((65535, 65535), (0, 0), (1, 65535), (20000, 20000)):
        yield f"JPEG header claims {w}x{h}", ".jpg", _jpeg_claiming(jpeg, w, h)
    bmp = seeds["bmp"][1]
    for w, h in ((50000, 50000), (25, -25), (-25, 25), (2**31 - 1, 1)):
        yield f"BMP header claims {w}x{h}", ".bmp", _bmp_claiming(bmp, w, h)
    zeros = np.zeros
    if not quick:  # encoding these takes seconds
        yield "real 20000x20000 PNG (zeros)", ".png", _encode(zeros((20000, 20000, 3), np.uint8), ".png")
        side = int((DEFAULT_MAX_PIXELS // 3 * 4) ** 0.5)
        yield f"real {side}x{side * 3 // 4} PNG (at the limit)", ".png", _encode(
            zeros((side * 3 // 4, side, 3), np.uint8), ".png")
        above = _encode(zeros((3073, 4097, 3), np.uint8), ".png")
        yield "real 4097x3073 PNG (above the limit)", ".png", above
    for w, h in ((4000, 1), (1, 4000), (1, 1), (2, 3), (4000, 2)):
        yield f"real {w}x{h} PNG", ".png", _encode(np.full((h, w, 3), 120, np.uint8), ".png")
    yield "real 8x8 16-bit grey PNG", ".png", _encode(np.full((8, 8), 40000, np.uint16), ".png")
    ok, buf = cv2.imencode(".png", np.full((30, 30, 4), 255, np.uint8))
    yield "fully transparent RGBA PNG", ".png", buf.tobytes()


# --------------------------------------------------------------------------------------------------
# Structured mutations of box and landmark files
# --------------------------------------------------------------------------------------------------

_JSON_VALUES = (None, [], {}, "x", True, 1e300, -1e300, float("inf"), float("nan"), 2**64, -1, 0,
                [1, 2, 3], [[[[1]]]], {"a": {"b": 1}}, "../../../etc/passwd", "a\0b")


def _json_paths(doc, prefix=()) -> Iterator[tuple]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield (*prefix, i)
            yield from _json_paths(v, (*prefix, i))


def json_mutations(doc, rng: np.random.Generator, limit: int) -> Iterator[tuple[str, bytes]]:
    """Each field deleted or replaced by an odd value (a sample of ``limit``)."""
    import copy

    paths = list(_json_paths(doc))
    plans = [(p, "delete") for p in paths] + [(p, v) for p in paths for v in range(len(_JSON_VALUES))]
    for k in rng.permutation(len(plans))[:limit]:
        path, how = plans[int(k)]
        new = copy.deepcopy(doc)
        parent = new
        for key in path[:-1]:
            parent = parent[key]
        if how == "delete":
            del parent[path[-1]]
            label = "deleted"
        else:
            parent[path[-1]] = copy.deepcopy(_JSON_VALUES[how])
            label = f"= {json.dumps(_JSON_VALUES[how])[:24]}"
        yield f"field {'.'.join(map(str, path))} {label}", json.dumps(new).encode()


_NUMBER_VALUES = ("1e300", "-1e300", "1e7", "-20000", "-100000", "99999999999999", "nan", "inf", "-inf",
                  "-1", "0", "x", "", "0x10", "1e-300", "3.5")


def text_number_mutations(seed: bytes, rng: np.random.Generator, limit: int) -> Iterator[tuple[str, bytes]]:
    """One number of a text file (WIDER lines, XML attributes) replaced by an odd value."""
    spans = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?", seed)]
    plans = [(s, v) for s in spans for v in _NUMBER_VALUES]
    for k in rng.permutation(len(plans))[:limit]:
        (a, b), value = plans[int(k)]
        yield f"number at byte {a} = {value!r}", seed[:a] + value.encode() + seed[b:]


def _ibug_points() -> list[list[float]]:
    from s2ld_core.inference import LandmarkDetector

    shape = LandmarkDetector.pretrained().meta.get("mean_shape")
    pts = np.asarray(shape, np.float64).reshape(-1, 2) if shape is not None else np.full((68, 2), 12.0)
    return [[round(float(x), 2), round(float(y), 2)] for x, y in pts * (25 / 32)]


def annotation_doc(key: str, schema: str, points: list, size=(25, 25)) -> dict:
    stamp = "2024-01-01T00:00:00+00:00"
    return {"format": "s2ld-annotations", "version": 1, "schema": schema, "annotator": "fuzz",
            "convention": "0-based pixel centres", "created": stamp, "updated": stamp,
            "images": {key: {"width": size[0], "height": size[1], "points": points,
                             "visible": [True] * len(points), "status": "done", "seconds": 1.0,
                             "prefilled": False, "updated": stamp}}}


def coco_doc() -> dict:
    return {"images": [{"id": 1, "file_name": "face.png", "width": 25, "height": 25}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 20, 20]}],
            "categories": [{"id": 1, "name": "face"}]}


def annotation_doc_v2(key: str, schema: str, faces: list[tuple[list, list]], size=(25, 25)) -> dict:
    """A version-2 annotation file: several faces per image, each ``(box, points)``."""
    doc = annotation_doc(key, schema, faces[0][1], size)
    entry = doc["images"][key]
    for name in ("points", "visible", "prefilled"):
        del entry[name]
    entry["faces"] = [{"box": box, "points": pts, "visible": [True] * len(pts), "prefilled": False}
                      for box, pts in faces]
    doc["version"] = 2
    return doc


def coco_keypoints_doc(points: list, bbox: list) -> dict:
    """A COCO keypoints file of one face on ``face.png`` (five points, ``bbox`` the face box)."""
    flat = [v for x, y in points for v in (x, y, 2)]
    return {"images": [{"id": 1, "file_name": "face.png", "width": 25, "height": 25}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": flat,
                             "num_keypoints": len(points), "bbox": bbox, "area": bbox[2] * bbox[3],
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "face", "keypoints": [f"p{i}" for i in range(len(points))],
                            "skeleton": []}]}


def pts_text(points: list) -> bytes:
    body = "".join(f"{x + 1:g} {y + 1:g}\n" for x, y in points)  # .pts is 1-based
    return f"version: 1\nn_points: {len(points)}\n{{\n{body}}}\n".encode()


def imglab_xml(image: str, points: list) -> bytes:
    parts = "".join(f"<part name='{i:02d}' x='{x:g}' y='{y:g}'/>" for i, (x, y) in enumerate(points))
    return ("<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset><name>faces</name><images>\n"
            f"<image file='{image}'><box top='1' left='1' width='22' height='22'>{parts}</box></image>\n"
            "</images></dataset>\n").encode()


WIDER_SEED = b"face.png\n1\n2 2 20 20 0 0 0 0 0 0\n"


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


class _State:
    """What the parent loads once and every forked child shares."""

    detector = None
    landmarker = None
    demo_models = None
    demo_finder = None


def _load_state() -> None:
    import torch

    torch.set_num_threads(1)
    from annotator import demo
    from s2ld_core.inference import LandmarkDetector
    from s2ld_core.photo import PhotoLandmarker

    _State.detector = LandmarkDetector.pretrained()
    _State.landmarker = PhotoLandmarker(_State.detector)
    _State.demo_models = demo.load_models(None, None)
    _State.demo_finder = demo.make_face_finder()


class CliResult:
    def __init__(self, rc: int, err: str) -> None:
        self.rc, self.err = rc, err


def _cli(argv: list[str]) -> Callable[[], CliResult]:
    def call() -> CliResult:
        from s2ld_core.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in argv])
        return CliResult(rc, err.getvalue())
    return call


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _predict_image(suffix: str, data: bytes, whole: bool = False):
    def setup(d: Path):
        f = _write(d / "in", f"input{suffix}", data)
        return _cli(["predict", f, "--out", d / "out" / "p.json", *(["--faces", "whole"] if whole else [])])
    return setup


def _evaluate_image(suffix: str, data: bytes, points):
    def setup(d: Path):
        _write(d / "in", f"input{suffix}", data)
        doc = annotation_doc(f"input{suffix}", "ibug68", points)
        ann = _write(d / "in", "annotations/fuzz.json", json.dumps(doc).encode())
        return _cli(["evaluate", "--annotations", ann])
    return setup


def _annotate_image(suffix: str, data: bytes):
    def setup(d: Path):
        _write(d / "in", f"input{suffix}", data)

        def call():
            from annotator.store import AnnotationStore, UnreadableImage, place_next

            store = AnnotationStore.open(d / "in", "five", "fuzz", out=d / "out" / "fuzz.json")
            for key in store.keys:
                try:
                    image = store.image(key)
                except UnreadableImage as exc:
                    raise ValueError(str(exc)) from None
                h, w = image.shape[:2]
                store.modify(key, lambda a, x=(w - 1) / 2, y=(h - 1) / 2: place_next(a, x, y))
            store.progress()
            store.export_coco(d / "out" / "coco.json")
        return call
    return setup


def _demo_upload(suffix: str, data: bytes):
    def setup(d: Path):
        f = _write(d / "in", f"input{suffix}", data)

        def call():
            from annotator import demo

            image = demo.load_upload({"path": str(f), "orig_name": f.name})
            results, _ = demo.analyse(image, 24, _State.demo_models, _State.demo_finder)
            demo.overview(image, results)
            for r in results:
                demo.face_panel(r)
        return call
    return setup


def _predict_boxes(name: str, data: bytes):
    face = _encode(_face(), ".png")

    def setup(d: Path):
        _write(d / "in", "face.png", face)
        boxes = _write(d / "in", name, data)
        return _cli(["predict", d / "in" / "face.png", "--out", d / "out" / "p.json", "--faces", boxes])
    return setup


def _evaluate_file(kind: str, name: str, data: bytes):
    face = _encode(_face(), ".png")

    def setup(d: Path):
        _write(d / "in", "face.png", face)
        f = _write(d / "in", name, data)
        flag = "--annotations" if kind == "annotations" else "--imglab"
        return _cli(["evaluate", flag, f, *(["--images-root", d / "in"] if kind == "annotations" else [])])
    return setup


def _annotate_import(data: bytes):
    face = _encode(_face(), ".png")

    def setup(d: Path):
        _write(d / "in", "face.png", face)
        _write(d / "in", "annotations/fuzz.json", data)

        def call():
            from annotator.store import AnnotationStore

            store = AnnotationStore.open(d / "in", "five", "fuzz")
            store.progress()
            store.export_coco(d / "out" / "coco.json")
            store.get("face.png")
        return call
    return setup


def _annotate_file_import(name: str, data: bytes):
    """The annotator's import (``annotator.imports.read_import``: COCO keypoints, ``.pts``, imglab XML,
    the project's own JSON of either version) of one file onto a folder holding ``face.png``."""
    face = _encode(_face(), ".png")

    def setup(d: Path):
        _write(d / "in", "face.png", face)
        f = _write(d / "in", name, data)

        def call():
            from annotator.imports import read_import
            from annotator.store import AnnotationStore

            store = AnnotationStore.open(d / "in", "five", "fuzz", out=d / "out" / "fuzz.json")
            result = read_import([f], store.keys, store.size, store.schema)
            store.preplace(result.faces)
            store.progress()
            store.get("face.png")
            store.export_coco(d / "out" / "coco.json")
            store.export_pts(d / "out" / "pts")
        return call
    return setup


# Hand-picked numbers each import seed gets in every numeric field kind: what fuzzing found in the
# readers (a 400-digit integer is an OverflowError in float()), beside what json_mutations draws.
_HOSTILE_NUMBERS = (10**400, -(10**400), 1e308, 2**64)


def hostile_number_mutations(doc) -> Iterator[tuple[str, bytes]]:
    """Every number of ``doc`` (first three items of each list) replaced by each hostile number."""
    import copy

    for path in _json_paths(doc):
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        for hostile in _HOSTILE_NUMBERS:
            new = copy.deepcopy(doc)
            target = new
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = hostile
            shown = f"{'-' if hostile < 0 else ''}10**400" if abs(hostile) > 1e308 else str(hostile)
            yield f"field {'.'.join(map(str, path))} = {shown}", json.dumps(new).encode()


def import_seeds() -> dict[str, bytes]:
    """Valid files of every kind the annotator imports (five points on the 25 px ``face.png``)."""
    five = [[8, 9], [16, 9], [12, 13], [9, 17], [15, 17]]
    other = [[p[0] + 0.5, p[1] - 0.5] for p in five]
    return {
        "coco.json": json.dumps(coco_keypoints_doc(five, [3.5, 4.5, 18, 17])).encode(),
        "ann-v2.json": json.dumps(annotation_doc_v2(
            "face.png", "five", [([2.5, 3.5, 18, 17], five), ([3.0, 4.0, 17, 16], other)])).encode(),
        "face.pts": pts_text(five),
        "faces.xml": imglab_xml("face.png", five),
    }


# --------------------------------------------------------------------------------------------------
# The API: every input kind, with the outcome the contract promises (the property tests check it)
# --------------------------------------------------------------------------------------------------

SAME = "same points as the uint8 image"


def api_inputs() -> list[tuple[str, Callable[[np.ndarray], object], str]]:
    """``(kind, make(uint8 face) -> input, expected)``; expected is :data:`SAME`, ``"batch of N"``
    or ``"ValueError: <fragment>"``."""
    import torch
    from PIL import Image

    f = np.asarray
    return [
        ("uint8 H×W×3", lambda im: im, SAME),
        ("uint8 H×W (grey)", lambda im: im.mean(2).round().astype(np.uint8), "grey"),
        ("uint8 H×W×4 (RGBA)", lambda im: np.dstack([im, np.full(im.shape[:2], 9, np.uint8)]), SAME),
        ("uint8 3×H×W (channels first)", lambda im: np.ascontiguousarray(im.transpose(2, 0, 1)), SAME),
        ("uint16 0–255", lambda im: im.astype(np.uint16), SAME),
        ("uint16 16-bit (×257)", lambda im: im.astype(np.uint16) * 257, SAME),
        ("int32 / int64 0–255", lambda im: im.astype(np.int64), SAME),
        ("float32 [0, 1]", lambda im: im.astype(np.float32) / 255, SAME),
        ("float64 [0, 255]", lambda im: im.astype(np.float64), SAME),
        ("float16 [0, 1]", lambda im: (im / 255).astype(np.float16), "close"),
        ("float [0, 1] with bicubic overshoot (−0.02…1.03)", lambda im: im / 255 * 1.05 - 0.02, "close"),
        ("torch uint8 C×H×W", lambda im: torch.from_numpy(im).permute(2, 0, 1), SAME),
        ("torch uint8 H×W×C", lambda im: torch.from_numpy(im), SAME),
        ("torch float 1×C×H×W in [0, 1]",
         lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255, "batch of 1"),
        ("torch bfloat16 C×H×W in [0, 1]", lambda im: torch.from_numpy(im).permute(2, 0, 1).bfloat16() / 255,
         "close"),
        ("numpy N×H×W×3 batch", lambda im: np.stack([im, im, im]), "batch of 3"),
        ("list of mixed kinds", lambda im: [im, torch.from_numpy(im).permute(2, 0, 1), Image.fromarray(im)],
         "batch of 3"),
        ("PIL RGB", lambda im: Image.fromarray(im), SAME),
        ("PIL L (grey) / RGBA", lambda im: Image.fromarray(im).convert("RGBA"), SAME),
        ("path (str) to a PNG", None, SAME),
        ("float in [−1, 1] (a network tensor)", lambda im: im / 127.5 - 1, "ValueError: down to"),
        ("float above 260", lambda im: im.astype(np.float32) * 4, "ValueError: up to"),
        ("float with NaN", lambda im: np.where(im > 100, np.nan, im / 255), "ValueError: NaN"),
        ("int64 holding 300", lambda im: np.where(im == im.max(), 300, im.astype(np.int64)),
         "ValueError: values run"),
        ("bool mask", lambda im: im > 100, "ValueError: mask"),
        ("complex", lambda im: im.astype(np.complex64), "ValueError: dtype"),
        ("empty 0×0×3", lambda im: np.zeros((0, 0, 3), np.uint8), "ValueError: empty"),
        ("10×H×W (grey batch, ambiguous)", lambda im: f([im[..., 0]] * 10), "ValueError: neither"),
        ("H×W×2", lambda im: im[..., :2], "ValueError: shape"),
        ("5-D array", lambda im: im[None, None], "ValueError: not an image"),
        ("path to a missing file", lambda im: "/nonexistent/face.png", "ValueError: no such file"),
        ("a number", lambda im: 3, "ValueError: is not an image"),
        ("None", lambda im: None, "ValueError: is not an image"),
    ]


BOX_CASES = [
    ("boxes as a list of (x, y, w, h)", lambda: [(60, 20, 60, 60)], "ok"),
    ("one flat (x, y, w, h)", lambda: (60, 20, 60, 60), "ok"),
    ("a dict box", lambda: [{"x": 60, "y": 20, "w": 60, "h": 60}], "ok"),
    ("an (N, 4) array", lambda: np.array([[60, 20, 60, 60], [10, 10, 40, 40]]), "ok"),
    ("a box with inf", lambda: [(1, 2, float("inf"), 20)], "ValueError: finite"),
    ("a box with NaN", lambda: [(float("nan"), 2, 20, 20)], "ValueError: finite"),
    ("a dict missing h", lambda: [{"x": 1, "y": 2, "w": 20}], "ValueError: missing h"),
    ("a box with a zero width", lambda: [(1, 2, 0, 20)], "ValueError: positive"),
    ("a box 1e7 wide", lambda: [(0, 0, 1e7, 1e7)], "ValueError: outside"),
    ("a box far outside the photo", lambda: [(-5000, 10, 20, 20)], "ValueError: outside"),
    ("a box of strings", lambda: [("1", "2", "3", "4")], "ValueError: numbers"),
    ("a box of three numbers", lambda: [(1, 2, 3)], "ValueError: a box is"),
    ("faces=5", lambda: 5, "ValueError: faces must be"),
    ("faces='everywhere'", lambda: "everywhere", "ValueError: faces must be"),
]


def api_outcome(kind_input, reference: tuple[np.ndarray, np.ndarray], expected: str) -> tuple[str, bool]:
    """Run ``predict`` on one input; ``(what happened, whether it is what the contract promises)``."""
    det = _State.detector
    try:
        pts, conf = det.predict(kind_input)
    except ValueError as exc:
        text = str(exc)
        ok = expected.startswith("ValueError") and expected.split(": ", 1)[1] in text and "\n" not in text
        return f"ValueError: {text}", ok
    ref_pts = reference[0]
    if expected.startswith("batch of"):
        n = int(expected.split()[-1])
        ok = len(pts) == n and all(np.abs(p - ref_pts[0]).max() < 0.05 for p in pts)
        return f"{len(pts)} faces, each {'the same as' if ok else 'unlike'} the uint8 one", ok
    shift = float(np.abs(pts[0] - ref_pts[0]).max())
    if expected == SAME:
        return f"1 face, max shift {shift:.3f} px", len(pts) == 1 and shift < 1e-4
    if expected in ("close", "grey"):
        return f"1 face, max shift {shift:.3f} px", len(pts) == 1 and shift < 0.75
    return f"1 face, max shift {shift:.3f} px (expected {expected})", False


def api_table(folder: Path) -> list[dict]:
    """Each API input kind with what ``predict`` / ``PhotoLandmarker`` did and whether it matches the
    stated rule (:data:`API_CASES` and :data:`BOX_CASES`). Needs :func:`_load_state` first."""
    import cv2

    face = cv2.resize(_face(), (32, 32), interpolation=cv2.INTER_CUBIC)
    path = folder / "face.png"
    cv2.imwrite(str(path), face[..., ::-1])
    ref = _State.detector.predict(face)
    rows = []
    for kind, make, expected in api_inputs():
        value = str(path) if make is None else make(face)
        got, ok = api_outcome(value, ref, expected)
        rows.append({"input": kind, "expected": expected, "result": got, "ok": ok})
    photo = _photo()
    for kind, make, expected in BOX_CASES:
        try:
            res = _State.landmarker(photo, faces=make())
            got, ok = f"{len(res.faces)} face(s)", expected == "ok"
        except ValueError as exc:
            got = f"ValueError: {exc}"
            ok = expected.startswith("ValueError") and expected.split(": ", 1)[1] in str(exc)
        rows.append({"input": f"PhotoLandmarker faces=: {kind}", "expected": expected, "result": got,
                     "ok": ok})
    return rows


def _api_case(kind: str, make, expected: str):
    def setup(d: Path):
        import cv2

        face = cv2.resize(_face(), (32, 32), interpolation=cv2.INTER_CUBIC)
        path = _write(d / "in", "face.png", _encode(face, ".png"))

        def call():
            value = str(path) if make is None else make(face)
            got, ok = api_outcome(value, _State.detector.predict(face), expected)
            if not ok:
                raise AssertionError(f"{kind}: {got}, expected {expected}")
            if got.startswith("ValueError"):
                raise ValueError(got.split(": ", 1)[1])
        return call
    return setup


def _api_random(rng: np.random.Generator, i: int):
    """A random array: random dtype, shape, range; the call must succeed or raise ValueError."""
    import torch

    dtypes = (np.uint8, np.uint16, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_)
    dtype = dtypes[int(rng.integers(len(dtypes)))]
    ndim = int(rng.integers(1, 6))
    shape = tuple(int(rng.choice([0, 1, 2, 3, 4, 5, 17, 32, 300])) for _ in range(ndim))
    scale = float(rng.choice([1.0, 255.0, 65535.0, 1e6, -1.0, 1e-3]))
    tensor = bool(rng.integers(2))
    seed = int(rng.integers(2**31))

    def setup(d: Path):
        def call():
            r = np.random.default_rng(seed)
            a = (r.random(shape) * scale).astype(dtype) if np.prod(shape) < 2e6 else np.zeros(shape, dtype)
            x = torch.from_numpy(a.astype(np.float32) if dtype == np.float16 else a) if tensor else a
            _State.detector.predict(x)
        return call
    return setup, f"random #{i}: {'tensor' if tensor else 'array'} {np.dtype(dtype).name} {shape} ×{scale:g}"


def _box_case(kind: str, make, expected: str):
    def setup(d: Path):
        def call():
            res = _State.landmarker(_photo(), faces=make())
            if expected != "ok":
                raise AssertionError(f"{kind}: {len(res.faces)} face(s), expected {expected}")
        return call
    return setup


# --------------------------------------------------------------------------------------------------
# Building the cases
# --------------------------------------------------------------------------------------------------


def _output_cases(images: dict) -> Iterator[Case]:
    face = images["png-face"][1]

    def overlay_on_inputs(d: Path):
        _write(d / "in", "a.png", face)
        _write(d / "in", "sub/a.png", face)
        return _cli(["predict", d / "in", "--out", d / "out" / "p.json", "--overlay", d / "in"])

    def overlay_above_inputs(d: Path):
        _write(d / "in", "a.png", face)
        return _cli(["predict", d / "in" / "a.png", "--out", d / "out" / "p.json", "--overlay", d])

    def out_on_input(d: Path):
        f = _write(d / "in", "a.png", face)
        return _cli(["predict", f, "--out", f])

    def csv_on_box_file(d: Path):
        f = _write(d / "in", "a.png", face)
        boxes = _write(d / "in", "boxes.txt", b"a.png\n1\n2 2 20 20 0 0 0 0 0 0\n")
        return _cli(["predict", f, "--out", d / "out" / "p.json", "--faces", boxes, "--csv", boxes])

    def out_on_box_file(d: Path):
        f = _write(d / "in", "a.png", face)
        boxes = _write(d / "in", "boxes.json", json.dumps(coco_doc()).replace("face.png", "a.png").encode())
        return _cli(["predict", f, "--out", boxes, "--faces", boxes])

    def overlays_side_by_side(d: Path):
        _write(d / "in", "a.png", face)
        _write(d / "in", "sub/a.png", face)
        _write(d / "in", "a.jpg", images["jpeg-face"][1])
        return _cli(["predict", d / "in", "--out", d / "out" / "p.json", "--overlay", d / "out" / "ov"])

    def evaluate_out_in_images(d: Path):
        _write(d / "in", "face.png", face)
        return _cli(["evaluate", "--out", d / "in" / "deep" / "er"])

    for name, setup in (("--overlay on the input folder", overlay_on_inputs),
                        ("--overlay on a folder above the inputs", overlay_above_inputs),
                        ("--out on the input image", out_on_input),
                        ("--csv on the --faces file", csv_on_box_file),
                        ("--out on the --faces file", out_on_box_file),
                        ("a.png, sub/a.png, a.jpg with --overlay elsewhere", overlays_side_by_side),
                        ("evaluate --out two new folders deep", evaluate_out_in_images)):
        yield Case("outputs", name, setup)


def build_cases(seed: int = 0, quick: bool = False) -> list[Case]:
    """Every case, or (``quick``) a small subset of each entry point for the test suite."""
    return list(iter_cases(seed, quick))


def _image_inputs(images: dict, rng: np.random.Generator, quick: bool) -> Iterator[tuple[str, str, bytes]]:
    raw = {name: data for name, (_, data) in images.items()}
    keep = {"PNG header claims 20000x20000", "real 4000x1 PNG"}
    for name, (suffix, data) in ({} if quick else images).items():
        others = {k: v for k, v in raw.items() if k != name}
        for case, content in corruptions(data, others, rng):
            yield f"{name}: {case}", suffix, content
    for case, suffix, content in special_images(images, quick):
        if not quick or case in keep:
            yield case, suffix, content


def _file_mutations(data: bytes, others: dict, rng: np.random.Generator,
                    n: int) -> Iterator[tuple[str, bytes]]:
    """Byte corruptions, then field mutations; ``n == 1``: one field mutation only (the quick run)."""
    if n > 1:
        yield from corruptions(data, others, rng)
    if data.lstrip().startswith(b"{"):
        yield from json_mutations(json.loads(data), rng, n)
    else:
        yield from text_number_mutations(data, rng, n)


def iter_cases(seed: int = 0, quick: bool = False) -> Iterator[Case]:
    """:func:`build_cases` one at a time: the harness never holds every mutated file at once, so the
    forked children (whose RSS includes the parent's) measure the case, not the case list."""
    rng = np.random.default_rng(seed)
    images = image_seeds()
    points68 = _ibug_points()
    evaluated = ("png-face", "png-16bit", "jpeg-face", "bmp", "tiff", "PNG", "JPEG", "BMP", "real")
    for case, suffix, content in _image_inputs(images, rng, quick):
        yield Case("predict image", case, _predict_image(suffix, content), ("input",))
        yield Case("annotate image", case, _annotate_image(suffix, content), ("input",))
        yield Case("demo upload", case, _demo_upload(suffix, content), ("input",))
        if case.startswith(evaluated):
            yield Case("evaluate image", case, _evaluate_image(suffix, content, points68), ("input",))
        if case.startswith(("PNG header", "real", "png-photo: valid")) and not quick:
            yield Case("predict image", f"{case} (--faces whole)", _predict_image(suffix, content, True),
                       ("input",))
    n = 1 if quick else 60
    five = [[8, 9], [16, 9], [12, 13], [9, 17], [15, 17]]
    box_seeds = {
        "boxes.json": json.dumps(coco_doc()).encode(),
        "boxes.txt": WIDER_SEED,
        "boxes.xml": imglab_xml("face.png", points68),
        "ann.json": json.dumps(annotation_doc("face.png", "five", five)).encode(),
    }
    for name, data in box_seeds.items():
        if quick and name not in ("boxes.json", "boxes.txt"):
            continue
        others = {k: v for k, v in box_seeds.items() if k != name}
        for case, content in _file_mutations(data, others, rng, n):
            yield Case("predict --faces", f"{name}: {case}", _predict_boxes(name, content), (name,))
    eval_seeds = {
        ("annotations", "gt.json"): json.dumps(annotation_doc("face.png", "ibug68", points68)).encode(),
        ("imglab", "gt.xml"): imglab_xml("face.png", points68),
    }
    for (kind, name), data in eval_seeds.items():
        for case, content in _file_mutations(data, {}, rng, n):
            yield Case(f"evaluate --{kind}", f"{name}: {case}", _evaluate_file(kind, name, content),
                       (name, "face.png"))
    for case, content in _file_mutations(box_seeds["ann.json"], {}, rng, n):
        yield Case("annotate import", case, _annotate_import(content), ("fuzz.json",))
    seeds = import_seeds()
    irng = np.random.default_rng([seed, 1])  # its own stream: the cases before and after stay the same
    for name, data in seeds.items():
        others = {k: v for k, v in seeds.items() if k != name}
        mutations = list(_file_mutations(data, others, irng, n))
        if name.endswith(".json") and not quick:
            mutations += list(hostile_number_mutations(json.loads(data)))
        for case, content in mutations:
            yield Case("annotate import", f"{name}: {case}", _annotate_file_import(name, content), (name,))
    api = api_inputs()
    for kind, make, expected in (api[5::20] if quick else api):
        yield Case("API", kind, _api_case(kind, make, expected), ("image", "face.png"))
    for kind, make, expected in (BOX_CASES[4::8] if quick else BOX_CASES):
        yield Case("API", f"faces=: {kind}", _box_case(kind, make, expected), ("box", "faces"))
    for i in range(0 if quick else 80):
        setup, name = _api_random(rng, i)
        yield Case("API", name, setup, ("image",))
    yield from list(_output_cases(images))[: 1 if quick else None]


# --------------------------------------------------------------------------------------------------
# Running: one forked child per case
# --------------------------------------------------------------------------------------------------


def _classify(value, names: tuple[str, ...]) -> tuple[str, str]:
    if isinstance(value, CliResult):
        lines = [ln for ln in value.err.strip().splitlines() if ln.strip()]
        if value.rc == 0:
            return "success", ""
        last = lines[-1] if lines else ""
        if value.rc == 2 and last.startswith("s2ld: error:"):
            listed = [ln for ln in lines if ln.startswith("  ")]
            clear = "Traceback" not in value.err and (not listed or len(lines) == len(listed) + 2)
            named = not names or any(n in value.err for n in names) or "--" in last
            return ("error" if clear and named else "unclear"), last
        return "traceback", (last or f"exit code {value.rc}")[:300]
    return "success", ""


def _child(case: Case, call: Callable[[], object], pipe_w: int) -> None:
    import warnings

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    warnings.simplefilter("ignore")  # numpy's overflow warnings on random arrays: noise, not outcomes
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # and libpng's / OpenCV's complaints on stderr
    try:
        result, message = _classify(call(), case.names)
    except (ValueError, OSError) as exc:
        message = " ".join(str(exc).split())
        clear = "\n" not in str(exc).strip() and (not case.names or any(n in str(exc) for n in case.names))
        result = "error" if clear else "unclear"
    except BaseException as exc:  # noqa: BLE001 - anything else is what this benchmark exists to find
        result, message = "traceback", f"{type(exc).__name__}: {exc}"[:300]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    os.write(pipe_w, json.dumps({"result": result, "message": message[:300], "rss_mb": rss}).encode())
    os._exit(0)


def _run_one(case: Case, work: Path) -> Outcome:
    folder = work / "case"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    call = case.setup(folder)
    size = sum(p.stat().st_size for p in (folder / "in").rglob("*") if p.is_file())
    before = _fingerprint(folder / "in")
    t0 = time.perf_counter()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        _child(case, call, w)
    os.close(w)
    deadline = time.monotonic() + CHILD_SECONDS
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.005)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        status = "timeout"
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    seconds = time.perf_counter() - t0
    after = _fingerprint(folder / "in")
    modified = sorted(k for k in before if before[k] != after.get(k))
    if data:
        got = json.loads(data)
    else:
        what = "timed out" if status == "timeout" else f"child died (status {status})"
        got = {"result": "traceback", "message": what, "rss_mb": 0.0}
    return Outcome(case.entry, case.name, got["result"], got["message"], modified, round(got["rss_mb"], 1),
                   size, round(seconds, 3))


def run_cases(work: str | os.PathLike[str], seed: int = 0, quick: bool = False,
              progress: bool = False) -> list[Outcome]:
    """Build and run every case inside ``work`` (an empty folder); returns their outcomes."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _load_state()
    outcomes = []
    for i, case in enumerate(iter_cases(seed, quick)):
        outcomes.append(_run_one(case, work))
        if progress and (i + 1) % 250 == 0:
            print(f"  {i + 1} cases", file=sys.stderr, flush=True)
    shutil.rmtree(work / "case", ignore_errors=True)
    return outcomes


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

COLUMNS = ("inputs", "clean errors", "successes", "unclear", "tracebacks", "inputs modified",
           "peak RSS MB", "peak RSS MB, inputs < 2 MB")


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """Counts per entry point (and ``all``) in the order of :data:`COLUMNS`."""
    rows: dict[str, dict[str, float]] = {}
    for o in outcomes:
        for key in (o.entry, "all"):
            row = rows.setdefault(key, dict.fromkeys(COLUMNS, 0))
            row["inputs"] += 1
            row[{"success": "successes", "error": "clean errors", "unclear": "unclear",
                 "traceback": "tracebacks"}[o.result]] += 1
            row["inputs modified"] += bool(o.modified)
            row["peak RSS MB"] = max(row["peak RSS MB"], o.rss_mb)
            if o.input_bytes < SMALL_INPUT:
                row["peak RSS MB, inputs < 2 MB"] = max(row["peak RSS MB, inputs < 2 MB"], o.rss_mb)
    rows["all"] = rows.pop("all", dict.fromkeys(COLUMNS, 0))
    return rows


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| entry point | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for name, row in rows.items():
        label = f"**{name}**" if name == "all" else name
        cells = [f"{row[c]:.0f}" for c in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def api_markdown(rows: list[dict]) -> str:
    lines = ["| input | rule | result |", "|---|---|---|"]
    for r in rows:
        flag = "" if r["ok"] else " **(!)**"
        lines.append(f"| {r['input']} | {r['expected']} | {r['result'][:110]}{flag} |")
    return "\n".join(lines)


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.result in ("unclear", "traceback") or o.modified
            or (o.input_bytes < SMALL_INPUT and o.rss_mb > RSS_BOUND_MB)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/fuzz_inputs.json", help="JSON with every input's outcome")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="the few-second subset the tests run")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2ld-fuzz-inputs-") as tmp:
        outcomes = run_cases(tmp, args.seed, args.quick, progress=True)
        api = api_table(Path(tmp))
    rows = summarise(outcomes)
    print(table(rows))
    print()
    print(api_markdown(api))
    bad = failures(outcomes) + [r for r in api if not r["ok"]]
    for o in failures(outcomes):
        print(f"  {o.entry} / {o.case}: {o.result} {o.message} {o.modified or ''} {o.rss_mb} MB")
    print(f"{len(outcomes)} inputs in {time.perf_counter() - t0:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(json.dumps([asdict(o) for o in outcomes]).encode()).hexdigest()[:12]
    out.write_text(json.dumps({"seed": args.seed, "quick": args.quick, "summary": rows, "api": api,
                               "digest": digest, "outcomes": [asdict(o) for o in outcomes]}, indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
