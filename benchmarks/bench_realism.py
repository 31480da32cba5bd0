"""The realism meter: how well can a small classifier tell rendered faces from real LR faces?

Real class: scikit-image's 100 LFW faces and the 43 PASCAL faces, all at LFW's size, colour and
framing (25² grey, the face filling the crop; :mod:`s2ld_core.data.realism`). Rendered class: as many
renders per style (one per identity, identities apart from every data set's), framed and downscaled
the same way. A small CNN is trained in stratified k-fold cross validation (``--seeds`` repeats with
different folds, networks and renders); the table gives the held-out balanced accuracy and ROC AUC
(50 % / 0.5 = indistinguishable), beside simple statistics of each set. Renders stay grey here only
because LFW is grey; the colour statistics compare the PASCAL faces with colour renders at 32².

v3 wears the skin of LFW faces, so it is scored under a split protocol: LFW is cut in halves, the
renders take skin from one half only, and the real class is the other half plus the PASCAL faces
(93 real faces, each repeat run once per half). ``"v1 (split)"`` scores v1 the same way, so v3 has a
like-for-like comparison.

    python benchmarks/bench_realism.py [--styles v1 v2 v3 "v1 (split)"] [--seeds 2]

Writes ``reports/benchmarks/realism.json``, ``reports/figures/realism_stats.png`` and the contact
sheet ``reports/figures/render_styles_vs_real.png`` (v3, v2 and v1 renders beside real faces, 128²
and 32²).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from s2ld_core.data.external import pascal_xml_files  # noqa: E402
from s2ld_core.data.realism import (  # noqa: E402
    image_stats,
    real_faces,
    realism_score,
    rendered_faces,
)
from s2ld_core.data.render import RenderConfig  # noqa: E402

PASCAL_FRAMING = (0.68, 0.0)  # the framing of the detector's 32² crops (datasets.crop_face)


def style_name(style: str) -> str:
    """The style a meter key renders: ``"v1 (split)"`` is v1 measured under v3's split protocol."""
    return style.split(" ")[0]


def split_protocol(style: str) -> bool:
    return style_name(style) == "v3" or style.endswith("(split)")


def measure(style: str, real: np.ndarray, source: np.ndarray, seeds: int, folds: int, epochs: int) -> dict:
    """Held-out accuracy and AUC over ``seeds`` repeats. Under the split protocol (v3, which takes its
    skin from LFW faces, or any ``"<style> (split)"``), each repeat runs twice, once per half of LFW:
    the renders may take skin only from one half, and the real class is the other half and the PASCAL
    faces, so the meter never scores a real face whose texture the renders wear."""
    runs = []
    lfw = np.flatnonzero(source == 0)
    halves = [lfw[0::2], lfw[1::2]] if split_protocol(style) else [None]
    for seed in range(seeds):
        for h, texture in enumerate(halves):
            keep = np.ones(len(real), bool)
            cfg = RenderConfig(style=style_name(style))
            if texture is not None:
                keep[texture] = False
                cfg = RenderConfig(style=style_name(style), texture_faces=tuple(int(i) for i in texture))
            fake = rendered_faces(int(keep.sum()), cfg, seed=seed + 10 * h)
            run = realism_score(real[keep], fake, folds=folds, seed=seed, epochs=epochs)
            run["texture_half"] = None if texture is None else h
            runs.append(run)
    return {
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "auc": float(np.mean([r["auc"] for r in runs])),
        "runs": runs,
    }


def figure(sets: dict[str, np.ndarray], stats: dict, colour: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    x = (np.arange(32) + 0.5) * 8
    for name, s in stats.items():
        ax[0].plot(x, s.histogram, label=name)
        ax[1].plot(np.arange(1, len(s.spectrum) + 1), s.spectrum, label=name)
    ax[0].set(title="grey-level histogram (25² grey)", xlabel="grey level", ylabel="fraction of pixels")
    ax[1].set(title="radial log10 power spectrum", xlabel="frequency (cycles / 25 px)")
    names = list(stats)
    ax[2].bar(np.arange(len(names)) - 0.2, [stats[n].edge_density for n in names], 0.4, label="edge density")
    contrast = [stats[n].std / 100 for n in names]
    ax[2].bar(np.arange(len(names)) + 0.2, contrast, 0.4, label="contrast (std / 100)")
    ax[2].set_xticks(range(len(names)), names, rotation=20)
    ax[2].set(title="edges and contrast")
    ax[2].legend(fontsize=8)
    cn = list(colour)
    ax[3].bar(range(len(cn)), [colour[n].saturation for n in cn], color="tab:orange")
    ax[3].set_xticks(range(len(cn)), cn, rotation=20)
    ax[3].set(title="mean HSV saturation (colour, 32²)")
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def sheet(path: Path, n: int = 10) -> None:
    """Renders of each style beside real faces, at 128² and at 32² (area-downscaled, shown enlarged):
    the renderer's contact sheet in the README. v3 (real LFW skin) first, then v2 and v1."""
    import cv2

    from s2ld_core.data.datasets import crop_face
    from s2ld_core.data.formats import read_imglab_xml
    from s2ld_core.data.images import read_rgb
    from s2ld_core.data.render import render_dataset
    from s2ld_core.data.sources import lfw_faces
    from s2ld_core.plotting import contact_sheet

    pascal = []
    for xml in pascal_xml_files():
        for face in read_imglab_xml(xml, num_points=68):
            pascal.append(crop_face(read_rgb(face.image_path(xml)), face.points, 128)[0])
    pick = np.linspace(0, len(pascal) - 1, n).round().astype(int)
    pascal = [pascal[i] for i in pick]
    ids = range(400_000, 400_000 + n)
    v3, v2, v1 = (list(render_dataset(ids, 1, seed=0, config=RenderConfig(style=s)).images)
                  for s in ("v3", "v2", "v1"))
    down = lambda ims: [cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA) for im in ims]  # noqa: E731
    rows = {
        "v3 renders 128": v3,
        "real PASCAL 128": pascal,
        "v2 renders 128": v2,
        "v1 renders 128": v1,
        "v3 renders 32": down(v3),
        "real PASCAL 32": down(pascal),
        "real LFW 25": list(lfw_faces()[:n]),
        "v2 renders 32": down(v2),
        "v1 renders 32": down(v1),
    }
    contact_sheet(rows, cell=128, path=path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["v1", "v2", "v3"],
                    help='v1, v2, v3; "v1 (split)" measures v1 under v3\'s held-out-LFW protocol')
    ap.add_argument("--seeds", type=int, default=2, help="repeats (folds, networks and renders)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "realism.json"))
    ap.add_argument("--figure", default=str(ROOT / "reports" / "figures" / "realism_stats.png"))
    ap.add_argument("--sheet", default=str(ROOT / "reports" / "figures" / "render_styles_vs_real.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sheet(Path(args.sheet))
    real, source = real_faces()
    pascal_colour, _ = real_faces(size=32, framing=PASCAL_FRAMING, grey=False)
    sets = {"real LFW": real[source == 0], "real PASCAL": real[source == 1]}
    colour = {"real PASCAL": image_stats(pascal_colour[source == 1], colour=True)}
    results = {}
    for style in args.styles:
        t0 = time.perf_counter()
        results[style] = measure(style, real, source, args.seeds, args.folds, args.epochs)
        results[style]["seconds"] = time.perf_counter() - t0
        if style != style_name(style):
            continue
        sets[f"render {style}"] = rendered_faces(len(real), RenderConfig(style=style), seed=99)
        colour[f"render {style}"] = image_stats(
            rendered_faces(len(real), RenderConfig(style=style), seed=99, size=32, framing=PASCAL_FRAMING,
                           grey=False), colour=True)
    stats = {name: image_stats(ims) for name, ims in sets.items()}
    print(f"{'style':10s} {'held-out accuracy':>18s} {'AUC':>6s}   (real vs as many renders, "
          f"{args.folds}-fold x {args.seeds})")
    for style, r in results.items():
        n_real = r["runs"][0]["n_real"]
        print(f"{style:10s} {100 * r['accuracy']:17.1f}% {r['auc']:6.3f}   real {n_real}")
    print(f"\n{'set':14s} {'mean':>6s} {'contrast':>9s} {'edges':>6s} {'saturation':>11s}")
    for name, s in stats.items():
        sat = colour.get(name)
        print(f"{name:14s} {s.mean:6.1f} {s.std:9.1f} {s.edge_density:6.3f} "
              f"{(sat.saturation if sat else float('nan')):11.3f}")
    figure(sets, stats, colour, Path(args.figure))
    path = Path(args.out)
    # results of styles measured earlier (or by another process meanwhile) are kept
    earlier = json.loads(path.read_text()).get("results", {}) if path.exists() else {}
    results = {**earlier, **results}
    payload = {
        "benchmark": "realism",
        "real": {"LFW": int((source == 0).sum()), "PASCAL": int((source == 1).sum()), "size": 25,
                 "colour": "grey", "framing": "LFW (face fills the crop)"},
        "results": results,
        "stats": {name: s.to_dict() for name, s in stats.items()},
        "colour_32": {name: s.to_dict() for name, s in colour.items()},
        "load_average": os.getloadavg(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    print(f"wrote {path} and {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
