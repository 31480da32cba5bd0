"""The study's context: a notebook's parameters become a :class:`Study` (the resolved
:class:`~.config.StudyConfig`, the run folder's layout, whether widgets can be shown), its faces
(:class:`StudyData`, loaded lazily) and :func:`record`, which writes what a notebook measured to
``metrics/<notebook>.json`` as it is computed.

Run folder layout (``run_dir``)::

    study.yaml                  the resolved StudyConfig
    checkpoints/<name>.pt       G1, S1–S4, hrld (+ G1_target, S4_target for L4); ``s2ld predict`` loads them
    runs/<name>/                each training run: config.yaml, stats.jsonl, samples/, checkpoints/
    figures/<name>.png          every figure a notebook shows
    metrics/<notebook>.json     what each notebook measured
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_json, atomic_write_text
from ..config_files import merge
from ..data.datasets import LabelledFaces
from .config import NOTEBOOKS, StudyConfig, study_config

STATIC_ENV = "S2LD_STATIC"  # set (to anything but "0") to force static output, e.g. by the runner


# Which G1 a G2 setting is trained on, and which real LR its D3 sees; see StudyConfig's docstring.
G1_MAIN, G1_TARGET = "G1", "G1_target"


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


def project_relative(path: str) -> Path:
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
    root = project_relative(cfg.run_dir)
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
                "training_seed": cfg.training_seed,
                "schema": cfg.schema,
                "hr_data": cfg.hr_data,
                "target_lr": cfg.target_lr,
                "g1_real_lr": cfg.g1_real_lr,
                "lr_augment": cfg.train_config("stage2", "S1").stage2.lr_augment,
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

    hrld = (
        "the shipped `s2ld_core/weights/ibug68/hrld.pt` (pretrained, not trained here: "
        "`hrld_source: shipped`)" if c.hrld_source == "shipped" else sched(hr)
    )
    arm = (
        "S1 learns from F(HR) alone (`lr_augment: none`, the paper's arm)" if s2.stage2.lr_augment == "none"
        else f"every setting also sees its faces through the camera family (`lr_augment: "
        f"{s2.stage2.lr_augment}`, not in the paper)"
    )
    v = study.cfg.verification
    pools = {
        None: "first two max-pools disabled at 32² (the paper's)",
        0: "all four max-pools kept (cheaper than the paper's two disabled)",
    }
    l5 = {"shipped": "the shipped LightCNN-9 (pretrained, shipped)", "": "nothing (L5 not run)",
          None: "nothing (L5 not run)"}.get(v.pretrained, f"`{v.pretrained}`")
    return (
        f"**Run** `{study.root}` · profile **{c.profile}** · seed {c.seed}"
        + (f" (training seed {c.training_seed})" if c.training_seed != c.seed else "")
        + f" · device `{study.device}`\n\n"
        f"* labelled HR faces: `{c.hr_data}` (schema `{c.schema}`); target LR (D3, L4): `{c.target_lr}`; "
        f"real LR for the main G1: `{c.g1_real_lr}`\n"
        f"* G1/D1: {sched(s1)}\n* G2 (S1–S4): {sched(s2)}; {arm}\n* HR-LD: {hrld}\n"
        f"* LightCNN-{v.variant}: {v.epochs} epochs, batch {v.batch_size}, {v.optimizer} {v.lr:g}, "
        f"{'BatchNorm in every MFM' if v.norm == 'batch' else 'no normalisation'}, "
        f"{pools.get(v.disabled_pools, f'{v.disabled_pools} pools disabled')}; L5 starts from "
        f"{l5}\n"
        f"* output: {'static (batch run)' if study.static else 'interactive widgets'}"
    )


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

    def test_hr_in(self, schema: str) -> LabelledFaces | None:
        """:attr:`test_hr` in another schema (the renders have 68 points: any schema converts), for
        a detector that scores in its own schema; ``None`` without a held-out HR set."""
        if self.study.cfg.hr_data != "embedded":
            return None
        from dataclasses import replace

        from ..data.datasets import embedded_test_hr

        cfg = replace(self.study.cfg.data_config(), schema=schema)
        return embedded_test_hr(cfg, self.study.cfg.seed, self._progress)

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
