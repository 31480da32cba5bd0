"""Training-step time and peak memory of both S²LD stages, at the paper's batch size of 32.

One *step* is exactly what training runs per batch: the trainers of ``s2ld_core.train``
(:class:`~s2ld_core.train.stage1.Stage1`, :class:`~s2ld_core.train.stage2.Stage2`) build their batch
(``stage.batch``: augmentation, G1's images, heatmaps, the real-LR draw) and take the step
(``stage.step``) — the same code, the same profile configuration (learning rate, schedule) as
``s2ld train``. Only the data are stand-ins: random faces and a random-weight G1, because the cost
of a step does not depend on pixel values:

* **stage 1** (eq. 2–6): G1(HR 128² + noise) → D1 update (hinge + gradient penalty, which
  back-propagates through a gradient) → G1 update (adversarial + pixel [+ perceptual]).
* **stage 2, S4** (eq. 7–15): G1 makes the LR inputs (no grad), targets are encoded → D2 update
  (BEGAN, eq. 9) and k_t (eq. 10) → D3 update (least squares, eq. 11) → G2 update (eq. 15).

The parts of a step are timed at each optimiser update (``stage.update``): the batch, then each
network's forward passes and update. The perceptual term uses VGG-19 up to relu2_2 with random
weights — cost only — and is on by default because the paper's G1 loss has it (``--no-perceptual``
drops it, as a run without VGG weights does).

Peak memory: on CPU the process's maximum resident set size (``getrusage``), which only grows, so
each (stage, profile) runs in a fresh subprocess; the RSS after building the networks is reported
beside it. On CUDA, ``torch.cuda.max_memory_allocated``.

Output: a table, ``reports/benchmarks/training.json`` and the "training" section of
``reports/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `s2ld_core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from benchmarks.bench_report import DEFAULT_MD, update_report
from benchmarks.bench_timing import Timing, available_threads, machine_info
from s2ld_core.data.datasets import LabelledFaces
from s2ld_core.flops import count_macs
from s2ld_core.models import (
    ConfidenceDiscriminator,
    HeatmapDiscriminator,
    HighToLowGenerator,
    count_parameters,
    network_config,
)
from s2ld_core.models.vgg import VGG19_LAYERS, build_vgg19_features
from s2ld_core.train.config import profile_config
from s2ld_core.train.runner import DistContext, RunState, Stage, seed_step
from s2ld_core.train.stage1 import Stage1
from s2ld_core.train.stage2 import Stage2

DEFAULT_JSON = Path("reports/benchmarks/training.json")
STAGES = ("stage1", "stage2")


@dataclass
class TrainBenchConfig:
    profiles: tuple[str, ...] = ("quick", "paper")
    stages: tuple[str, ...] = STAGES
    batch: int = 32
    num_points: int = 19
    warmup: int = 1
    repeats: int = 5
    perceptual: bool = True
    device: str = "cpu"
    threads: int = 0  # 0 = all available
    json_path: str = str(DEFAULT_JSON)
    md_path: str = str(DEFAULT_MD)


def _random_vgg(device: torch.device) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """VGG-19 features up to relu2_2 (the project's default perceptual layer), random weights."""
    features = build_vgg19_features(VGG19_LAYERS["relu2_2"]).to(device).eval().requires_grad_(False)
    return lambda x: [features(x)]


SCHEMA_OF_POINTS = {19: "aflw19", 68: "ibug68", 5: "five"}


def random_faces(n: int, num_points: int, size: int = 128, seed: int = 0) -> LabelledFaces:
    """``n`` random HR "faces" with points inside the middle of the image: the cost of a training
    step does not depend on what the pixels show."""
    rng = np.random.default_rng(seed)
    return LabelledFaces(
        rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        rng.uniform(0.3 * size, 0.7 * size, (n, num_points, 2)).astype(np.float32),
        np.ones((n, num_points), bool),
        np.arange(n),
        SCHEMA_OF_POINTS[num_points],
    )


class TrainerStep:
    """One training step of the real trainer: ``stage.batch`` then ``stage.step``, with the time up to
    each optimiser update kept in :attr:`parts`."""

    def __init__(self, stage: str, profile: str, b: int, device: torch.device, perceptual: bool = True,
                 num_points: int = 19) -> None:
        cfg = profile_config(profile, stage)
        cfg.optim.batch_size = b
        faces = random_faces(max(b, 3), num_points, cfg.data.hr_size)
        real = np.random.default_rng(1).integers(0, 256, (b, cfg.data.lr_size, cfg.data.lr_size, 3), np.uint8)
        ctx = DistContext()
        if stage == "stage1":
            self.stage: Stage = Stage1(cfg, faces, real, device, ctx)
            if perceptual:  # the paper's γ term, with random weights: its cost, not its value
                self.stage.vgg, self.stage.gamma = _random_vgg(device), cfg.stage1.gamma
            self.networks = dict(self.stage.networks)
        else:
            cfg.stage2.setting = "S4"
            g1 = HighToLowGenerator(network_config(profile)).to(device).eval()
            self.stage = Stage2(cfg, faces, real, device, ctx, g1=g1)
            self.networks = {"G1 (frozen)": g1, **self.stage.networks}
        self.stage.total_steps = 1
        self.state = RunState()
        self.index = np.arange(b) % len(faces)
        self.parts: dict[str, float] = {}
        self._marks: list[tuple[str, float]] = []
        update = self.stage.update

        def timed_update(name: str, loss: torch.Tensor) -> None:
            update(name, loss)
            self._marks.append((f"{name} forward + update", time.perf_counter()))

        self.stage.update = timed_update  # type: ignore[method-assign]

    @property
    def k_t(self) -> float | None:
        return self.state.extra.get("k_t")

    def __call__(self) -> None:
        self._marks = []
        t0 = time.perf_counter()
        batch = self.stage.batch(self.index, self.state.epoch, seed_step(0, self.state.step))
        self._marks.append(("batch", time.perf_counter()))
        self.stage.step(batch, self.state)
        self.state.step += 1
        self.parts, last = {}, t0
        for name, t in self._marks:
            self.parts[name] = t - last
            last = t


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def _forward_macs(step: TrainerStep) -> dict[str, int]:
    """Forward MACs per sample of each network of the step (eval mode, batch 1)."""
    out = {}
    for name, net in step.networks.items():
        was = net.training
        net.eval()
        if isinstance(net, (HighToLowGenerator,)):
            args: tuple = (torch.zeros(1, 3, net.cfg.hr_size, net.cfg.hr_size),)
        elif isinstance(net, (HeatmapDiscriminator, ConfidenceDiscriminator)):
            s = net.in_size
            args = (torch.zeros(1, 3, s, s), torch.zeros(1, net.num_points + 1, s, s))
        else:
            s = net.cfg.lr_size
            args = (torch.zeros(1, 3, s, s),)
        dev = next(net.parameters()).device
        out[name] = count_macs(net, *(a.to(dev) for a in args)).macs
        net.train(was)
    return out


def measure_step(stage: str, profile: str, cfg: TrainBenchConfig) -> dict[str, Any]:
    """Build the stage's networks, time ``warmup + repeats`` steps, report time, parts and memory."""
    device = torch.device(cfg.device)
    threads = available_threads() if cfg.threads == 0 else cfg.threads
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = TrainerStep(stage, profile, cfg.batch, device, cfg.perceptual, cfg.num_points)
    macs = _forward_macs(step)
    for name, net in step.networks.items():
        net.train(name != "G1 (frozen)")  # BatchNorm in training mode, as in the real loop
    rss_built = _rss_mb()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(cfg.warmup):
        step()
    sync()
    wall, cpu, parts = [], [], []
    for _ in range(cfg.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        parts.append(step.parts)
    t = Timing.from_samples(wall, cpu)
    out = {
        "stage": stage,
        "profile": profile,
        "batch": cfg.batch,
        "threads": threads,
        "device": str(device),
        **t.to_dict(),
        "images_per_s": 1e3 * cfg.batch / t.median_ms,
        "parts_ms": {k: 1e3 * float(np.median([p[k] for p in parts])) for k in parts[0]},
        "params": {k: count_parameters(n) for k, n in step.networks.items()},
        "forward_macs_per_sample": macs,
        "perceptual": cfg.perceptual if stage == "stage1" else None,
    }
    if device.type == "cuda":
        out["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["memory_kind"] = "torch.cuda.max_memory_allocated"
    else:
        out["peak_memory_mb"] = _rss_mb()
        out["rss_after_build_mb"] = rss_built
        out["memory_kind"] = "max RSS of the process (getrusage)"
    return out


def _run_isolated(stage: str, profile: str, cfg: TrainBenchConfig) -> dict[str, Any]:
    """:func:`measure_step` in a fresh interpreter, so that max RSS belongs to this step alone."""
    payload = json.dumps({"stage": stage, "profile": profile, "config": asdict(cfg)})
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", payload],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training benchmark worker {stage}/{profile} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(cfg: TrainBenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    t0 = time.perf_counter()
    rows = []
    for profile in cfg.profiles:
        for stage in cfg.stages:
            row = _run_isolated(stage, profile, cfg)
            rows.append(row)
            log(
                f"{stage} {profile:6s} batch {row['batch']} thr={row['threads']}: "
                f"{row['median_ms'] / 1e3:8.2f} s/step [IQR {row['iqr_ms'] / 1e3:.2f}]  "
                f"{row['images_per_s']:7.1f} img/s  peak {row['peak_memory_mb']:.0f} MB"
            )
    return {
        "machine": machine_info(),
        "config": asdict(cfg),
        "steps": rows,
        "seconds": time.perf_counter() - t0,
    }


def markdown_section(result: dict) -> str:
    m = result["machine"]
    lines = [
        "## Training step (batch 32)",
        "",
        f"Machine: {m['cpu']}, {m['threads_available']} threads; torch {m['torch']}. "
        "Each row: median [IQR] of "
        f"{result['config']['repeats']} steps after {result['config']['warmup']} warm-up of the trainers of "
        "`s2ld_core.train` on random faces (stage 1: D1 with the gradient penalty, then G1"
        + (" with a random-weight VGG-19 relu2_2 perceptual term" if result["config"]["perceptual"] else "")
        + "; stage 2: setting S4, D2 + k_t, D3, G2). Peak memory: max RSS of a fresh process on CPU, "
        "`max_memory_allocated` on CUDA.",
        "",
        "| stage | profile | threads | s / step [IQR] | images/s | parts (ms) | fwd GMAC/sample | peak MB "
        "(after build) |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in result["steps"]:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in r["parts_ms"].items())
        fwd = sum(r["forward_macs_per_sample"].values()) / 1e9
        built = f" ({r['rss_after_build_mb']:.0f})" if "rss_after_build_mb" in r else ""
        lines.append(
            f"| {r['stage']} | {r['profile']} | {r['threads']} | {r['median_ms'] / 1e3:.2f} "
            f"[{r['q1_ms'] / 1e3:.2f}–{r['q3_ms'] / 1e3:.2f}] | {r['images_per_s']:.1f} | {parts} | "
            f"{fwd:.2f} | {r['peak_memory_mb']:.0f}{built} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainBenchConfig()
    parser.add_argument("--profiles", type=lambda s: tuple(v for v in s.split(",") if v), default=d.profiles)
    parser.add_argument("--stages", type=lambda s: tuple(v for v in s.split(",") if v), default=d.stages)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--num-points", type=int, default=d.num_points, help="19 = aflw19, 68 = ibug68")
    parser.add_argument("--warmup", type=int, default=d.warmup)
    parser.add_argument("--repeats", type=int, default=d.repeats)
    parser.add_argument("--no-perceptual", action="store_false", dest="perceptual")
    parser.add_argument("--device", default=d.device)
    parser.add_argument("--threads", type=int, default=d.threads, help="0 = all available")
    parser.add_argument("--json", default=d.json_path, dest="json_path")
    parser.add_argument("--md", default=d.md_path, dest="md_path")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:  # internal: one isolated measurement, JSON on the last stdout line
        job = json.loads(argv[1])
        cfg = TrainBenchConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in job["config"].items()}
        )
        print(json.dumps(measure_step(job["stage"], job["profile"], cfg)))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    cfg = TrainBenchConfig(**{f: getattr(args, f) for f in TrainBenchConfig.__dataclass_fields__})
    unknown = sorted(set(cfg.stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; choose from {STAGES}")
    result = run(cfg, log=lambda s: print(s, flush=True))
    out = Path(cfg.json_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    md = update_report(cfg.md_path, {"training": markdown_section(result)})
    print(f"wrote {out} and {md} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
