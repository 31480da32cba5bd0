"""Timing on a shared CPU, for every benchmark script: medians over repetitions after warm-up with
their inter-quartile range, interleaved comparisons, CPU time beside wall time, thread control, a
measured matmul peak, the machine's description and the flag for contended rows."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CONTENTION_FACTOR = 1.5


@dataclass
class Timing:
    """Statistics of repeated calls, in milliseconds per call."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    n: int
    cpu_median_ms: float  # process CPU time per call (all threads of this process)

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @classmethod
    def from_samples(cls, wall_s: Sequence[float], cpu_s: Sequence[float]) -> Timing:
        if not wall_s:
            raise ValueError("no timing samples")
        w = np.asarray(wall_s) * 1e3
        q1, med, q3 = np.percentile(w, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(w.min()), len(w), float(np.median(cpu_s) * 1e3))

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "iqr_ms": self.iqr_ms}


MIN_WARMUP_S = 0.3


def _warm_up(fns: Sequence[Callable[[], object]], calls: int) -> None:
    start = time.perf_counter()
    done = 0
    while done < calls or (done > 0 and time.perf_counter() - start < MIN_WARMUP_S):
        for fn in fns:
            fn()
        done += 1
        if calls == 0:
            break


def _one_call(fn: Callable[[], object]) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def measure(
    fn: Callable[[], object],
    warmup: int = 3,
    repeats: int = 20,
    max_seconds: float | None = None,
    min_repeats: int = 3,
) -> Timing:
    """Median of ``repeats`` timed calls after ``warmup`` untimed ones (and at least
    ``MIN_WARMUP_S`` of them: the first calls of a network build oneDNN primitives and fault in
    memory); stops early (but never before ``min_repeats``) once ``max_seconds`` of timed calls have
    passed."""
    _warm_up([fn], warmup)
    wall, cpu = [], []
    start = time.perf_counter()
    while len(wall) < repeats:
        w, c = _one_call(fn)
        wall.append(w)
        cpu.append(c)
        if max_seconds is not None and len(wall) >= min_repeats and time.perf_counter() - start > max_seconds:
            break
    return Timing.from_samples(wall, cpu)


def measure_interleaved(
    fns: dict[str, Callable[[], object]],
    warmup: int = 3,
    repeats: int = 20,
    max_seconds: float | None = None,
    min_repeats: int = 3,
) -> dict[str, Timing]:
    """Like :func:`measure` for several variants, called round-robin (a, b, c, a, b, c, …), so that a
    change of load on a shared machine affects every variant alike rather than whichever ran then."""
    _warm_up(list(fns.values()), warmup)
    samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in fns}
    start = time.perf_counter()
    for i in range(repeats):
        for name, fn in fns.items():
            w, c = _one_call(fn)
            samples[name][0].append(w)
            samples[name][1].append(c)
        if max_seconds is not None and i + 1 >= min_repeats and time.perf_counter() - start > max_seconds:
            break
    return {k: Timing.from_samples(*v) for k, v in samples.items()}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads, restoring the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def available_threads() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def combine_peaks(before: dict[int, dict], after: dict[int, dict]) -> dict[str, dict]:
    """The peak per thread count: the best single call of the two measurements (before and after the
    network runs). A peak is what the machine *can* do, so the least-disturbed call is the right
    estimate on a shared machine; the medians stay in the JSON."""
    return {
        str(t): {
            "gflops": max(before[t]["gflops_best"], after[t]["gflops_best"]),
            "n": max((before[t], after[t]), key=lambda p: p["gflops_best"])["n"],
            "before": before[t],
            "after": after[t],
        }
        for t in before
    }


def add_peak_fractions(rows: list[dict], nets: dict, peaks: dict[str, dict]) -> None:
    """Per row: achieved / peak, and the floor ``2·MACs·batch / peak`` no runtime can beat."""
    for r in rows:
        peak = peaks[str(r["threads"])]["gflops"]
        r["peak_fraction"] = r["gflops_achieved"] / peak
        r["floor_ms"] = 2.0 * nets[r["network"]]["macs"] * r["batch"] / (peak * 1e6)


def matmul_peak(
    threads: int, sizes: Sequence[int] = (256, 512, 1024), repeats: int = 10, warmup: int = 2
) -> dict[str, Any]:
    """Achievable fp32 GFLOP/s on this machine: square ``torch.mm`` (2n³ FLOPs) with ``threads``
    threads, the best over ``sizes`` — the practical ceiling for convolutions lowered to matrix
    products. Several sizes because the best one depends on the caches (here 512² beat 1024² by
    ~1.6× on one core, as 1024² matrices spill out of the per-core L2)."""
    per_size = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        with torch_threads(threads):
            t = measure(lambda a=a, b=b: torch.mm(a, b), warmup=warmup, repeats=repeats)
        flop = 2.0 * n**3
        per_size[str(n)] = {
            "gflops_median": flop / (t.median_ms * 1e6),
            "gflops_best": flop / (t.min_ms * 1e6),
        }
    best = max(per_size, key=lambda n: per_size[n]["gflops_best"])
    return {
        "threads": threads,
        "n": int(best),
        "gflops_best": per_size[best]["gflops_best"],
        "gflops_median": max(v["gflops_median"] for v in per_size.values()),
        "sizes": per_size,
    }


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "cpu": cpu,
        "threads_available": available_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    with contextlib.suppress(ImportError):
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    with contextlib.suppress(OSError):
        info["loadavg_start"] = [round(v, 1) for v in os.getloadavg()]
    return info


def flag_contention(rows: list[dict], key: str, factor: float = CONTENTION_FACTOR) -> None:
    """Mark multi-thread rows that are more than ``factor``× *slower* than the same work on one
    thread. More threads never make these convolutions several times slower on an idle machine; on a
    shared one a descheduled OpenMP worker makes the others wait at every barrier. Such rows are kept
    but labelled, and ratios and goals built on them are labelled too."""
    one = {(r[key], r["batch"], r.get("backend")): r["median_ms"] for r in rows if r["threads"] == 1}
    for r in rows:
        base = one.get((r[key], r["batch"], r.get("backend")))
        r["contended"] = bool(r["threads"] > 1 and base is not None and r["median_ms"] > factor * base)
