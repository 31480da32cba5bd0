"""Time the procedural face renderer: faces per second, one OpenCV thread per process.

The goal is 1,000 HR faces in under 10 s on a 2-core laptop (about 10 ms a face). Each setting
gets a warm-up render, then ``--repeats`` timed runs of ``--faces`` faces; the table shows the
median (and the spread), and the JSON in ``reports/benchmarks/render.json`` keeps every run, the
machine's load average and CPU count, because other processes on a shared machine slow it down.
The "2 processes" rows render with ``render_dataset(..., workers=2)``: read their wall time (the CPU
column counts the parent process only).

    python benchmarks/bench_render.py [--faces 200] [--repeats 3] [--only TEXT ...]
                                      [--out reports/benchmarks/render.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

from s2ld_core.atomic import atomic_write_json
from s2ld_core.data.render import RenderConfig, render_dataset

# name: (config, processes)
SETTINGS = {
    "default (2x supersampling)": (RenderConfig(), 1),
    "plain (no clutter/occluders/light)": (RenderConfig.plain(), 1),
    "1x supersampling": (replace(RenderConfig(), supersample=1), 1),
    "v2 photo-like (2x supersampling)": (RenderConfig(style="v2"), 1),
    "v3 real LFW skin (2x supersampling)": (RenderConfig(style="v3"), 1),
    "default, 2 processes": (RenderConfig(), 2),
    "v3, 2 processes": (RenderConfig(style="v3"), 2),
}


def time_setting(config: RenderConfig, faces: int, repeats: int, workers: int = 1) -> dict:
    """Wall and CPU seconds per run of ``faces`` renders (identities of 4 images each). CPU time is
    this process's only, so with ``workers > 1`` read the wall time."""
    ids = range(max(1, faces // 4))
    render_dataset(range(2), 1, seed=123, config=config)  # warm-up: imports, caches
    runs = []
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fs = render_dataset(ids, 4, seed=r, config=config, workers=workers)
        runs.append(
            {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "faces": len(fs)}
        )
    n = runs[0]["faces"]
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    return {
        "faces_per_run": n,
        "runs": runs,
        "median_wall_s": wall,
        "median_cpu_s": cpu,
        "ms_per_face_wall": 1000 * wall / n,
        "ms_per_face_cpu": 1000 * cpu / n,
        "faces_per_s": n / wall,
        "projected_s_per_1000": 1000 * wall / n,
        "min_max_wall_s": [min(r["wall_s"] for r in runs), max(r["wall_s"] for r in runs)],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200, help="faces per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="+", metavar="TEXT",
                    help="time only the settings whose name contains one of these, e.g. '2 processes'")
    ap.add_argument("--out", default="reports/benchmarks/render.json")
    args = ap.parse_args()
    chosen = {name: s for name, s in SETTINGS.items() if not args.only or any(t in name for t in args.only)}
    if not chosen:
        ap.error(f"--only {args.only}: no setting matches; settings: {', '.join(SETTINGS)}")
    load_before = os.getloadavg()
    results = {name: {**time_setting(cfg, args.faces, args.repeats, workers), "processes": workers}
               for name, (cfg, workers) in chosen.items()}
    header = (
        f"{'setting':38s} {'faces':>6s} {'ms/face':>8s} {'cpu ms':>7s} {'faces/s':>8s} {'1000 faces':>11s}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:38s} {r['faces_per_run']:6d} {r['ms_per_face_wall']:8.2f} {r['ms_per_face_cpu']:7.2f} "
            f"{r['faces_per_s']:8.1f} {r['projected_s_per_1000']:10.1f}s"
        )
    print(f"load average before: {load_before[0]:.2f} (cpus: {os.cpu_count()})")
    atomic_write_json(
        Path(args.out),
        {
            "benchmark": "render",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "faces": args.faces,
            "repeats": args.repeats,
            "results": results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
