"""Photo in, landmarks out: time per 640×480 photo, S²LD's pipeline beside face-alignment's.

* **s2ld**: the default face finder (dlib HOG on the photo ×2) + the shipped 32² detector with
  shape-model decoding, as ``PhotoLandmarker`` runs them.
* **face-alignment's published pipeline**: its default detector S3FD on the photo, then 2D-FAN
  (4 stacked hourglasses) on a 256² crop of every face — RANDOM WEIGHTS, TIMING ONLY
  (:mod:`benchmarks.peers`: the weights cannot be downloaded here, and the cost of a forward pass
  does not depend on them). It is charged for as many faces as s2ld found in the same photo.

Photos: the nine PASCAL VOC photos of ``data/pascal-faces-68`` resized to 640×480. One thread;
each pipeline is timed on every photo in turn (interleaved), median over photos and repeats.

Accuracy of the whole s2ld pipeline on the same photos at their own size: every XML face is matched
to the found face of highest IoU (≥ 0.4); recall, and NME68 (box) of the matched faces' points
against the XML points (dlib's pseudo-labels), beside the mean shape placed in the same crops, and
with the detector's flip test.

    python benchmarks/bench_photo_pipeline.py [--repeats 2] [--checkpoint S4.pt]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from s2ld_core.data.external import pascal_faces_dir

ROOT = Path(__file__).resolve().parents[1]


def photos_640x480(folder: Path) -> list[np.ndarray]:
    from s2ld_core.data.formats import read_imglab_xml
    from s2ld_core.data.images import read_rgb

    names = sorted({face.image for xml in sorted(folder.glob("*.xml")) for face in read_imglab_xml(xml)})
    out = []
    for name in names:
        img = read_rgb(folder / name)
        out.append(cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA))
    return out


def pipeline_accuracy(landmarker, folder: Path) -> dict:
    """Recall and NME68 (box) of ``landmarker`` on the annotated photos, at their own resolution."""
    from s2ld_core.data.formats import read_imglab_xml
    from s2ld_core.data.images import read_rgb
    from s2ld_core.faces import FaceBox
    from s2ld_core.geometry import resize_points
    from s2ld_core.metrics import nme
    from s2ld_core.schemas import get_schema

    truth: dict[str, list] = {}
    for xml in sorted(folder.glob("*.xml")):
        for face in read_imglab_xml(xml):
            truth.setdefault(face.image, []).append(face)
    det = landmarker.detector
    mean = np.asarray(det.meta["mean_shape"], np.float32)
    found, preds, means, gts = 0, [], [], []
    for name, faces in truth.items():
        result = landmarker(read_rgb(folder / name))
        for face in faces:
            ious = [FaceBox.of(face.box).iou(f.box) for f in result.faces]
            if not ious or max(ious) < 0.4:
                continue
            match = result.faces[int(np.argmax(ious))]
            found += 1
            preds.append(match.points)
            x0, y0, side = match.crop
            means.append(resize_points(mean, side / det.input_size) + np.float32([x0, y0]))
            gts.append(face.points)
    schema = get_schema("ibug68")
    total = sum(len(v) for v in truth.values())
    def score(points: list) -> float:
        return 100 * float(nme(np.stack(points), np.stack(gts), normalizer="box", schema=schema).mean())

    return {"faces": total, "found": found, "recall": found / total, "nme68_box_percent": score(preds),
            "mean_shape_nme68_box_percent": score(means)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="G2 checkpoint (default: the shipped ibug68 weights)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "photo_pipeline.json"))
    args = p.parse_args(argv)

    from benchmarks.peers import FAN, S3FD
    from s2ld_core.inference import LandmarkDetector
    from s2ld_core.photo import PhotoLandmarker

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    det = LandmarkDetector.from_checkpoint(args.checkpoint) if args.checkpoint else None
    det = det or LandmarkDetector.pretrained()
    ours = PhotoLandmarker(det)
    sfd, fan = S3FD().eval(), FAN(4, 68, block="bottleneck").eval()
    photos = photos_640x480(pascal_faces_dir())
    ours(photos[0])  # warm-up

    def peer(photo: np.ndarray, faces: int) -> None:
        with torch.no_grad():
            sfd(torch.from_numpy(photo).permute(2, 0, 1)[None].float())
            for _ in range(faces):
                fan(torch.zeros(1, 3, 256, 256))

    timings: dict[str, list[float]] = {"s2ld (dlib HOG ×2 + S²LD 32², PDM)": [],
                                       "face-alignment (S3FD + FAN-4, random weights)": []}
    faces_found = []
    for _ in range(args.repeats):
        for photo in photos:
            t0 = time.perf_counter()
            result = ours(photo)
            timings["s2ld (dlib HOG ×2 + S²LD 32², PDM)"].append(1000 * (time.perf_counter() - t0))
            faces_found.append(len(result.faces))
            t0 = time.perf_counter()
            peer(photo, max(1, len(result.faces)))
            timings["face-alignment (S3FD + FAN-4, random weights)"].append(1000 * (time.perf_counter() - t0))
    accuracy = pipeline_accuracy(ours, pascal_faces_dir())
    det.set_flip_test()
    flipped = pipeline_accuracy(ours, pascal_faces_dir())
    det.set_flip_test(False)
    rows = {k: {"median_ms": statistics.median(v), "mean_ms": statistics.fmean(v)}
            for k, v in timings.items()}
    names = list(rows)
    result = {
        "photos": len(photos),
        "faces_per_photo": statistics.fmean(faces_found),
        "threads": 1,
        "per_photo_ms": rows,
        "ratio_median": rows[names[1]]["median_ms"] / rows[names[0]]["median_ms"],
        "accuracy_own_resolution": accuracy,
        "accuracy_own_resolution_flip_test": flipped,
    }
    print(f"{len(photos)} photos at 640×480, {result['faces_per_photo']:.1f} faces each, one thread\n")
    print("| pipeline | median ms / photo | mean ms / photo |\n|---|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['median_ms']:.0f} | {r['mean_ms']:.0f} |")
    print(f"\nface-alignment's pipeline takes {result['ratio_median']:.1f}× as long per photo")
    print(f"s2ld on the photos at their own size: {accuracy['found']}/{accuracy['faces']} faces found, "
          f"NME68 (box) {accuracy['nme68_box_percent']:.2f} % (mean shape in the same crops "
          f"{accuracy['mean_shape_nme68_box_percent']:.2f} %); with the flip test "
          f"{flipped['nme68_box_percent']:.2f} %")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
