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

**Against real colour faces** (``--real real-faces``): the real class is the faces of the real-faces
folder's held-out photos (``--real-split val``), cut as the detector cuts them from their dlib boxes
and area-downscaled to 32² in colour (faces whose crop would need upsampling are left out; at most
``--max-per-photo`` faces a photo); the renders are framed as the detector's crops are and stay in
colour; the CNN sees RGB, and the folds are grouped by photo, so faces of one photo are never on both
sides of a split. A style key may carry modifiers: ``v1+300w`` renders with the 300-W landmark
conventions, ``v3+real-skin`` takes v3's skin from ``--texture-source`` (a 300-W folder of real
colour faces, e.g. the pseudo-labelled faces of the folder's *training* photos; a donor that shares a
photo with the real class is refused). Writes ``results/realism_real_colour.json`` and no figure (the
real class may not be shown in the repository).

    python benchmarks/bench_realism.py --real real-faces --styles v1 v1+300w v2 v3 v3+real-skin \
        --texture-source runs/real-faces-68/train --seeds 3 --folds 5 --epochs 15
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from s2ld_core.atomic import atomic_write_json  # noqa: E402
from s2ld_core.data.external import pascal_xml_files  # noqa: E402
from s2ld_core.data.realism import (  # noqa: E402
    DETECTOR_FRAMING,
    image_stats,
    real_colour_faces,
    real_faces,
    realism_score,
    rendered_faces,
)
from s2ld_core.data.render import RenderConfig  # noqa: E402

PASCAL_FRAMING = (0.68, 0.0)  # the framing of the detector's 32² crops (datasets.crop_face)
MODIFIERS = ("300w", "real-skin")  # style key modifiers: "v1+300w", "v3+real-skin", "v3+real-skin+300w"


def style_name(style: str) -> str:
    """The style a meter key renders: ``"v1 (split)"`` is v1 measured under v3's split protocol."""
    return style.split(" ")[0]


def render_config(style: str, texture_source: str | None = None) -> RenderConfig:
    """The renderer's settings of a meter key: the style, then ``+300w`` (the 300-W landmark
    conventions) and ``+real-skin`` (v3's skin from ``texture_source``, a 300-W folder)."""
    base, *mods = style_name(style).split("+")
    kwargs: dict = {}
    for mod in mods:
        if mod not in MODIFIERS:
            raise ValueError(f"{style!r}: unknown modifier {mod!r}; choose from {', '.join(MODIFIERS)}")
        if mod == "300w":
            kwargs["conventions"] = "300w"
        elif base != "v3":
            raise ValueError(f"{style!r}: real-skin is a v3 option")
        elif not texture_source:
            raise ValueError(f"{style!r}: real-skin needs --texture-source (a 300-W folder of real faces)")
        else:
            kwargs["texture_source"] = str(texture_source)
    return RenderConfig(style=base, **kwargs)


def split_protocol(style: str) -> bool:
    cfg = render_config(style, texture_source="-")  # "-": the key alone decides
    return (cfg.style == "v3" and cfg.texture_source is None) or style.endswith("(split)")


def measure(style: str, real: np.ndarray, source: np.ndarray, seeds: int, folds: int, epochs: int,
            texture_source: str | None = None) -> dict:
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
            cfg = render_config(style, texture_source)
            if texture is not None:
                keep[texture] = False
                cfg = replace(cfg, texture_faces=tuple(int(i) for i in texture))
            fake = rendered_faces(int(keep.sum()), cfg, seed=seed + 10 * h)
            run = realism_score(real[keep], fake, folds=folds, seed=seed, epochs=epochs)
            run["texture_half"] = None if texture is None else h
            runs.append(run)
    return {
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "auc": float(np.mean([r["auc"] for r in runs])),
        "runs": runs,
    }


def _spread(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def measure_real_colour(style: str, real: np.ndarray, photos: list[str], seeds: int, folds: int,
                        epochs: int, texture_source: str | None = None, size: int = 32) -> dict:
    """Held-out accuracy and AUC against real colour faces over ``seeds`` repeats (each: new renders,
    folds and networks), folds grouped by photo; mean and standard deviation over the repeats."""
    cfg = render_config(style, texture_source)
    runs = []
    for seed in range(seeds):
        fake = rendered_faces(len(real), cfg, seed=seed, size=size, framing=DETECTOR_FRAMING, grey=False)
        runs.append(realism_score(real, fake, folds=folds, seed=seed, epochs=epochs, groups=photos,
                                  colour=True))
    acc, auc = [r["accuracy"] for r in runs], [r["auc"] for r in runs]
    return {"accuracy": float(np.mean(acc)), "accuracy_sd": _spread(acc), "auc": float(np.mean(auc)),
            "auc_sd": _spread(auc), "runs": runs}


def donor_photos_apart(texture_source: str, photos: list[str]) -> int:
    """Refuse a skin donor that shares a photo with the real class (donor faces are named
    ``<photo stem>__f<k>``, as scripts/pseudo_label.py writes them); returns the donors' count."""
    from s2ld_core.data.render_texture import folder_texture_pool

    pool = folder_texture_pool(texture_source)
    donors = {name.rsplit("__f", 1)[0] for name in pool.names}
    shared = donors & {Path(p).stem for p in photos}
    if shared:
        raise SystemExit(f"--texture-source shares {len(shared)} photo(s) with the real class, e.g. "
                         f"{sorted(shared)[0]}: take the donors from the other split")
    return len(pool)


def main_real_colour(args) -> int:
    """The meter against real colour faces (``--real real-faces``)."""
    from s2ld_core.faces import FRAMINGS

    t_all = time.perf_counter()
    real, photos = real_colour_faces(args.real_root, split=args.real_split, size=args.size,
                                     min_px=args.min_px, max_per_photo=args.max_per_photo or None)
    donors = None
    if any("real-skin" in s for s in args.styles):
        donors = donor_photos_apart(args.texture_source, photos)
    min_px = args.min_px if args.min_px is not None else args.size / FRAMINGS["dlib"].scale
    print(f"real class: {len(real)} faces from {len(set(photos))} photos ({args.real_split}), "
          f"{args.size}² colour, box side >= {min_px:.1f} px, <= {args.max_per_photo or 'all'} per photo")
    results, stats = {}, {"real": image_stats(real, colour=True).to_dict()}
    for style in args.styles:
        t0 = time.perf_counter()
        results[style] = measure_real_colour(style, real, photos, args.seeds, args.folds, args.epochs,
                                             args.texture_source, args.size)
        results[style]["seconds"] = time.perf_counter() - t0
        fake = rendered_faces(len(real), render_config(style, args.texture_source), seed=0, size=args.size,
                              framing=DETECTOR_FRAMING, grey=False)
        stats[style] = image_stats(fake, colour=True).to_dict()
        r = results[style]
        print(f"{style:18s} accuracy {100 * r['accuracy']:5.1f} ± {100 * r['accuracy_sd']:4.1f} %   "
              f"AUC {r['auc']:.3f} ± {r['auc_sd']:.3f}   ({r['seconds']:.0f} s)", flush=True)
    payload = {
        "benchmark": "realism, real colour faces",
        "real": {"source": "real-faces", "split": args.real_split, "faces": len(real),
                 "photos": len(set(photos)), "size": args.size, "colour": "RGB",
                 "framing": "dlib boxes, FRAMINGS['dlib'] (the detector's crop), black outside the photo",
                 "min_box_px": round(float(min_px), 2), "max_per_photo": args.max_per_photo or None},
        "rendered": {"framing": "landmark box 68 % of the side, centred (the detector's training crop)",
                     "render_size": 128, "downscale": "INTER_AREA", "per_repeat": len(real)},
        "protocol": {"seeds": args.seeds, "folds": args.folds, "epochs": args.epochs,
                     "cv": "group k-fold by photo (stratified)", "input": "RGB", "spread": "sd over seeds"},
        "texture_source": {"folder": Path(args.texture_source).name if args.texture_source else None,
                           "donors": donors},
        "results": results,
        "stats": stats,
        "seconds": time.perf_counter() - t_all,
        "load_average": os.getloadavg(),
    }
    path = Path(args.out or ROOT / "results" / "realism_real_colour.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, payload)
    print(f"wrote {path} ({payload['seconds']:.0f} s)")
    return 0


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
    the renderer's contact sheet in docs/renderer.md. v3 (real LFW skin) first, then v2 and v1."""
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
    ap.add_argument("--real", choices=("lfw+pascal", "real-faces"), default="lfw+pascal",
                    help="the real class: LFW + PASCAL, 25² grey (default), or real colour faces at 32²")
    ap.add_argument("--real-root", default=None, help="the real-faces folder (default: real_faces_dir())")
    ap.add_argument("--real-split", choices=("val", "train", "all"), default="val",
                    help="which photos of the real-faces folder give the real class")
    ap.add_argument("--max-per-photo", type=int, default=25,
                    help="real-faces: at most this many faces a photo (0: all)")
    ap.add_argument("--min-px", type=float, default=None,
                    help="real-faces: smallest box side (default: the crop is --size px, never upsampled)")
    ap.add_argument("--size", type=int, default=32, help="real-faces: the meter's image side")
    ap.add_argument("--texture-source", default=None,
                    help="a 300-W folder of real colour faces for the +real-skin styles")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", default=None,
                    help="default reports/benchmarks/realism.json; results/realism_real_colour.json "
                         "with --real real-faces")
    ap.add_argument("--figure", default=str(ROOT / "reports" / "figures" / "realism_stats.png"))
    ap.add_argument("--sheet", default=str(ROOT / "reports" / "figures" / "render_styles_vs_real.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.real == "real-faces":
        return main_real_colour(args)
    args.out = args.out or str(ROOT / "reports" / "benchmarks" / "realism.json")
    sheet(Path(args.sheet))
    real, source = real_faces()
    pascal_colour, _ = real_faces(size=32, framing=PASCAL_FRAMING, grey=False)
    sets = {"real LFW": real[source == 0], "real PASCAL": real[source == 1]}
    colour = {"real PASCAL": image_stats(pascal_colour[source == 1], colour=True)}
    results = {}
    for style in args.styles:
        t0 = time.perf_counter()
        results[style] = measure(style, real, source, args.seeds, args.folds, args.epochs,
                                 args.texture_source)
        results[style]["seconds"] = time.perf_counter() - t0
        if style != style_name(style):
            continue
        cfg = render_config(style, args.texture_source)
        sets[f"render {style}"] = rendered_faces(len(real), cfg, seed=99)
        colour[f"render {style}"] = image_stats(
            rendered_faces(len(real), cfg, seed=99, size=32, framing=PASCAL_FRAMING,
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
    atomic_write_json(path, payload)
    print(f"wrote {path} and {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
