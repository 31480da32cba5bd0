"""The project's reference answer to "does S4 ≤ S3 ≤ S2 < S1 hold?": Table 1 over K training runs, in
one arm, written to ``results/standard/<arm>.json`` — what a quick study's report shows under its own
single-run table (``s2ld_core.study.reference``).

    .venv/bin/python scripts/reference_runs.py --arm camera-family --out runs/ref/camera
    .venv/bin/python scripts/reference_runs.py --arm paper-arm --out runs/ref/paper

Arms: ``camera-family`` (ours: every G2 also sees its faces through the family of simulated cameras)
and ``paper-arm`` (``train.stage2.lr_augment=none``: S1 learns from F(HR) alone, S2–S4 from G1's
images alone, as in the paper). Budget: the quick profile's data and networks with G2 trained
``--settings-epochs`` epochs (default 16, twice the quick profile's; 320 steps) — the largest that fits
K = 5 runs of both arms into about two hours of these 2 cores (the ``standard`` profile's 1,280-step
runs would take ~25 h). Each run trains G1 and S1–S4 with seed ``r`` on the same data (seed 0) and
runs notebooks 01 and 03; the study then judges the ordering over runs (``over_runs.json``).
A killed sweep resumes where it stopped: rerun the same command (finished trainings are reused).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"camera-family": [], "paper-arm": ["--set", "train.stage2.lr_augment=none"]}


def study_command(arm: str, out: Path, runs: int, settings_epochs: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "s2ld_core.cli", "study", "--profile", "quick", "--runs", str(runs),
            "--only", "01,03", "--set", f"settings.epochs={settings_epochs}", "--threads", str(threads),
            "--out", str(out), "--no-progress", *ARMS[arm]]


def minutes_per_run(run_dirs: list[Path]) -> list[float]:
    """Wall minutes of notebooks 01 and 03 in each run (their recorded seconds)."""
    out = []
    for run in run_dirs:
        status = json.loads((run / "state" / "status.json").read_text())
        out.append(round(sum(v.get("seconds", 0.0) for v in status.values()) / 60, 1))
    return out


def draw_arms(results: Path, out: Path) -> Path | None:
    """Both arms side by side: S1–S4's NME on the target-LR test and on the G1-generated test, mean
    and each run's value, from ``results/<arm>.json``; ``None`` until both exist."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = {arm: json.loads((results / f"{arm}.json").read_text()) for arm in ARMS
            if (results / f"{arm}.json").is_file()}
    if len(arms) < 2:
        return None
    settings = ("S1", "S2", "S3", "S4")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (key, title) in zip(axes, (("nme", "target-LR test (held-out camera)"),
                                        ("nme_generated", "G1-generated test"))):
        for i, (arm, res) in enumerate(arms.items()):
            rows = {r["method"]: r for r in res["table"]}
            x = [j + (i - 0.5) * 0.38 for j in range(len(settings))]
            means = [100 * rows[s][key] for s in settings]
            ax.bar(x, means, width=0.36, label=f"{arm} ({len(res['runs'])} runs)", alpha=0.75)
            for xj, s in zip(x, settings):
                vals = [100 * v for v in rows[s].get(f"{key}_values", [])]
                ax.scatter([xj] * len(vals), vals, s=10, color="black", zorder=3)
        ax.set_xticks(range(len(settings)), settings)
        ax.set_ylabel("NME (% of box)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle("S1–S4 over training runs: the paper's arm (F(HR) / G1 only) and ours (+ camera family)",
                 fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arm", choices=tuple(ARMS), required=True)
    ap.add_argument("--out", required=True, help="study folder (the runs go to <out>/seed<r>)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settings-epochs", type=int, default=16, help="G2's epochs in S1–S4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", default=str(ROOT / "results" / "standard"))
    ap.add_argument("--leave-out", action="append", default=[], metavar="WORD",
                    help="drop Table 1 rows and claims whose name holds WORD (e.g. a shipped baseline "
                         "replaced after the runs); repeatable, stated in the result with --leave-out-why")
    ap.add_argument("--leave-out-why", default="")
    ap.add_argument("--collect-only", action="store_true",
                    help="train nothing: write the result of the runs already finished in --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.collect_only:
        subprocess.run(study_command(args.arm, out, args.runs, args.settings_epochs, args.threads),
                       check=True, cwd=ROOT)
    sys.path.insert(0, str(ROOT))
    from s2ld_core.atomic import atomic_write_json
    from s2ld_core.study.over_runs import aggregate

    # every finished run of the folder (a sweep cut short still counts the runs it finished)
    seeds = sorted(out.glob("seed*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else 1 << 30)
    result = aggregate([p for p in seeds if (p / "metrics" / "03_ablations.json").is_file()])
    runs = [Path(r) for r in result["runs"]]
    for word in args.leave_out:  # rows (and claims) whose detector changed after the runs
        result["table"] = [r for r in result["table"] if word not in r["method"]]
        for key, claims in result["claims"].items():
            result["claims"][key] = [c for c in claims if word not in c["claim"]]
    minutes = minutes_per_run(runs)
    load = os.getloadavg()[0]
    result["about"] = {
        "arm": args.arm,
        "budget": (f"quick profile data and networks, G2 {args.settings_epochs} epochs in S1–S4 "
                   f"(quick: 8), G1 4 epochs; {len(runs)} training seeds on data seed 0"),
        "time": (f"{sum(minutes) / max(1, len(minutes)):.1f} min per run on one thread "
                 f"({os.cpu_count()} cores)"),
        "minutes_per_run": minutes,
        "left_out": [f"rows and claims naming {w!r}: {args.leave_out_why}" for w in args.leave_out],
        "load_at_end": round(load, 2),
        "command": " ".join(["scripts/reference_runs.py", "--arm", args.arm, "--runs", str(args.runs),
                             "--settings-epochs", str(args.settings_epochs)]),
        "date": dt.date.today().isoformat(),
    }
    target = Path(args.results) / f"{args.arm}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, result, indent=1)
    print(f"wrote {target} ({len(runs)} runs, {time.strftime('%H:%M')})")
    figure = draw_arms(Path(args.results), Path(args.results) / "arms.png")
    if figure is not None:
        print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
