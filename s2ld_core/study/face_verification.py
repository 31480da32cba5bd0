"""Notebook 04 (§4.3): which aligned faces each verification setting (L1–L5) trains LightCNN on,
LightCNN's configuration for the study, and the verdict on the paper's ordering."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .context import Study
from .evaluation import study_detector
from .training import TrainedModel


def pretrained_lightcnn(value: str | None) -> tuple[str | None, str | None, str | None]:
    """``verification.pretrained`` read: ``(path, label, skip_reason)``.

    ``"shipped"`` is the LightCNN-9 in ``s2ld_core/weights/lightcnn/`` (pretrained on rendered
    identities by ``scripts/train_lightcnn.py``), labelled "pretrained, shipped"; a path is the user's
    weights (e.g. the authors' CASIA-WebFace ones); empty means none, and L5 is not run.
    """
    from ..verification.lightcnn import SHIPPED_LIGHTCNN

    if not value:
        return None, None, "no pretrained weights"
    if value == "shipped":
        if not SHIPPED_LIGHTCNN.is_file():
            return None, None, f"shipped LightCNN {SHIPPED_LIGHTCNN} not in this installation"
        return str(SHIPPED_LIGHTCNN), "pretrained, shipped: LightCNN-9 on rendered identities", None
    path = Path(value).expanduser()
    if not path.exists():
        return None, None, f"pretrained weights {value} not found"
    return str(path), f"pretrained: {path.name}", None


def verification_settings(study: Study, models: Mapping[str, TrainedModel], hrld: TrainedModel):
    """Table 3a's settings plus the two baselines, as :class:`~.analysis.VerificationSetting` s.

    L1–L3 align with G2 from S2, S3, S4 (main G1); L4 with the S4 built on a G1 that also learnt the
    target LR; L5 is L4 with a pretrained LightCNN (fine-tuned on the same faces as L4's, with the
    same schedule), run when ``verification.pretrained`` names weights: ``"shipped"`` (the quick and
    standard profiles: the LightCNN-9 shipped in the package) or a file (the paper's CASIA-WebFace
    weights cannot be shipped). L5's network takes the layout the weights were trained in
    (:func:`~s2ld_core.verification.lightcnn.pretrained_arch`).
    """
    from ..inference import UpscaleHRLDBaseline
    from ..verification.lightcnn import pretrained_arch
    from .analysis import VerificationSetting

    def det(key: str):
        return study_detector(study, models[key].checkpoint)

    pretrained, label, l5_skip = pretrained_lightcnn(study.cfg.verification.pretrained)
    s4_target = models["S4_target"]
    l4_skip = None
    if s4_target.checkpoint == models["S4"].checkpoint:
        l4_skip = "same as L3: the main G1 already learns from the target LR"
    l5_config = None
    if pretrained is not None:
        l5_config = dataclasses.replace(lightcnn_config(study), **pretrained_arch(pretrained))
    return [
        VerificationSetting("baseline", "none (resize to 32²)", None),
        VerificationSetting(
            "upscale + HR-LD",
            "HR-LD on the face upscaled to 128²" + (" (HR-LD pretrained, shipped)" if hrld.shipped else ""),
            UpscaleHRLDBaseline.from_checkpoint(hrld.checkpoint, study.device),
        ),
        VerificationSetting("L1", "G2 of S2 (generated LR, eq. 12)", det("S2")),
        VerificationSetting("L2", "G2 of S3 (+ D2)", det("S3")),
        VerificationSetting("L3", "G2 of S4 (+ D2, D3 on the target LR)", det("S4")),
        VerificationSetting(
            "L4",
            f"G2 of S4 on a G1 that learnt the target LR ({s4_target.name})",
            None if l4_skip else study_detector(study, s4_target.checkpoint),
            skip_reason=l4_skip,
        ),
        VerificationSetting(
            "L5",
            f"L4's alignment + {label}" if label else "L4 + pretrained LightCNN",
            None if l5_skip else study_detector(study, s4_target.checkpoint),
            pretrained=pretrained,
            skip_reason=l5_skip,
            config=l5_config,
        ),
    ]


def lightcnn_config(study: Study):
    from ..verification.train import LightCNNConfig

    v = study.cfg.verification
    return LightCNNConfig(
        variant=v.variant,
        epochs=v.epochs,
        batch_size=v.batch_size,
        lr=v.lr,
        optimizer=v.optimizer,
        norm=v.norm,
        disabled_pools=v.disabled_pools,
        seed=study.cfg.seed,
    )


def verification_verdict(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: do the L settings order as in Table 3a (L1 < L2 < L3 ≤ L4), and does alignment beat
    the plain-resize baseline? Said plainly, whatever the answer."""
    top = {k: r["top1"] for k, r in results.items() if r.get("status") == "ok"}
    lines = []
    for a, b in (("L1", "L2"), ("L2", "L3"), ("L3", "L4")):
        if a in top and b in top:
            ok = top[a] <= top[b]
            lines.append(
                f"* {a} ≤ {b} in top-1: {top[a]:.1f}% vs {top[b]:.1f}% — "
                f"{'agrees' if ok else 'disagrees'} with the paper"
            )
    if "baseline" in top and "L3" in top:
        ok = top["L3"] > top["baseline"]
        lines.append(
            f"* L3 vs no alignment: {top['L3']:.1f}% vs {top['baseline']:.1f}% — alignment "
            f"{'helps' if ok else 'does not help'} here"
        )
    base = "L4" if "L4" in top else "L3"
    if "L5" in top and base in top:
        ok = top["L5"] > top[base]
        lines.append(
            f"* L5 (pretrained LightCNN) vs {base}: {top['L5']:.1f}% vs {top[base]:.1f}% — pretraining "
            f"{'helps' if ok else 'does not help'} here"
        )
    ok_rows = {k: r for k, r in results.items() if r.get("status") == "ok"}
    unlearnt = {k: r["train_accuracy"] for k, r in ok_rows.items() if r.get("train_accuracy", 1.0) < 0.9}
    if unlearnt:
        worst = ", ".join(f"{k} {100 * v:.0f}%" for k, v in unlearnt.items())
        lines.append(f"* LightCNN did not fit its training faces in every setting ({worst} training "
                     "accuracy, eval mode): those rows say little about alignment")
    note = ""
    if ok_rows:
        rows = list(ok_rows.values())
        note = f"\n\nEach figure rests on {rows[0].get('num_probes')} probes"
        if all("top1_low" in r for r in rows):
            half = max((r["top1_high"] - r["top1_low"]) / 2 for r in rows)
            note += (f"; a top-1's 95 % interval spans up to ±{half:.1f} points: smaller differences are "
                     "within chance.")
        else:
            note += "; differences of a few points are within chance."
    return "\n".join(lines) + note
