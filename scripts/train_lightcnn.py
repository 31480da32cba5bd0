"""Train the LightCNN-9 shipped in ``s2ld_core/weights/lightcnn/lightcnn9_32.pt`` (the study's L5) and
measure what it learnt. One recorded recipe on one CPU core:

    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_lightcnn.py   # --out defaults to the shipped file

Data: renderer identities of their own (from ``LIGHTCNN_ID_BASE``; the study trains LightCNN on the
target pool's identities and tests on the test identities, both far away), each face rendered at 128²
and brought to 32² through ``--views`` cameras drawn from the broad camera family (never the held-out
target camera, so no study test face is ever imitated). Held-out identities (from
``LIGHTCNN_HELDOUT_ID_BASE``, disjoint from the training ones) score 1:N identification with the
paper's half split and no alignment (plain 32² crops), top-1 with a 95 % Wilson interval: once through
the training camera family, once through the study's held-out target camera (the domain of the study's
pool and test faces, which L5 fine-tunes on and is scored on; never trained on here).

Directly at 32²: the paper's L5 network was pretrained at 128² (CASIA-WebFace) and fine-tuned at 32²;
here an epoch at 128² would cost 16× one at 32² on one CPU core, beyond this recipe's budget, and the
study only ever runs the network at 32².

Training: :class:`~s2ld_core.verification.train.LightCNNConfig`'s defaults (BatchNorm in every MFM,
Adam 1e-3, cosine decay, random flips), all four max-pools kept (the study's layout at 32²). Every
epoch writes a resumable checkpoint into ``--work``; ``--resume`` continues from it. The shipped file
holds the backbone in float16 (the classifier is specific to the training identities and is left out)
with its architecture, the recipe and the measured figures, which are taken with the weights rounded
to float16 — the network as shipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "s2ld_core" / "weights" / "lightcnn" / "lightcnn9_32.pt"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_OUT), help="the weights file to write")
    p.add_argument("--work", default="runs/lightcnn",
                   help="folder for the data cache, checkpoints, metrics")
    p.add_argument("--identities", type=int, default=300, help="training identities")
    p.add_argument("--images-per-identity", type=int, default=12, help="renders per training identity")
    p.add_argument("--views", type=int, default=2, help="camera-family views of each training render")
    p.add_argument("--heldout-identities", type=int, default=120)
    p.add_argument("--heldout-images", type=int, default=8,
                   help="renders per held-out identity (half are probes)")
    p.add_argument("--target-identities", type=int, default=250,
                   help="held-out identities seen through the target camera (8 renders each, half probes)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from --work/checkpoint.pt")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------- data


def render_lr(first_id: int, identities: int, per_identity: int, views: int,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``identities × per_identity × views`` faces at 32² (uint8) and their identities."""
    from s2ld_core.data.degrade import random_camera
    from s2ld_core.data.render import render_dataset

    fs = render_dataset(range(first_id, first_id + identities), per_identity, seed=seed, progress=True)
    images, ids = [], []
    for i, (im, pts) in enumerate(zip(fs.images, fs.points)):
        for v in range(views):
            lr, _ = random_camera(im, pts, np.random.default_rng([seed, 31, i, v]))
            images.append(lr)
            ids.append(int(fs.identity[i]))
    return np.stack(images), np.asarray(ids, np.int64)


def render_target_lr(first_id: int, identities: int, per_identity: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``identities × per_identity`` renders through the study's held-out target camera."""
    from s2ld_core.data.degrade import TARGET_CAMERA, camera_chain
    from s2ld_core.data.render import render_dataset

    fs = render_dataset(range(first_id, first_id + identities), per_identity, seed=seed, progress=True)
    images = [camera_chain(im, pts, np.random.default_rng([seed, 37, i]), TARGET_CAMERA)[0]
              for i, (im, pts) in enumerate(zip(fs.images, fs.points))]
    return np.stack(images), np.asarray(fs.identity, np.int64)


def load_data(args: argparse.Namespace, work: Path) -> dict[str, np.ndarray]:
    """Training and held-out faces, rendered once and cached in ``work`` (keyed by the data arguments)."""
    from s2ld_core.atomic import atomic_write_bytes
    from s2ld_core.data.datasets import LIGHTCNN_HELDOUT_ID_BASE, LIGHTCNN_ID_BASE

    key = (f"{args.identities}x{args.images_per_identity}x{args.views}-"
           f"{args.heldout_identities}x{args.heldout_images}-s{args.seed}")
    path = work / f"data-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    x, y = render_lr(LIGHTCNN_ID_BASE, args.identities, args.images_per_identity, args.views, args.seed)
    hx, hy = render_lr(LIGHTCNN_HELDOUT_ID_BASE, args.heldout_identities, args.heldout_images, 1,
                       args.seed + 1)
    data = {"train_images": x, "train_ids": y, "heldout_images": hx, "heldout_ids": hy}
    buf = io.BytesIO()
    np.savez(buf, **data)
    atomic_write_bytes(path, buf.getvalue())
    print(f"rendered {len(x)} training and {len(hx)} held-out faces in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return data


def load_target_heldout(args: argparse.Namespace, work: Path) -> dict[str, np.ndarray]:
    """Held-out identities through the target camera, 8 renders each (cached in ``work`` on its own,
    so changing it never re-renders the training faces)."""
    from s2ld_core.atomic import atomic_write_bytes
    from s2ld_core.data.datasets import LIGHTCNN_HELDOUT_ID_BASE

    path = work / f"heldout-target-{args.target_identities}x8-s{args.seed}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    x, y = render_target_lr(LIGHTCNN_HELDOUT_ID_BASE, args.target_identities, 8, args.seed + 2)
    buf = io.BytesIO()
    np.savez(buf, images=x, ids=y)
    atomic_write_bytes(path, buf.getvalue())
    return {"images": x, "ids": y}


# --------------------------------------------------------------------------------------------- training


def train(args: argparse.Namespace, data: dict[str, np.ndarray], work: Path):
    import torch
    from tqdm.auto import tqdm

    from s2ld_core.atomic import atomic_torch_save
    from s2ld_core.checkpoints import safe_torch_load
    from s2ld_core.verification.lightcnn import build_lightcnn, images_to_tensor
    from s2ld_core.verification.train import (
        LightCNNConfig,
        _make_optimizer,
        _random_flip,
        _train_step,
        batches,
    )

    cfg = LightCNNConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, disabled_pools=0,
                         seed=args.seed)
    imgs, ids = data["train_images"], data["train_ids"]
    classes = sorted(set(ids.tolist()))
    labels = torch.as_tensor(np.searchsorted(classes, ids), dtype=torch.long)
    torch.manual_seed(cfg.seed)
    model = build_lightcnn(cfg.arch(len(classes))).train()
    opt = _make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs))
    gen = torch.Generator().manual_seed(cfg.seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "seconds": []}
    ckpt = work / "checkpoint.pt"
    start_epoch = 0
    if args.resume and ckpt.exists():
        state = safe_torch_load(ckpt, what="LightCNN training checkpoint")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        history = state["history"]
        start_epoch = int(state["epoch"])
        print(f"resumed after epoch {start_epoch}", flush=True)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(imgs), generator=gen)
        total, hits, seen = 0.0, 0, 0
        bar = tqdm(batches(order, cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=15,
                   file=sys.stdout)
        for idx in bar:
            x = _random_flip(images_to_tensor(imgs[idx.numpy()], model.arch), gen)
            loss, h = _train_step(model, opt, x, labels[idx])
            total, hits, seen = total + loss * len(idx), hits + h, seen + len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        sched.step()
        history["loss"].append(total / len(imgs))
        history["accuracy"].append(hits / len(imgs))
        history["seconds"].append(time.perf_counter() - t0)
        atomic_torch_save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "generator": gen.get_state(), "history": history},
                          ckpt)
        print(f"epoch {epoch + 1}: loss {history['loss'][-1]:.3f}, training accuracy (dropout, flips) "
              f"{100 * history['accuracy'][-1]:.1f}% ({history['seconds'][-1]:.0f} s)", flush=True)
    return model.eval(), cfg, classes, history


@dataclasses.dataclass
class Scores:
    train_accuracy: float
    top1: float
    top1_low: float
    top1_high: float
    top5: float
    mAP: float
    num_probes: int
    gallery_size: int
    target_top1: float
    target_top1_low: float
    target_top1_high: float
    target_top5: float
    target_mAP: float
    target_num_probes: int


def identification(model, images: np.ndarray, ids: list[int], seed: int) -> dict:
    """1:N identification over the paper's half split, with the top-1's 95 % Wilson interval."""
    from s2ld_core.verification.protocol import half_split, identification_scores, wilson_interval
    from s2ld_core.verification.train import extract_features

    probe, gallery = half_split(ids, np.random.default_rng(seed))
    feats = extract_features(model, images)
    s = identification_scores(feats[probe], [ids[i] for i in probe], feats[gallery],
                              [ids[i] for i in gallery])
    lo, hi = wilson_interval(int(round(s["top1"] / 100 * s["num_probes"])), s["num_probes"])
    return s | {"top1_low": 100 * lo, "top1_high": 100 * hi}


def evaluate(model, data: dict[str, np.ndarray], target: dict[str, np.ndarray], classes: list[int],
             seed: int) -> Scores:
    """Eval-mode accuracy on the training faces (no dropout, no flips); 1:N identification of the
    held-out identities through the camera family and through the target camera."""
    import torch

    from s2ld_core.verification.train import classification_accuracy

    labels = torch.as_tensor(np.searchsorted(classes, data["train_ids"]), dtype=torch.long)
    acc = classification_accuracy(model, data["train_images"], labels)
    fam = identification(model, data["heldout_images"], data["heldout_ids"].tolist(), seed)
    tgt = identification(model, target["images"], target["ids"].tolist(), seed)
    return Scores(acc, fam["top1"], fam["top1_low"], fam["top1_high"], fam["top5"], fam["mAP"],
                  fam["num_probes"], fam["gallery_size"], tgt["top1"], tgt["top1_low"], tgt["top1_high"],
                  tgt["top5"], tgt["mAP"], tgt["num_probes"])


def command(args: argparse.Namespace) -> str:
    """The command line that makes these weights (``--out``, ``--work`` and ``--resume`` left out)."""
    flags = {k: v for k, v in vars(args).items() if k not in ("out", "work", "resume")}
    return "python scripts/train_lightcnn.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in flags.items())


def to_float16_values(model) -> None:
    """Round every floating-point weight and buffer to float16's values, in place, so the network
    evaluated is the one :func:`ship` stores."""
    import torch

    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())


def ship(model, cfg, args, scores: Scores, history, seconds: float, out: Path) -> None:
    """The backbone in float16 (no classifier), its architecture, recipe and figures, written atomically."""
    from s2ld_core.atomic import atomic_torch_save
    from s2ld_core.verification.lightcnn import CLASSIFIER_PREFIXES

    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()
             if not k.startswith(CLASSIFIER_PREFIXES)}
    arch = dataclasses.asdict(model.arch)
    arch.pop("num_classes")
    atomic_torch_save({
        "kind": "s2ld-lightcnn",
        "arch": arch,
        "config": cfg.to_dict(),
        "recipe": {"script": "scripts/train_lightcnn.py", "command": command(args),
                   **{k: v for k, v in vars(args).items() if k not in ("out", "work", "resume")}},
        "metrics": dataclasses.asdict(scores) | {"train_seconds": seconds, "final_loss": history["loss"][-1]},
        "state_dict": state,
    }, out)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from s2ld_core.atomic import atomic_write_json, check_writable

    torch.set_num_threads(args.threads)
    check_writable(args.out)
    work = check_writable(args.work, folder=True)
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    data = load_data(args, work)
    target = load_target_heldout(args, work)
    model, cfg, classes, history = train(args, data, work)
    to_float16_values(model)  # every figure below is of the weights as shipped
    scores = evaluate(model, data, target, classes, args.seed)
    seconds = time.perf_counter() - t0
    train_seconds = float(sum(history["seconds"]))
    ship(model, cfg, args, scores, history, train_seconds, Path(args.out))
    summary = dataclasses.asdict(scores) | {
        "training_faces": int(len(data["train_images"])), "identities": len(classes),
        "heldout_faces": int(len(data["heldout_images"])), "train_seconds": train_seconds,
        "total_seconds": seconds, "history": history, "args": vars(args),
        "out_bytes": Path(args.out).stat().st_size,
    }
    atomic_write_json(work / "metrics.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "args")}, indent=1))
    print(f"training accuracy (eval mode) {100 * scores.train_accuracy:.1f}%; held-out top-1 "
          f"{scores.top1:.1f}% [{scores.top1_low:.1f}, {scores.top1_high:.1f}] on {scores.num_probes} probes "
          f"(gallery {scores.gallery_size}); through the target camera {scores.target_top1:.1f}% "
          f"[{scores.target_top1_low:.1f}, {scores.target_top1_high:.1f}] on {scores.target_num_probes} "
          f"probes; {Path(args.out)}: {summary['out_bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
