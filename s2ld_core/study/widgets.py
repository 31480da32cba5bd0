"""Explorers for the notebooks: ipywidgets in a live frontend, a static picture everywhere else.

Under papermill or nbconvert there is no frontend to draw a widget, and the saved notebook and its
HTML export would only carry a placeholder; so each explorer returns a widget when
:attr:`~.context.Study.static` is false, and otherwise the same content as one contact sheet. The
sheet is saved under ``figures/`` either way, because the report shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from .context import Study, spread
from .figures import overlay, show_image

STRENGTHS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def degraded_row(
    name: str, images: np.ndarray, points: np.ndarray, strength: float, seed: int
) -> list[np.ndarray]:
    """``images`` through degradation ``name`` at ``strength``, with the exactly mapped points drawn."""
    from ..data.degrade import degrade

    out = []
    for i, (im, p) in enumerate(zip(images, points)):
        lr, q = degrade(name, im, p, np.random.default_rng([seed, i]), strength=strength)
        out.append(overlay(lr, truth=q, cell=96))
    return out


def degradation_sheet(
    images: np.ndarray, points: np.ndarray, sweep: str = "target-camera", seed: int = 0
) -> np.ndarray:
    """Every registered degradation at strength 1 (one row each), then ``sweep`` on one face over
    :data:`STRENGTHS` — the static form of :func:`degradation_explorer`."""
    from ..data.degrade import DEGRADATIONS, degrade
    from ..plotting import contact_sheet

    rows: dict[str, list[np.ndarray]] = {n: degraded_row(n, images, points, 1.0, seed) for n in DEGRADATIONS}
    sweep_row = []
    for s in STRENGTHS:
        lr, q = degrade(sweep, images[0], points[0], np.random.default_rng([seed, 0]), strength=s)
        sweep_row.append(overlay(lr, truth=q, cell=96))
    rows[f"{sweep} at {', '.join(f'{s:g}' for s in STRENGTHS)}"] = sweep_row
    return contact_sheet(rows, cell=96)


def degradation_explorer(study: Study, images: np.ndarray, points: np.ndarray, n: int = 8) -> Any:
    """Pick a degradation and slide its strength (``degrade(name, …, strength)``) on ``n`` HR faces."""
    from ..data.degrade import DEGRADATIONS

    idx = spread(len(images), n)
    images, points = np.asarray(images)[idx], np.asarray(points)[idx]
    static = show_image(study, degradation_sheet(images, points, seed=study.cfg.seed), "degradations")
    if study.static:
        return static
    import ipywidgets as w

    from ..plotting import image_grid

    name = w.Dropdown(options=list(DEGRADATIONS), value="target-camera", description="degradation")
    strength = w.FloatSlider(value=1.0, min=0.0, max=2.5, step=0.1, description="strength")
    seed = w.IntSlider(value=0, min=0, max=20, description="seed")
    view = w.Image(format="png")

    def draw(*_: Any) -> None:
        row = degraded_row(name.value, images, points, strength.value, seed.value)
        view.value = _png(image_grid(row, ncols=len(row)))

    for control in (name, strength, seed):
        control.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox([name, strength, seed]), view])


def prediction_sheet(
    images: np.ndarray,
    detectors: Mapping[str, Any],
    truth: np.ndarray | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """One row per detector on the same faces (truth in green when given, prediction in red)."""
    from ..plotting import contact_sheet

    rows = {}
    for name, det in detectors.items():
        pts, _ = det.predict(images)
        rows[name] = [
            overlay(
                im, p, None if truth is None else truth[i], None if visible is None else visible[i], cell=112
            )
            for i, (im, p) in enumerate(zip(images, pts))
        ]
    return contact_sheet(rows, cell=112)


def prediction_browser(
    study: Study,
    images: np.ndarray,
    detectors: Mapping[str, Any],
    name: str,
    truth: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    per_page: int = 8,
) -> Any:
    """Page through ``images`` with every detector's points; static: the first page, saved as ``name``."""
    images = np.asarray(images)
    idx = spread(len(images), per_page)
    static = show_image(
        study,
        prediction_sheet(
            images[idx],
            detectors,
            None if truth is None else truth[idx],
            None if visible is None else visible[idx],
        ),
        name,
    )
    if study.static:
        return static
    import ipywidgets as w

    pages = max(1, -(-len(images) // per_page))
    page = w.IntSlider(value=0, min=0, max=pages - 1, description="page")
    view = w.Image(format="png")

    def draw(*_: Any) -> None:
        idx = np.arange(page.value * per_page, min(len(images), (page.value + 1) * per_page))
        sheet = prediction_sheet(
            images[idx],
            detectors,
            None if truth is None else truth[idx],
            None if visible is None else visible[idx],
        )
        view.value = _png(sheet)

    page.observe(draw, names="value")
    draw()
    return w.VBox([page, view])


def failure_browser(
    study: Study, evaluations: Mapping[str, Any], faces, name: str, n: int = 8, default: str | None = None
) -> Any:
    """The worst faces of a chosen method, with every method's prediction on them."""
    from .figures import failure_sheet

    methods: Sequence[str] = list(evaluations)
    first = default if default in evaluations else methods[-1]
    static = show_image(study, failure_sheet(evaluations, faces, first, n), name)
    if study.static:
        return static
    import ipywidgets as w

    pick = w.Dropdown(options=methods, value=first, description="worst of")
    view = w.Image(format="png")

    def draw(*_: Any) -> None:
        view.value = _png(failure_sheet(evaluations, faces, pick.value, n))

    pick.observe(draw, names="value")
    draw()
    return w.VBox([pick, view])
