"""Time the procedural face renderer: faces per second, single process, single OpenCV thread.

The goal is 1,000 HR faces in under 10 s on a 2-core laptop (about 10 ms a face). Each setting
gets a warm-up render, then ``--repeats`` timed runs of ``--faces`` faces; the table shows the
median (and the spread), and the JSON in ``reports/benchmarks/render.json`` keeps every run, the
machine's load average and CPU count, because other processes on a shared machine slow it down.

    python benchmarks/bench_render.py [--faces 200] [--repeats 3] [--out reports/benchmarks/render.json]
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

SETTINGS = {
    "default (2x supersampling)": RenderConfig(),
    "plain (no clutter/occluders/light)": RenderConfig.plain(),
    "1x supersampling": replace(RenderConfig(), supersample=1),
    "v2 photo-like (2x supersampling)": RenderConfig(style="v2"),
}


def time_setting(config: RenderConfig, faces: int, repeats: int) -> dict:
    """Wall and CPU seconds per run of ``faces`` renders (identities of 4 images each)."""
    ids = range(max(1, faces // 4))
    render_dataset(range(2), 1, seed=123, config=config)  # warm-up: imports, caches
    runs = []
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fs = render_dataset(ids, 4, seed=r, config=config)
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
    ap.add_argument("--out", default="reports/benchmarks/render.json")
    args = ap.parse_args()
    load_before = os.getloadavg()
    results = {name: time_setting(cfg, args.faces, args.repeats) for name, cfg in SETTINGS.items()}
    header = (
        f"{'setting':36s} {'faces':>6s} {'ms/face':>8s} {'cpu ms':>7s} {'faces/s':>8s} {'1000 faces':>11s}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:36s} {r['faces_per_run']:6d} {r['ms_per_face_wall']:8.2f} {r['ms_per_face_cpu']:7.2f} "
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
