"""Landmark conventions: what the points *mean*, measured against real annotation.

Two questions, one script:

* **The detector's conventions on real faces.** Every PASCAL face (``pascal-faces-68``: dlib's 68
  points, drawn by people, with their labelled boxes) is shown to the landmark stage with its
  labelled box after the photo is area-shrunk so that the box is 16, 24 or 32 px wide (or left at
  its native size). Per detector and size: NME (box, %), NME on the eyes alone (the points least
  bound to a convention), the **jaw width ratio** (predicted ``|p0 − p16|`` over the labelled one,
  median over faces) and the **mouth offset** (mean height of the 20 mouth points, predicted minus
  labelled, in % of the face size ``√(w·h)`` of the labelled points; positive is lower). dlib's
  predictor gets the same box on the ×4-upscaled shrunk photo (it wrote these labels: favoured);
  the shipped model's mean shape in the same crop is the floor.
* **The renderer's conventions.** The rendered training faces' 68 points beside real labels (the
  HR teacher's pseudo-labels on real faces, ``runs/real-faces-68``, and PASCAL's human labels), each
  shape put in an eye frame (outer eye corners level, their distance 1): jaw width, chin, mouth and
  brow heights. Where the renders differ, the rendered labels do not mean what 300-W's mean.

    python benchmarks/bench_conventions.py                                  # the shipped detector
    python benchmarks/bench_conventions.py --checkpoint runs/ship/real50/S1/checkpoints/S1.pt \
        --name "S1 + real" --out reports/benchmarks/conventions_real.json

Writes JSON (``--out``) and prints markdown tables. The check set scores; it chooses nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = ("16", "24", "32", "native")
EYES = slice(36, 48)
MOUTH = slice(48, 68)
BROWS = slice(17, 27)


def pascal_faces() -> list[tuple[Path, tuple, np.ndarray]]:
    """``(photo path, labelled box (x, y, w, h), points (68, 2))`` of every PASCAL face."""
    from s2ld_core.data.external import pascal_xml_files
    from s2ld_core.data.formats import read_imglab_xml

    out = []
    for xml in pascal_xml_files():
        for face in read_imglab_xml(xml, num_points=68):
            out.append((face.image_path(xml), face.box, face.points.astype(np.float64)))
    return out


def _shrunk(photo: np.ndarray, box: tuple, size: str) -> tuple[np.ndarray, float]:
    """The photo area-shrunk so that ``box`` is ``size`` px wide, and the factor (1 at native)."""
    if size == "native" or box[2] <= float(size):
        return photo, 1.0
    f = float(size) / box[2]
    h, w = photo.shape[:2]
    small = cv2.resize(photo, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return small, small.shape[1] / w


def _dlib_points(model, photo: np.ndarray, box: tuple, upscale: int = 4) -> np.ndarray:
    """dlib's predictor with ``box`` on the ×``upscale`` photo, cut to the box's neighbourhood."""
    from s2ld_core.faces import FaceBox

    x, y, w, h = box
    x0, y0 = max(0, int(x - w)), max(0, int(y - h))
    x1, y1 = min(photo.shape[1], int(x + 2 * w) + 1), min(photo.shape[0], int(y + 2 * h) + 1)
    region = photo[y0:y1, x0:x1]
    up = cv2.resize(region, (region.shape[1] * upscale, region.shape[0] * upscale),
                    interpolation=cv2.INTER_CUBIC)
    bx = FaceBox(((x - x0) + 0.5) * upscale - 0.5, ((y - y0) + 0.5) * upscale - 0.5, w * upscale, h * upscale)
    p = model(up, bx)
    return (p + 0.5) / upscale - 0.5 + np.array([x0, y0])


def face_measures(pred: np.ndarray, gt: np.ndarray) -> dict:
    """NME (box), eyes-only NME, jaw width ratio and mouth offset of one face, as in the docstring."""
    norm = float(np.sqrt(np.prod(gt.max(0) - gt.min(0))))
    err = np.linalg.norm(pred - gt, axis=1) / norm
    return {
        "nme": 100 * float(err.mean()),
        "nme_eyes": 100 * float(err[EYES].mean()),
        "jaw_ratio": float(np.linalg.norm(pred[0] - pred[16]) / np.linalg.norm(gt[0] - gt[16])),
        "mouth_offset": 100 * float(pred[MOUTH, 1].mean() - gt[MOUTH, 1].mean()) / norm,
    }


def _summary(rows: list[dict]) -> dict:
    return {
        "faces": len(rows),
        "nme": round(float(np.mean([r["nme"] for r in rows])), 2),
        "nme_eyes": round(float(np.mean([r["nme_eyes"] for r in rows])), 2),
        "jaw_ratio": round(float(np.median([r["jaw_ratio"] for r in rows])), 3),
        "mouth_offset": round(float(np.mean([r["mouth_offset"] for r in rows])), 2),
    }


def detector_conventions(detectors: dict, faces, sizes=SIZES) -> dict:
    """``{detector name: {size: summary}}`` over ``faces`` (see the module docstring)."""
    from s2ld_core.data.images import read_rgb
    from s2ld_core.photo import PhotoLandmarker

    rows = {name: {s: [] for s in sizes} for name in detectors}
    photos = {}
    for path, box, gt in faces:
        if path not in photos:
            photos[path] = read_rgb(path)
        for size in sizes:
            small, f = _shrunk(photos[path], box, size)
            sbox = tuple(float(v) * f for v in box)
            for name, det in detectors.items():
                if name.startswith("dlib"):
                    p = _dlib_points(det, small, sbox)
                else:
                    res = PhotoLandmarker(det, finder=None)(small, faces=[sbox])
                    p = res.faces[0].points.astype(np.float64)
                pred = (p + 0.5) / f - 0.5
                rows[name][size].append(face_measures(pred, gt))
    return {name: {s: _summary(r) for s, r in per.items()} for name, per in rows.items()}


def eye_frame(shapes: np.ndarray) -> np.ndarray:
    """Each 68-point shape rotated, scaled and moved so that its outer eye corners (36, 45) sit at
    (−0.5, 0) and (0.5, 0)."""
    out = []
    for s in np.asarray(shapes, np.float64):
        a, b = s[36], s[45]
        d = b - a
        scale, angle = np.linalg.norm(d), np.arctan2(d[1], d[0])
        c, si = np.cos(-angle), np.sin(-angle)
        r = np.array([[c, -si], [si, c]])
        out.append(((s - (a + b) / 2) @ r.T) / scale)
    return np.stack(out)


def shape_conventions(shapes: np.ndarray) -> dict:
    """Median jaw width, chin, mouth and brow heights of ``shapes`` in the eye frame."""
    e = eye_frame(shapes)
    return {
        "faces": int(len(e)),
        "jaw_width": round(float(np.median(np.abs(e[:, 16, 0] - e[:, 0, 0]))), 3),
        "jaw_top_height": round(float(np.median((e[:, 0, 1] + e[:, 16, 1]) / 2)), 3),
        "chin_height": round(float(np.median(e[:, 8, 1])), 3),
        "mouth_height": round(float(np.median(e[:, MOUTH, 1].mean(1))), 3),
        "mouth_width": round(float(np.median(e[:, 54, 0] - e[:, 48, 0])), 3),
        "nose_tip_height": round(float(np.median(e[:, 30, 1])), 3),
        "brow_height": round(float(np.median(e[:, BROWS, 1].mean(1))), 3),
    }


def renderer_conventions(teacher_dir: Path | None, faces) -> dict:
    from s2ld_core.data.config import DataConfig
    from s2ld_core.data.datasets import embedded_train_hr
    from s2ld_core.data.formats import read_pts

    rendered = embedded_train_hr(DataConfig(schema="ibug68"), 0, progress=False)
    out = {"rendered (training renders)": shape_conventions(rendered.points[:2000])}
    if teacher_dir is not None and teacher_dir.is_dir():
        pts = [read_pts(f, expected_points=68) for f in sorted(teacher_dir.rglob("*.pts"))]
        if pts:
            out["real, HR teacher's labels"] = shape_conventions(np.stack(pts))
    out["PASCAL, human labels"] = shape_conventions(np.stack([gt for _, _, gt in faces]))
    return out


def _table(rows: dict, columns: list[str]) -> str:
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(str(v.get(c, "")) for c in columns) + " |" for k, v in rows.items()]
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", default=[],
                   help="a detector checkpoint (repeatable; default: the shipped detector)")
    p.add_argument("--name", action="append", default=[], help="a name per --checkpoint")
    p.add_argument("--no-dlib", action="store_true", help="leave out dlib's predictor")
    p.add_argument("--teacher-labels", default=str(ROOT / "runs/real-faces-68"),
                   help="pseudo-labelled real faces (scripts/pseudo_label.py's output)")
    p.add_argument("--out", default=str(ROOT / "reports/benchmarks/conventions.json"))
    args = p.parse_args(argv)

    from s2ld_core.inference import LandmarkDetector, MeanShapeBaseline, shipped_weights

    # the floor: the shipped model's training mean shape, placed in the same labelled box
    detectors = {"mean shape": MeanShapeBaseline.from_checkpoint(shipped_weights("ibug68"))}
    if not args.checkpoint:
        detectors["s2ld (shipped)"] = LandmarkDetector.pretrained("ibug68")
    for i, ck in enumerate(args.checkpoint):
        name = args.name[i] if i < len(args.name) else Path(ck).stem
        detectors[name] = LandmarkDetector.from_checkpoint(ck)
    if not args.no_dlib:
        from s2ld_core.inference.dlib68 import Dlib68, TeacherUnavailable

        try:
            detectors["dlib ×4"] = Dlib68()
        except TeacherUnavailable as exc:
            print(f"dlib left out: {exc}")

    faces = pascal_faces()
    result = {"detectors": detector_conventions(detectors, faces),
              "renderer": renderer_conventions(Path(args.teacher_labels), faces)}
    for name, per in result["detectors"].items():
        print(f"\n### {name} — PASCAL faces, labelled boxes\n")
        print(_table(per, ["faces", "nme", "nme_eyes", "jaw_ratio", "mouth_offset"]))
    print("\n### Shapes in the eye frame (outer eye corners 1 apart)\n")
    print(_table(result["renderer"], ["faces", "jaw_width", "jaw_top_height", "chin_height", "mouth_height",
                                      "mouth_width", "nose_tip_height", "brow_height"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
