"""``s2ld study --runs K``: the study's Table 1 and the paper's ordering over K training runs.

Run r trains every network with seed ``seed + r`` (``StudyConfig.train_seed``) in its own folder
``<run_dir>/seed<seed + r>``; the data (test sets, cameras) keep ``seed``, so every run is scored on
the same faces. Afterwards each row of Table 1 is the mean ± sd over the runs, and each step of
S4 ≤ S3 ≤ S2 < S1 is judged over runs (:func:`~.analysis.verdict_over_runs`: a Student-t interval of
the per-run differences) beside each run's per-face bootstrap interval. Reads only what the runs'
notebook 03 recorded (``metrics/03_ablations.json``); chooses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import verdict_over_runs

ABLATION = "03_ablations"
VERIFICATION = "04_face_verification"
NO_ALIGNMENT = "baseline"  # Table 3's setting name for faces resized, not aligned
ROW_KEYS = ("nme", "nme_generated", "auc@0.08", "fr@0.10")  # the Table 1 figures averaged over runs


def run_folder(root: str | Path, train_seed: int) -> Path:
    """Where the run trained with ``train_seed`` lives inside a ``--runs`` study."""
    return Path(root) / f"seed{train_seed}"


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def _claims(per_run: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Each claim of the runs' ``claim`` lists, judged over the runs."""
    out = []
    for claim in [c["claim"] for c in per_run[0]]:
        runs = [next(c for c in comps if c["claim"] == claim) for comps in per_run]
        out.append({
            "claim": claim,
            "per_run": [{"difference": c["difference"], "per_face_ci95": c["ci95"], "verdict": c["verdict"]}
                        for c in runs],
            "over_runs": verdict_over_runs([c["difference"] for c in runs], claim=claim),
        })
    return out


def aggregate(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Table 1 (mean ± sd of each method over runs) and the claims judged over runs, from each run's
    ``metrics/03_ablations.json``. Runs without it (notebook 03 not run) are listed and left out."""
    metrics, missing = [], []
    for run in map(Path, run_dirs):
        path = run / "metrics" / f"{ABLATION}.json"
        if path.is_file() and "table" in (m := json.loads(path.read_text())):
            metrics.append((run, m))
        else:
            missing.append(str(run))
    out: dict[str, Any] = {"runs": [str(r) for r, _ in metrics], "missing": missing}
    out.update(table=[], claims={})
    if not metrics:
        return out
    methods = [r["method"] for r in metrics[0][1]["table"]]
    for method in methods:
        row: dict[str, Any] = {"method": method}
        rows = [next((r for r in m["table"] if r["method"] == method), None) for _, m in metrics]
        row["runs"] = sum(r is not None for r in rows)
        for key in ROW_KEYS:
            values = [r[key] for r in rows if r is not None and isinstance(r.get(key), (int, float))]
            if values:
                row[key], row[f"{key}_sd"] = _mean_sd(values)
                row[f"{key}_values"] = values
        out["table"].append(row)
    for key in ("claim", "claim_generated", "claim_baselines"):
        if all(key in m for _, m in metrics):
            out["claims"][key] = _claims([m[key] for _, m in metrics])
    verification = aggregate_verification(run_dirs)
    if verification["table"]:
        out["verification"] = verification
    return out


def aggregate_verification(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Table 3 over runs: each setting's top-1 (and LightCNN's training accuracy) as mean ± sd, and
    "aligning beats resizing" judged over runs for every aligned setting — the difference of top-1
    *errors* (100 − top-1, points; negative: alignment helps), with a t-interval over runs. Reads
    each run's ``metrics/04_face_verification.json``; runs without it are left out."""
    settings = []
    for run in map(Path, run_dirs):
        path = run / "metrics" / f"{VERIFICATION}.json"
        if path.is_file() and "settings" in (m := json.loads(path.read_text())):
            settings.append({k: r for k, r in m["settings"].items() if r.get("status") == "ok"})
    out: dict[str, Any] = {"runs": len(settings), "table": [], "claims": []}
    if not settings:
        return out
    for name in [k for k in settings[0] if all(k in s for s in settings)]:
        row: dict[str, Any] = {"setting": name, "num_probes": settings[0][name].get("num_probes")}
        for key in ("top1", "train_accuracy"):
            values = [s[name][key] for s in settings if isinstance(s[name].get(key), (int, float))]
            if values:
                row[key], row[f"{key}_sd"] = _mean_sd(values)
                row[f"{key}_values"] = values
        out["table"].append(row)
        if name != NO_ALIGNMENT and all(NO_ALIGNMENT in s for s in settings):
            diffs = [s[NO_ALIGNMENT]["top1"] - s[name]["top1"] for s in settings]
            out["claims"].append(verdict_over_runs(diffs, claim=f"{name} < no alignment (top-1 error)"))
    return out


def _pm(row: Mapping[str, Any], key: str) -> str:
    if key not in row:
        return "–"
    sd = row.get(f"{key}_sd")
    return f"{100 * row[key]:.2f}" + (f" ± {100 * sd:.2f}" if sd is not None else "")


def markdown(result: Mapping[str, Any]) -> str:
    """Table 1 over runs and the claims over runs, as Markdown (NME in %)."""
    k = len(result["runs"])
    lines = [f"**Table 1 over {k} training run{'s' if k != 1 else ''}** (NME % (box), mean ± sd over runs)",
             "", "| method | runs | target-LR test | G1-generated test |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['method']} | {r['runs']} | {_pm(r, 'nme')} | {_pm(r, 'nme_generated')} |"
              for r in result["table"]]
    titles = {"claim": "target-LR test", "claim_generated": "G1-generated test",
              "claim_baselines": "target-LR test, against upscaling"}
    for key, claims in result["claims"].items():
        what = "S4 against upscale + an HR detector" if key == "claim_baselines" else "The paper's ordering"
        title = f"**{what} over runs, {titles.get(key, key)}** (differences in NME points)"
        lines += ["", title,
                  "", "| claim | each run: difference [per-face 95 %] | mean | 95 % t-interval over runs "
                  "| verdict over runs |", "| --- | --- | ---: | :---: | --- |"]
        for c in claims:
            runs = "; ".join(f"{100 * r['difference']:+.2f} [{100 * r['per_face_ci95'][0]:+.2f}, "
                             f"{100 * r['per_face_ci95'][1]:+.2f}]" for r in c["per_run"])
            v = c["over_runs"]
            ci = f"[{100 * v['ci95'][0]:+.2f}, {100 * v['ci95'][1]:+.2f}]" if v["ci95"] else "–"
            lines.append(f"| {c['claim']} | {runs} | {100 * v['mean']:+.2f} | {ci} | {v['verdict']} |")
    if result["missing"]:
        lines += ["", f"Not counted (no {ABLATION} metrics): {', '.join(result['missing'])}."]
    if "verification" in result:
        lines += ["", verification_markdown(result["verification"])]
    return "\n".join(lines)


def verification_markdown(v: Mapping[str, Any]) -> str:
    """Table 3 over runs: top-1 (%) mean ± sd, LightCNN's training accuracy, and each alignment
    against none judged over runs."""
    def pm(row, key, scale=1.0):
        if key not in row:
            return "–"
        sd = row.get(f"{key}_sd")
        return f"{scale * row[key]:.1f}" + (f" ± {scale * sd:.1f}" if sd is not None else "")

    lines = [f"**Table 3 over {v['runs']} training runs** (1:N identification, top-1 %, mean ± sd over runs)",
             "", "| setting | probes | top-1 | LightCNN training accuracy |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['setting']} | {r.get('num_probes')} | {pm(r, 'top1')} | {pm(r, 'train_accuracy', 100)} |"
              for r in v["table"]]
    if v["claims"]:
        lines += ["", "| claim | each run (points) | mean | 95 % t-interval over runs | verdict over runs |",
                  "| --- | --- | ---: | :---: | --- |"]
        for c in v["claims"]:
            ci = f"[{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}]" if c["ci95"] else "–"
            each = "; ".join(f"{d:+.1f}" for d in c["differences"])
            lines.append(f"| {c['claim']} | {each} | {c['mean']:+.1f} | {ci} | {c['verdict']} |")
    return "\n".join(lines)
