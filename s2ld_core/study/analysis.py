"""The study's analyses: LR image statistics (notebook 01), the ablation claim check (03), the
verification experiment (04), HR-LD scoring (05) and the HTML tables every notebook and the report
show.

Everything here reads the held-out sets only to *score*; nothing is chosen by looking at them.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# ============================================================================= LR image statistics


def _luma(images: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in [0, 255], (N, H, W) float32."""
    x = np.asarray(images, np.float32)
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def radial_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean log-amplitude spectrum of the luma, averaged over rings of equal frequency (DC first).

    Real LR faces lose high frequencies to optics and compression in ways plain average pooling does
    not; this profile is where G1 should move F(HR) towards the real images.
    """
    y = _luma(images)
    y = y - y.mean(axis=(1, 2), keepdims=True)
    n, h, w = y.shape
    amp = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(y), axes=(1, 2)))).mean(0)
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h // 2, xx - w // 2).round().astype(int)
    rmax = min(h, w) // 2
    return np.array([amp[r == k].mean() for k in range(rmax)])


def sharpness(images: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian of each image's luma: the usual focus measure."""
    return np.array([cv2.Laplacian(im, cv2.CV_32F).var() for im in _luma(images)])


def saturation(images: np.ndarray) -> np.ndarray:
    """Mean HSV saturation per image in [0, 1] (real grey LFW faces have none)."""
    return np.array([cv2.cvtColor(im, cv2.COLOR_RGB2HSV)[..., 1].mean() / 255.0 for im in np.asarray(images)])


def wasserstein_1d(a: np.ndarray, b: np.ndarray, grid: int = 256) -> float:
    """Earth mover's distance between two 1-D samples (via their quantile functions)."""
    q = np.linspace(0, 1, grid)
    return float(np.mean(np.abs(np.quantile(np.ravel(a), q) - np.quantile(np.ravel(b), q))))


def _to_32(images: np.ndarray) -> np.ndarray:
    from ..pixels import resize_face

    return np.stack([resize_face(im, 32) for im in images])


def lr_statistics(sets: Mapping[str, np.ndarray], reference: str):
    """Intensity histograms, radial spectra and sharpness of several LR image sets, and how far each
    is from ``reference`` (the real LR): luma EMD, mean |Δ log spectrum|, sharpness ratio.

    Returns ``(figure, metrics)``.
    """
    from matplotlib.figure import Figure

    sets = {k: _to_32(v) for k, v in sets.items()}
    ref = sets[reference]
    ref_luma, ref_spec, ref_sharp = _luma(ref), radial_spectrum(ref), sharpness(ref).mean()
    fig = Figure(figsize=(13, 3.4))
    ax_h, ax_s, ax_b = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    metrics: dict[str, Any] = {}
    bins = np.linspace(0, 255, 33)
    for name, imgs in sets.items():
        luma, spec, sharp, sat = _luma(imgs), radial_spectrum(imgs), sharpness(imgs), saturation(imgs)
        ax_h.hist(luma.ravel(), bins=bins, density=True, histtype="step", lw=1.5, label=name)
        ax_s.plot(np.arange(len(spec)), spec, lw=1.5, label=name)
        metrics[name] = {
            "n": len(imgs),
            "mean_intensity": float(luma.mean()),
            "std_intensity": float(luma.std()),
            "sharpness": float(sharp.mean()),
            "saturation": float(sat.mean()),
            "luma_emd_to_real": wasserstein_1d(luma, ref_luma),
            "spectrum_l1_to_real": float(np.abs(spec - ref_spec).mean()),
            "sharpness_ratio_to_real": float(sharp.mean() / max(ref_sharp, 1e-9)),
        }
    names = list(sets)
    ax_b.bar(
        range(len(names)),
        [metrics[n]["sharpness"] for n in names],
        color=[f"C{i}" for i in range(len(names))],
    )
    ax_b.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax_b.set_title("sharpness (variance of the Laplacian)", fontsize=9)
    ax_h.set_title("luma histogram", fontsize=9)
    ax_h.set_xlabel("intensity")
    ax_s.set_title("radially averaged log-amplitude spectrum", fontsize=9)
    ax_s.set_xlabel("frequency (cycles per 32 px)")
    for ax in (ax_h, ax_s):
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig, metrics


def closer_to_real(
    metrics: Mapping[str, Mapping[str, float]], candidate: str, baseline: str
) -> dict[str, bool]:
    """Per statistic: is ``candidate`` (G1's images) nearer the real LR than ``baseline`` (F(HR))?"""
    c, b = metrics[candidate], metrics[baseline]
    return {
        "intensity": c["luma_emd_to_real"] < b["luma_emd_to_real"],
        "spectrum": c["spectrum_l1_to_real"] < b["spectrum_l1_to_real"],
        "sharpness": abs(np.log(c["sharpness_ratio_to_real"] + 1e-9))
        < abs(np.log(b["sharpness_ratio_to_real"] + 1e-9)),
    }


# ============================================================================= the ablation claim


@dataclass
class Comparison:
    """``left op right`` on mean NME, with a paired bootstrap interval of ``left − right``."""

    left: str
    right: str
    op: str  # "<=" or "<"
    left_nme: float
    right_nme: float
    diff: float
    low: float
    high: float

    @property
    def holds(self) -> bool:
        return self.diff < 0 or (self.op == "<=" and self.diff == 0)

    @property
    def verdict(self) -> str:
        """``holds``/``violated``, and whether the 95 % interval excludes zero (``clearly``)."""
        clear = self.high < 0 or self.low > 0
        return f"{'clearly ' if clear else ''}{'holds' if self.holds else 'violated'}" + (
            "" if clear else " (within noise)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "claim": f"{self.left} {self.op} {self.right}",
            "left_nme": self.left_nme,
            "right_nme": self.right_nme,
            "difference": self.diff,
            "ci95": [self.low, self.high],
            "holds": self.holds,
            "verdict": self.verdict,
        }


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of ``mean(a − b)`` over faces resampled with replacement (a, b on the same faces)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


PAPER_CLAIM = (("S4", "S3", "<="), ("S3", "S2", "<="), ("S2", "S1", "<"))


def check_claim(
    errors: Mapping[str, np.ndarray], claim: Sequence[tuple[str, str, str]] = PAPER_CLAIM, seed: int = 0
) -> tuple[list[Comparison], str]:
    """Test the paper's ordering S4 ≤ S3 ≤ S2 < S1 on per-face NMEs; returns the comparisons and a
    Markdown paragraph that says plainly whether our data agree."""
    comps = []
    for left, right, op in claim:
        a, b = np.asarray(errors[left]), np.asarray(errors[right])
        low, high = paired_bootstrap(a, b, seed=seed)
        comps.append(
            Comparison(left, right, op, float(a.mean()), float(b.mean()), float((a - b).mean()), low, high)
        )
    lines = [
        f"* **{c.left} {c.op} {c.right}**: NME {100 * c.left_nme:.2f}% vs {100 * c.right_nme:.2f}% "
        f"(difference {100 * c.diff:+.2f} points, 95% paired-bootstrap interval "
        f"[{100 * c.low:+.2f}, {100 * c.high:+.2f}]) — {c.verdict}"
        for c in comps
    ]
    n_hold = sum(c.holds for c in comps)
    if n_hold == len(comps):
        head = "Our data **agree** with the paper's ordering S4 ≤ S3 ≤ S2 < S1"
        if any("within noise" in c.verdict for c in comps):
            head += ", though not every step is larger than the sampling noise of this test set"
    elif n_hold == 0:
        head = "Our data **do not agree** with the paper's ordering S4 ≤ S3 ≤ S2 < S1: every step is reversed"
    else:
        broken = ", ".join(f"{c.left} {c.op} {c.right}" for c in comps if not c.holds)
        head = f"Our data **agree only in part** with the paper's ordering S4 ≤ S3 ≤ S2 < S1 (not: {broken})"
    caveat = ("\n\nThe intervals resample the test faces, not training runs: each setting was trained once, "
              "and retraining one recipe with other seeds moved S1 by about half a point of NME at the "
              "standard profile (docs/experiments/ablation-over-runs.md), so a step smaller than that "
              "is not settled by one run.")
    return comps, head + ".\n\n" + "\n".join(lines) + caveat


# ============================================================================= verdicts over training runs

# t(0.975, dof) for dof 1–30, used when scipy is not importable.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)
ONE_RUN = "one run: no interval over runs"


def t975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (two-sided 95 %)."""
    if dof < 1:
        raise ValueError(f"t975: needs at least one degree of freedom, got {dof}")
    try:
        from scipy.stats import t
    except ImportError:
        if dof <= len(_T975):
            return _T975[dof - 1]
        z = 1.959963985  # Cornish–Fisher expansion around the normal quantile: < 1e-4 off above 30
        return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)
    return float(t.ppf(0.975, dof))


def _claim_op(claim: str) -> str:
    for op in ("<=", "≤", "<"):
        if op in claim:
            return "<=" if op == "≤" else op
    raise ValueError(f"claim {claim!r}: say 'left <= right' or 'left < right'")


def verdict_over_runs(differences: Sequence[float], claim: str = "left <= right") -> dict[str, Any]:
    """The claim ``left op right`` judged over training runs, not faces.

    ``differences`` are ``left − right`` mean NMEs, one per training run (the same units out as in).
    Returns the number of runs, their mean and sample standard deviation, the 95 % Student-t interval
    of the mean over runs (K − 1 degrees of freedom) and a verdict in the words of
    :attr:`Comparison.verdict`: ``clearly holds`` / ``clearly violated`` when the interval lies
    entirely on one side of zero, ``holds (within noise)`` / ``violated (within noise)`` when it
    straddles it. One run has no spread: no interval, and the verdict says so.
    """
    d = np.asarray(differences, np.float64).ravel()
    if d.size == 0:
        raise ValueError("verdict_over_runs: no runs")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"verdict_over_runs: a difference is not finite: {d.tolist()}")
    op = _claim_op(claim)
    mean = float(d.mean())
    holds = mean < 0 or (op == "<=" and mean == 0)
    out: dict[str, Any] = {"claim": claim, "runs": int(d.size), "differences": d.tolist(), "mean": mean,
                           "sd": None, "t": None, "half_width": None, "ci95": None, "holds": holds}
    if d.size == 1:
        out["verdict"] = ONE_RUN
        return out
    sd = float(d.std(ddof=1))
    t = t975(d.size - 1)
    half = t * sd / np.sqrt(d.size)
    low, high = mean - half, mean + half
    clear = high < 0 or low > 0
    out.update(sd=sd, t=t, half_width=float(half), ci95=[float(low), float(high)])
    out["verdict"] = f"{'clearly ' if clear else ''}{'holds' if holds else 'violated'}" + (
        "" if clear else " (within noise)"
    )
    return out


def _mean_sd(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    return {"values": v.tolist(), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None}


def compare_runs(
    evaluations: Sequence[Mapping[str, Any]], left: str, right: str, sets: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``left ≤ right`` over training runs, set by set.

    ``evaluations`` are several runs' ``evaluation.json`` dicts (``{"candidates": {name: {set:
    {"faces", "raw", "pdm", "mean shape"}}}}``, as ``scripts/train_weights.py`` writes them); the
    figure compared is ``"pdm"``, the decoding that is shipped. Returns, per set, each side's per-run
    values with their mean and sd, and :func:`verdict_over_runs` of the per-run differences.
    """
    if not evaluations:
        raise ValueError("compare_runs: no runs")
    out: dict[str, dict[str, Any]] = {}
    for name in sets:
        sides: dict[str, list[float]] = {left: [], right: []}
        faces = set()
        for i, ev in enumerate(evaluations):
            for side in (left, right):
                try:
                    entry = ev["candidates"][side][name]
                except KeyError:
                    raise ValueError(f"compare_runs: run {i} has no {side!r} on {name!r}") from None
                sides[side].append(float(entry["pdm"]))
                faces.add(entry.get("faces"))
        diffs = [a - b for a, b in zip(sides[left], sides[right])]
        out[name] = {
            "faces": faces.pop() if len(faces) == 1 else sorted(faces, key=str),
            "left": _mean_sd(sides[left]),
            "right": _mean_sd(sides[right]),
            "difference": verdict_over_runs(diffs, claim=f"{left} <= {right}"),
        }
    return out


def check_against_baselines(
    errors: Mapping[str, np.ndarray], left: str, baselines: Sequence[str], seed: int = 0
) -> tuple[list[Comparison], str]:
    """The paper's other claim (Fig. 1): detecting at LR (``left``, S4) beats upscaling the face and
    running an HR detector (each of ``baselines``), ``left < baseline`` in mean NME, each with the
    paired-bootstrap interval over faces of :func:`check_claim`. Returns the comparisons and a
    Markdown paragraph in the same words."""
    comps = []
    for right in baselines:
        a, b = np.asarray(errors[left]), np.asarray(errors[right])
        low, high = paired_bootstrap(a, b, seed=seed)
        comps.append(
            Comparison(left, right, "<", float(a.mean()), float(b.mean()), float((a - b).mean()), low, high)
        )
    lines = [
        f"* **{c.left} {c.op} {c.right}**: NME {100 * c.left_nme:.2f}% vs {100 * c.right_nme:.2f}% "
        f"(difference {100 * c.diff:+.2f} points, 95% paired-bootstrap interval "
        f"[{100 * c.low:+.2f}, {100 * c.high:+.2f}]) — {c.verdict}"
        for c in comps
    ]
    head = (f"Detecting at low resolution against upscaling first (Fig. 1c; intervals over the test "
            f"faces of this run — {ONE_RUN}; `s2ld study --runs K` judges it over runs):")
    return comps, head + "\n\n" + "\n".join(lines)


# ============================================================================= verification (§4.3)


@dataclass
class VerificationSetting:
    """One column of Table 3a: how faces are aligned before LightCNN."""

    name: str
    description: str
    detector: Any | None  # None: no alignment (plain resize)
    pretrained: str | None = None
    skip_reason: str | None = None  # set: reported as "not run" with this reason
    config: Any | None = None  # a LightCNNConfig for this setting only (L5: the paper's pool layout)


def run_verification(
    settings: Sequence[VerificationSetting],
    pool,
    test,
    config,
    seed: int,
    device,
    progress: bool = False,
    log=print,
) -> dict[str, dict[str, Any]]:
    """Train and score LightCNN once per setting on the same identities and the same probe/gallery
    split: train on the target pool's identities, test on the held-out test identities (§4.3)."""
    from ..verification.train import evaluate_alignment_setting

    results: dict[str, dict[str, Any]] = {}
    for s in settings:
        if s.skip_reason:
            results[s.name] = {"status": "not run", "reason": s.skip_reason, "description": s.description}
            log(f"{s.name}: not run ({s.skip_reason})")
            continue
        t0 = time.perf_counter()
        scores = evaluate_alignment_setting(
            s.detector,
            pool.images,
            pool.identity.tolist(),
            test.images,
            test.identity.tolist(),
            config=s.config or config,
            seed=seed,
            pretrained=s.pretrained,
            size=32,
            device=device,
            progress=progress,
        )
        scores.update(status="ok", description=s.description, seconds=time.perf_counter() - t0)
        results[s.name] = scores
        log(f"{s.name}: top-1 {scores['top1']:.1f}%, mAP {scores['mAP']:.3f} ({scores['seconds']:.0f} s)")
    return results


def plot_cmc(results: Mapping[str, Mapping[str, Any]], max_rank: int = 20):
    """CMC curves (identification rate against rank) of the settings that ran."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for name, r in results.items():
        if r.get("status") != "ok":
            continue
        cmc = np.asarray(r["cmc"])[:max_rank]
        ax.plot(
            np.arange(1, len(cmc) + 1), 100 * cmc, marker="o", ms=3, label=f"{name}: top-1 {r['top1']:.1f}%"
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_title("CMC on the held-out identities")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# ============================================================================= tables


def _fmt(value: Any, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if spec == "%":
        return f"{100 * float(value):.2f}"
    if spec and isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def html_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str, str | None]],
    caption: str = "",
    highlight: str | None = None,
) -> str:
    """A small HTML table: ``columns`` are ``(key, header, format)`` with format ``"%"`` (×100,
    two decimals), a format spec or ``None``; ``highlight`` bolds the best (lowest) value of that key.
    Styled inline so it looks the same in JupyterLab, the HTML export and ``index.html``."""
    best = None
    if highlight:
        vals = [float(r[highlight]) for r in rows if isinstance(r.get(highlight), (int, float))]
        best = min(vals) if vals else None
    th = "".join(
        f'<th style="padding:4px 10px;text-align:{"left" if i == 0 else "right"}">{html.escape(h)}</th>'
        for i, (_, h, _) in enumerate(columns)
    )
    body = []
    for r in rows:
        cells = []
        for key, _, spec in columns:
            text = html.escape(_fmt(r.get(key), spec))
            if best is not None and key == highlight and r.get(key) == best:
                text = f"<b>{text}</b>"
            align = "left" if key == columns[0][0] else "right"
            cells.append(f'<td style="padding:3px 10px;text-align:{align}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = (
        (
            f'<caption style="caption-side:bottom;text-align:left;font-size:90%;padding-top:4px">'
            f"{html.escape(caption)}</caption>"
        )
        if caption
        else ""
    )
    return (
        f'<table class="s2ld" style="border-collapse:collapse;font-variant-numeric:tabular-nums">{cap}'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


ABLATION_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("method", "method", None),
    ("nme", "NME % (box), target LR", "%"),
    ("auc@0.08", "AUC@0.08", ".3f"),
    ("auc@0.10", "AUC@0.10", ".3f"),
    ("fr@0.08", "FR@0.08", ".3f"),
    ("fr@0.10", "FR@0.10", ".3f"),
    ("nme_generated", "NME % (box), G1-generated test", "%"),
    ("train_seconds", "training s", ".0f"),
    ("ms_per_face", "ms / face", ".2f"),
)
VERIFICATION_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("setting", "setting", None),
    ("description", "alignment", None),
    ("top1", "top-1", ".2f"),
    ("top1_low", "top-1 95 % low", ".1f"),
    ("top1_high", "top-1 95 % high", ".1f"),
    ("num_probes", "probes", None),
    ("train_accuracy", "LightCNN training accuracy %", "%"),
    ("top5", "top-5", ".2f"),
    ("top10", "top-10", ".2f"),
    ("top20", "top-20", ".2f"),
    ("mAP", "mAP", ".3f"),
    ("flagged", "faces not aligned", None),
    ("seconds", "seconds", ".0f"),
    ("status", "status", None),
)
HRLD_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("method", "method", None),
    ("test_set", "test set", None),
    ("normalizer", "normaliser", None),
    ("nme", "NME %", "%"),
    ("auc@0.08", "AUC@0.08", ".3f"),
    ("fr@0.10", "FR@0.10", ".3f"),
    ("n", "faces", None),
)


def verification_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, r in results.items():
        row = {"setting": name, **{k: v for k, v in r.items() if k != "cmc"}}
        if r.get("status") != "ok":
            row["status"] = f"not run: {r.get('reason', '')}"
        rows.append(row)
    return rows


LR_STATS_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("set", "LR images", None),
    ("n", "n", None),
    ("mean_intensity", "mean luma", ".1f"),
    ("std_intensity", "std luma", ".1f"),
    ("sharpness", "sharpness", ".1f"),
    ("saturation", "saturation", ".3f"),
    ("luma_emd_to_real", "luma EMD to real", ".2f"),
    ("spectrum_l1_to_real", "spectrum |Δ| to real", ".3f"),
    ("sharpness_ratio_to_real", "sharpness / real", ".2f"),
)
