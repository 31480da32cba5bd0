"""Training inside the study: :func:`ensure_g1`/:func:`ensure_g2` train a network only when the run
folder lacks it — a finished checkpoint made by the same configuration (and the same G1) is reused,
an interrupted run resumes from its ``last.pt``, anything stale is trained afresh — and the loss
curves of a run (:func:`read_stats`, :func:`plot_losses`), labelled with the paper's equations."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open, atomic_write_text
from ..train.config import SETTINGS
from .context import G1_MAIN, G1_TARGET, Study


@dataclass
class TrainedModel:
    """A checkpoint of the study and where it came from."""

    name: str
    checkpoint: Path  # run/checkpoints/<name>.pt
    run: Path | None  # run/runs/<name>; None for shipped weights
    reused: bool
    seconds: float  # training wall time (of the run that made it, resumes included)
    steps: int
    shipped: bool = False  # the package's pretrained weights, not trained by this study (run: None)

    @property
    def label(self) -> str:
        """How tables name it: ``" (pretrained, shipped)"`` after the shipped weights' rows."""
        return SHIPPED_LABEL if self.shipped else ""


SHIPPED_LABEL = " (pretrained, shipped)"


def _sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def training_key(tcfg) -> str:
    """What decides whether a finished or half-finished run may be reused: the training config minus
    what cannot change the result (device, threads, the data cache folder, how often checkpoints and
    samples are written) plus the *content* of the G1 it builds on, so a retrained G1 invalidates
    every G2 trained on the old one although its path is the same."""
    data = tcfg.to_dict()
    for k in ("device", "threads", "checkpoint_every_steps", "samples_every_epochs"):
        data.pop(k, None)
    data.get("data", {}).pop("cache_dir", None)
    g1 = data["stage2"].get("g1_checkpoint") if data.get("stage") == "stage2" else None
    data["stage2"]["g1_checkpoint"] = _sha1_file(Path(g1)) if g1 else None
    if data.get("stage") == "stage1":
        data.pop("stage2", None)
    else:
        data.pop("stage1", None)
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _copy_atomic(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, atomic_open(dst) as fout:
        shutil.copyfileobj(fin, fout)


def train(study: Study, name: str, tcfg) -> TrainedModel:
    """Train one run of the study into ``runs/<name>`` unless it is already there.

    A finished run made by the same :func:`training_key` is reused; an interrupted one resumes from
    ``last.pt`` exactly; a run made by another configuration is moved aside (``runs/<name>.stale``)
    and trained afresh. The final checkpoint is copied to ``checkpoints/<name>.pt``.
    """
    from ..train.launch import train_stage1, train_stage2

    run = study.runs / name
    final_name = "G1.pt" if tcfg.stage == "stage1" else f"{tcfg.stage2.setting}.pt"
    final = run / "checkpoints" / final_name
    key = training_key(tcfg)
    key_file = run / "study_key.txt"
    same = key_file.exists() and key_file.read_text().strip() == key
    if same and final.exists() and (run / "summary.json").exists():
        reused, resume = True, False
    else:
        reused = False
        resume = same and (run / "checkpoints" / "last.pt").exists()
        if run.exists() and not resume:
            stale = run.with_name(run.name + ".stale")
            shutil.rmtree(stale, ignore_errors=True)
            run.rename(stale)
        run.mkdir(parents=True, exist_ok=True)
        atomic_write_text(key_file, key + "\n")
        what = f"{name}: {'resuming' if resume else 'training'} ({tcfg.optim.epochs} epochs"
        what += f", at most {tcfg.max_steps} steps)" if tcfg.max_steps else ")"
        print(what, flush=True)
        fn = train_stage1 if tcfg.stage == "stage1" else train_stage2
        t0 = time.perf_counter()
        fn(tcfg, run, resume=resume, progress=not study.static)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    summary = json.loads((run / "summary.json").read_text())
    dst = study.checkpoint(name)
    _copy_atomic(final, dst)  # always: the run folder is the truth, the copy is for `s2ld predict`
    if reused and name not in _ANNOUNCED:
        print(f"{name}: reusing {dst} (trained in {summary.get('seconds', 0):.0f} s)", flush=True)
    _ANNOUNCED.add(name)
    return TrainedModel(
        name, dst, run, reused, float(summary.get("seconds", 0.0)), int(summary.get("steps", 0))
    )


_ANNOUNCED: set[str] = set()  # models this kernel has already said it reuses (ensure_g2 asks for G1 often)


def _g1_name(study: Study, which: str) -> str:
    """``target`` is the L4 G1 (trained on the target LR) — the main one when both domains coincide."""
    if which not in ("main", "target"):
        raise ValueError(f"which G1: 'main' or 'target', got {which!r}")
    same = study.cfg.target_lr == study.cfg.g1_real_lr
    return G1_MAIN if which == "main" or same else G1_TARGET


def ensure_g1(study: Study, which: str = "main") -> TrainedModel:
    """G1/D1 (eq. 2–6): ``main`` against ``g1_real_lr``, ``target`` (L4) against ``target_lr``."""
    name = _g1_name(study, which)
    real = study.cfg.g1_real_lr if name == G1_MAIN else study.cfg.target_lr
    return train(study, name, study.cfg.train_config("stage1", real_lr=real))


def ensure_g2(study: Study, setting: str, g1: str = "main") -> TrainedModel:
    """G2 in ``setting`` (S1–S4, ``hrld``), on the ``main`` G1 or (L4) the ``target`` one."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose {', '.join(SETTINGS[:-1])} or {SETTINGS[-1]}")
    g1_path = None
    name = setting
    if setting in ("S2", "S3", "S4"):
        g1_model = ensure_g1(study, g1)
        g1_path = str(g1_model.checkpoint)
        if g1_model.name == G1_TARGET:
            name = f"{setting}_target"
    return train(study, name, study.cfg.train_config("stage2", setting, g1_checkpoint=g1_path))


def shipped_hrld() -> Path:
    """The HR-LD shipped inside the package (128², ``ibug68``; ``scripts/train_weights.py``)."""
    from ..inference.detector import shipped_weights

    return shipped_weights("ibug68").with_name("hrld.pt")


def ensure_hrld(study: Study) -> TrainedModel:
    """HR-LD for upscale + HR-LD (Table 1, notebook 04) and Table 5: trained with the study's
    ``hrld`` budget (``hrld_source: train``), or the shipped one (``shipped``: the quick profile,
    whose budget is far too small for HR-LD to converge), copied to ``checkpoints/hrld_shipped.pt``
    so the run folder holds every detector it scored. Shipped weights choose nothing here either:
    they were made before this study, on other identities."""
    if study.cfg.hrld_source != "shipped":
        return ensure_g2(study, "hrld")
    import torch

    src = shipped_hrld()
    if not src.is_file():
        raise ValueError(f"{src}: no shipped HR-LD in this installation; use hrld_source: train")
    dst = study.checkpoint("hrld_shipped")
    if not dst.is_file() or _sha1_file(dst) != _sha1_file(src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        _copy_atomic(src, dst)
    blob = torch.load(dst, map_location="cpu", weights_only=True)
    if "hrld_shipped" not in _ANNOUNCED:
        print(f"HR-LD: the shipped {src.name} ({blob.get('profile')} profile, {blob.get('steps')} steps, "
              f"{blob.get('schema')}), not trained here", flush=True)
    _ANNOUNCED.add("hrld_shipped")
    return TrainedModel("hrld (shipped)", dst, None, True, float(blob.get("train_seconds") or 0.0),
                        int(blob.get("steps") or 0), shipped=True)


STAGE1_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("G1, eq. 2 = α·eq. 3 + β·eq. 4 (+ γ·perceptual)", ("l_G1", "l_GAN_G", "l_pixel", "l_perceptual")),
    ("D1, eq. 5 = eq. 6 hinge + GP", ("l_D1", "l_GAN_D", "GP")),
    ("D1 scores", ("D1_real", "D1_fake")),
)


STAGE2_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("G2, eq. 15 = a·eq. 12 + b·eq. 13 + c·eq. 14", ("l_G2", "l_MSE", "l_kp", "l_conf")),
    ("D2 (BEGAN), eq. 9 = eq. 7 − k_t·eq. 8", ("l_D2", "l_D_real", "l_D_fake")),
    ("eq. 10: k_t and M_global", ("k_t", "M_global")),
    ("D3 (least squares), eq. 11", ("l_D3",)),
)


LOSS_LABELS = {
    "l_G1": "l_G1 (eq. 2)",
    "l_GAN_G": "l_GAN (eq. 3)",
    "l_pixel": "l_pixel (eq. 4)",
    "l_perceptual": "l_perceptual",
    "l_D1": "l_D1 (eq. 5)",
    "l_GAN_D": "hinge (eq. 6)",
    "GP": "GP",
    "l_G2": "l_G2 (eq. 15)",
    "l_MSE": "l_MSE (eq. 12)",
    "l_kp": "l_kp (eq. 13)",
    "l_conf": "l_conf (eq. 14)",
    "l_D2": "l_D2 (eq. 9)",
    "l_D_real": "L(real) (eq. 7)",
    "l_D_fake": "L(fake) (eq. 8)",
    "k_t": "k_t (eq. 10)",
    "M_global": "M_global",
    "l_D3": "l_D3 (eq. 11)",
}


def read_stats(run: Path) -> dict[str, np.ndarray]:
    """``stats.jsonl`` as one array per key (NaN where a step lacks the key), plus ``step``."""
    path = Path(run) / "stats.jsonl"
    records = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    return {k: np.array([float(r.get(k, np.nan)) for r in records]) for k in keys}


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    pad = np.concatenate([np.full(window - 1, y[0]), y])
    return np.convolve(pad, kernel, mode="valid")


def plot_losses(
    stats: Mapping[str, np.ndarray], panels: Sequence[tuple[str, Sequence[str]]], title: str = ""
):
    """One panel per group of losses against the step, named after the paper's equations. Raw values
    are drawn faintly, a moving average on top: GAN losses are noisy step to step."""
    from matplotlib.figure import Figure

    shown = [(t, [k for k in keys if k in stats and np.isfinite(stats[k]).any()]) for t, keys in panels]
    shown = [(t, keys) for t, keys in shown if keys]
    if not shown:
        shown = [("no training steps logged", [])]
    fig = Figure(figsize=(4.2 * len(shown), 3.2))
    steps = stats.get("step", np.arange(1, 1 + max((len(v) for v in stats.values()), default=0)))
    window = max(1, len(steps) // 20)
    for i, (t, keys) in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1)
        for k in keys:
            (line,) = ax.plot(steps, stats[k], alpha=0.25, lw=0.8)
            ax.plot(
                steps, _smooth(stats[k], window), color=line.get_color(), lw=1.5, label=LOSS_LABELS.get(k, k)
            )
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if keys:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def final_losses(stats: Mapping[str, np.ndarray], last: int = 20) -> dict[str, float]:
    """Mean of each logged value over the last ``last`` steps (what a curve has settled to)."""
    return {
        k: float(np.nanmean(v[-last:]))
        for k, v in stats.items()
        if k not in ("step", "epoch", "lr") and np.isfinite(v[-last:]).any()
    }


def training_record(model: TrainedModel) -> dict[str, Any]:
    """What a notebook records about one trained network."""
    return {
        "checkpoint": str(model.checkpoint),
        "train_seconds": round(model.seconds, 1),
        "steps": model.steps,
        "reused": model.reused,
        "shipped": model.shipped,
        "final_losses": final_losses(read_stats(model.run)) if model.run is not None else {},
    }
