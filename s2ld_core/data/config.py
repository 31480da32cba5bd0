"""Where a run's faces come from and how many the embedded default renders: :class:`DataConfig`, the
``data`` section of every training configuration (:class:`~s2ld_core.train.config.TrainConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataConfig"]


@dataclass
class DataConfig:
    """Where the labelled HR faces and the unlabelled target LR faces come from.

    ``hr_data``: ``embedded`` (the face renderer) or a path (a folder of 300W ``.pts`` + images, or an
    AFLW-19 CSV). ``target_lr``: ``embedded`` (the unlabelled target-LR pool: renderer identities
    disjoint from training and test, degraded by the target camera, landmarks withheld — our stand-in
    for TinyFace's training split), ``lfw`` (scikit-image's 100 real faces) or a folder of LR crops.

    ``render_style`` paints the embedded *training* faces (``v1`` drawn, ``v2`` photo-like, ``v3`` v1
    with real LFW skin on a ``texture_prob`` share; :class:`~s2ld_core.data.render.RenderConfig`); the
    pool, validation and test sets stay v1, so scores stay comparable. ``render_workers`` renders in
    that many processes (the same bytes as one).

    ``real_hr``: a 300-W folder of labelled *real* HR faces (e.g. the pseudo-labelled large faces of
    a real-faces folder, ``scripts/pseudo_label.py``) mixed into ``hr_data``'s faces so that they
    make up ``real_hr_share`` of the labelled set (tiled; :func:`~.datasets.mix_real_hr`). The
    paper's labelled faces are real (AFLW, 300-W); this gives the renders' company real conventions,
    expressions and skin.
    """

    hr_data: str = "embedded"
    target_lr: str = "embedded"
    schema: str = "aflw19"
    hr_size: int = 128
    lr_size: int = 32
    embedded_train_identities: int = 150
    embedded_images_per_identity: int = 8
    embedded_pool_identities: int = 60
    embedded_pool_images_per_identity: int = 8
    embedded_test_identities: int = 40
    embedded_test_images_per_identity: int = 5
    render_style: str = "v1"
    texture_prob: float = 1.0
    render_workers: int = 1
    real_hr: str = ""
    real_hr_share: float = 0.25
    cache_dir: str | None = None  # default: ~/.cache/s2ld
