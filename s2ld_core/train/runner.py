"""The training loop shared by both stages: run folder, schedule, checkpoints, exact resume, DDP.

A stage supplies its networks, optimisers, ``batch(index, epoch, gen)`` (one step's inputs, built from
the sample indices) and ``step(batch, state) -> losses``; this module owns everything around that.
Because the batch comes from outside, the same ``step`` serves training, the benchmark
(``benchmarks/bench_training.py``) and the wiring tests. Statistics that are not losses (BEGAN's
convergence measure, how often eq. 15's ordering held) come from ``stage.report`` after each step.

Exact resume rests on one rule: every random draw of step ``n`` (augmentation, noise, gradient-penalty
interpolates, which real-LR faces are drawn) is seeded by ``(seed, n)``, and the data order of epoch
``e`` by ``(seed, e)``. Restoring networks, optimisers, schedulers, BEGAN's ``k_t`` and
the step counter therefore reproduces the uninterrupted run's next losses exactly.

Multi-GPU: under ``torchrun`` each rank draws its share of every epoch through a
:class:`~torch.utils.data.DistributedSampler` and gradients are averaged with ``all_reduce`` after
each backward — the DDP algorithm, applied by hand because the gradient penalty's double backward and
BEGAN's several discriminator passes per step do not fit ``DistributedDataParallel``'s reducer hooks.
Rank 0 alone logs, draws samples and writes checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from .. import __version__
from ..atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from .config import TrainConfig


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the loss, the step and the last checkpoint."""


# ----------------------------------------------------------------------------- devices and ranks


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` → the local CUDA device under torchrun, else ``cuda`` if present, else ``cpu``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine")
        if spec == "cuda" and "LOCAL_RANK" in os.environ:
            spec = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(spec)


@contextmanager
def running_batchnorm(module: torch.nn.Module) -> Iterator[None]:
    """Inside the block ``module``'s BatchNorm layers normalise with their running statistics, as at
    inference, and leave them unchanged; gradients still flow. The rest of ``module`` stays in its
    mode (dropout, if any, keeps training)."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in norms]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> DistContext:
        """Join the process group that ``torchrun`` describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def broadcast_module(self, module: torch.nn.Module) -> None:
        if self.world > 1:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, module: torch.nn.Module) -> None:
        if self.world > 1:
            for p in module.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                    p.grad /= self.world

    def average_buffers(self, module: torch.nn.Module) -> None:
        """BatchNorm statistics differ per rank; averaging them keeps the replicas identical."""
        if self.world > 1:
            for b in module.buffers():
                if b.dtype.is_floating_point:
                    dist.all_reduce(b.data, op=dist.ReduceOp.SUM)
                    b.data /= self.world

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def seed_step(seed: int, step: int) -> torch.Generator:
    """Seed torch's global generators for ``step`` and return a CPU generator for explicit draws."""
    s = (seed * 1_000_003 + step) % (2**63 - 1)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


# ----------------------------------------------------------------------------- data order


class EpochOrder:
    """Which sample indices each rank sees in each epoch, deterministically from ``(seed, epoch)``."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, ctx: DistContext):
        if num_samples < batch_size * ctx.world:
            raise ValueError(
                f"{num_samples} training samples cannot fill one batch of {batch_size} "
                f"on {ctx.world} process(es); lower --batch-size"
            )
        self.sampler = DistributedSampler(
            range(num_samples), num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        self.sampler.set_epoch(epoch)
        order = np.fromiter(iter(self.sampler), dtype=np.int64)
        for b in range(start, len(self)):
            yield b, order[b * self.batch_size : (b + 1) * self.batch_size]


# ----------------------------------------------------------------------------- the loop


@contextmanager
def frozen(*modules: torch.nn.Module) -> Iterator[None]:
    """Inside the block the modules' parameters do not require gradients: a generator's loss that
    passes through a discriminator then computes no gradient for the discriminator's weights (they
    would be thrown away: its optimiser zeroes them before its own step). The generator's gradients,
    which flow through the discriminator's activations, are unchanged."""
    flags = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@dataclass
class RunState:
    epoch: int = 0
    batch: int = 0  # next batch within ``epoch``
    step: int = 0  # global optimisation steps done
    extra: dict[str, Any] = field(default_factory=dict)  # stage-owned state such as BEGAN's k_t
    seconds: float = 0.0


class Stage:
    """What a training stage provides to :func:`run_training`."""

    name: str = "stage"
    total_steps: int | None = None  # set by run_training before the first step (schedules of the stage)
    networks: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    num_samples: int
    ctx: DistContext

    def update(self, name: str, loss: torch.Tensor) -> None:
        """One optimiser step of network ``name`` on ``loss``, gradients averaged across ranks."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.ctx.average_gradients(self.networks[name])
        opt.step()

    def batch(self, index: np.ndarray, epoch: int, gen: torch.Generator) -> Any:
        """The inputs of one step: the samples ``index`` of ``epoch``; every random draw from ``gen``
        (the step's generator) or from torch's global generators, which the loop seeds per step."""
        raise NotImplementedError

    def step(self, batch: Any, state: RunState) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the step's losses (plain floats)."""
        raise NotImplementedError

    def report(self, losses: dict[str, float], state: RunState) -> dict[str, float]:
        """The reporting hook, called by the loop after each step with its losses (averaged over
        ranks): statistics to log beside them; running counts may be kept in ``state.extra`` (they
        end up in ``summary.json``). Nothing by default."""
        return {}

    def write_samples(self, path: Path) -> None:  # rank 0 only
        raise NotImplementedError

    def final_checkpoint(self, state: RunState) -> dict[str, Any]:
        raise NotImplementedError

    def final_name(self) -> str:
        raise NotImplementedError


class RunFolder:
    """The files of one run: ``config.yaml``, ``stats.jsonl``, ``samples/``, ``checkpoints/``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"

    def create(self) -> None:
        self.samples.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    @property
    def resume_path(self) -> Path:
        return self.checkpoints / "last.pt"

    def log(self, record: dict[str, Any]) -> None:
        with open(self.root / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_log(self, step: int) -> None:
        """On resume, drop records written after the checkpoint so the log reads as one run."""
        path = self.root / "stats.jsonl"
        if not path.exists():
            return
        keep = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step
        ]
        atomic_write_text(path, "".join(line + "\n" for line in keep))


def _schedulers(stage: Stage, cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    """The paper's per-epoch step decay, or a per-step one-cycle over ``total_steps``."""
    if cfg.optim.schedule == "onecycle":
        return {
            k: torch.optim.lr_scheduler.OneCycleLR(
                o, max_lr=cfg.optim.lr, total_steps=max(2, total_steps), pct_start=0.15,
                cycle_momentum=False, div_factor=10.0, final_div_factor=100.0,
            )
            for k, o in stage.optimizers.items()
        }
    milestones = cfg.optim.milestone_epochs()
    return {
        k: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma=cfg.optim.lr_decay)
        for k, o in stage.optimizers.items()
    }


def _resume_blob(stage: Stage, scheds: dict, state: RunState, cfg: TrainConfig) -> dict[str, Any]:
    return {
        "kind": "s2ld-resume",
        "config": cfg.to_dict(),
        "networks": {k: m.state_dict() for k, m in stage.networks.items()},
        "optimizers": {k: o.state_dict() for k, o in stage.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in scheds.items()},
        "state": state.__dict__,
    }


def _load_resume(path: Path, stage: Stage, scheds: dict, device: torch.device) -> RunState:
    from ..checkpoints import safe_torch_load  # weights-only: a resume file never runs code

    blob = safe_torch_load(path, device, what="resume checkpoint")
    if not isinstance(blob, dict) or blob.get("kind") != "s2ld-resume":
        raise ValueError(f"{path}: not an s2ld resume checkpoint")
    for k, m in stage.networks.items():
        m.load_state_dict(blob["networks"][k])
    for k, o in stage.optimizers.items():
        o.load_state_dict(blob["optimizers"][k])
    for k, s in scheds.items():
        s.load_state_dict(blob["schedulers"][k])
    return RunState(**blob["state"])


def _check_finite(losses: dict[str, float], state: RunState, stage: Stage, run: RunFolder) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            last = run.resume_path if run.resume_path.exists() else "none yet"
            raise TrainingDiverged(
                f"{stage.name}: loss {name} became {value} at epoch {state.epoch + 1}, step {state.step}; "
                f"last good checkpoint: {last}. Try a lower --lr or another --seed."
            )


def run_training(
    stage: Stage,
    cfg: TrainConfig,
    out: str | Path,
    ctx: DistContext,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    warnings: list[str] | None = None,
) -> Path:
    """Train ``stage`` to the end of its schedule (or ``cfg.max_steps``); returns the final checkpoint.

    With ``resume``, continue from ``out/checkpoints/last.pt`` exactly where it stopped. ``warnings``
    (e.g. "the schema was inferred from the data") go into the checkpoint and ``summary.json``
    beside the stage's own.
    """
    from tqdm.auto import tqdm

    run = RunFolder(out)
    if ctx.is_main:
        run.create()
    ctx.barrier()
    order = EpochOrder(stage.num_samples, cfg.optim.batch_size, cfg.seed, ctx)
    total = cfg.optim.epochs * len(order)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    stage.total_steps = total
    per_step = cfg.optim.schedule == "onecycle"
    scheds = _schedulers(stage, cfg, total)
    state = RunState()
    if resume:
        if not run.resume_path.exists():
            raise ValueError(f"--resume: no checkpoint at {run.resume_path}")
        state = _load_resume(run.resume_path, stage, scheds, device)
        if ctx.is_main:
            run.truncate_log(state.step)
    elif ctx.is_main:
        atomic_write_text(run.root / "config.yaml", cfg.to_yaml())
        (run.root / "stats.jsonl").unlink(missing_ok=True)
    for m in stage.networks.values():
        ctx.broadcast_module(m)

    bar = tqdm(
        total=total,
        initial=min(state.step, total),
        desc=stage.name,
        unit="step",
        disable=not (progress and ctx.is_main),
        dynamic_ncols=True,
    )
    started = time.perf_counter() - state.seconds

    def save_resume() -> None:
        state.seconds = time.perf_counter() - started
        if ctx.is_main:
            atomic_torch_save(_resume_blob(stage, scheds, state, cfg), run.resume_path)

    finished = False
    while state.epoch < cfg.optim.epochs and not finished:
        for b, index in order.batches(state.epoch, state.batch):
            gen = seed_step(cfg.seed, state.step * ctx.world + ctx.rank)
            losses = stage.step(stage.batch(index, state.epoch, gen), state)
            losses = {k: ctx.mean(v) for k, v in losses.items()}
            _check_finite(losses, state, stage, run)
            losses.update(stage.report(losses, state))
            state.step += 1
            state.batch = b + 1
            if per_step and state.step < total:
                for s in scheds.values():
                    s.step()
            if ctx.is_main:
                lr = next(iter(stage.optimizers.values())).param_groups[0]["lr"]
                run.log({"step": state.step, "epoch": state.epoch + 1, "lr": lr, **losses})
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(losses.items())[:4]}, refresh=False)
                bar.update(1)
            if state.step % cfg.checkpoint_every_steps == 0:
                save_resume()
            if cfg.max_steps is not None and state.step >= cfg.max_steps:
                finished = True
                break
        if finished and state.batch < len(order):
            break
        for m in stage.networks.values():
            ctx.average_buffers(m)
        if not per_step:
            for s in scheds.values():
                s.step()
        state.epoch += 1
        state.batch = 0
        if ctx.is_main and (state.epoch % cfg.samples_every_epochs == 0 or state.epoch == cfg.optim.epochs):
            stage.write_samples(run.samples / f"epoch_{state.epoch:03d}.png")
        save_resume()
    bar.close()
    save_resume()
    final = run.checkpoints / stage.final_name()
    if ctx.is_main:
        blob = stage.final_checkpoint(state)
        blob["warnings"] = [*(warnings or []), *blob.get("warnings", [])]
        blob.update(
            code_version=code_version(),
            train_seconds=round(state.seconds, 2),
            steps=state.step,
            epochs_done=state.epoch,
        )
        atomic_torch_save(blob, final)
        atomic_write_json(
            run.root / "summary.json",
            {
                "stage": stage.name,
                "steps": state.step,
                "epochs": state.epoch,
                "seconds": round(state.seconds, 2),
                "world_size": ctx.world,
                "threads": torch.get_num_threads(),  # CPU results repeat bit for bit at one count
                "device": str(device),
                "checkpoint": str(final),
                "warnings": blob.get("warnings", []),
                **{k: v for k, v in state.extra.items() if isinstance(v, (int, float, str))},
            },
        )
    ctx.barrier()
    return final
