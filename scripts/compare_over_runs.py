"""Compare two candidates over several training runs of ``scripts/train_weights.py``:

    .venv/bin/python scripts/compare_over_runs.py --runs runs/sweep/s0 runs/sweep/s1 runs/sweep/s2 \
        --left S4 --right S1 --out results/real-face-training/s4_vs_s1_over_runs.json

Each run folder holds an ``evaluation.json`` (NME % (box) of every candidate on every check set, raw
and shape-model decoding). The figure compared is the shape-model ("pdm") one, the decoding that is
shipped. Per set, the claim "left ≤ right" is judged over training runs: each run gives one
difference left − right, and the verdict comes from the 95 % Student-t interval of their mean
(:func:`s2ld_core.study.analysis.verdict_over_runs`), not from resampling faces. Prints a Markdown
table and writes the JSON (the command, the runs, every per-run value). The sets the runs chose the
shipped candidate on (``chosen_on``) are marked † (validation); the others only score.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="run folders, each with an evaluation.json")
    p.add_argument("--left", required=True, help="the candidate claimed no worse (e.g. S4)")
    p.add_argument("--right", required=True, help="the candidate it is compared with (e.g. S1)")
    p.add_argument("--sets", nargs="+", default=None,
                   help="check sets to compare (default: every set both candidates have in every run)")
    p.add_argument("--out", default=None, help="JSON to write (optional)")
    return p.parse_args(argv)


def load_runs(runs: list[str]) -> list[dict]:
    evaluations = []
    for run in runs:
        path = Path(run) / "evaluation.json"
        if not path.is_file():
            raise SystemExit(f"compare_over_runs: {path}: not found (has this run finished scoring?)")
        try:
            evaluations.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise SystemExit(f"compare_over_runs: {path}: not JSON ({exc})") from None
    return evaluations


def common_sets(evaluations: list[dict], left: str, right: str) -> list[str]:
    """The sets both candidates were scored on in every run, in the first run's order."""
    def sets(ev: dict, side: str) -> list[str]:
        cand = ev.get("candidates", {})
        if side not in cand:
            raise SystemExit(f"compare_over_runs: a run has no candidate {side!r} (it has {sorted(cand)})")
        return list(cand[side])

    names = sets(evaluations[0], left)
    for ev in evaluations:
        both = set(sets(ev, left)) & set(sets(ev, right))
        names = [n for n in names if n in both]
    return names


def _pm(side: dict) -> str:
    return f"{side['mean']:.2f}" + (f" ± {side['sd']:.2f}" if side["sd"] is not None else "")


def markdown(result: dict, left: str, right: str, validation: set[str]) -> str:
    k = len(result["runs"])
    lines = [
        f"NME % (box, shape-model decoding) over {k} training run{'s' if k != 1 else ''}: mean ± sd; "
        f"difference {left} − {right}, 95 % Student-t interval over runs (claim: {left} ≤ {right}).",
        "",
        f"| set | {left} | {right} | difference | 95 % interval over runs | verdict |",
        "| --- | ---: | ---: | ---: | :---: | --- |",
    ]
    for name, row in result["sets"].items():
        d = row["difference"]
        ci = f"[{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]" if d["ci95"] else "–"
        label = f"{name} †" if name in validation else name
        lines.append(f"| {label} | {_pm(row['left'])} | {_pm(row['right'])} | {d['mean']:+.2f} | {ci} "
                     f"| {d['verdict']} |")
    if validation & set(result["sets"]):
        lines += ["", "† validation: the runs chose their shipped candidate on it; the others only score."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from s2ld_core.atomic import atomic_write_json, check_writable
    from s2ld_core.study.analysis import compare_runs

    if args.out:
        try:
            check_writable(args.out)
        except ValueError as exc:
            raise SystemExit(f"compare_over_runs: {exc}") from None
    evaluations = load_runs(args.runs)
    sets = args.sets or common_sets(evaluations, args.left, args.right)
    if not sets:
        raise SystemExit(f"compare_over_runs: no set has both {args.left} and {args.right} in every run")
    try:
        per_set = compare_runs(evaluations, args.left, args.right, sets)
    except ValueError as exc:
        raise SystemExit(f"compare_over_runs: {exc}") from None
    validation = set().union(*(ev.get("chosen_on", []) for ev in evaluations))
    argv_used = sys.argv[1:] if argv is None else list(argv)
    result = {
        "command": "python scripts/compare_over_runs.py " + shlex.join(argv_used),
        "runs": [str(r) for r in args.runs],
        "left": args.left,
        "right": args.right,
        "claim": f"{args.left} <= {args.right}",
        "figure": "NME % (box), shape-model (pdm) decoding, from each run's evaluation.json",
        "interval": "95 % Student-t over training runs (K - 1 degrees of freedom)",
        "validation_sets": sorted(validation),
        "shipped": [ev.get("shipped") for ev in evaluations],
        "sets": per_set,
    }
    print(markdown(result, args.left, args.right, validation))
    if args.out:
        atomic_write_json(args.out, result, indent=1)
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
