"""Everything the five notebooks call, in one namespace (``from s2ld_core.study import steps``).

A notebook stays a narrative — parameters, a few calls, pictures, a paragraph that reads the
numbers — while the logic lives in modules of its own, where it is tested and linted:

* :mod:`.context` — :func:`open_study` turns a notebook's parameters into a :class:`Study` (the
  resolved :class:`~.config.StudyConfig` plus the run folder's layout) and decides whether widgets
  and progress bars can be shown (JupyterLab) or must degrade to static output (papermill,
  nbconvert); :class:`StudyData` loads the study's faces lazily; :func:`record` writes a notebook's
  metrics to ``metrics/<notebook>.json`` as they are computed.
* :mod:`.training` — :func:`ensure_g1`/:func:`ensure_g2` train a network only when the run folder
  lacks it (reuse, resume, retrain when stale); the loss curves.
* :mod:`.evaluation` — the detectors of Table 1, their scores, the claims each notebook checks.
* :mod:`.face_verification` — notebook 04's settings L1–L5 and its verdict.
* :mod:`.figures` — figures and contact sheets.
"""

from .context import (
    G1_MAIN,
    G1_TARGET,
    STATIC_ENV,
    Study,
    StudyData,
    describe,
    open_study,
    project_relative,
    record,
    spread,
    widgets_enabled,
)
from .evaluation import (
    RAW,
    SETTINGS,
    Ablation,
    ablation_claims,
    comparison_detectors,
    evaluation_row,
    generated_test_set,
    hrld_evaluation,
    lr_sets,
    lr_statistics_verdict,
    real_face_columns,
    real_face_sets,
    real_face_table,
    real_lr_summary,
    real_lr_text,
    run_ablation,
    study_detector,
    undertrained_note,
    worst_cases,
)
from .face_verification import (
    lightcnn_config,
    verification_settings,
    verification_verdict,
)
from .figures import (
    GT_COLOUR,
    PRED_COLOUR,
    aligned_sheet,
    ced_figure,
    data_sheet,
    failure_sheet,
    g1_samples,
    hrld_samples,
    overlay,
    per_point_figure,
    predictions_sheet,
    show_figure,
    show_image,
)
from .training import (
    LOSS_LABELS,
    STAGE1_PANELS,
    STAGE2_PANELS,
    TrainedModel,
    ensure_g1,
    ensure_g2,
    final_losses,
    plot_losses,
    read_stats,
    train,
    training_key,
    training_record,
)

__all__ = [
    "STATIC_ENV",
    "G1_MAIN",
    "G1_TARGET",
    "Study",
    "widgets_enabled",
    "open_study",
    "project_relative",
    "describe",
    "record",
    "StudyData",
    "spread",
    "TrainedModel",
    "training_key",
    "train",
    "ensure_g1",
    "ensure_g2",
    "STAGE1_PANELS",
    "STAGE2_PANELS",
    "LOSS_LABELS",
    "read_stats",
    "plot_losses",
    "final_losses",
    "training_record",
    "generated_test_set",
    "study_detector",
    "RAW",
    "comparison_detectors",
    "real_face_sets",
    "real_face_columns",
    "real_face_table",
    "evaluation_row",
    "worst_cases",
    "lr_sets",
    "lr_statistics_verdict",
    "Ablation",
    "run_ablation",
    "SETTINGS",
    "undertrained_note",
    "ablation_claims",
    "hrld_evaluation",
    "real_lr_summary",
    "real_lr_text",
    "show_figure",
    "show_image",
    "GT_COLOUR",
    "PRED_COLOUR",
    "overlay",
    "data_sheet",
    "g1_samples",
    "predictions_sheet",
    "failure_sheet",
    "ced_figure",
    "aligned_sheet",
    "hrld_samples",
    "per_point_figure",
    "verification_settings",
    "lightcnn_config",
    "verification_verdict",
]
