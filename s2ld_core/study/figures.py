"""The study's pictures: showing and saving figures, contact sheets of faces with their points
(the data, G1's samples — Fig. 4 — predictions — Fig. 6 — failures, aligned faces) and the CED and
per-point plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import LabelledFaces
from .context import Study, StudyData, spread
from .evaluation import worst_cases


def show_figure(study: Study, fig, name: str):
    """Save ``fig`` as ``figures/<name>.png`` and return it as an image for the notebook to display
    (a PNG rather than a live figure: the same bytes land in the report and in the HTML export)."""
    from IPython.display import Image

    from ..plotting import save_figure

    path = study.figures / f"{name}.png"
    save_figure(fig, path)
    return Image(filename=str(path))


def show_image(study: Study, image: np.ndarray, name: str):
    """Save an RGB array as ``figures/<name>.png`` and return it for display."""
    from IPython.display import Image

    from ..plotting import save_png

    path = study.figures / f"{name}.png"
    save_png(image, path)
    return Image(filename=str(path))


GT_COLOUR, PRED_COLOUR = (0, 255, 0), (255, 64, 64)


def overlay(
    image: np.ndarray,
    prediction: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    cell: int = 128,
) -> np.ndarray:
    """A face enlarged (nearest) to about ``cell`` px with the truth (green) and a prediction (red).

    Points are in the original image's pixels; enlarging maps them with the pixel-centre rule, so a
    marker sits on the pixel it labels however small the face.
    """
    from ..geometry import resize_points
    from ..plotting import draw_points

    zoom = max(1, cell // max(image.shape[:2]))
    radius = max(2, zoom // 2)
    out = draw_points(image, np.zeros((0, 2), np.float32), zoom=zoom)
    if truth is not None:
        out = draw_points(
            out,
            resize_points(np.asarray(truth, np.float32), zoom),
            visible,
            zoom=1,
            color=GT_COLOUR,
            radius=radius,
        )
    if prediction is not None:
        out = draw_points(
            out,
            resize_points(np.asarray(prediction, np.float32), zoom),
            zoom=1,
            color=PRED_COLOUR,
            radius=max(1, radius - 1),
        )
    return out


def data_sheet(data: StudyData, per_row: int = 8) -> np.ndarray:
    """The faces of the study, one row per role (what each network learns from or is scored on)."""
    from ..pixels import subsample_F
    from ..plotting import contact_sheet

    hr = data.train_hr.subset(spread(len(data.train_hr), per_row))
    test = data.test.subset(spread(len(data.test), per_row))
    pool = data.pool.images[spread(len(data.pool), per_row)]
    rows = {
        "labelled HR": [
            overlay(im, truth=p, visible=v, cell=128) for im, p, v in zip(hr.images, hr.points, hr.visible)
        ],
        "F(HR)": [subsample_F(im)[0] for im in hr.images],
        "G1's real LR": list(data.g1_real[spread(len(data.g1_real), per_row)]),
        "target LR pool": list(pool),
        "target LR test": [
            overlay(im, truth=p, visible=v) for im, p, v in zip(test.images, test.points, test.visible)
        ],
    }
    return contact_sheet(rows, cell=96)


def g1_samples(study: Study, data: StudyData, g1_checkpoint: Path, n: int = 8) -> np.ndarray:
    """Fig. 4: HR faces, the paper's F(HR), G1(HR) with two noise draws, and real LR for comparison."""
    from ..inference.g1 import generate_lr
    from ..pixels import subsample_F
    from ..plotting import contact_sheet

    hr = data.train_hr.images[spread(len(data.train_hr), n)]
    rows = {
        "HR": list(hr),
        "F(HR)": [subsample_F(im)[0] for im in hr],
        "G1(HR), noise 1": list(generate_lr(g1_checkpoint, hr, seed=1, device=study.device)),
        "G1(HR), noise 2": list(generate_lr(g1_checkpoint, hr, seed=2, device=study.device)),
        "real LR": list(data.g1_real[spread(len(data.g1_real), n)]),
    }
    return contact_sheet(rows, cell=96)


def predictions_sheet(rows: Mapping[str, tuple[Any, np.ndarray]], n: int = 10) -> np.ndarray:
    """Fig. 6: for each row name, ``(detector, images)`` → the first ``n`` spread faces with its points."""
    from ..plotting import contact_sheet

    out = {}
    for name, (detector, images) in rows.items():
        imgs = np.asarray(images)[spread(len(images), n)]
        pts, _ = detector.predict(imgs)
        out[name] = [overlay(im, prediction=p) for im, p in zip(imgs, pts)]
    return contact_sheet(out, cell=112)


def failure_sheet(evaluations: Mapping[str, Any], faces: LabelledFaces, by: str, n: int = 8) -> np.ndarray:
    """The ``n`` worst faces of method ``by``, each method's prediction (red) against the truth (green)."""
    from ..plotting import contact_sheet

    idx = worst_cases(evaluations[by], n)
    rows = {}
    for name, ev in evaluations.items():
        rows[f"{name}"] = [
            overlay(faces.images[i], ev.predictions[i], faces.points[i], faces.visible[i]) for i in idx
        ]
    return contact_sheet(rows, cell=112)


def ced_figure(
    evaluations: Mapping[str, Any], normalizer: str = "box", thresholds: Sequence[float] = (0.10, 0.30)
):
    """CED curves of every method: the paper's AUC range [0, 0.10] beside a wider view."""
    from matplotlib.figure import Figure

    from ..plotting import plot_ced

    fig = Figure(figsize=(5.6 * len(thresholds), 4.4))
    errors = {name: ev.errors for name, ev in evaluations.items()}
    for i, t in enumerate(thresholds):
        plot_ced(
            errors,
            max_threshold=t,
            ax=fig.add_subplot(1, len(thresholds), i + 1),
            title=f"CED on the target-LR test set, NME ≤ {t:g}",
            normalizer=normalizer,
        )
    fig.tight_layout()
    return fig


def aligned_sheet(settings, images: np.ndarray, n: int = 8) -> np.ndarray:
    """The same test faces as each setting hands them to LightCNN (aligned to the 32² template)."""
    from ..plotting import contact_sheet
    from ..verification.train import prepare_faces

    imgs = np.asarray(images)[spread(len(images), n)]
    rows = {"input": list(imgs)}
    for s in settings:
        if s.skip_reason or s.name == "L5":
            continue
        rows[s.name] = list(prepare_faces(s.detector, imgs, 32)[0])
    return contact_sheet(rows, cell=80)


def hrld_samples(study: Study, data: StudyData, evaluation, n: int = 8) -> np.ndarray:
    """Fig. 7: HR-LD's points (red) and the truth (green) on held-out HR faces, and its worst cases."""
    from ..plotting import contact_sheet

    faces = data.test_hr
    idx = spread(len(faces), n)
    worst = np.argsort(-evaluation.errors)[:n]
    return contact_sheet(
        {
            "HR-LD, held-out faces": [
                overlay(
                    faces.images[i], evaluation.predictions[i], faces.points[i], faces.visible[i], cell=128
                )
                for i in idx
            ],
            "HR-LD, worst NME": [
                overlay(
                    faces.images[i], evaluation.predictions[i], faces.points[i], faces.visible[i], cell=128
                )
                for i in worst
            ],
        },
        cell=128,
    )


def per_point_figure(evaluation, schema: str):
    """Mean normalised error of each landmark: which points HR-LD finds hard."""
    from matplotlib.figure import Figure

    from ..schemas import get_schema

    names = get_schema(schema).point_names
    fig = Figure(figsize=(max(6.0, 0.32 * len(names)), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(names)), 100 * np.asarray(evaluation.per_point), color="#3867d6")
    ax.set_xticks(range(len(names)), names, rotation=75, fontsize=6)
    ax.set_ylabel(f"NME % ({evaluation.summary['normalizer']})")
    ax.set_title("HR-LD: error per landmark on held-out HR faces", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
