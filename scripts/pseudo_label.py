"""Pseudo-label the large faces of a real-faces folder with an HR teacher, in 300-W layout.

    .venv/bin/pip install '.[teacher]'       # dlib-bin + dlib's 68-point predictor (never needed at run time)
    .venv/bin/python scripts/pseudo_label.py --out runs/real-faces-68

The paper's labelled real HR faces (AFLW, 300-W) have no stand-in a project may download; a folder of
real photos with face boxes (``../shared/data/real-faces``, :mod:`s2ld_core.data.real_faces`) plus a
teacher gives them: dlib's 68-point predictor (:mod:`s2ld_core.inference.dlib68`), which was trained
on 300-W and so speaks its conventions, run on every face whose box side is at least ``--min-px``
(48: dlib's boxes of that size still hold the predictor's 68 points within ~1 % of the box between
the face and its mirror image, the median), on the face and on its mirror image. The two passes'
points are averaged; a face where they disagree by more than ``--max-disagreement`` (NME, box; 4 %,
about the 97th percentile) is dropped — a profile, a blur or a box the predictor does not believe.

Written: ``<out>/{train,val}/<photo>__f<k>.png`` (a square crop of 2 × the box side around the face,
native resolution, black outside the photo) with ``.pts`` beside it (1-based, 300-W) — the split is
the folder's split by source photo (:func:`s2ld_core.data.real_faces.split_of`), so validation faces
never share a photo with training faces — and ``<out>/labels.json``: the parameters, the counts and
each face's disagreement. The output is data made from third-party photos: keep it out of the
repository (``runs/`` is ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2ld_core.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402
from s2ld_core.data.formats.pts import write_pts  # noqa: E402
from s2ld_core.data.images import read_rgb  # noqa: E402
from s2ld_core.data.real_faces import faces_of, split_of  # noqa: E402
from s2ld_core.pixels import crop_square  # noqa: E402

MIN_PX = 48.0
MAX_DISAGREEMENT = 0.04
CONTEXT = 2.0  # the saved crop's side over the box side


def pseudo_label(root: Path, out: Path, min_px: float = MIN_PX, max_disagreement: float = MAX_DISAGREEMENT,
                 progress: bool = True) -> dict:
    """Label every face of ``root`` at least ``min_px`` wide; returns the summary written to
    ``out/labels.json``."""
    import cv2

    from s2ld_core.inference.dlib68 import Dlib68, teacher_points

    teacher = Dlib68()
    faces = faces_of(root, "all", min_px=min_px)
    kept = {"train": 0, "val": 0}
    records, image, current = [], None, None
    for face in tqdm(faces, desc="pseudo-labelling", disable=not progress):
        if face.photo != current:
            image, current = read_rgb(root / "images" / face.photo), face.photo
        points, disagreement = teacher_points(teacher, image, (face.x, face.y, face.w, face.h))
        split = split_of(face.photo)
        keep = disagreement <= max_disagreement
        records.append({"face": face.name, "split": split, "side": round(face.side, 1),
                        "disagreement": round(disagreement, 4), "kept": keep})
        if not keep:
            continue
        side = CONTEXT * face.side
        crop, x0, y0 = crop_square(image, face.x + face.w / 2, face.y + face.h / 2, side)
        ok, png = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"{face.name}: OpenCV failed to encode the crop")
        atomic_write_bytes(out / split / f"{face.name}.png", png.tobytes())
        write_pts(out / split / f"{face.name}.pts", points - np.array([x0, y0], np.float32))
        kept[split] += 1
    summary = {
        "source": str(root),
        "teacher": "dlib shape_predictor_68_face_landmarks (face-recognition-models), flip-averaged",
        "min_px": min_px,
        "max_disagreement_nme_box": max_disagreement,
        "faces_considered": len(faces),
        "kept": kept,
        "dropped": len(faces) - sum(kept.values()),
        "faces": records,
    }
    atomic_write_json(out / "labels.json", summary, indent=1)
    return summary


def main(argv=None) -> None:
    from s2ld_core.data.external import real_faces_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real-faces", type=Path, default=None,
                   help="a real-faces folder with boxes.json (default: $S2LD_REAL_FACES or ../shared/data)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "real-faces-68")
    p.add_argument("--min-px", type=float, default=MIN_PX, help="smallest box side to label (px)")
    p.add_argument("--max-disagreement", type=float, default=MAX_DISAGREEMENT,
                   help="drop faces whose two passes differ by more than this NME (box)")
    args = p.parse_args(argv)
    root = args.real_faces or real_faces_dir()
    if root is None:
        p.error("no real-faces folder: give --real-faces DIR or set $S2LD_REAL_FACES")
    t0 = time.perf_counter()
    summary = pseudo_label(root, args.out, args.min_px, args.max_disagreement)
    print(f"{summary['faces_considered']} faces of ≥ {args.min_px:g} px: kept {summary['kept']} "
          f"(dropped {summary['dropped']}) in {time.perf_counter() - t0:.0f} s → {args.out}")


if __name__ == "__main__":
    main()
