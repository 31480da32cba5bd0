"""Does a more realistic renderer help on real faces? One fixed, simple recipe per renderer style.

Recipe (the same for every style; only the renderer changes): ``--faces`` rendered faces (4 per
identity, training identities), the paper's similarity jitter and flips (:class:`AugmentedFaces`),
every face through a random chain of the broad camera family (:func:`random_camera`, never the
held-out target camera) to 32², the quick profile's G2 heatmap U-Net trained with the MSE loss alone
(eq. 12), batch ``--batch``, one-cycle Adam to ``--lr`` for ``--steps`` steps, seed ``--seed``, one
thread. Scored by NME68 (box, %, raw heatmap decoding) on the real PASCAL faces at 32² (native:
area-downscaled crops) and on the embedded target-LR test set, beside the mean shape of the renders.

    python benchmarks/bench_realism_transfer.py --styles v1 v2 v3 [--steps 1500] [--faces 4000]

Writes ``reports/benchmarks/realism_transfer.json`` (results of earlier styles are kept, so styles
can be run one at a time) and prints a table.
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

from s2ld_core import losses  # noqa: E402
from s2ld_core.augment import AugmentConfig  # noqa: E402
from s2ld_core.data.datasets import (  # noqa: E402
    TRAIN_ID_BASE,
    LabelledFaces,
    embedded_target_test,
    load_imglab_faces,
)
from s2ld_core.data.degrade import random_camera  # noqa: E402
from s2ld_core.data.external import pascal_xml_files  # noqa: E402
from s2ld_core.data.render import RenderConfig, render_dataset  # noqa: E402
from s2ld_core.heatmaps import decode_heatmaps, encode_heatmaps  # noqa: E402
from s2ld_core.metrics import nme  # noqa: E402
from s2ld_core.models import HeatmapGenerator, network_config  # noqa: E402
from s2ld_core.train.batches import AugmentedFaces, to_tensor  # noqa: E402
from s2ld_core.train.config import DataConfig  # noqa: E402

LR = 32
SIGMA = 1.0  # the stage-2 default heatmap sigma at 32²


def style_config(style: str) -> RenderConfig:
    """``v1``, ``v2``, ``v3``, or ``v3:P`` (v3 with a share ``P`` of the faces textured), each
    optionally followed by ``+field=value`` overrides of numeric :class:`RenderConfig` fields, a
    range as two numbers: ``v1+yaw_range=-60,60+pose_concentration=1``."""
    head, *overrides = style.split("+")
    name, _, prob = head.partition(":")
    fields = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in RenderConfig.__dataclass_fields__ or not value:
            raise SystemExit(f"--styles {style!r}: {item!r} is not field=value of RenderConfig")
        try:
            numbers = tuple(float(v) for v in value.split(","))
        except ValueError:
            raise SystemExit(f"--styles {style!r}: {item!r} needs a number or two (a range)") from None
        fields[key] = numbers if len(numbers) > 1 else numbers[0]
    return RenderConfig(style=name, texture_prob=float(prob) if prob else 1.0, **fields)


def training_faces(style: str, faces: int, seed: int) -> LabelledFaces:
    """``faces`` renders, 4 per identity (see :func:`style_config`); ``style="mix"``: the first half
    of the identities in v1, the second half in v2 (the same identities as a single-style run)."""
    per = 4
    ids = range(TRAIN_ID_BASE, TRAIN_ID_BASE + faces // per)
    if style == "mix":
        half = len(ids) // 2
        parts = [render_dataset(ids[:half], per, seed=seed, config=RenderConfig(style="v1")),
                 render_dataset(ids[half:], per, seed=seed, config=RenderConfig(style="v2"))]
        return LabelledFaces(*(np.concatenate([getattr(p, k) for p in parts])
                               for k in ("images", "points", "visible", "identity")), "ibug68")
    fs = render_dataset(ids, per, seed=seed, config=style_config(style))
    return LabelledFaces(fs.images, fs.points, fs.visible, fs.identity, "ibug68")


def batch(data: AugmentedFaces, index: np.ndarray, step: int, seed: int):
    """Augmented HR faces, each through its own random camera-family chain to 32²."""
    images, points, visible = data.batch(index, step)
    rng = np.random.default_rng([seed, step, 0xCA])
    views = [random_camera(im, p, rng) for im, p in zip(images, points)]
    lr = np.stack([v[0] for v in views])
    pts = np.stack([v[1] for v in views]).astype(np.float32)
    vis = visible & np.all((pts > -0.5) & (pts < LR - 0.5), axis=-1)
    return lr, pts, vis


def train(hr: LabelledFaces, steps: int, batch_size: int, lr: float, seed: int, log_every: int = 250):
    torch.manual_seed(seed)
    net = HeatmapGenerator(network_config("quick"), 68, in_size=LR)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    data = AugmentedFaces(hr, seed, AugmentConfig())
    order = np.random.default_rng(seed)
    t0 = time.perf_counter()
    net.train()
    for step in range(steps):
        index = order.integers(0, len(hr), batch_size)
        images, pts, vis = batch(data, index, step, seed)
        target = encode_heatmaps(torch.from_numpy(pts), LR, SIGMA, visible=torch.from_numpy(vis))
        loss = losses.eq12_g2_mse(net(to_tensor(images, torch.device("cpu"))), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % log_every == 0:
            print(f"  step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    net.eval()
    return net, time.perf_counter() - t0


@torch.no_grad()
def score(net, faces: LabelledFaces) -> float:
    pred, _ = decode_heatmaps(net(to_tensor(faces.images, torch.device("cpu"))))
    return 100.0 * float(nme(pred.numpy(), faces.points, "box", visible=faces.visible).mean())


def mean_shape_nme(hr: LabelledFaces, faces: LabelledFaces) -> float:
    mean = hr.points.mean(0) * (LR / hr.size) + 0.5 * (LR / hr.size) - 0.5
    pred = np.broadcast_to(mean, faces.points.shape)
    return 100.0 * float(nme(pred, faces.points, "box", visible=faces.visible).mean())


def run(style: str, args) -> dict:
    t0 = time.perf_counter()
    hr = training_faces(style, args.faces, args.seed)
    render_s = time.perf_counter() - t0
    print(f"[{style}] rendered {len(hr)} faces in {render_s:.0f} s", flush=True)
    net, train_s = train(hr, args.steps, args.batch, args.lr, args.seed)
    sets = test_sets()
    out = {name: score(net, faces) for name, faces in sets.items()}
    return {
        "style": style,
        "nme_box_pct": out,
        "mean_shape_nme_box_pct": {name: mean_shape_nme(hr, faces) for name, faces in sets.items()},
        "render_s": render_s,
        "train_s": train_s,
        "g2_widths": list(net.cfg.g2_widths),
        "g2_parameters": int(sum(p.numel() for p in net.parameters())),
    }


def test_sets() -> dict[str, LabelledFaces]:
    xml = pascal_xml_files()
    return {
        "PASCAL native 32²": load_imglab_faces(xml, size=LR),
        "target-LR test": embedded_target_test(DataConfig(schema="ibug68"), progress=False),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["v1", "v2"],
                    help="v1, v2, v3, v3:P (a share P textured), or mix (v1/v2 half each)")
    ap.add_argument("--faces", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "realism_transfer.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    path = Path(args.out)
    recipe = {k: getattr(args, k) for k in ("faces", "steps", "batch", "lr", "seed", "threads")}
    # seed 0 keeps the bare style name, so earlier results stay comparable
    key = (lambda s: s) if args.seed == 0 else (lambda s: f"{s} (seed {args.seed})")
    new = {key(s): {**run(s, args), "recipe": recipe, "load_average": os.getloadavg()} for s in args.styles}
    # results of styles run earlier (or by another process meanwhile) are kept
    results = json.loads(path.read_text()).get("results", {}) if path.exists() else {}
    results.update(new)
    names = list(next(iter(results.values()))["nme_box_pct"])
    print(f"\n{'style':14s} {'faces':>6s} {'steps':>6s} " + " ".join(f"{n:>22s}" for n in names))
    for style, r in results.items():
        rec = r["recipe"]
        print(f"{style:14s} {rec['faces']:6d} {rec['steps']:6d} "
              + " ".join(f"{r['nme_box_pct'][n]:21.2f}%" for n in names))
    first = next(iter(results.values()))
    print("mean shape            " + " ".join(f"{first['mean_shape_nme_box_pct'][n]:21.2f}%" for n in names))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": "realism_transfer", "results": results}, indent=2))
    os.replace(tmp, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
