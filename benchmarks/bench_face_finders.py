"""Face finders on small faces: recall, precision and time per 640×480 photo at 16, 24 and 32 px and
native size, and the crop framing each finder needs (``s2ld_core.faces.FRAMINGS``).

Data: ``pascal-faces-68`` (9 PASCAL VOC photos, 43 faces of 37-109 px with dlib imglab boxes and 68
points). For a face size of N px every photo is area-downscaled so that the median side of its XML
boxes is N (what a camera further away would record), and the photos are packed, whole, onto
640×480 canvases (mid grey between them): a finder always sees 640×480 photos, so a finder that
decides from the photo's size how far to up-sample cannot look good on recall with a tiny photo and
on time with a large one. "native" puts each photo on its own canvas.

A detection is a hit when its IoU with a still-unmatched XML box is >= 0.4 (greedy, best score
first). The XML lists only the faces dlib's annotators kept, so a "false" face may be a real
unlisted face: precision is a lower bound, and the JSON lists every unmatched box to check by eye.
Time is the median of ``--repeats`` runs per canvas, summed over canvases and scaled to 640×480
pixels, with torch allowed ``--threads`` threads (dlib and the cascades use one).

The framing of each finder (landmark-box side over box side, landmark-box centre offset) is measured
on its hits at every size and pooled; the per-size values show whether the boxes of a smaller photo
map to the same crops. Coordinates are pixel-corner coordinates (pixel i spans [i, i + 1]; the
imglab points, at pixel centres, get + 0.5), in which resizing a photo multiplies every coordinate.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_face_finders            # every installed finder
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_face_finders --only "s2ld+dlib" "dlib HOG ×2"

Results are merged by label into ``reports/face_finders.json``; the table covers every label in it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from s2ld_core.data.external import pascal_faces_dir
from s2ld_core.faces import LANDMARK_FILL, FaceBox, FinderUnavailable, make_face_finder, match_boxes

ROOT = Path(__file__).resolve().parents[1]
XMLS = ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml")
IOU = 0.4
SIZES = ("16", "24", "32", "native")
CANVAS = (640, 480)
GAP = 8
# what the issue asks of the default: recall at 24 / 16 px, precision, ms per 640×480
TARGETS = {"recall_24": 0.9, "recall_16": 0.7, "precision": 0.9, "ms": 150.0}

# label -> (finder name, options): the settings worth comparing
CANDIDATES = {
    "s2ld": ("s2ld", {}),
    "s2ld+dlib": ("s2ld+dlib", {}),
    "dlib HOG ×2": ("dlib", {"scale": 2.0}),
    "dlib HOG ×4": ("dlib", {"scale": 4.0}),
    "dlib HOG ×5": ("dlib", {"scale": 5.0}),
    "dlib HOG to 16 px, ≤ 1.5 MP": ("dlib", {"min_face": 16, "max_megapixels": 1.5}),
    "dlib CNN (MMOD)": ("mmod", {"scale": 1.0}),
    "dlib CNN (MMOD) ×2": ("mmod", {"scale": 2.0}),
    "lbp": ("lbp", {}),
    "lbp ×2": ("lbp", {"upsample": 1}),
    "mediapipe full": ("mediapipe", {"model": 1}),
    "opencv haar": ("haar", {}),
}


def load_truth(data: Path) -> dict[str, list[tuple[FaceBox, np.ndarray]]]:
    """image file -> [(XML box, 68 points in pixel-corner coordinates)] over both XML files."""
    from s2ld_core.data.formats.imglab import read_imglab_xml

    truth: dict[str, list] = {}
    for name in XMLS:
        for f in read_imglab_xml(data / name):
            truth.setdefault(f.image, []).append((FaceBox(*f.box), f.points + 0.5))
    return truth


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot read this image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def scaled_photo(img: np.ndarray, faces: list, size: str):
    """The photo area-downscaled so its median XML box side is ``size`` px, and its faces moved
    with it (pixel-corner coordinates scale by the exact factor of each axis)."""
    if size == "native":
        return img, faces
    s = float(size) / float(np.median([max(b.w, b.h) for b, _ in faces]))
    h, w = img.shape[:2]
    out = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    sx, sy = out.shape[1] / w, out.shape[0] / h
    moved = [(FaceBox(b.x * sx, b.y * sy, b.w * sx, b.h * sy), p * [sx, sy]) for b, p in faces]
    return out, moved


def pack(photos: list[tuple[np.ndarray, list]]) -> list[tuple[np.ndarray, list]]:
    """Shelf-pack whole photos onto 640×480 mid-grey canvases (a photo larger than a canvas gets a
    canvas of its own size), tallest first; faces move with their photo."""
    canvases: list[tuple[np.ndarray, list]] = []
    order = sorted(photos, key=lambda p: -p[0].shape[0])
    W, H = CANVAS
    x = y = shelf = 0
    for img, faces in order:
        h, w = img.shape[:2]
        if canvases and x + w > W:  # the next shelf
            x, y, shelf = 0, y + shelf + GAP, 0
        if not canvases or y + h > canvases[-1][0].shape[0] or x + w > canvases[-1][0].shape[1]:
            canvases.append((np.full((max(H, h), max(W, w), 3), 128, np.uint8), []))
            x = y = shelf = 0
        canvas, boxes = canvases[-1]
        canvas[y : y + h, x : x + w] = img
        boxes += [(FaceBox(b.x + x, b.y + y, b.w, b.h), p + [x, y]) for b, p in faces]
        x, shelf = x + w + GAP, max(shelf, h)
    return canvases


def canvases_at(data: Path, size: str) -> list[tuple[np.ndarray, list]]:
    truth = load_truth(data)
    photos = [scaled_photo(read_rgb(data / f), truth[f], size) for f in sorted(truth)]
    if size == "native":
        return [(np.pad(img, ((0, max(0, CANVAS[1] - img.shape[0])), (0, max(0, CANVAS[0] - img.shape[1])),
                              (0, 0)), constant_values=128), faces) for img, faces in photos]
    return pack(photos)


def framing_of(box: FaceBox, points: np.ndarray) -> tuple[float, float, float]:
    """(landmark-box side / box side, landmark-centre offset x / w, y / h) for one matched box."""
    lo, hi = np.nanmin(points, 0), np.nanmax(points, 0)
    side = float((hi - lo).max())
    c = (lo + hi) / 2
    return side / max(box.w, box.h), (c[0] - box.x - box.w / 2) / box.w, (c[1] - box.y - box.h / 2) / box.h


def summarise_framing(rows: list[tuple[float, float, float]]) -> dict | None:
    if not rows:
        return None
    r = np.array(rows)
    return {
        "n": len(rows),
        "scale": round(float(np.median(r[:, 0])) / LANDMARK_FILL, 3),
        "dx": round(float(np.median(r[:, 1])), 3),
        "dy": round(float(np.median(r[:, 2])), 3),
        "scale_iqr": [round(float(q) / LANDMARK_FILL, 3) for q in np.percentile(r[:, 0], [25, 75])],
    }


def timed(finder, img: np.ndarray, repeats: int) -> tuple[list[FaceBox], float]:
    times, boxes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        boxes = finder.find(img)
        times.append(time.perf_counter() - t0)
        if sum(times) > 2:  # slow finders: a median of fewer runs
            break
    return boxes, float(np.median(times))


def bench_one(label: str, name: str, options: dict, sets: dict, repeats: int) -> dict:
    finder = make_face_finder(name, **options)
    finder.find(sets["native"][0][0])  # warm-up (model loading, first-call costs)
    row = {"label": label, "finder": name, "options": options, "note": finder.note,
           "min_score": finder.min_score, "sizes": {}}
    pooled = []
    for size, canvases in sets.items():
        hits = found = faces = 0
        seconds = pixels = 0.0
        unmatched, framings = [], []
        for k, (img, truth) in enumerate(canvases):
            boxes, sec = timed(finder, img, repeats)
            seconds += sec
            pixels += img.shape[0] * img.shape[1]
            pairs = match_boxes(boxes, [b for b, _ in truth], IOU)
            hits, found, faces = hits + len(pairs), found + len(boxes), faces + len(truth)
            unmatched += [{"canvas": k, "box": boxes[i].as_list(), "score": round(boxes[i].score, 3)}
                          for i in sorted(set(range(len(boxes))) - {i for i, _ in pairs})]
            framings += [framing_of(boxes[i], truth[j][1]) for i, j in pairs]
        pooled += framings
        row["sizes"][size] = {
            "recall": hits / faces, "precision": hits / found if found else 0.0, "hits": hits,
            "found": found, "faces": faces, "canvases": len(canvases),
            "ms_per_640x480": 1000 * seconds * CANVAS[0] * CANVAS[1] / pixels,
            "framing": summarise_framing(framings), "unmatched": unmatched,
        }
    row["framing"] = summarise_framing(pooled)
    s = row["sizes"]
    row["meets"] = {
        "recall_24": s["24"]["recall"] >= TARGETS["recall_24"],
        "recall_16": s["16"]["recall"] >= TARGETS["recall_16"],
        "precision": min(v["precision"] for v in s.values() if v["found"]) >= TARGETS["precision"]
        if any(v["found"] for v in s.values()) else False,
        "ms": max(v["ms_per_640x480"] for v in s.values()) <= TARGETS["ms"],
    }
    return row


def markdown(results: dict) -> str:
    head = " | ".join(f"{s} px" if s != "native" else "native" for s in SIZES)
    lines = [
        f"| finder | {head} | meets all |",
        "| --- | " + " | ".join("---" for _ in SIZES) + " | --- |",
    ]

    def key(r):
        s = r["sizes"]
        return (-sum(r["meets"].values()), -s["16"]["recall"], s["native"]["ms_per_640x480"])

    for r in sorted(results.values(), key=key):
        cells = []
        for size in SIZES:
            v = r["sizes"][size]
            cells.append(f"{v['recall']:.2f} / {v['precision']:.2f} / {v['ms_per_640x480']:.0f}")
        ok = "yes" if all(r["meets"].values()) else ", ".join(k for k, v in r["meets"].items() if not v)
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {ok if ok == 'yes' else 'no: ' + ok} |")
    lines.append("\ncells: recall / precision / ms per 640×480 photo")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None,
                    help="pascal-faces-68 (default: s2ld_core.data.external finds it)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "face_finders.json")
    ap.add_argument("--only", nargs="*", help="candidate labels to run (default: every installed one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads outside the finders (the network finders use one thread each)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    data = args.data or pascal_faces_dir()
    if data is None:
        print("pascal-faces-68 is not here (set S2LD_PASCAL_FACES): nothing to measure")
        return 0
    sets = {size: canvases_at(data, size) for size in SIZES}
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = dict(old.get("results", {}))
    for label, (name, options) in CANDIDATES.items():
        if args.only and label not in args.only:
            continue
        try:
            results[label] = bench_one(label, name, options, sets, args.repeats)
        except FinderUnavailable as err:
            print(f"skipped {label}: {err}")
            continue
        cells = [f"{s} {v['recall']:.2f}/{v['precision']:.2f}/{v['ms_per_640x480']:.0f} ms"
                 for s, v in results[label]["sizes"].items()]
        print(f"{label}: " + ", ".join(cells), flush=True)
    truth = load_truth(data)
    xml_boxes = [framing_of(b, p) for faces in truth.values() for b, p in faces]
    doc = {
        "data": str(data),
        "iou": IOU,
        "canvas": list(CANVAS),
        "canvases": {size: len(c) for size, c in sets.items()},
        "threads": args.threads,
        "targets": TARGETS,
        "xml_box_framing": summarise_framing(xml_boxes),
        "results": results,
    }
    from s2ld_core.atomic import atomic_write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc, indent=1)
    print(markdown(results))
    print(f"\nXML boxes → crop framing: {doc['xml_box_framing']}\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
