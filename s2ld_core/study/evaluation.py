"""What notebooks 01, 02, 03 and 05 measure and conclude: the LR statistics of G1's images, the
detectors of Table 1 and their scores (on the target-LR test set, on G1's generated test set and on
real faces), the ablation's claims, HR-LD at 128², and the summary on real LR faces."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import LabelledFaces
from .context import Study, StudyData, project_relative, record, spread
from .training import TrainedModel


def generated_test_set(study: Study, data: StudyData, g1_checkpoint: Path) -> LabelledFaces | None:
    """Table 1's first row: the held-out HR test faces through G1, points resized exactly to 32²."""
    from ..evaluation_sets import generated_test

    hr = data.test_hr
    if hr is None:
        return None
    return generated_test(g1_checkpoint, hr, seed=study.cfg.seed, device=study.device)


def study_detector(study: Study, checkpoint: Path, decoding: str | None = None):
    """G2 of ``checkpoint`` decoding as the study says (``decoding`` overrides; raw without a shape
    model, as in checkpoints made before it existed)."""
    from ..inference import LandmarkDetector

    det = LandmarkDetector.from_checkpoint(checkpoint, study.device)
    decoding = decoding or study.cfg.decoding
    return det.set_decoding(decoding if det.shape_model is not None else "raw")


RAW = "raw decoding"  # suffix of the rows that decode heatmap peaks without the shape model


UPSCALE_ROW = "upscale + HR-LD"  # Fig. 1c; + " (pretrained, shipped)" with the shipped HR-LD
DLIB_ROW = "upscale ×4 + dlib 68"  # Dlib68Baseline.name, named here so a skipped row can be named


class _InSchema:
    """A detector whose points are mapped to another schema (dlib's 68 points, or the shipped 68-point
    HR-LD, scored in the study's). A merged point's confidence is the mean of its sources'."""

    def __init__(self, detector, schema: str) -> None:
        from ..schemas import get_schema

        self.detector, self.schema = detector, get_schema(schema).name
        self.name = getattr(detector, "name", type(detector).__name__)
        self.input_size = getattr(detector, "input_size", None)

    def predict(self, images, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        from ..schemas import convert_points

        args = () if batch_size is None else (batch_size,)
        points, conf = self.detector.predict(images, *args)
        out, _ = convert_points(points, self.detector.schema, self.schema)
        if conf is None:
            return out, np.ones(out.shape[:-1], np.float32)
        both = np.stack([np.asarray(conf, np.float32)] * 2, -1)  # convert_points maps (x, y) pairs
        return out, convert_points(both, self.detector.schema, self.schema)[0][..., 0]


def in_schema(detector, schema: str):
    """``detector`` scoring in ``schema``: itself when its schema is that one, else its points mapped
    (a ``ValueError`` when its points have no conversion to ``schema``)."""
    from ..schemas import get_schema

    if get_schema(detector.schema).name == get_schema(schema).name:
        return detector
    from ..schemas import convert_points

    convert_points(np.zeros((get_schema(detector.schema).num_points, 2), np.float32), detector.schema, schema)
    return _InSchema(detector, schema)


def external_baselines(schema: str) -> tuple[dict[str, tuple[Any, float | None]], list[str]]:
    """The HR detector a user would reach for, as a row of Table 1: dlib's 68-point predictor on the
    crop upscaled ×4 (:class:`~s2ld_core.inference.dlib68.Dlib68Baseline`). It was trained elsewhere,
    so it chooses nothing here and has no training time. Returns ``(rows, notes)``: without dlib or
    its predictor file (an optional extra) no row and a one-line note saying what to install."""
    from ..inference import dlib68
    from ..schemas import convert_points, get_schema

    try:
        det = dlib68.Dlib68Baseline()
    except dlib68.TeacherUnavailable as exc:
        return {}, [f"{DLIB_ROW}: not run ({exc})."]
    if get_schema(det.schema).name != get_schema(schema).name:
        try:
            convert_points(np.zeros((68, 2), np.float32), det.schema, schema)
        except ValueError:
            return {}, [f"{DLIB_ROW}: not run (its 68 points have no conversion to the study's {schema})."]
        det = _InSchema(det, schema)
    return {det.name: (det, None)}, []


def comparison_detectors(
    study: Study, models: Mapping[str, TrainedModel], hrld: TrainedModel, notes: list[str] | None = None
) -> dict:
    """Name → (detector, training seconds) for every row of Table 1 and the real-face table: the
    baselines (dlib ×4 where installed; otherwise a line in ``notes``), S1–S4 in the study's decoding
    and S4 in the other one. HR-LD's rows say "(pretrained, shipped)" when ``hrld`` is the shipped
    one (:func:`~.training.ensure_hrld`), whose 68 points are scored in the study's schema."""
    from ..inference import BicubicSRBaseline, MeanShapeBaseline, UpscaleHRLDBaseline

    schema = study.cfg.schema
    seconds = None if hrld.shipped else hrld.seconds  # the shipped HR-LD was trained elsewhere
    detectors: dict[str, tuple[Any, float | None]] = {
        "mean shape": (MeanShapeBaseline.from_checkpoint(models["S1"].checkpoint), 0.0),
        UPSCALE_ROW + hrld.label: (
            in_schema(UpscaleHRLDBaseline.from_checkpoint(hrld.checkpoint, study.device), schema),
            seconds,
        ),
        "bicubic SR + HR-LD" + hrld.label: (
            in_schema(BicubicSRBaseline.from_checkpoint(hrld.checkpoint, study.device), schema),
            seconds,
        ),
    }
    external, skipped = external_baselines(study.cfg.schema)
    detectors.update(external)
    if notes is not None:
        notes.extend(skipped)
    for setting, model in models.items():
        detectors[setting] = (study_detector(study, model.checkpoint), model.seconds)
    if "S4" in models:
        other = "raw" if study.cfg.decoding == "pdm" else "pdm"
        det = study_detector(study, models["S4"].checkpoint, other)
        if det.decoding == other:
            detectors[f"S4, {other} decoding"] = (det, models["S4"].seconds)
    return detectors


def real_face_sets(study: Study) -> dict[str, LabelledFaces]:
    """The real-face check (``real_faces``, an imglab folder): each face at its native resolution
    area-downscaled to 32², and through the held-out target camera. Empty when not configured or
    not found (a checkout without the data folder)."""
    from ..data.datasets import load_imglab_faces
    from ..data.external import pascal_faces_dir

    if not study.cfg.real_faces:
        return {}
    if study.cfg.real_faces == "auto":
        folder = pascal_faces_dir()
        if folder is None:
            return {}
    else:
        folder = project_relative(study.cfg.real_faces)
        if not folder.is_dir() and not Path(study.cfg.real_faces).is_absolute():
            folder = Path(__file__).resolve().parents[2] / study.cfg.real_faces
    xml = sorted(folder.glob("*.xml")) if folder.is_dir() else []
    if not xml:
        return {}
    schema = study.cfg.schema  # in the study's schema, so overlays draw like with like
    camera = load_imglab_faces(xml, camera="target-camera", seed=study.cfg.seed)
    return {"native": load_imglab_faces(xml).to_schema(schema), "target camera": camera.to_schema(schema)}


def real_face_columns(sets: Mapping[str, LabelledFaces]) -> tuple[tuple[str, str, str | None], ...]:
    """Columns of :func:`real_face_table` for :func:`~.analysis.html_table`."""
    return (("method", "method", None),) + tuple(
        (name, f"NME % (box), {name} ({len(faces)} faces)", "%") for name, faces in sets.items()
    )


def real_face_table(detectors: Mapping[str, tuple[Any, float]], sets: Mapping[str, LabelledFaces]):
    """Rows ``{method, <set>: NME, …}`` and the evaluations (set → method → Evaluation)."""
    from ..evaluation import evaluate_detector

    rows, evaluations = [], {name: {} for name in sets}
    for method, (det, _) in detectors.items():
        row: dict[str, Any] = {"method": method}
        for name, faces in sets.items():
            ev = evaluate_detector(det, faces, normalizer="box", name=method)
            evaluations[name][method] = ev
            row[name] = ev.summary["nme"]
        rows.append(row)
    return rows, evaluations


def evaluation_row(evaluation, seconds: float | None = None, extra: Mapping[str, Any] | None = None) -> dict:
    """One table row: the summary of an :class:`~s2ld_core.evaluation.Evaluation` and the training time."""
    row = {"method": evaluation.name, **evaluation.summary}
    if seconds is not None:
        row["train_seconds"] = round(float(seconds), 1)
    row.update(extra or {})
    return row


def worst_cases(evaluation, n: int = 8) -> list[int]:
    """Indices of the ``n`` faces with the largest NME under ``evaluation``, worst first."""
    return [int(i) for i in np.argsort(-evaluation.errors)[:n]]


def lr_sets(study: Study, data: StudyData, g1_checkpoint: Path, n: int = 256) -> dict[str, np.ndarray]:
    """The LR image sets notebook 01 compares: the real LR G1 learnt from, G1(HR), the paper's F(HR)
    and the target LR (a domain G1 never saw), ``n`` images each at most."""
    from ..inference.g1 import generate_lr
    from ..pixels import subsample_F

    hr = data.train_hr.images[spread(len(data.train_hr), n)]
    real = data.g1_real[spread(len(data.g1_real), n)]
    return {
        "real LR": real,
        "G1(HR)": generate_lr(g1_checkpoint, hr, seed=study.cfg.seed + 5, device=study.device),
        "F(HR)": np.stack([subsample_F(im)[0] for im in hr]),
        "target LR": data.pool.images[spread(len(data.pool), n)],
    }


def lr_statistics_verdict(stats: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown: is G1(HR) nearer the real LR than F(HR), statistic by statistic — said plainly."""
    from .analysis import closer_to_real

    closer = closer_to_real(stats, "G1(HR)", "F(HR)")
    g, f = stats["G1(HR)"], stats["F(HR)"]
    parts = [
        f"intensity distribution (EMD {g['luma_emd_to_real']:.1f} vs {f['luma_emd_to_real']:.1f})",
        f"log spectrum (mean |Δ| {g['spectrum_l1_to_real']:.3f} vs {f['spectrum_l1_to_real']:.3f})",
        f"sharpness (ratio to real {g['sharpness_ratio_to_real']:.2f} vs {f['sharpness_ratio_to_real']:.2f})",
    ]
    won = [p for p, ok in zip(parts, closer.values()) if ok]
    lost = [p for p, ok in zip(parts, closer.values()) if not ok]
    text = f"G1(HR) is nearer the real LR than F(HR) in {len(won)} of 3 statistics."
    if won:
        text += " Nearer: " + "; ".join(won) + "."
    if lost:
        text += " Not nearer: " + "; ".join(lost) + "."
    if len(won) < 2:
        text += (
            " With this training budget G1 has not (yet) learnt the real LR's look better than plain "
            "average pooling; the paper's premise for S2 > S1 is then weak in this run."
        )
    return text


@dataclass
class Ablation:
    """Every method of Table 1 scored on the target-LR test set and on the G1-generated test set."""

    evaluations: dict[str, Any]  # name → Evaluation on the target-LR test set
    generated: dict[str, Any]  # name → Evaluation on G1(HR test)
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)  # rows not run, and why (one line each)


def _timed_evaluation(detector, faces: LabelledFaces, name: str):
    from ..evaluation import evaluate_detector

    t0 = time.perf_counter()
    ev = evaluate_detector(detector, faces, name=name)
    return ev, 1000.0 * (time.perf_counter() - t0) / max(1, len(faces))


def run_ablation(
    study: Study, data: StudyData, models: Mapping[str, TrainedModel], hrld: TrainedModel, g1: TrainedModel
) -> Ablation:
    """Score the baselines and S1–S4 (Table 1). Nothing is tuned: each checkpoint is the end of its
    schedule, and the held-out sets are only read here."""
    notes: list[str] = []
    detectors = comparison_detectors(study, models, hrld, notes)
    generated = generated_test_set(study, data, g1.checkpoint)
    evaluations, gen_evals, rows = {}, {}, []
    for name, (det, seconds) in detectors.items():
        ev, ms = _timed_evaluation(det, data.test, name)
        evaluations[name] = ev
        extra: dict[str, Any] = {"ms_per_face": ms}
        if seconds is None:  # trained elsewhere (dlib, the shipped HR-LD): the column says so, "–"
            extra["train_seconds"] = None
        if generated is not None:
            gen_evals[name], _ = _timed_evaluation(det, generated, name)
            extra["nme_generated"] = gen_evals[name].summary["nme"]
        rows.append(evaluation_row(ev, seconds, extra))
    return Ablation(evaluations, gen_evals, rows, notes)


SETTINGS = ("S1", "S2", "S3", "S4")


def undertrained_note(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """A warning when no S-setting beats the training mean shape: the networks have not learnt
    landmarks yet, so their ordering says nothing about the method (only about the budget)."""
    nme = {r["method"]: r["nme"] for r in rows}
    if "mean shape" not in nme or not any(s in nme for s in SETTINGS):
        return None
    best = min(nme[s] for s in SETTINGS if s in nme)
    if best < nme["mean shape"]:
        return None
    return (
        f"**Under-trained.** No S²LD setting beats predicting the training mean shape (best "
        f"{100 * best:.1f}% vs {100 * nme['mean shape']:.1f}% NME): at this training budget G2 has not "
        "learnt landmarks yet, so the comparisons below reflect the budget, not the method. Train longer "
        "(`s2ld study --epochs N`, or `--profile paper`) before reading them."
    )


def ablation_claims(study: Study, ablation: Ablation) -> str:
    """Check the paper's ordering on both test sets and S4 against the upscaling baselines (HR-LD,
    dlib ×4) on the target-LR test, record them and return the Markdown verdict."""
    from .analysis import check_against_baselines, check_claim

    comparisons, claim = check_claim(
        {s: ablation.evaluations[s].errors for s in SETTINGS}, seed=study.cfg.seed
    )
    record(study, "claim", [c.as_dict() for c in comparisons])
    note = undertrained_note(ablation.rows)
    record(study, "undertrained", note is not None)
    if note:
        claim = note + "\n\n" + claim
    against = ""
    baselines = upscaling_baselines(ablation.evaluations)
    if "S4" in ablation.evaluations and baselines:
        comps, text = check_against_baselines(
            {k: ablation.evaluations[k].errors for k in ("S4", *baselines)}, "S4", baselines, study.cfg.seed
        )
        record(study, "claim_baselines", [c.as_dict() for c in comps])
        against = "\n\n" + text
    record(study, "claim_summary", claim + against)
    if ablation.generated:
        comparisons_gen, claim_gen = check_claim(
            {s: ablation.generated[s].errors for s in SETTINGS}, seed=study.cfg.seed
        )
        record(study, "claim_generated", [c.as_dict() for c in comparisons_gen])
        claim += "\n\nOn the **G1-generated** test faces (Table 1's first row): " + claim_gen
    return claim + against


def upscaling_baselines(names) -> list[str]:
    """The rows of Table 1 that upscale the LR face and run an HR detector (HR-LD, dlib ×4), in
    table order: what S4 is judged against beside the paper's ordering."""
    return [n for n in names if n.startswith(UPSCALE_ROW) or n == DLIB_ROW]


def hrld_evaluation(study: Study, data: StudyData, hrld: TrainedModel) -> tuple[list[dict[str, Any]], Any]:
    """HR-LD on held-out HR renders of unseen identities, under every normaliser the schema allows
    (Table 5 reports interocular for 300W and box-style for AFLW). Returns rows and the box
    :class:`~s2ld_core.evaluation.Evaluation` in the study's schema, or ``([], None)`` without a
    held-out HR set.

    A detector in another schema than the study's (the shipped 68-point HR-LD in an ``aflw19``
    study) is scored twice on the same faces: its points mapped to the study's schema (the rows the
    other tables compare with) and in its own schema, with that schema's normalisers."""
    from ..evaluation import evaluate_detector
    from ..schemas import get_schema

    faces = data.test_hr
    if faces is None:
        return [], None
    det = study_detector(study, hrld.checkpoint)
    method = "HR-LD" + (hrld.label or " (ours)")
    scored = [(in_schema(det, study.cfg.schema), faces, method)]
    if get_schema(det.schema).name != get_schema(study.cfg.schema).name:
        own = data.test_hr_in(det.schema.name)
        if own is not None:
            scored.append((det, own, f"{method}, its {det.schema.name} points"))
    rows, box_eval = [], None
    for detector, test, name in scored:
        schema = get_schema(detector.schema)
        for norm in ["box"] + (["interocular"] if schema.interocular is not None else []):
            ev = evaluate_detector(detector, test, normalizer=norm, name="HR-LD")
            if box_eval is None and norm == "box":
                box_eval = ev
            where = f"held-out HR renders ({len(test)} faces)"
            rows.append({"method": name, "test_set": where, **ev.summary})
    return rows, box_eval


def real_lr_summary(data: StudyData, detector) -> dict[str, Any]:
    """S4 on the labelled target-LR test set (NME) and its mean heatmap confidence on each LR set.

    Confidence is the decoded heatmap peak; it is no accuracy measure, but a detector that has not
    learnt a domain tends to produce flat heatmaps there, so a drop from the test set to real faces
    is worth seeing.
    """
    from ..evaluation import evaluate_detector

    ev = evaluate_detector(detector, data.test, name="S4")
    conf = {"target LR test": float(ev.confidence.mean())}
    for name, images in (("target LR pool", data.pool.images), ("real LFW faces", data.lfw)):
        conf[name] = float(detector.predict(images)[1].mean())
    return {"target_test": ev.summary, "mean_confidence": conf}


def real_lr_text(summary: Mapping[str, Any]) -> str:
    s = summary["target_test"]
    conf = ", ".join(f"{k} {v:.2f}" for k, v in summary["mean_confidence"].items())
    return (
        f"S4 on the held-out target-LR test set: NME ({s['normalizer']}) **{100 * s['nme']:.2f}%**, "
        f"AUC@0.08 {s['auc@0.08']:.3f}, FR@0.10 {s['fr@0.10']:.3f} over {s['n']} faces "
        f"(notebook 03 compares it with S1–S3 and the baselines). Mean heatmap confidence: {conf}."
    )
