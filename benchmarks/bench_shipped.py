"""The shipped detector (``s2ld_core/weights/<schema>/detector.pt``) on everything it can be checked on.

Prints markdown tables and writes ``reports/benchmarks/shipped_<schema>.json`` plus two figures:

* **accuracy**: NME (box, %) on the validation set (rendered, camera family: where the default
  decoding was chosen), on the embedded target-LR test set (rendered faces, the held-out camera)
  and on the 43 real PASCAL faces (``pascal-faces-68``, read from outside the repository by
  ``s2ld_core.data.external``) at native resolution and through the target camera — PyTorch raw
  and shape-model decoding, ONNX fp32 and int8 (the int8 model's accuracy on trained weights), with
  and without the flip test, the mean shape, and ``--hrld`` (upscale + HR-LD) where given;
* **latency**: one face, one thread, median of interleaved repeats (PyTorch and ONNX, raw and PDM);
* **label-free checks** on scikit-image's 100 real LFW faces: shift equivariance (2 px) and mirror
  consistency, beside the mean shape (:mod:`s2ld_core.label_free`);
* figures: the LFW faces and the PASCAL faces with the predicted points.

    python benchmarks/bench_shipped.py [--schema ibug68] [--hrld runs/hrld/checkpoints/hrld.pt]
    python benchmarks/bench_shipped.py --checkpoint runs/weights/S1/checkpoints/S1.pt   # a candidate
    python benchmarks/bench_shipped.py --g1 runs/weights/G1/checkpoints/G1.pt   # + G1-generated test

The check sets score; nothing is chosen on them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _detectors(schema: str, hrld: str | None, checkpoint: str | None = None) -> dict:
    from s2ld_core.inference import (
        LandmarkDetector,
        MeanShapeBaseline,
        OnnxLandmarkDetector,
        UpscaleHRLDBaseline,
        export_onnx,
        quantize_onnx,
        shipped_weights,
    )

    path = checkpoint or shipped_weights(schema)
    raw = LandmarkDetector.from_checkpoint(path).set_decoding("raw")
    pdm = LandmarkDetector.from_checkpoint(path).set_decoding("pdm")
    fp32 = export_onnx(path, None)
    int8 = quantize_onnx(fp32, None)
    name = f"shipped {raw.meta.get('setting', 'G2')}"
    one_start = LandmarkDetector.from_checkpoint(path)
    one_start.pdm_starts = (0.0,)  # the shape model fitted from the mean shape only
    one_start_onnx = OnnxLandmarkDetector(fp32, threads=1)
    one_start_onnx.pdm_starts = (0.0,)
    dets = {
        "mean shape": MeanShapeBaseline.from_checkpoint(path),
        f"{name}, raw (PyTorch)": raw,
        f"{name}, PDM (PyTorch)": pdm,
        f"{name}, PDM, one start (PyTorch)": one_start,
        f"{name}, PDM + flip test (PyTorch)": LandmarkDetector.from_checkpoint(path).set_flip_test(),
        f"{name}, raw (ONNX fp32)": OnnxLandmarkDetector(fp32, threads=1).set_decoding("raw"),
        f"{name}, PDM (ONNX fp32)": OnnxLandmarkDetector(fp32, threads=1),
        f"{name}, PDM, one start (ONNX fp32)": one_start_onnx,
        f"{name}, PDM + flip test (ONNX fp32)": OnnxLandmarkDetector(fp32, threads=1).set_flip_test(),
        f"{name}, PDM (ONNX int8)": OnnxLandmarkDetector(int8, threads=1),
        f"{name}, PDM + flip test (ONNX int8)": OnnxLandmarkDetector(int8, threads=1).set_flip_test(),
    }
    if hrld:
        dets["upscale + HR-LD"] = UpscaleHRLDBaseline.from_checkpoint(hrld).set_decoding("raw")
    return dets


def accuracy(dets: dict, schema: str, seed: int = 0, g1: str | None = None) -> dict:
    """NME (box, %) of every detector on the standard suite (:mod:`s2ld_core.evaluation_sets`), the
    same faces scripts/train_weights.py scored the shipped weights on."""
    from s2ld_core.evaluation import evaluate_detector
    from s2ld_core.evaluation_sets import standard_sets

    sets = standard_sets(schema, seed, g1, progress=False)
    table = {}
    for name, det in dets.items():
        table[name] = {
            s: 100 * evaluate_detector(det, f, normalizer="box").summary["nme"] for s, f in sets.items()
        }
    return {"sets": {s: len(f) for s, f in sets.items()}, "nme_box_percent": table}


def latency(dets: dict, repeats: int = 200) -> dict:
    """ms per single 32² face on one thread, interleaved so load changes hit every variant alike."""
    import torch

    torch.set_num_threads(1)
    face = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    timed = {k: v for k, v in dets.items() if k.startswith("shipped")}
    for det in timed.values():
        for _ in range(10):
            det.predict(face)
    samples: dict[str, list[float]] = {k: [] for k in timed}
    for _ in range(repeats):
        for name, det in timed.items():
            t0 = time.perf_counter()
            det.predict(face)
            samples[name].append(1000 * (time.perf_counter() - t0))
    return {k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90))}
            for k, v in samples.items()}


def label_free(dets: dict) -> dict:
    from s2ld_core.data.sources import lfw_faces
    from s2ld_core.label_free import mirror_consistency, shift_equivariance

    faces = np.stack([np.asarray(f) for f in lfw_faces()])
    out = {}
    for name in [k for k in dets if k == "mean shape" or k.endswith("(PyTorch)")]:
        out[name] = {
            "shift_equivariance_2px": 100 * shift_equivariance(dets[name], faces, 2.0)["mean"],
            "mirror_consistency": 100 * mirror_consistency(dets[name], faces)["mean"],
        }
    return {"faces": len(faces), "percent_of_box": out}


def figures(det, out_dir: Path) -> list[str]:
    import cv2

    from s2ld_core.data.datasets import load_imglab_faces
    from s2ld_core.data.external import pascal_xml_files
    from s2ld_core.data.sources import lfw_faces
    from s2ld_core.plotting import draw_points, image_grid

    written = []
    sets = {"lfw": np.stack([np.asarray(f) for f in lfw_faces()])}
    xml = pascal_xml_files()
    if xml:
        sets["pascal"] = load_imglab_faces(xml).images
    for name, images in sets.items():
        pts, _ = det.predict(images)
        zoom = max(1, 128 // images.shape[1])
        drawn = [cv2.resize(draw_points(im, p, zoom=zoom), (128, 128)) for im, p in zip(images, pts)]
        path = out_dir / f"shipped_{name}_predictions.png"
        cv2.imwrite(str(path), cv2.cvtColor(image_grid(drawn, ncols=10), cv2.COLOR_RGB2BGR))
        written.append(str(path))
    return written


def _table(rows: dict, columns: list[str], fmt: str = "{:.2f}") -> str:
    head = "| | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns) + "\n"
    return head + "".join(
        f"| {name} | " + " | ".join(fmt.format(r[c]) if c in r else "—" for c in columns) + " |\n"
        for name, r in rows.items()
    )


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--schema", default="ibug68")
    p.add_argument("--hrld", help="an HR-LD checkpoint (same schema) for the upscale + HR-LD baseline")
    p.add_argument("--checkpoint", help="score this G2 checkpoint instead of the shipped one (a candidate)")
    p.add_argument("--g1", help="a G1 checkpoint: also score on the target-LR test's HR faces through it")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"))
    p.add_argument("--figures", default=str(ROOT / "reports" / "figures"))
    args = p.parse_args(argv)
    dets = _detectors(args.schema, args.hrld, args.checkpoint)
    result = {"schema": args.schema, "accuracy": accuracy(dets, args.schema, g1=args.g1)}
    result["label_free"] = label_free(dets)
    result["latency_1_thread"] = latency(dets, args.repeats)
    if not args.checkpoint:  # a candidate's figures would overwrite the shipped model's
        Path(args.figures).mkdir(parents=True, exist_ok=True)
        shipped = next(d for k, d in dets.items() if k.endswith("PDM (PyTorch)"))
        result["figures"] = figures(shipped, Path(args.figures))
    acc = result["accuracy"]
    print(f"NME (box, %); faces: {acc['sets']}\n")
    print(_table(acc["nme_box_percent"], list(acc["sets"])))
    print("Label-free checks on LFW's 100 real faces (% of the landmark box; lower is better)\n")
    print(_table(result["label_free"]["percent_of_box"], ["shift_equivariance_2px", "mirror_consistency"]))
    print("Latency, one 32² face, one thread (ms)\n")
    print(_table(result["latency_1_thread"], ["median_ms", "p90_ms"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"candidate_{Path(args.checkpoint).stem}" if args.checkpoint else f"shipped_{args.schema}"
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
