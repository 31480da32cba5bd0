"""Training-step time and peak memory of both S²LD stages, at the paper's batch size of 32.

One *step* is what :class:`~s2ld_core.train.stage1.Stage1` / :class:`~s2ld_core.train.stage2.Stage2`
do per batch, rebuilt here from the same networks and the same loss functions (``s2ld_core.losses``)
so that it needs no data set, no G1 checkpoint and no VGG weights:

* **stage 1** (eq. 2–6): G1(HR 128² + noise) → D1 update (hinge + WGAN-GP gradient penalty, which
  back-propagates through a gradient) → G1 update (adversarial + pixel [+ perceptual]).
* **stage 2, S4** (eq. 7–15): G1 makes the LR inputs (no grad), targets are encoded → D2 update
  (BEGAN, eq. 9) and k_t (eq. 10) → D3 update (least squares on ground-truth, generated and real-LR
  heatmaps, eq. 11) → G2 update (eq. 15).

Random inputs stand in for faces: the cost of a step does not depend on pixel values. The perceptual
term uses VGG-19 up to relu2_2 on 32² images (as ``losses.perceptual_loss`` does) with random weights
— cost only — and is on by default because the paper's G1 loss has it (``--no-perceptual`` drops it,
as a run without VGG weights does).

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
from s2ld_core import losses
from s2ld_core.flops import count_macs
from s2ld_core.heatmaps import encode_heatmaps
from s2ld_core.models import (
    ConfidenceDiscriminator,
    HeatmapDiscriminator,
    HeatmapGenerator,
    HighToLowDiscriminator,
    HighToLowGenerator,
    count_parameters,
    network_config,
)
from s2ld_core.models.vgg import VGG19_LAYERS, build_vgg19_features
from s2ld_core.train.config import Stage1Config, Stage2Config

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


def _adam(net: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.9))


def _update(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _random_vgg(device: torch.device) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """VGG-19 features up to relu2_2 (the project's default perceptual layer), random weights."""
    features = build_vgg19_features(VGG19_LAYERS["relu2_2"]).to(device).eval().requires_grad_(False)
    return lambda x: [features(x)]


class Stage1Step:
    """One stage-1 step at batch ``b``: D1 (eq. 5–6 + GP), then G1 (eq. 2–4)."""

    def __init__(self, profile: str, b: int, device: torch.device, perceptual: bool) -> None:
        cfg = network_config(profile)
        self.s1 = Stage1Config()
        self.g1, self.d1 = HighToLowGenerator(cfg).to(device), HighToLowDiscriminator(cfg).to(device)
        self.opt_g, self.opt_d = _adam(self.g1), _adam(self.d1)
        self.vgg = _random_vgg(device) if perceptual else None
        self.hr = torch.rand(b, 3, cfg.hr_size, cfg.hr_size, device=device) * 2 - 1
        self.real = torch.rand(b, 3, cfg.lr_size, cfg.lr_size, device=device) * 2 - 1
        self.networks = {"G1": self.g1, "D1": self.d1}
        self.parts: dict[str, float] = {}

    def __call__(self) -> None:
        t0 = time.perf_counter()
        fake = self.g1(self.hr)
        l_gan_d = losses.eq6_d1_hinge(self.d1(self.real), self.d1(fake.detach()))
        gp = losses.gradient_penalty(self.d1, self.real, fake.detach(), kind=self.s1.gp_kind)
        _update(self.opt_d, losses.eq5_d1_loss(l_gan_d, gp, self.s1.gp_weight))
        t1 = time.perf_counter()
        l_gan_g = losses.eq3_g1_adversarial(self.d1(fake), variant=self.s1.g1_gan_variant)
        l_pixel = losses.eq4_pixel(fake, self.hr)
        l_perc = losses.perceptual_loss(self.vgg, fake, self.hr)
        gamma = self.s1.gamma if self.vgg is not None else 0.0
        _update(self.opt_g, losses.eq2_g1_loss(l_gan_g, l_pixel, l_perc, self.s1.alpha, self.s1.beta, gamma))
        t2 = time.perf_counter()
        self.parts = {"G1 forward + D1 update": t1 - t0, "G1 update": t2 - t1}


class Stage2Step:
    """One stage-2 step in setting S4 at batch ``b``: D2 + k_t, D3, then G2 (eq. 7–15)."""

    def __init__(self, profile: str, b: int, device: torch.device, num_points: int) -> None:
        cfg = network_config(profile)
        self.s2 = Stage2Config()
        s = cfg.lr_size
        self.g1 = HighToLowGenerator(cfg).to(device).eval().requires_grad_(False)
        self.g2 = HeatmapGenerator(cfg, num_points, s).to(device)
        self.d2 = HeatmapDiscriminator(cfg, num_points, s).to(device)
        self.d3 = ConfidenceDiscriminator(cfg, num_points, s).to(device)
        self.opt = {"G2": _adam(self.g2), "D2": _adam(self.d2), "D3": _adam(self.d3)}
        gen = torch.Generator().manual_seed(0)
        self.hr = (torch.rand(b, 3, cfg.hr_size, cfg.hr_size, generator=gen) * 2 - 1).to(device)
        self.real = (torch.rand(b, 3, s, s, generator=gen) * 2 - 1).to(device)
        self.points = torch.rand(b, num_points, 2, generator=gen) * (s - 1)
        self.k_t = self.s2.k0
        self.device = device
        self.networks = {"G1 (frozen)": self.g1, "G2": self.g2, "D2": self.d2, "D3": self.d3}
        self.parts: dict[str, float] = {}

    def __call__(self) -> None:
        s2 = self.s2
        t0 = time.perf_counter()
        with torch.no_grad():
            lr = self.g1(self.hr)
        target = encode_heatmaps(self.points, lr.shape[-1], s2.sigma_lr).to(self.device)
        pred = self.g2(lr)
        t1 = time.perf_counter()
        fake = pred.detach()
        l_real = losses.eq7_d2_real(target, self.d2(lr, target))
        l_fake = losses.eq8_d2_fake(fake, self.d2(lr, fake))
        _update(self.opt["D2"], losses.eq9_d2_loss(l_real, l_fake, self.k_t))
        self.k_t = losses.eq10_update_k(self.k_t, l_real.item(), l_fake.item(), s2.lambda_k, s2.began_gamma)
        t2 = time.perf_counter()
        pred_real = self.g2(self.real)
        l_d3 = losses.eq11_d3_loss(
            self.d3(lr, target), self.d3(lr, fake), self.d3(self.real, pred_real.detach())
        )
        _update(self.opt["D3"], l_d3)
        t3 = time.perf_counter()
        l_mse = losses.eq12_g2_mse(pred, target)
        l_kp = losses.eq13_g2_kp(pred, self.d2(lr, pred))
        l_conf = losses.eq14_g2_conf(self.d3(lr, pred), self.d3(self.real, pred_real))
        _update(self.opt["G2"], losses.eq15_g2_loss(l_mse, l_kp, l_conf, s2.a, s2.b, s2.c))
        t4 = time.perf_counter()
        self.parts = {
            "G1 + G2 forward": t1 - t0,
            "D2 update": t2 - t1,
            "D3 update": t3 - t2,
            "G2 update": t4 - t3,
        }


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def _forward_macs(stage: str, step: Stage1Step | Stage2Step) -> dict[str, int]:
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
    step: Stage1Step | Stage2Step = (
        Stage1Step(profile, cfg.batch, device, cfg.perceptual)
        if stage == "stage1"
        else Stage2Step(profile, cfg.batch, device, cfg.num_points)
    )
    macs = _forward_macs(stage, step)
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
        f"{result['config']['repeats']} steps after {result['config']['warmup']} warm-up, random inputs, "
        "networks and losses of `s2ld_core` (stage 1: D1 with WGAN-GP, then G1"
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
