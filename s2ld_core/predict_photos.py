"""``s2ld predict``: landmarks on photos or face crops → JSON, CSV and overlays.

Why its own module: the command is the photo API (:class:`s2ld_core.photo.PhotoLandmarker`) plus
file handling, and keeping it here leaves ``cli.py`` a thin parser. Only ``argparse`` is imported at
module level, so ``s2ld --help`` stays instant.

``--faces`` says where faces come from: ``auto`` (the face finder; images of at most 64 px are taken
as face crops), ``whole`` (every image is one face crop, the pre-photo behaviour), or a FILE of boxes:
WIDER FACE ``*_bbx_gt.txt``, dlib imglab XML, COCO JSON (``bbox`` of each annotation) or the
project's annotation JSON (the box of each face's points). A file that cannot be read is one line in
the list of errors printed at the end; the others are still predicted and written.

**Inputs are read-only.** No output may overwrite an input (an image or the ``--faces`` file): that
is refused in one line before any work. ``--overlay`` never writes among the inputs (a folder that
holds input images is refused), and overlays keep each image's path relative to the inputs' common
folder, ``.png`` appended unless already there (``sub/a.png`` → ``sub/a.png``, ``a.jpg`` →
``a.jpg.png``), so ``a.png``, ``sub/a.png`` and ``a.jpg`` give three overlays, not one.
``--out -`` writes the JSON to standard output (messages go to standard error).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .data.images import IMAGE_EXTENSIONS

SHEET_NAME = "overlay_sheet.png"


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="photos, face crops, or folders of them")
    p.add_argument("--out", required=True,
                   help="predictions JSON (faces per image, points in image pixels); '-' for standard output")
    p.add_argument("--checkpoint", help="a G2 checkpoint (default: the shipped weights of --pretrained)")
    p.add_argument("--pretrained", default="ibug68", help="schema of the shipped weights (default ibug68)")
    p.add_argument(
        "--faces", default="auto",
        help="auto (find faces), whole (each image is one face crop) or a FILE of boxes "
             "(WIDER *_bbx_gt.txt, imglab .xml, COCO .json or the project's annotation .json)",
    )
    p.add_argument("--finder", default="auto",
                   help="for --faces auto: auto (s2ld+dlib, else s2ld), s2ld+dlib, s2ld, dlib, mmod, lbp, "
                        "mediapipe, haar (docs/face-finders.md)")
    p.add_argument("--min-score", type=float, help="drop faces the finder scores below this")
    p.add_argument("--min-landmark-score", type=float,
                   help="drop faces whose mean landmark confidence is below this (false faces)")
    p.add_argument("--csv", help="also write one row per face (box, scores, x0 y0 … xK yK) to this CSV")
    p.add_argument("--overlay", help="folder for each image with boxes and points drawn, and a contact sheet")
    p.add_argument("--flip-test", action="store_true",
                   help="average each face's heatmaps with its mirror image's: more accurate, twice the "
                        "network time (docs/shipped-detector.md)")
    p.add_argument("--device")


# ------------------------------------------------------------------------------------ input files


def image_files(inputs: list[str]) -> list[Path]:
    """Every image named or found (recursively) in the named folders; a missing path is an error."""
    return input_files(inputs, IMAGE_EXTENSIONS, f"images ({', '.join(IMAGE_EXTENSIONS)})")


def input_files(inputs: list[str], suffixes, what: str) -> list[Path]:
    """Files named, or found recursively in the named folders by suffix (each file once); a missing
    path or a folder without any is a one-line error naming it."""
    files: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        try:
            if p.is_dir():
                found = sorted(f for f in p.rglob("*") if f.suffix.lower() in suffixes and f.is_file())
                if not found:
                    raise ValueError(f"{p}: no {what} in this folder")
            elif p.is_file():
                found = [p]
            else:
                raise ValueError(f"{p}: no such file or folder")
        except OSError as err:  # a name too long, a folder we may not list
            raise ValueError(f"{item}: cannot read ({err.strerror or err})") from None
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    return files


def output_names(files: list[Path]) -> list[str]:
    """Each file's path relative to the files' common folder, ``.png`` appended unless it ends so:
    distinct inputs get distinct names (``sub/a.png``, ``a.jpg.png``) and none is a bare stem."""
    if not files:
        return []
    resolved = [f.resolve() for f in files]
    base = Path(os.path.commonpath([str(r.parent) for r in resolved]))
    names = [r.relative_to(base).as_posix() for r in resolved]
    return [n if n.lower().endswith(".png") else f"{n}.png" for n in names]


def check_not_inputs(outputs: dict[str, str | Path | None], inputs: list[Path]) -> None:
    """A ``ValueError`` if an output file would overwrite one of ``inputs`` (compared resolved)."""
    read = {p.resolve(): p for p in inputs}
    for option, out in outputs.items():
        if out is None or str(out) == "-":
            continue
        hit = read.get(Path(out).resolve())
        if hit is not None:
            raise ValueError(f"{option} {out}: is an input ({hit}); inputs are never overwritten, "
                             "choose another file")


def check_overlay_folder(folder: str | Path, files: list[Path]) -> None:
    """``--overlay`` must not be a folder that holds input images: overlays never go among inputs."""
    root = Path(folder).resolve()
    inside = [f for f in files if f.resolve().is_relative_to(root)]
    if inside:
        raise ValueError(f"--overlay {folder}: this folder holds input images ({inside[0]}); overlays are "
                         "never written among the inputs, choose another folder")


def read_box_file(path: str | Path) -> tuple[dict[str, list], str]:
    """``{image name: [(x, y, w, h), …]}`` and the kind of box (``"boxes"`` for face boxes,
    ``"landmarks"`` for boxes of annotated points) from a WIDER, imglab, COCO or annotation file.
    Every reader validates what it returns (finite numbers within ±2**24 px, positive sides); each box
    is checked against its image's size when the image is read (:mod:`s2ld_core.photo`)."""

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such box file (--faces takes auto, whole or a file of boxes)")
    if path.suffix.lower() == ".txt":
        from .data.formats.wider import read_wider_bbx

        return {im.file: [tuple(map(float, b)) for b in im.boxes] for im in read_wider_bbx(path)}, "boxes"
    if path.suffix.lower() == ".xml":
        from .data.formats.imglab import read_imglab_xml

        out: dict[str, list] = {}
        for f in read_imglab_xml(path, num_points=None):
            out.setdefault(f.image, []).append(f.box)
        return out, "boxes"
    from .data.formats import FormatError, annotations_from_dict, coco_boxes
    from .data.formats.annotations import ANNOTATION_FORMAT
    from .data.formats.errors import load_json

    doc = load_json(path)
    if isinstance(doc, dict) and doc.get("format") == ANNOTATION_FORMAT:
        aset = annotations_from_dict(doc, path)
    elif isinstance(doc, dict) and ("images" in doc or "annotations" in doc):
        return coco_boxes(doc, path), "boxes"
    else:
        raise FormatError(path, "neither a COCO file (images, annotations) nor an s2ld annotation file")
    import numpy as np

    out = {}
    for name, ann in aset.images.items():
        pts = ann.points_array()
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) >= 2:
            lo, hi = pts.min(0), pts.max(0)
            w, h = np.maximum(hi - lo, 1.0)
            out[name] = [(float(lo[0]), float(lo[1]), float(w), float(h))]
    return out, "landmarks"


def _boxes_for(file: Path, table: dict[str, list], root: Path):
    """The boxes listed for ``file``: by path relative to the box file's folder, else by name."""
    for key in (str(file), file.as_posix(), _relative(file, root), file.name):
        if key in table:
            return table[key]
    by_name = {Path(k).name: v for k, v in table.items()}
    if file.name in by_name:
        return by_name[file.name]
    return None


def _relative(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.name


# ----------------------------------------------------------------------------------------- outputs


def write_csv(path: str | Path, results: list, num_points: int) -> None:
    import csv
    import io

    from .atomic import atomic_write_bytes

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "face", "x", "y", "w", "h", "score", "landmark_score"]
               + [f"{a}{k}" for k in range(num_points) for a in ("x", "y")])
    for r in results:
        for i, f in enumerate(r.faces):
            w.writerow([r.source, i + 1, *f.box.as_list(), round(f.score, 4), round(f.landmark_score, 4)]
                       + [round(float(v), 2) for v in f.points.reshape(-1)])
    atomic_write_bytes(Path(path), buf.getvalue().encode())


def write_overlays(folder: str | Path, results: list, names: list[str] | None = None,
                   tile: int = 256) -> Path:
    """Each image with its faces drawn, under ``names`` (default :func:`output_names` of the results'
    sources), and ``overlay_sheet.png`` with all of them as tiles of ``tile`` px (small crops
    enlarged by whole pixels, so points stay readable). Every file is written atomically."""
    import cv2
    import numpy as np

    from .atomic import atomic_write_bytes
    from .plotting import image_grid

    def png(image: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"{folder}: OpenCV could not encode an overlay")
        return buf.tobytes()

    out = Path(folder)
    names = output_names([Path(r.source) for r in results]) if names is None else names
    if SHEET_NAME in names:
        raise ValueError(f"--overlay {folder}: an input is named {SHEET_NAME}, the contact sheet's name")
    tiles = []
    for r, name in zip(results, names):
        drawn = r.draw(max_side=max(tile, 960))
        atomic_write_bytes(out / name, png(drawn))
        s = tile / max(drawn.shape[:2])
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST
        size = (max(1, round(drawn.shape[1] * s)), max(1, round(drawn.shape[0] * s)))
        small = cv2.resize(drawn, size, interpolation=interp)
        canvas = np.full((tile, tile, 3), 245, np.uint8)
        h, w = small.shape[:2]
        h, w = min(h, tile), min(w, tile)
        canvas[(tile - h) // 2 : (tile - h) // 2 + h, (tile - w) // 2 : (tile - w) // 2 + w] = small[:h, :w]
        tiles.append(canvas)
    sheet = out / SHEET_NAME
    if tiles:
        grid = image_grid(tiles, ncols=min(len(tiles), 5 if tile > 128 else 10))
        atomic_write_bytes(sheet, png(grid))
    return sheet


# ----------------------------------------------------------------------------------------- command


@dataclass
class PredictRequest:
    """What ``s2ld predict`` is asked to do (its options, by the same names): the photos or crops,
    where the JSON goes (``"-"``: standard output), the detector, how faces are found and what else
    to write."""

    inputs: list[str]
    out: str
    checkpoint: str | None = None
    pretrained: str = "ibug68"
    faces: str = "auto"
    finder: str = "auto"
    min_score: float | None = None
    min_landmark_score: float | None = None
    csv: str | None = None
    overlay: str | None = None
    flip_test: bool = False
    device: str | None = None

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def run_predict(args: PredictRequest) -> None:
    """Landmarks for every face of ``args.inputs``, written as JSON (and CSV, overlays); one line per
    file that could not be read, then a :class:`ValueError` if any failed."""
    import sys

    from tqdm import tqdm

    from .atomic import atomic_write_json, check_writable

    to_stdout = args.out == "-"
    if not to_stdout:
        check_writable(args.out)
    if args.csv:
        check_writable(args.csv)
    files = image_files(args.inputs)  # path errors before the model loads
    boxes = [Path(args.faces)] if args.faces not in ("auto", "whole") and Path(args.faces).is_file() else []
    check_not_inputs({"--out": args.out, "--csv": args.csv}, files + boxes)
    if args.overlay:
        check_writable(args.overlay, folder=True)
        check_overlay_folder(args.overlay, files)
    table, kind = (None, None)
    if args.faces not in ("auto", "whole"):
        table, kind = read_box_file(args.faces)

    from .inference import CONVENTION, LandmarkDetector, pretrained
    from .photo import PhotoLandmarker, load_photo

    device = args.device or "cpu"
    if args.checkpoint:
        det = LandmarkDetector.from_checkpoint(args.checkpoint, device)
    else:  # the shipped weights on the fastest backend installed
        det = pretrained(args.pretrained, device=device)
    det.set_flip_test(args.flip_test)
    finder = args.finder if args.faces == "auto" else None
    lm = PhotoLandmarker(det, finder, min_score=args.min_score, min_landmark_score=args.min_landmark_score)
    names = dict(zip(files, output_names(files)))
    results, errors = [], []
    for f in tqdm(files, desc="s2ld predict", unit="image", disable=len(files) < 2, file=sys.stderr):
        try:
            faces = args.faces if table is None else _boxes_for(f, table, Path(args.faces).parent)
            if faces is None:
                raise ValueError(f"no boxes for this image in {args.faces}")
            res = lm(load_photo(f, str(f)), faces=faces, box_framing=kind)
            res.source = str(f)
            results.append((f, res))
        except (ValueError, OSError) as err:
            text = " ".join(str(err).split())
            if table is not None and text.startswith("box "):  # a box of the file, checked against the image
                text = f"{text} (boxes from {args.faces})"
            errors.append(text if str(f) in text else f"{f}: {text}")
    doc = {
        "schema": det.schema.name,
        "convention": CONVENTION,
        "checkpoint": str(args.checkpoint or det.meta.get("path")),
        "faces_from": args.faces if table is None else str(args.faces),
        "finder": lm.finder.name if lm.finder is not None else None,
        "predictions": [r.to_dict() for _, r in results],
        "errors": errors,
    }
    n_faces = sum(len(r.faces) for _, r in results)
    if to_stdout:
        import json

        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        sys.stdout.flush()
        print(f"{n_faces} face(s) in {len(results)} image(s) written to standard output", file=sys.stderr)
    else:
        atomic_write_json(args.out, doc)
        print(f"{n_faces} face(s) in {len(results)} image(s) written to {args.out}")
    say = sys.stderr if to_stdout else sys.stdout
    if args.csv:
        write_csv(args.csv, [r for _, r in results], det.schema.num_points)
        print(f"CSV written to {args.csv}", file=say)
    if args.overlay:
        sheet = write_overlays(args.overlay, [r for _, r in results], [names[f] for f, _ in results])
        print(f"overlays in {args.overlay} (sheet: {sheet})", file=say)
    if len(errors) == 1 and len(files) == 1:
        raise ValueError(errors[0])  # the one file's own line says it all
    if errors:
        print(f"{len(errors)} file(s) skipped:", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        raise ValueError(f"{len(errors)} of {len(files)} file(s) could not be predicted (listed above)")
