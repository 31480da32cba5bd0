"""Entry points that assemble data, a stage and the loop: what ``s2ld train`` and the notebooks call.

Under ``torchrun --nproc_per_node N`` the same call trains with N processes (see :mod:`.runner`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.datasets import load_hr_faces, load_target_lr
from .config import TrainConfig
from .runner import DistContext, resolve_device, run_training


def _prepare(cfg: TrainConfig):
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    ctx = DistContext.from_env(device)
    torch.manual_seed(cfg.seed)  # network initialisation is part of the run's seed, on every rank
    return device, ctx


def train_stage1(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                 warnings: list[str] | None = None) -> Path:
    """Train G1/D1 (eq. 2–6); returns ``out/checkpoints/G1.pt``. ``warnings`` go into its
    ``summary.json`` (see :func:`~.runner.run_training`)."""
    from .stage1 import Stage1

    cfg.stage = "stage1"
    device, ctx = _prepare(cfg)
    hr = load_hr_faces(cfg.data, cfg.seed, progress=progress and ctx.is_main)
    real = load_target_lr(cfg.data, cfg.seed, progress=progress and ctx.is_main)
    return run_training(Stage1(cfg, hr, real, device, ctx), cfg, out, ctx, device, resume, progress, warnings)


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
    return run_training(Stage2(cfg, hr, real, device, ctx), cfg, out, ctx, device, resume, progress, warnings)
