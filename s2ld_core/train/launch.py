"""Entry points that assemble data, a stage and the loop: what ``s2ld train`` and the notebooks call.

Under ``torchrun --nproc_per_node N`` the same call trains with N processes (see :mod:`.runner`).

A run depends on its configuration alone, never on what ran before it in the same process (a
notebook kernel that rendered faces, scored detectors or trained another network first): the thread
count is set for every run (``cfg.threads``, else torch's default for this machine), and torch's
global generator is seeded right before the stage builds its networks, after the data are loaded,
so that however the data arrive (rendered now, read from the cache, from a source that draws random
numbers) the initial weights are the same.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.datasets import load_hr_faces, load_target_lr
from .config import TrainConfig
from .runner import DistContext, resolve_device, run_training

# torch's own thread count in this process, read when training is first imported: what a run with
# ``threads: null`` uses even after other code in the process changed it.
DEFAULT_THREADS = torch.get_num_threads()


def run_threads(cfg: TrainConfig) -> int:
    """The intra-op thread count a run trains with: ``cfg.threads``, else :data:`DEFAULT_THREADS`."""
    return int(cfg.threads) if cfg.threads else DEFAULT_THREADS


def _prepare(cfg: TrainConfig):
    cfg.validate()
    torch.set_num_threads(run_threads(cfg))
    device = resolve_device(cfg.device)
    ctx = DistContext.from_env(device)
    return device, ctx


def seed_networks(cfg: TrainConfig) -> None:
    """Seed torch's global generator for the networks' initial weights (and every other draw a
    stage makes while it is built), on every rank. Called right before a stage is built."""
    torch.manual_seed(cfg.seed)


def train_stage1(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                 warnings: list[str] | None = None) -> Path:
    """Train G1/D1 (eq. 2–6); returns ``out/checkpoints/G1.pt``. ``warnings`` go into its
    ``summary.json`` (see :func:`~.runner.run_training`)."""
    from .stage1 import Stage1

    cfg.stage = "stage1"
    device, ctx = _prepare(cfg)
    hr = load_hr_faces(cfg.data, cfg.seed, progress=progress and ctx.is_main)
    real = load_target_lr(cfg.data, cfg.seed, progress=progress and ctx.is_main)
    seed_networks(cfg)
    stage = Stage1(cfg, hr, real, device, ctx)
    return run_training(stage, cfg, out, ctx, device, resume, progress, warnings)


def train_stage2(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                 warnings: list[str] | None = None) -> Path:
    """Train G2 in one of the settings S1–S4 or HR-LD; returns ``out/checkpoints/<setting>.pt``.
    ``warnings`` go into its ``summary.json``."""
    from .stage2 import Stage2

    cfg.stage = "stage2"
    device, ctx = _prepare(cfg)
    hr = load_hr_faces(cfg.data, cfg.seed, progress=progress and ctx.is_main)
    real = (
        load_target_lr(cfg.data, cfg.seed, progress=progress and ctx.is_main)
        if cfg.stage2.setting == "S4" or cfg.stage2.real_teacher
        else None
    )
    seed_networks(cfg)
    stage = Stage2(cfg, hr, real, device, ctx)
    return run_training(stage, cfg, out, ctx, device, resume, progress, warnings)
