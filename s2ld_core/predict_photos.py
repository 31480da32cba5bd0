"""``s2ld predict``: landmarks on photos or face crops → JSON, CSV and overlays.

Why its own module: the command is the photo API (:class:`s2ld_core.photo.PhotoLandmarker`) plus
file handling, and keeping it here leaves ``cli.py`` a thin parser. Only ``argparse`` is imported at
module level, so ``s2ld --help`` stays instant.

``--faces`` says where faces come from: ``auto`` (the face finder; images of at most 64 px are taken
as face crops), ``whole`` (every image is one face crop, the pre-photo behaviour), or a FILE of boxes:
WIDER FACE ``*_bbx_gt.txt``, dlib imglab XML, COCO JSON (``bbox`` of each annotation) or the
project's annotation JSON (the box of each face's points). A file that cannot be read is one line in
the list of errors printed at the end; the others are still predicted and written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="photos, face crops, or folders of them")
    p.add_argument("--out", required=True, help="predictions JSON (faces per image, points in image pixels)")
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
                        "network time (README, 'The shipped detector')")
    p.add_argument("--device")


# ------------------------------------------------------------------------------------ input files


def image_files(inputs: list[str]) -> list[Path]:
    """Every image named or found (recursively) in the named folders; a missing path is an error."""
    return input_files(inputs, IMAGE_EXTENSIONS, f"images ({', '.join(IMAGE_EXTENSIONS)})")


def input_files(inputs: list[str], suffixes, what: str) -> list[Path]:
    """Files named, or found recursively in the named folders by suffix; a missing path or a folder
    without any is a one-line error naming it."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in suffixes)
            if not found:
                raise ValueError(f"{p}: no {what} in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder")
    return files


def read_box_file(path: str | Path) -> tuple[dict[str, list], str]:
    """``{image name: [(x, y, w, h), …]}`` and the kind of box (``"boxes"`` for face boxes,
    ``"landmarks"`` for boxes of annotated points) from a WIDER, imglab, COCO or annotation file."""
    import json

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
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    if isinstance(doc, dict) and "annotations" in doc and "images" in doc and isinstance(doc["images"], list):
        names = {im["id"]: im["file_name"] for im in doc["images"]}
        out = {}
        for a in doc["annotations"]:
            if "bbox" in a and a.get("image_id") in names:
                out.setdefault(names[a["image_id"]], []).append(tuple(map(float, a["bbox"])))
        return out, "boxes"
    import numpy as np

    from .data.formats import read_annotations

    out = {}
    for name, ann in read_annotations(path).images.items():
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


def write_overlays(folder: str | Path, results: list, tile: int = 256) -> Path:
    """Each image with its faces drawn (``<stem>.png``) and ``overlay_sheet.png``, all of them as
    tiles of ``tile`` px (small crops enlarged by whole pixels, so points stay readable)."""
    import cv2
    import numpy as np

    from .plotting import image_grid

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tiles = []
    for r in results:
        drawn = r.draw(max_side=max(tile, 960))
        cv2.imwrite(str(out / f"{Path(r.source).stem}.png"), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        s = tile / max(drawn.shape[:2])
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST
        small = cv2.resize(drawn, None, fx=s, fy=s, interpolation=interp)
        canvas = np.full((tile, tile, 3), 245, np.uint8)
        h, w = small.shape[:2]
        h, w = min(h, tile), min(w, tile)
        canvas[(tile - h) // 2 : (tile - h) // 2 + h, (tile - w) // 2 : (tile - w) // 2 + w] = small[:h, :w]
        tiles.append(canvas)
    sheet = out / "overlay_sheet.png"
    if tiles:
        grid = image_grid(tiles, ncols=min(len(tiles), 5 if tile > 128 else 10))
        cv2.imwrite(str(sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return sheet


# ----------------------------------------------------------------------------------------- command


def run_predict(args: argparse.Namespace) -> None:
    import sys

    from tqdm import tqdm

    from .atomic import atomic_write_json, check_writable
    from .inference import CONVENTION, LandmarkDetector
    from .photo import PhotoLandmarker, load_photo

    check_writable(args.out)
    if args.overlay:
        check_writable(args.overlay, folder=True)
    device = args.device or "cpu"
    if args.checkpoint:
        det = LandmarkDetector.from_checkpoint(args.checkpoint, device)
    else:
        det = LandmarkDetector.pretrained(args.pretrained, device)
    det.set_flip_test(args.flip_test)
    files = image_files(args.inputs)
    table, kind = (None, None)
    if args.faces not in ("auto", "whole"):
        table, kind = read_box_file(args.faces)
    finder = args.finder if args.faces == "auto" else None
    lm = PhotoLandmarker(det, finder, min_score=args.min_score, min_landmark_score=args.min_landmark_score)
    results, errors = [], []
    for f in tqdm(files, desc="s2ld predict", unit="image", disable=len(files) < 2, file=sys.stderr):
        try:
            faces = args.faces if table is None else _boxes_for(f, table, Path(args.faces).parent)
            if faces is None:
                raise ValueError(f"no boxes for this image in {args.faces}")
            res = lm(load_photo(f), faces=faces, box_framing=kind)
            res.source = str(f)
            results.append(res)
        except (ValueError, OSError) as err:
            text = " ".join(str(err).split())
            errors.append(text if str(f) in text else f"{f}: {text}")
    doc = {
        "schema": det.schema.name,
        "convention": CONVENTION,
        "checkpoint": str(args.checkpoint or det.meta.get("path")),
        "faces_from": args.faces if table is None else str(args.faces),
        "finder": lm.finder.name if lm.finder is not None else None,
        "predictions": [r.to_dict() for r in results],
        "errors": errors,
    }
    atomic_write_json(args.out, doc)
    n_faces = sum(len(r.faces) for r in results)
    print(f"{n_faces} face(s) in {len(results)} image(s) written to {args.out}")
    if args.csv:
        write_csv(args.csv, results, det.schema.num_points)
        print(f"CSV written to {args.csv}")
    if args.overlay:
        print(f"overlays in {args.overlay} (sheet: {write_overlays(args.overlay, results)})")
    if errors:
        print(f"{len(errors)} file(s) skipped:", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        raise ValueError(f"{len(errors)} of {len(files)} file(s) could not be predicted (listed above)")
