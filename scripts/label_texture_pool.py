"""Label the LFW texture pool of the v3 renderer (``s2ld_core.data.render_texture``) with the shipped
detector: the 68 points of every face (flip test, shape model), stored atomically with the name of the
detector that found them. Run once; the points file ships with the package.

    .venv/bin/python scripts/label_texture_pool.py [--checkpoint G2.pt] [--out FILE]

A script rather than a function of ``s2ld_core.data``: labelling needs the detector
(``s2ld_core.inference``), and ``data`` must not import ``inference``, which reads images through it.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2ld_core.data.render_texture import POINTS_FILE  # noqa: E402


def label_pool(checkpoint: str | Path | None = None, out: str | Path = POINTS_FILE) -> Path:
    """Find the 68 points on every LFW face with the shipped detector (flip test, shape model) and
    store them atomically at ``out``, with the detector that found them."""
    from s2ld_core.atomic import atomic_write_bytes
    from s2ld_core.data.sources import lfw_faces
    from s2ld_core.inference import LandmarkDetector
    from s2ld_core.inference.detector import shipped_weights

    path = Path(checkpoint) if checkpoint else shipped_weights("ibug68")
    det = LandmarkDetector.from_checkpoint(path).set_flip_test()
    points, _ = det.predict(lfw_faces())
    buf = io.BytesIO()
    np.savez_compressed(buf, points=points.astype(np.float32),
                        labelled_by=np.array(f"{path.parent.name}/{path.name} (flip test, shape model)"))
    return atomic_write_bytes(Path(out), buf.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="a G2 checkpoint instead of the shipped ibug68 one")
    ap.add_argument("--out", default=str(POINTS_FILE))
    args = ap.parse_args(argv)
    print(label_pool(args.checkpoint, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
