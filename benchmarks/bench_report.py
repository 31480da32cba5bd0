"""``reports/benchmarks.md``: each benchmark script owns named sections of that one file
(:func:`update_report`); the inference and backend tables (:func:`markdown_sections`), the accuracy
section from a study's metrics (:func:`write_accuracy_section`) and the table printed on stdout."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.bench_timing import CONTENTION_FACTOR
from benchmarks.peers import PEER_NOTE

DEFAULT_JSON = Path("reports/benchmarks/inference.json")  # the inference run the report reads
DEFAULT_MD = Path("reports/benchmarks.md")
SECTION_ORDER = ("inference", "backends", "training", "accuracy")
CAVEAT = (
    "Measured on a shared machine: other jobs may have used the same cores. Medians and IQRs "
    "over repetitions; single-thread CPU time is the less disturbed figure."
)


def best_throughput(rows: list[dict], name: str, threads: int) -> float:
    return max(r["faces_per_s"] for r in rows if r["network"] == name and r["threads"] == threads)


def _ms(v: float) -> str:
    return f"{v:.3g}" if v < 10 else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


CONTENDED_MARK = "⚠"


def _flag(row: dict) -> str:
    return f" {CONTENDED_MARK}" if row.get("contended") else ""


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _timing_cell(r: dict) -> str:
    return f"{_ms(r['median_ms'])} [{_ms(r['q1_ms'])}–{_ms(r['q3_ms'])}]"


def markdown_sections(result: dict) -> dict[str, str]:
    """Markdown for the "inference" and (when measured) "backends" sections."""
    m, lines = result["machine"], []
    lines += [
        "## Inference speed (PyTorch eager, network only)",
        "",
        f"Machine: {m['cpu']}, {m['threads_available']} threads available; torch {m['torch']}"
        f"{', onnxruntime ' + m['onnxruntime'] if 'onnxruntime' in m else ''}. {result['when']}. "
        f"Load average at start/end: {m.get('loadavg_start', '?')} / {m.get('loadavg_end', '?')}.",
        "",
        f"> {result['caveat']} Peers have **{PEER_NOTE}**. Paper (Table 2, GTX 1080): S²LD 10.5 ms/face, "
        "SAN 17.8 ms, HRNet 76 ms.",
        "",
        "Matrix-multiply peak (fp32 square `torch.mm`, best size of "
        + ", ".join(f"{n}²" for n in result["config"]["peak_sizes"])
        + "): "
        + ", ".join(
            f"{t} thread(s) {p['gflops']:.0f} GFLOP/s (n={p['n']})" for t, p in result["peak"].items()
        )
        + " — best call of two measurements, before and after the networks; % of peak = median achieved "
        "/ this.",
        "",
        "### Networks",
        "",
        "| network | input | params | GMAC/face | note |",
        "|---|---|---:|---:|---|",
    ]
    for name, n in result["networks"].items():
        lines.append(
            f"| {name} | {n['input']}² | {n['params'] / 1e6:.2f} M | {n['macs'] / 1e9:.3f} | {n['note']} |"
        )
    lines += [
        "",
        "### Single-face latency (batch 1): median [IQR] ms, CPU ms, achieved GFLOP/s (% of peak), "
        "floor = FLOPs / peak",
        "",
        "| network | threads | wall ms | CPU ms | GFLOP/s | % peak | floor ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["latency"]:
        if r["batch"] == 1:
            lines.append(
                f"| {r['network']} | {r['threads']}{_flag(r)} | {_timing_cell(r)} | "
                f"{_ms(r['cpu_median_ms'])} | {r['gflops_achieved']:.1f} | "
                f"{100 * r['peak_fraction']:.0f} % | {_ms(r['floor_ms'])} |"
            )
    batches = sorted({r["batch"] for r in result["latency"]})
    lines += [
        "",
        "### Throughput (faces/s) by batch size",
        "",
        "| network | threads | " + " | ".join(f"b={b}" for b in batches) + " |",
        "|---|---:|" + "---:|" * len(batches),
    ]
    by_key: dict[tuple, dict[int, dict]] = {}
    for r in result["latency"]:
        by_key.setdefault((r["network"], r["threads"]), {})[r["batch"]] = r
    for (name, threads), per in by_key.items():
        cells = [f"{per[b]['faces_per_s']:.0f}{_flag(per[b])}" if b in per else "skipped" for b in batches]
        lines.append(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    if result["ratios"]:
        lines += [
            "",
            "### S²LD vs peers (same run, same runtime, batch 1)",
            "",
            "| S²LD | peer | threads | latency ratio | CPU-time ratio | best-throughput ratio | FLOP ratio |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for q in result["ratios"]:
            lines.append(
                f"| {q['s2ld']} | {q['peer']} | {q['threads']}{_flag(q)} | {q['latency_ratio']:.1f}× | "
                f"{q['cpu_ratio']:.1f}× | {q['throughput_ratio']:.1f}× | {q['flop_ratio']:.1f}× |"
            )
    if result["goals"]:
        lines += [
            "",
            "### Goals (issue 7)",
            "",
            "| goal | measured on | threads | wall | met | CPU time | met (CPU) |",
            "|---|---|---:|---:|---|---:|---|",
        ]
        for g in result["goals"]:
            unit = "×" if "/" in g["goal"] else " ms"
            extra = (
                f" (floor {_ms(g['floor_ms'])} ms)"
                if "floor_ms" in g
                else f" (FLOP ratio {g['flop_ratio']:.0f}×)"
                if "flop_ratio" in g
                else ""
            )
            lines.append(
                f"| {g['goal']} | {g['what']} | {g['threads']}{_flag(g)} | {g['value']:.2f}{unit}{extra} | "
                f"{_yes(g['met'])} | {g['cpu']:.2f}{unit} | {_yes(g['met_cpu'])} |"
            )
    if any(r.get("contended") for r in result["latency"]):
        lines += [
            "",
            f"{CONTENDED_MARK} *contended*: more than {CONTENTION_FACTOR:g}× slower than the same "
            "work on one thread — other jobs held the cores (see Method in benchmarks/README.md); "
            "ratios and goals on such rows say nothing about the code.",
        ]
    if result["skipped"]:
        lines += [
            "",
            "Skipped (over the per-measurement budget): "
            + "; ".join(f"{s['network']} thr={s['threads']} b={s['batch']}" for s in result["skipped"])
            + ".",
        ]
    sections = {"inference": "\n".join(lines)}
    if result.get("backends"):
        b = [
            "## Fast inference backends (end to end: uint8 crops → resize → G2 → decode)",
            "",
            "Interleaved repetitions on the 100 real 25×25 LFW faces (resized to 32²). Backends: see "
            "`s2ld_core/inference/`.",
            "",
            "| model | backend | threads | batch | wall ms / call [IQR] | CPU ms | ms / face | faces/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in result["backends"]:
            b.append(
                f"| {r['model']} | {r['backend']} | {r['threads']}{_flag(r)} | {r['batch']} | "
                f"{_timing_cell(r)} | {_ms(r['cpu_median_ms'])} | {r['per_face_ms']:.3f} | "
                f"{r['faces_per_s']:.0f} |"
            )
        b += [
            "",
            "Agreement with the torch backend on the same faces (points in input pixels):",
            "",
            "| model | backend | mean px | max px | share > 0.5 px |",
            "|---|---|---:|---:|---:|",
        ]
        for a in result["agreement"]:
            b.append(
                f"| {a['model']} | {a['backend']} | {a['mean_px']:.4f} | {a['max_px']:.4f} | "
                f"{100 * a['frac_over_0.5px']:.1f} % |"
            )
        b += [
            "",
            "Random-weight heatmaps are nearly flat, so int8 rounding can move their arg-max far; "
            "judge int8 on a trained checkpoint (`--checkpoint`).",
        ]
        sections["backends"] = "\n".join(b)
    return sections


def update_report(md_path: str | Path, sections: dict[str, str]) -> Path:
    """Write ``sections`` (name → markdown) into ``md_path``, replacing those names' old text and
    keeping the others: every benchmark script owns its sections of the one report, in the fixed order
    :data:`SECTION_ORDER` (unknown names go last)."""
    path = Path(md_path)
    existing: dict[str, str] = {}
    if path.exists():
        for m in re.finditer(r"<!-- BEGIN (\S+) -->\n(.*?)\n<!-- END \1 -->", path.read_text(), re.S):
            existing[m.group(1)] = m.group(2)
    existing.update(sections)
    order = [n for n in SECTION_ORDER if n in existing] + sorted(
        n for n in existing if n not in SECTION_ORDER
    )
    text = [
        "# S²LD benchmarks",
        "",
        "Written by `benchmarks/bench_inference.py`, `benchmarks/bench_training.py` and "
        "`write_accuracy_section`; each owns its sections. Timings are machine- and load-specific.",
        "",
    ]
    for name in order:
        text += [f"<!-- BEGIN {name} -->", existing[name].rstrip("\n"), f"<!-- END {name} -->", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
    return path


def _latency_lookup(inference_json: Path | None) -> dict[str, float]:
    if inference_json is None or not Path(inference_json).exists():
        return {}
    data = json.loads(Path(inference_json).read_text())
    return {
        r["network"]: r["median_ms"] for r in data.get("latency", []) if r["batch"] == 1 and r["threads"] == 1
    }


def write_accuracy_section(
    metrics_json_path: str | Path,
    out_md: str | Path = DEFAULT_MD,
    inference_json: str | Path | None = DEFAULT_JSON,
    profile: str | None = None,
) -> Path:
    """Put the study's ablation table (``{"ablation": {"S1": {"nme": …, "train_seconds": …}, …}}``)
    beside the speed tables, with each row's single-face latency (1 thread, network only) from
    ``inference_json`` when that run measured the matching network: S1–S4 → G2 32², rows naming HR-LD
    → HR-LD 128², the mean shape → no network. A missing metrics file gives a section that says so."""
    src = Path(metrics_json_path)
    if not src.exists():
        body = (
            f"## Accuracy beside speed\n\n_Not available: `{src}` does not exist. Run the study "
            "(`s2ld study`), then `write_accuracy_section` again._"
        )
        return update_report(out_md, {"accuracy": body})
    data = json.loads(src.read_text())
    ablation = data.get("ablation", {})
    if not ablation and "notebooks" in data:  # a study run's metrics.json: Table 1 is notebook 03's
        rows = data["notebooks"].get("03_ablations", {}).get("table", [])
        ablation = {r["method"]: r for r in rows}
        data = {**data, "profile": data.get("study", {}).get("profile")}
    profile = profile or data.get("profile") or "quick"
    schema = data.get("schema", "aflw19")
    latency = _latency_lookup(Path(inference_json) if inference_json else None)
    extra_keys = sorted(
        {
            k
            for v in ablation.values()
            for k in v
            if k not in ("nme", "train_seconds") and isinstance(v[k], (int, float))
        }
    )
    head = ["setting", "NME", "train time"] + extra_keys + ["ms / face (1 thread)"]
    lines = [
        "## Accuracy beside speed",
        "",
        f"From `{src}` (profile {profile}, schema {schema}); NME as the "
        "study reports it; latency from the inference section's run.",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for name, row in ablation.items():
        if "hr-ld" in name.lower():
            net = f"HR-LD {profile} {schema} 128²"
        elif name.lower().startswith("mean"):
            net = None
        else:
            net = f"G2 {profile} {schema} 32²"
        lat = "0 (no network)" if net is None else (f"{latency[net]:.2f}" if net in latency else "—")
        secs = row.get("train_seconds")
        cells = [
            name,
            f"{row['nme']:.4f}" if isinstance(row.get("nme"), (int, float)) else "—",
            f"{secs / 60:.1f} min" if isinstance(secs, (int, float)) else "—",
        ]
        cells += [f"{row[k]:.4g}" if isinstance(row.get(k), (int, float)) else "—" for k in extra_keys]
        lines.append("| " + " | ".join(cells + [lat]) + " |")
    return update_report(out_md, {"accuracy": "\n".join(lines)})


def print_table(result: dict) -> None:
    """The headline numbers on stdout: batch-1 latency and best throughput per network."""
    print(
        f"\n{'network':30s} {'thr':>3s} {'ms/face (b=1)':>14s} {'IQR':>7s} {'cpu ms':>8s} "
        f"{'best faces/s':>13s} {'GMAC':>7s}"
    )
    for r in result["latency"]:
        if r["batch"] != 1:
            continue
        best = best_throughput(result["latency"], r["network"], r["threads"])
        print(
            f"{r['network']:30s} {r['threads']:3d} {r['median_ms']:14.2f} {r['iqr_ms']:7.2f} "
            f"{r['cpu_median_ms']:8.2f} {best:13.0f} {result['networks'][r['network']]['macs'] / 1e9:7.3f}"
        )
    for g in result["goals"]:
        print(
            f"goal {g['goal']:18s} {g['what']:55s} thr={g['threads']}: {g['value']:.2f} "
            f"{'met' if g['met'] else 'NOT met'} "
            f"(CPU time {g['cpu']:.2f}: {'met' if g['met_cpu'] else 'NOT met'})"
            f"{'  [contended]' if g['contended'] else ''}"
        )
