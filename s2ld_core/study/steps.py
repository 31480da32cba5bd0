"""The working parts of the study: everything the five notebooks call.

A notebook stays a narrative — parameters, a few calls, pictures, a paragraph that reads the
numbers — while the logic lives here, where it is tested and linted. The pieces:

* :func:`open_study` turns a notebook's parameters into a :class:`Study` (the resolved
  :class:`~.config.StudyConfig` plus the run folder's layout) and decides whether widgets and
  progress bars can be shown (JupyterLab) or must degrade to static output (papermill, nbconvert).
* :class:`StudyData` loads the study's faces lazily, so a notebook only renders what it shows.
* :func:`ensure_g1`/:func:`ensure_g2` train a network only when the run folder lacks it: a finished
  checkpoint made by the same configuration (and the same G1) is reused, an interrupted run resumes
  from its ``last.pt``, and anything stale is trained afresh.
* :func:`record` writes a notebook's metrics to ``metrics/<notebook>.json`` as they are computed, so
  a report can gather them and a failure late in a notebook keeps what came before.

Run folder layout (``run_dir``)::

    study.yaml                  the resolved StudyConfig
    checkpoints/<name>.pt       G1, S1–S4, hrld (+ G1_target, S4_target for L4); ``s2ld predict`` loads them
    runs/<name>/                each training run: config.yaml, stats.jsonl, samples/, checkpoints/
    figures/<name>.png          every figure a notebook shows
    metrics/<notebook>.json     what each notebook measured
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open, atomic_write_json, atomic_write_text
from ..data.datasets import LabelledFaces
from .config import NOTEBOOKS, StudyConfig, merge, study_config

STATIC_ENV = "S2LD_STATIC"  # set (to anything but "0") to force static output, e.g. by the runner

# Which G1 a G2 setting is trained on, and which real LR its D3 sees; see StudyConfig's docstring.
G1_MAIN, G1_TARGET = "G1", "G1_target"


# ============================================================================= the study context


@dataclass
class Study:
    """A resolved study configuration, its run folder and how output is shown."""

    cfg: StudyConfig
    root: Path
    static: bool
    notebook: str | None = None
    _metrics: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    @cached_property
    def device(self):
        from ..train.runner import resolve_device

        return resolve_device(self.cfg.device)


def _project_relative(path: str) -> Path:
    """A relative ``run_dir`` is taken from the project root when the notebook runs from
    ``notebooks/`` (JupyterLab's working directory), so ``reports/…`` means the same folder whether
    a notebook is opened interactively or run by ``s2ld study``."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    cwd = Path.cwd()
    if cwd.name == "notebooks" and (cwd.parent / "pyproject.toml").exists():
        return cwd.parent / p
    return cwd / p


def widgets_enabled(interactive: bool | None = None) -> bool:
    """Whether to show ipywidgets (a live frontend) or static pictures (papermill, nbconvert, a script).

    ``interactive`` forces either. Otherwise: static when :data:`STATIC_ENV` is set (``s2ld study``
    sets it), when not inside an IPython kernel, or when the kernel's client cannot answer input
    requests — nbclient (papermill's and nbconvert's executor) sends ``allow_stdin=False`` with every
    cell, JupyterLab and Notebook send ``True``, so that flag tells a person from a batch job.
    """
    if interactive is not None:
        return bool(interactive)
    if os.environ.get(STATIC_ENV, "0") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


def open_study(
    profile: str = "quick",
    run_dir: str | None = None,
    hr_data: str = "embedded",
    target_lr: str = "embedded",
    epochs: int | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
    overrides: Mapping[str, Any] | None = None,
    interactive: bool | None = None,
    notebook: str | None = None,
) -> Study:
    """A notebook's parameters → a :class:`Study`; writes ``study.yaml`` into the run folder.

    ``overrides`` holds further :class:`StudyConfig` fields as a nested dict (``s2ld study`` passes
    the whole resolved configuration); the named parameters win over it, the profile's defaults lose.
    """
    named = {
        "profile": profile,
        "hr_data": hr_data,
        "target_lr": target_lr,
        "epochs": epochs,
        "max_steps": max_steps,
        "seed": seed,
        "device": device,
    }
    if run_dir is not None:
        named["run_dir"] = str(run_dir)
    fields = merge(dict(overrides or {}), named)
    cfg = study_config(fields.pop("profile"), **fields)
    root = _project_relative(cfg.run_dir)
    cfg.run_dir = str(root)
    if notebook is not None and notebook not in NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(NOTEBOOKS)}")
    for sub in ("checkpoints", "runs", "figures", "metrics"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "study.yaml", cfg.to_yaml())
    out = Study(cfg, root, static=not widgets_enabled(interactive), notebook=notebook)
    if notebook is not None:
        path = out.metrics_dir / f"{notebook}.json"
        if path.exists():
            path.unlink()  # a fresh execution starts a fresh record
        record(
            out,
            "config",
            {
                "profile": cfg.profile,
                "seed": cfg.seed,
                "schema": cfg.schema,
                "hr_data": cfg.hr_data,
                "target_lr": cfg.target_lr,
                "g1_real_lr": cfg.g1_real_lr,
            },
        )
    return out


def describe(study: Study) -> str:
    """A Markdown paragraph that says what this run is (shown at the top of every notebook)."""
    c = study.cfg
    s1, s2, hr = (c.train_config("stage1"), c.train_config("stage2", "S4"), c.train_config("stage2", "hrld"))

    def sched(t) -> str:
        cap = f", stopped after {t.max_steps} steps" if t.max_steps else ""
        return (
            f"{t.optim.epochs} epochs, batch {t.optim.batch_size}, Adam {t.optim.lr:g} "
            f"β {tuple(t.optim.betas)}, ×{t.optim.lr_decay:g} at epochs {t.optim.milestone_epochs()}{cap}"
        )

    v = study.cfg.verification
    pools = {
        None: "first two max-pools disabled at 32² (the paper's)",
        0: "all four max-pools kept (cheaper than the paper's two disabled)",
    }
    return (
        f"**Run** `{study.root}` · profile **{c.profile}** · seed {c.seed} · device `{study.device}`\n\n"
        f"* labelled HR faces: `{c.hr_data}` (schema `{c.schema}`); target LR (D3, L4): `{c.target_lr}`; "
        f"real LR for the main G1: `{c.g1_real_lr}`\n"
        f"* G1/D1: {sched(s1)}\n* G2 (S1–S4): {sched(s2)}\n* HR-LD: {sched(hr)}\n"
        f"* LightCNN-{v.variant}: {v.epochs} epochs, batch {v.batch_size}, "
        f"{pools.get(v.disabled_pools, f'{v.disabled_pools} pools disabled')}\n"
        f"* output: {'static (batch run)' if study.static else 'interactive widgets'}"
    )


# ============================================================================= metrics


def _jsonable(obj: Any) -> Any:
    """Plain JSON: numpy scalars/arrays unwrapped, NaN and ±inf → None (JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def record(study: Study, key: str, value: Any) -> None:
    """Add ``key: value`` to this notebook's ``metrics/<notebook>.json`` (written atomically now)."""
    if study.notebook is None:
        return
    study._metrics[key] = _jsonable(value)
    atomic_write_json(study.metrics_dir / f"{study.notebook}.json", study._metrics)


# ============================================================================= data


def _held_out_hr(study: Study, progress: bool) -> LabelledFaces:
    """HR renders of the target-test identities (see :func:`~s2ld_core.data.datasets.embedded_test_hr`)."""
    from ..data.datasets import embedded_test_hr

    return embedded_test_hr(study.cfg.data_config(), study.cfg.seed, progress)


class StudyData:
    """The study's faces, each loaded (and cached on disk by the data module) on first use."""

    def __init__(self, study: Study):
        self.study = study
        self._progress = not study.static

    @cached_property
    def train_hr(self) -> LabelledFaces:
        """Labelled HR training faces (AFLW's role)."""
        from ..data.datasets import load_hr_faces

        return load_hr_faces(self.study.cfg.data_config(), self.study.cfg.seed, self._progress)

    @cached_property
    def pool(self) -> LabelledFaces:
        """The unlabelled target-LR pool (TinyFace-train's role); its points are never used, its
        identities train LightCNN in §4.3."""
        from ..data.datasets import embedded_target_pool

        return embedded_target_pool(self.study.cfg.data_config(), self.study.cfg.seed, self._progress)

    @cached_property
    def test(self) -> LabelledFaces:
        """The held-out labelled target-LR test set (ALRF's role): every ablation is scored here."""
        from ..data.datasets import embedded_target_test

        return embedded_target_test(self.study.cfg.data_config(), self.study.cfg.seed, self._progress)

    @cached_property
    def test_hr(self) -> LabelledFaces | None:
        """HR renders of the test identities (``None`` when ``hr_data`` is not the embedded default:
        a real data set brings no held-out HR split here)."""
        if self.study.cfg.hr_data != "embedded":
            return None
        return _held_out_hr(self.study, self._progress)

    @cached_property
    def target_real(self) -> np.ndarray:
        """The unlabelled target-domain LR images D3 (and the L4 G1) learn from."""
        from ..data.datasets import load_target_lr

        return load_target_lr(self.study.cfg.data_config(), self.study.cfg.seed, self._progress)

    @cached_property
    def g1_real(self) -> np.ndarray:
        """The real LR images the main G1 learns from (the paper's WIDER FACE role)."""
        from ..data.datasets import load_target_lr

        cfg = self.study.cfg
        return load_target_lr(cfg.data_config(cfg.g1_real_lr), cfg.seed, self._progress)

    @cached_property
    def lfw(self) -> np.ndarray:
        """scikit-image's real 25² LFW faces at 32² (the first ``lfw_faces`` of them)."""
        from ..data.sources import resolve_lr_source

        return resolve_lr_source("lfw", size=32).load_all()[: self.study.cfg.lfw_faces]


def spread(n_total: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``range(n_total)`` (different identities in the embedded sets,
    whose images are grouped by identity)."""
    n = max(0, min(n, n_total))
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(int)) if n else np.zeros(0, int)


# ============================================================================= training


@dataclass
class TrainedModel:
    """A checkpoint of the study and where it came from."""

    name: str
    checkpoint: Path  # run/checkpoints/<name>.pt
    run: Path  # run/runs/<name>
    reused: bool
    seconds: float  # training wall time (of the run that made it, resumes included)
    steps: int


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
    if setting not in ("S1", "S2", "S3", "S4", "hrld"):
        raise ValueError(f"unknown setting {setting!r}; choose S1, S2, S3, S4 or hrld")
    g1_path = None
    name = setting
    if setting in ("S2", "S3", "S4"):
        g1_model = ensure_g1(study, g1)
        g1_path = str(g1_model.checkpoint)
        if g1_model.name == G1_TARGET:
            name = f"{setting}_target"
    return train(study, name, study.cfg.train_config("stage2", setting, g1_checkpoint=g1_path))


# ============================================================================= losses

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


# ============================================================================= pictures


def show_figure(study: Study, fig, name: str):
    """Save ``fig`` as ``figures/<name>.png`` and return it as an image for the notebook to display
    (a PNG rather than a live figure: the same bytes land in the report and in the HTML export)."""
    from IPython.display import Image

    from ..plotting import save_figure

    path = study.figures / f"{name}.png"
    save_figure(fig, path)
    return Image(filename=str(path))


def show_image(study: Study, image: np.ndarray, name: str):
    """Save an RGB array as ``figures/<name>.png`` and return it for display."""
    from IPython.display import Image

    from ..plotting import save_png

    path = study.figures / f"{name}.png"
    save_png(image, path)
    return Image(filename=str(path))


GT_COLOUR, PRED_COLOUR = (0, 255, 0), (255, 64, 64)


def overlay(
    image: np.ndarray,
    prediction: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    cell: int = 128,
) -> np.ndarray:
    """A face enlarged (nearest) to about ``cell`` px with the truth (green) and a prediction (red).

    Points are in the original image's pixels; enlarging maps them with the pixel-centre rule, so a
    marker sits on the pixel it labels however small the face.
    """
    from ..geometry import resize_points
    from ..plotting import draw_points

    zoom = max(1, cell // max(image.shape[:2]))
    radius = max(2, zoom // 2)
    out = draw_points(image, np.zeros((0, 2), np.float32), zoom=zoom)
    if truth is not None:
        out = draw_points(
            out,
            resize_points(np.asarray(truth, np.float32), zoom),
            visible,
            zoom=1,
            color=GT_COLOUR,
            radius=radius,
        )
    if prediction is not None:
        out = draw_points(
            out,
            resize_points(np.asarray(prediction, np.float32), zoom),
            zoom=1,
            color=PRED_COLOUR,
            radius=max(1, radius - 1),
        )
    return out


def data_sheet(data: StudyData, per_row: int = 8) -> np.ndarray:
    """The faces of the study, one row per role (what each network learns from or is scored on)."""
    from ..pixels import subsample_F
    from ..plotting import contact_sheet

    hr = data.train_hr.subset(spread(len(data.train_hr), per_row))
    test = data.test.subset(spread(len(data.test), per_row))
    pool = data.pool.images[spread(len(data.pool), per_row)]
    rows = {
        "labelled HR": [
            overlay(im, truth=p, visible=v, cell=128) for im, p, v in zip(hr.images, hr.points, hr.visible)
        ],
        "F(HR)": [subsample_F(im)[0] for im in hr.images],
        "G1's real LR": list(data.g1_real[spread(len(data.g1_real), per_row)]),
        "target LR pool": list(pool),
        "target LR test": [
            overlay(im, truth=p, visible=v) for im, p, v in zip(test.images, test.points, test.visible)
        ],
    }
    return contact_sheet(rows, cell=96)


def generated_test_set(study: Study, data: StudyData, g1_checkpoint: Path) -> LabelledFaces | None:
    """Table 1's first row: the held-out HR test faces through G1, points resized exactly to 32²."""
    from ..geometry import resize_points
    from ..inference.g1 import generate_lr

    hr = data.test_hr
    if hr is None:
        return None
    lr = generate_lr(g1_checkpoint, hr.images, seed=study.cfg.seed + 11, device=study.device)
    pts = np.stack([resize_points(p, lr.shape[1] / hr.size) for p in hr.points]).astype(np.float32)
    return LabelledFaces(lr, pts, hr.visible, hr.identity, hr.schema)


def g1_samples(study: Study, data: StudyData, g1_checkpoint: Path, n: int = 8) -> np.ndarray:
    """Fig. 4: HR faces, the paper's F(HR), G1(HR) with two noise draws, and real LR for comparison."""
    from ..inference.g1 import generate_lr
    from ..pixels import subsample_F
    from ..plotting import contact_sheet

    hr = data.train_hr.images[spread(len(data.train_hr), n)]
    rows = {
        "HR": list(hr),
        "F(HR)": [subsample_F(im)[0] for im in hr],
        "G1(HR), noise 1": list(generate_lr(g1_checkpoint, hr, seed=1, device=study.device)),
        "G1(HR), noise 2": list(generate_lr(g1_checkpoint, hr, seed=2, device=study.device)),
        "real LR": list(data.g1_real[spread(len(data.g1_real), n)]),
    }
    return contact_sheet(rows, cell=96)


def predictions_sheet(rows: Mapping[str, tuple[Any, np.ndarray]], n: int = 10) -> np.ndarray:
    """Fig. 6: for each row name, ``(detector, images)`` → the first ``n`` spread faces with its points."""
    from ..plotting import contact_sheet

    out = {}
    for name, (detector, images) in rows.items():
        imgs = np.asarray(images)[spread(len(images), n)]
        pts, _ = detector.predict(imgs)
        out[name] = [overlay(im, prediction=p) for im, p in zip(imgs, pts)]
    return contact_sheet(out, cell=112)


def study_detector(study: Study, checkpoint: Path, decoding: str | None = None):
    """G2 of ``checkpoint`` decoding as the study says (``decoding`` overrides; raw without a shape
    model, as in checkpoints made before it existed)."""
    from ..inference import LandmarkDetector

    det = LandmarkDetector.from_checkpoint(checkpoint, study.device)
    decoding = decoding or study.cfg.decoding
    return det.set_decoding(decoding if det.shape_model is not None else "raw")


RAW = "raw decoding"  # suffix of the rows that decode heatmap peaks without the shape model


def comparison_detectors(study: Study, models: Mapping[str, TrainedModel], hrld: TrainedModel) -> dict:
    """Name → (detector, training seconds) for every row of Table 1 and the real-face table: the
    baselines, S1–S4 in the study's decoding and S4 in the other one."""
    from ..inference import BicubicSRBaseline, MeanShapeBaseline, UpscaleHRLDBaseline

    detectors: dict[str, tuple[Any, float]] = {
        "mean shape": (MeanShapeBaseline.from_checkpoint(models["S1"].checkpoint), 0.0),
        "upscale + HR-LD": (UpscaleHRLDBaseline.from_checkpoint(hrld.checkpoint, study.device), hrld.seconds),
        "bicubic SR + HR-LD": (
            BicubicSRBaseline.from_checkpoint(hrld.checkpoint, study.device),
            hrld.seconds,
        ),
    }
    for setting, model in models.items():
        detectors[setting] = (study_detector(study, model.checkpoint), model.seconds)
    if "S4" in models:
        other = "raw" if study.cfg.decoding == "pdm" else "pdm"
        det = study_detector(study, models["S4"].checkpoint, other)
        if det.decoding == other:
            detectors[f"S4, {other} decoding"] = (det, models["S4"].seconds)
    return detectors


def real_face_sets(study: Study) -> dict[str, LabelledFaces]:
    """The real-face check (``real_faces``, an imglab folder): each face at its native resolution
    area-downscaled to 32², and through the held-out target camera. Empty when not configured or
    not found (a checkout without the data folder)."""
    from ..data.datasets import load_imglab_faces

    if not study.cfg.real_faces:
        return {}
    folder = _project_relative(study.cfg.real_faces)
    if not folder.is_dir() and not Path(study.cfg.real_faces).is_absolute():
        folder = Path(__file__).resolve().parents[2] / study.cfg.real_faces
    xml = sorted(folder.glob("*.xml")) if folder.is_dir() else []
    if not xml:
        return {}
    schema = study.cfg.schema  # in the study's schema, so overlays draw like with like
    camera = load_imglab_faces(xml, camera="target-camera", seed=study.cfg.seed)
    return {"native": load_imglab_faces(xml).to_schema(schema), "target camera": camera.to_schema(schema)}


def real_face_columns(sets: Mapping[str, LabelledFaces]) -> tuple[tuple[str, str, str | None], ...]:
    """Columns of :func:`real_face_table` for :func:`~.analysis.html_table`."""
    return (("method", "method", None),) + tuple(
        (name, f"NME % (box), {name} ({len(faces)} faces)", "%") for name, faces in sets.items()
    )


def real_face_table(detectors: Mapping[str, tuple[Any, float]], sets: Mapping[str, LabelledFaces]):
    """Rows ``{method, <set>: NME, …}`` and the evaluations (set → method → Evaluation)."""
    from ..evaluation import evaluate_detector

    rows, evaluations = [], {name: {} for name in sets}
    for method, (det, _) in detectors.items():
        row: dict[str, Any] = {"method": method}
        for name, faces in sets.items():
            ev = evaluate_detector(det, faces, normalizer="box", name=method)
            evaluations[name][method] = ev
            row[name] = ev.summary["nme"]
        rows.append(row)
    return rows, evaluations


def evaluation_row(evaluation, seconds: float | None = None, extra: Mapping[str, Any] | None = None) -> dict:
    """One table row: the summary of an :class:`~s2ld_core.evaluation.Evaluation` and the training time."""
    row = {"method": evaluation.name, **evaluation.summary}
    if seconds is not None:
        row["train_seconds"] = round(float(seconds), 1)
    row.update(extra or {})
    return row


def worst_cases(evaluation, n: int = 8) -> list[int]:
    """Indices of the ``n`` faces with the largest NME under ``evaluation``, worst first."""
    return [int(i) for i in np.argsort(-evaluation.errors)[:n]]


def failure_sheet(evaluations: Mapping[str, Any], faces: LabelledFaces, by: str, n: int = 8) -> np.ndarray:
    """The ``n`` worst faces of method ``by``, each method's prediction (red) against the truth (green)."""
    from ..plotting import contact_sheet

    idx = worst_cases(evaluations[by], n)
    rows = {}
    for name, ev in evaluations.items():
        rows[f"{name}"] = [
            overlay(faces.images[i], ev.predictions[i], faces.points[i], faces.visible[i]) for i in idx
        ]
    return contact_sheet(rows, cell=112)


def training_record(model: TrainedModel) -> dict[str, Any]:
    """What a notebook records about one trained network."""
    return {
        "checkpoint": str(model.checkpoint),
        "train_seconds": round(model.seconds, 1),
        "steps": model.steps,
        "reused": model.reused,
        "final_losses": final_losses(read_stats(model.run)),
    }


# ============================================================================= notebook 01


def lr_sets(study: Study, data: StudyData, g1_checkpoint: Path, n: int = 256) -> dict[str, np.ndarray]:
    """The LR image sets notebook 01 compares: the real LR G1 learnt from, G1(HR), the paper's F(HR)
    and the target LR (a domain G1 never saw), ``n`` images each at most."""
    from ..inference.g1 import generate_lr
    from ..pixels import subsample_F

    hr = data.train_hr.images[spread(len(data.train_hr), n)]
    real = data.g1_real[spread(len(data.g1_real), n)]
    return {
        "real LR": real,
        "G1(HR)": generate_lr(g1_checkpoint, hr, seed=study.cfg.seed + 5, device=study.device),
        "F(HR)": np.stack([subsample_F(im)[0] for im in hr]),
        "target LR": data.pool.images[spread(len(data.pool), n)],
    }


def lr_statistics_verdict(stats: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown: is G1(HR) nearer the real LR than F(HR), statistic by statistic — said plainly."""
    from .analysis import closer_to_real

    closer = closer_to_real(stats, "G1(HR)", "F(HR)")
    g, f = stats["G1(HR)"], stats["F(HR)"]
    parts = [
        f"intensity distribution (EMD {g['luma_emd_to_real']:.1f} vs {f['luma_emd_to_real']:.1f})",
        f"log spectrum (mean |Δ| {g['spectrum_l1_to_real']:.3f} vs {f['spectrum_l1_to_real']:.3f})",
        f"sharpness (ratio to real {g['sharpness_ratio_to_real']:.2f} vs {f['sharpness_ratio_to_real']:.2f})",
    ]
    won = [p for p, ok in zip(parts, closer.values()) if ok]
    lost = [p for p, ok in zip(parts, closer.values()) if not ok]
    text = f"G1(HR) is nearer the real LR than F(HR) in {len(won)} of 3 statistics."
    if won:
        text += " Nearer: " + "; ".join(won) + "."
    if lost:
        text += " Not nearer: " + "; ".join(lost) + "."
    if len(won) < 2:
        text += (
            " With this training budget G1 has not (yet) learnt the real LR's look better than plain "
            "average pooling; the paper's premise for S2 > S1 is then weak in this run."
        )
    return text


# ============================================================================= notebook 03


@dataclass
class Ablation:
    """Every method of Table 1 scored on the target-LR test set and on the G1-generated test set."""

    evaluations: dict[str, Any]  # name → Evaluation on the target-LR test set
    generated: dict[str, Any]  # name → Evaluation on G1(HR test)
    rows: list[dict[str, Any]]


def _timed_evaluation(detector, faces: LabelledFaces, name: str):
    from ..evaluation import evaluate_detector

    t0 = time.perf_counter()
    ev = evaluate_detector(detector, faces, name=name)
    return ev, 1000.0 * (time.perf_counter() - t0) / max(1, len(faces))


def run_ablation(
    study: Study, data: StudyData, models: Mapping[str, TrainedModel], hrld: TrainedModel, g1: TrainedModel
) -> Ablation:
    """Score the baselines and S1–S4 (Table 1). Nothing is tuned: each checkpoint is the end of its
    schedule, and the held-out sets are only read here."""
    detectors = comparison_detectors(study, models, hrld)
    generated = generated_test_set(study, data, g1.checkpoint)
    evaluations, gen_evals, rows = {}, {}, []
    for name, (det, seconds) in detectors.items():
        ev, ms = _timed_evaluation(det, data.test, name)
        evaluations[name] = ev
        extra: dict[str, Any] = {"ms_per_face": ms}
        if generated is not None:
            gen_evals[name], _ = _timed_evaluation(det, generated, name)
            extra["nme_generated"] = gen_evals[name].summary["nme"]
        rows.append(evaluation_row(ev, seconds, extra))
    return Ablation(evaluations, gen_evals, rows)


SETTINGS = ("S1", "S2", "S3", "S4")


def undertrained_note(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """A warning when no S-setting beats the training mean shape: the networks have not learnt
    landmarks yet, so their ordering says nothing about the method (only about the budget)."""
    nme = {r["method"]: r["nme"] for r in rows}
    if "mean shape" not in nme or not any(s in nme for s in SETTINGS):
        return None
    best = min(nme[s] for s in SETTINGS if s in nme)
    if best < nme["mean shape"]:
        return None
    return (
        f"**Under-trained.** No S²LD setting beats predicting the training mean shape (best "
        f"{100 * best:.1f}% vs {100 * nme['mean shape']:.1f}% NME): at this training budget G2 has not "
        "learnt landmarks yet, so the comparisons below reflect the budget, not the method. Train longer "
        "(`s2ld study --epochs N`, or `--profile paper`) before reading them."
    )


def ablation_claims(study: Study, ablation: Ablation) -> str:
    """Check the paper's ordering on both test sets, record it and return the Markdown verdict."""
    from .analysis import check_claim

    comparisons, claim = check_claim(
        {s: ablation.evaluations[s].errors for s in SETTINGS}, seed=study.cfg.seed
    )
    record(study, "claim", [c.as_dict() for c in comparisons])
    note = undertrained_note(ablation.rows)
    record(study, "undertrained", note is not None)
    if note:
        claim = note + "\n\n" + claim
    record(study, "claim_summary", claim)
    if ablation.generated:
        comparisons_gen, claim_gen = check_claim(
            {s: ablation.generated[s].errors for s in SETTINGS}, seed=study.cfg.seed
        )
        record(study, "claim_generated", [c.as_dict() for c in comparisons_gen])
        claim += "\n\nOn the **G1-generated** test faces (Table 1's first row): " + claim_gen
    return claim


def ced_figure(
    evaluations: Mapping[str, Any], normalizer: str = "box", thresholds: Sequence[float] = (0.10, 0.30)
):
    """CED curves of every method: the paper's AUC range [0, 0.10] beside a wider view."""
    from matplotlib.figure import Figure

    from ..plotting import plot_ced

    fig = Figure(figsize=(5.6 * len(thresholds), 4.4))
    errors = {name: ev.errors for name, ev in evaluations.items()}
    for i, t in enumerate(thresholds):
        plot_ced(
            errors,
            max_threshold=t,
            ax=fig.add_subplot(1, len(thresholds), i + 1),
            title=f"CED on the target-LR test set, NME ≤ {t:g}",
            normalizer=normalizer,
        )
    fig.tight_layout()
    return fig


# ============================================================================= notebook 04


def verification_settings(study: Study, models: Mapping[str, TrainedModel], hrld: TrainedModel):
    """Table 3a's settings plus the two baselines, as :class:`~.analysis.VerificationSetting` s.

    L1–L3 align with G2 from S2, S3, S4 (main G1); L4 with the S4 built on a G1 that also learnt the
    target LR; L5 is L4 with a pretrained LightCNN, run only when ``verification.pretrained`` names a
    file (the paper's CASIA-WebFace weights cannot be shipped).
    """
    from ..inference import UpscaleHRLDBaseline
    from .analysis import VerificationSetting

    def det(key: str):
        return study_detector(study, models[key].checkpoint)

    pretrained = study.cfg.verification.pretrained
    l5_skip = None
    if not pretrained:
        l5_skip = "no pretrained weights"
    elif not Path(pretrained).expanduser().exists():
        l5_skip = f"pretrained weights {pretrained} not found"
    s4_target = models["S4_target"]
    l4_skip = None
    if s4_target.checkpoint == models["S4"].checkpoint:
        l4_skip = "same as L3: the main G1 already learns from the target LR"
    return [
        VerificationSetting("baseline", "none (resize to 32²)", None),
        VerificationSetting(
            "upscale + HR-LD",
            "HR-LD on the face upscaled to 128²",
            UpscaleHRLDBaseline.from_checkpoint(hrld.checkpoint, study.device),
        ),
        VerificationSetting("L1", "G2 of S2 (generated LR, eq. 12)", det("S2")),
        VerificationSetting("L2", "G2 of S3 (+ D2)", det("S3")),
        VerificationSetting("L3", "G2 of S4 (+ D2, D3 on the target LR)", det("S4")),
        VerificationSetting(
            "L4",
            f"G2 of S4 on a G1 that learnt the target LR ({s4_target.name})",
            None if l4_skip else study_detector(study, s4_target.checkpoint),
            skip_reason=l4_skip,
        ),
        VerificationSetting(
            "L5",
            "L4 + pretrained LightCNN",
            None if l5_skip else study_detector(study, s4_target.checkpoint),
            pretrained=None if l5_skip else str(Path(pretrained).expanduser()),
            skip_reason=l5_skip,
            config=dataclasses.replace(lightcnn_config(study), disabled_pools=None),
        ),
    ]


def lightcnn_config(study: Study):
    from ..verification.train import LightCNNConfig

    v = study.cfg.verification
    return LightCNNConfig(
        variant=v.variant,
        epochs=v.epochs,
        batch_size=v.batch_size,
        lr=v.lr,
        disabled_pools=v.disabled_pools,
        seed=study.cfg.seed,
    )


def aligned_sheet(settings, images: np.ndarray, n: int = 8) -> np.ndarray:
    """The same test faces as each setting hands them to LightCNN (aligned to the 32² template)."""
    from ..plotting import contact_sheet
    from ..verification.train import prepare_faces

    imgs = np.asarray(images)[spread(len(images), n)]
    rows = {"input": list(imgs)}
    for s in settings:
        if s.skip_reason or s.name == "L5":
            continue
        rows[s.name] = list(prepare_faces(s.detector, imgs, 32)[0])
    return contact_sheet(rows, cell=80)


def verification_verdict(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: do the L settings order as in Table 3a (L1 < L2 < L3 ≤ L4), and does alignment beat
    the plain-resize baseline? Said plainly, whatever the answer."""
    top = {k: r["top1"] for k, r in results.items() if r.get("status") == "ok"}
    lines = []
    for a, b in (("L1", "L2"), ("L2", "L3"), ("L3", "L4")):
        if a in top and b in top:
            ok = top[a] <= top[b]
            lines.append(
                f"* {a} ≤ {b} in top-1: {top[a]:.1f}% vs {top[b]:.1f}% — "
                f"{'agrees' if ok else 'disagrees'} with the paper"
            )
    if "baseline" in top and "L3" in top:
        ok = top["L3"] > top["baseline"]
        lines.append(
            f"* L3 vs no alignment: {top['L3']:.1f}% vs {top['baseline']:.1f}% — alignment "
            f"{'helps' if ok else 'does not help'} here"
        )
    n_probe = next((r.get("num_probes") for r in results.values() if r.get("status") == "ok"), None)
    note = (
        f"\n\nEach figure rests on {n_probe} probes; with so few, differences of a few points are "
        "within chance."
        if n_probe
        else ""
    )
    return "\n".join(lines) + note


# ============================================================================= notebook 05


def hrld_evaluation(study: Study, data: StudyData, hrld: TrainedModel) -> tuple[list[dict[str, Any]], Any]:
    """HR-LD on held-out HR renders of unseen identities, under every normaliser the schema allows
    (Table 5 reports interocular for 300W and box-style for AFLW). Returns rows and the box
    :class:`~s2ld_core.evaluation.Evaluation`, or ``([], None)`` without a held-out HR set."""
    from ..evaluation import evaluate_detector
    from ..schemas import get_schema

    faces = data.test_hr
    if faces is None:
        return [], None
    det = study_detector(study, hrld.checkpoint)
    schema = get_schema(det.schema)
    norms = ["box"] + (["interocular"] if schema.interocular is not None else [])
    rows, box_eval = [], None
    for norm in norms:
        ev = evaluate_detector(det, faces, normalizer=norm, name="HR-LD")
        box_eval = ev if norm == "box" else box_eval
        rows.append(
            {"method": "HR-LD (ours)", "test_set": f"held-out HR renders ({len(faces)} faces)", **ev.summary}
        )
    return rows, box_eval


def hrld_samples(study: Study, data: StudyData, evaluation, n: int = 8) -> np.ndarray:
    """Fig. 7: HR-LD's points (red) and the truth (green) on held-out HR faces, and its worst cases."""
    from ..plotting import contact_sheet

    faces = data.test_hr
    idx = spread(len(faces), n)
    worst = np.argsort(-evaluation.errors)[:n]
    return contact_sheet(
        {
            "HR-LD, held-out faces": [
                overlay(
                    faces.images[i], evaluation.predictions[i], faces.points[i], faces.visible[i], cell=128
                )
                for i in idx
            ],
            "HR-LD, worst NME": [
                overlay(
                    faces.images[i], evaluation.predictions[i], faces.points[i], faces.visible[i], cell=128
                )
                for i in worst
            ],
        },
        cell=128,
    )


# ============================================================================= notebook 02


def real_lr_summary(data: StudyData, detector) -> dict[str, Any]:
    """S4 on the labelled target-LR test set (NME) and its mean heatmap confidence on each LR set.

    Confidence is the decoded heatmap peak; it is no accuracy measure, but a detector that has not
    learnt a domain tends to produce flat heatmaps there, so a drop from the test set to real faces
    is worth seeing.
    """
    from ..evaluation import evaluate_detector

    ev = evaluate_detector(detector, data.test, name="S4")
    conf = {"target LR test": float(ev.confidence.mean())}
    for name, images in (("target LR pool", data.pool.images), ("real LFW faces", data.lfw)):
        conf[name] = float(detector.predict(images)[1].mean())
    return {"target_test": ev.summary, "mean_confidence": conf}


def real_lr_text(summary: Mapping[str, Any]) -> str:
    s = summary["target_test"]
    conf = ", ".join(f"{k} {v:.2f}" for k, v in summary["mean_confidence"].items())
    return (
        f"S4 on the held-out target-LR test set: NME ({s['normalizer']}) **{100 * s['nme']:.2f}%**, "
        f"AUC@0.08 {s['auc@0.08']:.3f}, FR@0.10 {s['fr@0.10']:.3f} over {s['n']} faces "
        f"(notebook 03 compares it with S1–S3 and the baselines). Mean heatmap confidence: {conf}."
    )


# ============================================================================= notebook 05 (figure)


def per_point_figure(evaluation, schema: str):
    """Mean normalised error of each landmark: which points HR-LD finds hard."""
    from matplotlib.figure import Figure

    from ..schemas import get_schema

    names = get_schema(schema).point_names
    fig = Figure(figsize=(max(6.0, 0.32 * len(names)), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(names)), 100 * np.asarray(evaluation.per_point), color="#3867d6")
    ax.set_xticks(range(len(names)), names, rotation=75, fontsize=6)
    ax.set_ylabel(f"NME % ({evaluation.summary['normalizer']})")
    ax.set_title("HR-LD: error per landmark on held-out HR faces", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
