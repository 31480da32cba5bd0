"""The study's report: ``metrics.json`` gathered from every notebook and a self-contained ``index.html``.

``index.html`` carries its figures inline (base64 PNG) and its own CSS, so it can be mailed or
attached to a CI job as one file; it links the executed notebooks' HTML exports beside it. Sections
whose notebook has not run (yet) say so instead of disappearing, so a partial study still reads.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, atomic_write_text
from .analysis import ABLATION_COLUMNS, HRLD_COLUMNS, VERIFICATION_COLUMNS, html_table, verification_rows
from .config import NOTEBOOKS

TITLES = {
    "01_high_to_low": "1 · High → low: G1/D1 (§3.1, eq. 2–6, Fig. 4)",
    "02_semi_supervised_landmarks": "2 · Semi-supervised landmarks: S4 (§3.2–3.3, eq. 7–15, Fig. 6)",
    "03_ablations": "3 · Ablations S1–S4 and baselines (§4.1, Table 1)",
    "04_face_verification": "4 · Face verification L1–L5 (§4.3, Table 3a)",
    "05_hr_landmark_detector": "5 · HR landmark detector (§4.4, Table 5, Fig. 7)",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
header{background:#1d2a44;color:#fff;padding:22px 32px}header h1{margin:0 0 6px;font-size:22px}
header p{margin:2px 0;opacity:.85;font-size:14px}main{max-width:1180px;margin:0 auto;padding:18px 32px 48px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 22px;
margin:18px 0}
h2{font-size:18px;margin:4px 0 12px}h3{font-size:15px;margin:16px 0 8px}
table.s2ld{border-collapse:collapse;font-size:13px;margin:6px 0}table.s2ld th{border-bottom:2px solid #1d2a44}
table.s2ld tr:nth-child(even) td{background:#f3f5f8}
img{max-width:100%;border:1px solid #e3e6eb;border-radius:4px}
.muted{color:#6b7280}.ok{color:#137333}.bad{color:#b3261e}.nb{list-style:none;padding:0}
.nb li{padding:4px 0}code{background:#eef1f5;padding:1px 4px;border-radius:3px}
.verdict{background:#f0f6ff;border-left:4px solid #3867d6;padding:8px 12px;margin:10px 0}
.reference{background:#f4f8f1;border-left:4px solid #3c8d2f;padding:8px 12px;margin:10px 0}
"""


def gather_metrics(root: Path, status: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``metrics/<notebook>.json`` of every notebook → ``metrics.json`` (with the run status)."""
    root = Path(root)
    out: dict[str, Any] = {"generated": _dt.datetime.now().isoformat(timespec="seconds"), "notebooks": {}}
    if (root / "study.yaml").exists():
        import yaml

        out["study"] = yaml.safe_load((root / "study.yaml").read_text())
    for nb in NOTEBOOKS:
        path = root / "metrics" / f"{nb}.json"
        if path.exists():
            try:
                out["notebooks"][nb] = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                out["notebooks"][nb] = {"error": f"unreadable metrics file: {err}"}
    if status is not None:
        out["status"] = dict(status)
    atomic_write_json(root / "metrics.json", out)
    return out


def _img(root: Path, name: str, alt: str) -> str:
    path = root / "figures" / f"{name}.png"
    if not path.exists():
        return f'<p class="muted">({html.escape(alt)}: not produced in this run)</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure style="margin:8px 0"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
        f'<figcaption class="muted" style="font-size:12px">{html.escape(alt)}</figcaption></figure>'
    )


def _markdownish(text: str) -> str:
    """The few Markdown forms our verdicts use (``**bold**``, ``* `` bullets, pipe tables, blank-line
    paragraphs)."""
    import re

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

    def table(lines: list[str]) -> str:
        rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
        body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
        head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
        cells = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body)
        return f'<table class="s2ld"><tr>{head}</tr>{cells}</table>'

    blocks = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        if lines and all(ln.startswith("|") for ln in lines):
            blocks.append(table(lines))
        elif lines and all(ln.startswith("* ") for ln in lines):
            blocks.append("<ul>" + "".join(f"<li>{inline(ln[2:])}</li>" for ln in lines) + "</ul>")
        else:
            blocks.append(f"<p>{inline(' '.join(lines))}</p>")
    return "".join(blocks)


def _not_yet(nb: str) -> str:
    return f'<p class="muted">Notebook <code>{nb}</code> has not run in this study yet.</p>'


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def _status_list(root: Path, status: Mapping[str, Any]) -> str:
    items = []
    for nb in NOTEBOOKS:
        st = status.get(nb, {})
        state = st.get("state", "not run")
        html_path = root / "notebooks" / f"{nb}.html"
        link = (
            f'<a href="notebooks/{nb}.html">{html.escape(TITLES[nb])}</a>'
            if html_path.exists()
            else html.escape(TITLES[nb])
        )
        cls = {"done": "ok", "skipped (done before)": "ok", "failed": "bad"}.get(state, "muted")
        secs = f" · {st['seconds']:.0f} s" if isinstance(st.get("seconds"), (int, float)) else ""
        extra = f" — {html.escape(st['error'])}" if st.get("error") else ""
        items.append(f'<li>{link} <span class="{cls}">[{html.escape(state)}{secs}]</span>{extra}</li>')
    return f'<ul class="nb">{"".join(items)}</ul>'


def _g1(root: Path, m: Mapping[str, Any] | None) -> str:
    if not m:
        return _not_yet("01_high_to_low")
    body = _img(root, "g1_samples", "Fig. 4 style: HR, F(HR), G1(HR) with two noise draws, real LR")
    body += _img(root, "lr_statistics", "real vs generated LR: intensity, spectrum, sharpness")
    if m.get("lr_statistics_verdict"):
        body += f'<div class="verdict">{_markdownish(m["lr_statistics_verdict"])}</div>'
    return body


def _s4(root: Path, m: Mapping[str, Any] | None) -> str:
    if not m:
        return _not_yet("02_semi_supervised_landmarks")
    body = _img(
        root, "real_lr_predictions", "Fig. 6 style: S4's landmarks on real LR faces (target pool, LFW)"
    )
    return body + _img(root, "stage2_losses", "S4 training: eq. 7–15 and k_t")


def _reference(study: Mapping[str, Any]) -> str:
    """The committed reference over training runs, for this study's arm, under a single run's table."""
    from .reference import arm_of, reference_markdown

    text = reference_markdown(arm_of(study))
    if text is None:
        return ('<p class="muted">No committed reference over training runs here (results/standard/ is '
                "in the source checkout).</p>")
    return f'<div class="reference">{_markdownish(text)}</div>'


def _ablation(root: Path, m: Mapping[str, Any] | None, study: Mapping[str, Any] | None = None) -> str:
    if not m or "table" not in m:
        return _not_yet("03_ablations")
    body = html_table(
        m["table"],
        ABLATION_COLUMNS,
        caption="Held-out target-LR test set (unseen identities "
        "through a camera no model saw); NME normalised by the landmark box. Lower is better.",
        highlight="nme",
    )
    for note in m.get("table_notes", []):
        body += f"<p>{_markdownish(note)}</p>"
    if m.get("claim_summary"):
        body += f'<div class="verdict">{_markdownish(m["claim_summary"])}</div>'
    if study is not None and study.get("profile") == "quick":
        body += _reference(study)
    body += _img(root, "ced", "CED curves on the target-LR test set")
    return body + _img(root, "failures", "worst faces of S4 (green: truth, red: prediction), every method")


def _verification(root: Path, m: Mapping[str, Any] | None) -> str:
    if not m or "settings" not in m:
        return _not_yet("04_face_verification")
    body = html_table(
        verification_rows(m["settings"]),
        VERIFICATION_COLUMNS,
        caption="LightCNN trained on the target pool's identities; 1:N identification on the "
        "held-out identities, half of each identity's faces as probes.",
    )
    if m.get("verdict"):
        body += f'<div class="verdict">{_markdownish(m["verdict"])}</div>'
    return body + _img(root, "cmc", "CMC curves")


def _hrld(root: Path, m: Mapping[str, Any] | None) -> str:
    if not m:
        return _not_yet("05_hr_landmark_detector")
    if not m.get("table"):
        return (
            f'<p class="muted">{html.escape(str(m.get("note", "no held-out HR test set in this run")))}</p>'
        )
    body = html_table(
        m["table"], HRLD_COLUMNS, caption="HR-LD on held-out 128² renders of unseen identities."
    )
    return body + _img(root, "hrld_samples", "Fig. 7 style: HR-LD on held-out HR faces")


def write_index(
    root: Path,
    status: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    elapsed: float | None = None,
) -> Path:
    """Write ``index.html``: run summary, notebook links, the headline tables and figures."""
    root = Path(root)
    status = dict(status or {})
    metrics = dict(metrics) if metrics is not None else gather_metrics(root, status)
    nbs = metrics.get("notebooks", {})
    study = metrics.get("study") or {}
    took = f" · {elapsed / 60:.1f} min" if elapsed else ""
    header = (
        f"<header><h1>S²LD study · {html.escape(str(study.get('profile', '?')))} profile</h1>"
        f"<p>run <code>{html.escape(str(root))}</code> · generated {metrics.get('generated', '')}{took}</p>"
        f"<p>HR data <code>{html.escape(str(study.get('hr_data', '?')))}</code> · target LR "
        f"<code>{html.escape(str(study.get('target_lr', '?')))}</code> · G1's real LR "
        f"<code>{html.escape(str(study.get('g1_real_lr', '?')))}</code> · seed {study.get('seed', '?')}</p>"
        "</header>"
    )
    sections = [
        _section(
            "Notebooks",
            _status_list(root, status) + '<p class="muted">All numbers: '
            '<a href="metrics.json">metrics.json</a>; configuration: <a href="study.yaml">study.yaml</a>; '
            "checkpoints: <code>checkpoints/</code> (load with <code>s2ld predict</code>).</p>",
            "notebooks",
        ),
        _section("Ablations S1–S4 (Table 1)", _ablation(root, nbs.get("03_ablations"), study), "ablations"),
        _section("Stage 1: generated LR (Fig. 4)", _g1(root, nbs.get("01_high_to_low")), "stage1"),
        _section(
            "Stage 2: landmarks on real LR faces (Fig. 6)",
            _s4(root, nbs.get("02_semi_supervised_landmarks")),
            "stage2",
        ),
        _section(
            "Face verification (Table 3a)",
            _verification(root, nbs.get("04_face_verification")),
            "verification",
        ),
        _section("HR landmark detector (Table 5)", _hrld(root, nbs.get("05_hr_landmark_detector")), "hrld"),
    ]
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>S²LD study report</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>'
        f"<body>{header}<main>{''.join(sections)}</main></body></html>"
    )
    path = root / "index.html"
    atomic_write_text(path, page)
    return path


def headline(metrics: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal at the end of a study."""
    nbs = metrics.get("notebooks", {})
    lines: list[str] = []
    table: Sequence[Mapping[str, Any]] = nbs.get("03_ablations", {}).get("table", [])
    if table:
        lines.append(
            "NME (box) on the target-LR test set: "
            + ", ".join(
                f"{r['method']} {100 * r['nme']:.2f}%"
                for r in table
                if isinstance(r.get("nme"), (int, float))
            )
        )
    ver = nbs.get("04_face_verification", {}).get("settings", {})
    if ver:
        lines.append(
            "top-1 identification: "
            + ", ".join(f"{k} {v['top1']:.1f}%" for k, v in ver.items() if v.get("status") == "ok")
        )
    return lines
