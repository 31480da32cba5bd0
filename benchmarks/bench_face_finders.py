"""Face finders on real photos with small faces: recall, precision, recall at 37-50 px, time per
megapixel, and the crop framing each finder needs (``s2ld_core.faces.FRAMINGS``).

Data: ``pascal-faces-68`` (9 PASCAL VOC photos, 43 faces 37-109 px with dlib imglab boxes and 68
points, plus two unannotated photos that count for timing only). A detection is a hit when its IoU
with a still-unmatched XML box is >= 0.4 (greedy, best score first). The XML lists only the faces
dlib's annotators kept, so a few "false" faces may be real unlisted faces: precision is a lower
bound, and the JSON lists every unmatched box for a person to check.

Run once per environment that has different finders installed; results are merged by label into
``reports/face_finders.json`` (the markdown table covers every label in it)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_face_finders
    PYTHONPATH=. /other/venv/bin/python -m benchmarks.bench_face_finders   # e.g. with mediapipe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from s2ld_core.data.external import pascal_faces_dir
from s2ld_core.faces import LANDMARK_FILL, FaceBox, FinderUnavailable, make_face_finder

ROOT = Path(__file__).resolve().parents[1]
DATA = pascal_faces_dir()
XMLS = ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml")
EXTRA = ("bald_guys.jpg", "Tom_Cruise_avp_2014_4.jpg")
IOU = 0.4
SMALL = (37, 50)

# label -> (finder name, options): the settings worth comparing
CANDIDATES = {
    "lbp": ("lbp", {}),
    "lbp ×2": ("lbp", {"upsample": 1}),
    "dlib HOG": ("dlib", {"upsample": 0}),
    "dlib HOG ×2": ("dlib", {"upsample": 1}),
    "dlib HOG ×4": ("dlib", {"upsample": 2}),
    "mediapipe full": ("mediapipe", {"model": 1}),
    "mediapipe short": ("mediapipe", {"model": 0}),
    "opencv haar": ("haar", {}),
}


def load_truth(data: Path) -> dict[str, list[tuple[FaceBox, np.ndarray]]]:
    """image file -> [(XML box, 68 points)] over both XML files."""
    from s2ld_core.data.formats.imglab import read_imglab_xml

    truth: dict[str, list] = {}
    for name in XMLS:
        for f in read_imglab_xml(data / name):
            truth.setdefault(f.image, []).append((FaceBox(*f.box), f.points))
    return truth


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot read this image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def match(found: list[FaceBox], truth: list[FaceBox]) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best score first: (found index, truth index) pairs."""
    pairs, used = [], set()
    for i in sorted(range(len(found)), key=lambda i: -found[i].score):
        ious = [(found[i].iou(t), j) for j, t in enumerate(truth) if j not in used]
        if ious and max(ious)[0] >= IOU:
            j = max(ious)[1]
            used.add(j)
            pairs.append((i, j))
    return pairs


def framing_of(box: FaceBox, points: np.ndarray) -> tuple[float, float, float]:
    """(landmark-box side / box side, landmark-centre offset x / w, y / h) for one matched box."""
    lo, hi = np.nanmin(points, 0), np.nanmax(points, 0)
    side = float((hi - lo).max())
    c = (lo + hi) / 2
    return side / max(box.w, box.h), (c[0] - box.x - box.w / 2) / box.w, (c[1] - box.y - box.h / 2) / box.h


def summarise_framing(rows: list[tuple[float, float, float]]) -> dict:
    r = np.array(rows)
    return {
        "n": len(rows),
        "landmark_side_over_box_side": float(np.median(r[:, 0])),
        "scale": round(float(np.median(r[:, 0])) / LANDMARK_FILL, 3),
        "dx": round(float(np.median(r[:, 1])), 3),
        "dy": round(float(np.median(r[:, 2])), 3),
        "scale_iqr": [round(float(q) / LANDMARK_FILL, 3) for q in np.percentile(r[:, 0], [25, 75])],
    }


def bench_one(label: str, name: str, options: dict, photos: dict, truth: dict, repeats: int) -> dict:
    finder = make_face_finder(name, **options)
    finder.find(next(iter(photos.values())))  # warm-up (model loading, first-call costs)
    hits = found_n = small_hits = small_n = 0
    seconds, megapixels = 0.0, 0.0
    unmatched, framings = [], []
    for file, img in photos.items():
        t0 = time.perf_counter()
        for _ in range(repeats):
            boxes = finder.find(img)
        seconds += (time.perf_counter() - t0) / repeats
        megapixels += img.shape[0] * img.shape[1] / 1e6
        if file not in truth:
            continue
        gt = truth[file]
        pairs = match(boxes, [b for b, _ in gt])
        hits += len(pairs)
        found_n += len(boxes)
        matched_gt = {j for _, j in pairs}
        for j, (b, _) in enumerate(gt):
            if SMALL[0] <= max(b.w, b.h) <= SMALL[1]:
                small_n += 1
                small_hits += j in matched_gt
        unmatched += [{"file": file, "box": boxes[i].as_list(), "score": round(boxes[i].score, 3)}
                      for i in set(range(len(boxes))) - {i for i, _ in pairs}]
        framings += [framing_of(boxes[i], gt[j][1]) for i, j in pairs]
    n_truth = sum(len(v) for v in truth.values())
    return {
        "label": label,
        "finder": name,
        "options": options,
        "note": finder.note,
        "recall": hits / n_truth,
        "precision": hits / found_n if found_n else 0.0,
        "found": found_n,
        "hits": hits,
        "faces": n_truth,
        "recall_37_50": small_hits / small_n if small_n else None,
        "faces_37_50": small_n,
        "ms_per_megapixel": 1000 * seconds / megapixels,
        "ms_per_640x480": 1000 * seconds / megapixels * 0.3072,
        "framing": summarise_framing(framings) if framings else None,
        "unmatched": unmatched,
    }


def markdown(results: dict) -> str:
    lines = [
        "| finder | recall | precision | recall 37–50 px | ms / megapixel | ms / 640×480 | crop scale |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results.values(), key=lambda r: (-r["recall"], r["ms_per_megapixel"])):
        lines.append(
            f"| {r['label']} | {r['recall']:.2f} ({r['hits']}/{r['faces']}) | {r['precision']:.2f} "
            f"({r['hits']}/{r['found']}) | {r['recall_37_50']:.2f} of {r['faces_37_50']} | "
            f"{r['ms_per_megapixel']:.0f} | {r['ms_per_640x480']:.0f} | "
            f"{r['framing']['scale'] if r['framing'] else '–'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "face_finders.json")
    ap.add_argument("--only", nargs="*", help="candidate labels to run (default: every installed one)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    truth = load_truth(args.data)
    photos = {f: read_rgb(args.data / f) for f in sorted(truth) + [e for e in EXTRA]}
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = dict(old.get("results", {}))
    for label, (name, options) in CANDIDATES.items():
        if args.only and label not in args.only:
            continue
        try:
            results[label] = bench_one(label, name, options, photos, truth, args.repeats)
        except FinderUnavailable as err:
            print(f"skipped {label}: {err}")
    xml_boxes = [framing_of(b, p) for faces in truth.values() for b, p in faces]
    doc = {
        "data": str(args.data),
        "iou": IOU,
        "photos": len(photos),
        "xml_box_framing": summarise_framing(xml_boxes),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(markdown(results))
    print(f"\nXML boxes → crop framing: {doc['xml_box_framing']}\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
