"""A contact sheet of the embedded default: the four kinds of face the study uses, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import DataConfig


def write_data_preview(
    out: str | Path = "reports/data_preview.png",
    seed: int = 0,
    per_row: int = 10,
    cfg: DataConfig | None = None,
) -> Path:
    """Rows: labelled HR faces with their points, F(HR) (the paper's subsampling), the held-out
    target LR (a camera the training never sees) and real LR faces (scikit-image's LFW subset)."""
    from ..pixels import subsample_F
    from ..plotting import contact_sheet, draw_points
    from .datasets import embedded_target_test, embedded_train_hr
    from .sources import lfw_faces

    cfg = cfg or DataConfig(schema="ibug68")
    hr = embedded_train_hr(cfg, seed).subset(
        np.arange(0, per_row * cfg.embedded_images_per_identity, cfg.embedded_images_per_identity)
    )
    target = embedded_target_test(cfg, seed).subset(np.arange(per_row))
    rows = {
        "HR 128²": list(hr.images),
        "HR + 68 points": [
            draw_points(im, p, v, zoom=1, radius=1) for im, p, v in zip(hr.images, hr.points, hr.visible)
        ],
        "F(HR) 32²": [subsample_F(im)[0] for im in hr.images],
        "target LR 32²": list(target.images),
        "target LR + points": [
            draw_points(im, p, v, zoom=4) for im, p, v in zip(target.images, target.points, target.visible)
        ],
        "real LR (LFW) 25²": list(lfw_faces()[:per_row]),
    }
    path = Path(out)
    contact_sheet(rows, cell=96, path=path)
    return path
