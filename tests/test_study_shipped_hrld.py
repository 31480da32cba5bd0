"""The shipped HR-LD where the study's budget would not let HR-LD converge: the quick profile takes
``s2ld_core/weights/ibug68/hrld.pt``, labels its rows "pretrained, shipped", scores its 68 points in
the study's schema beside the other rows, and Table 5 scores it in both schemas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoint_files import write_g2
from study_params import TINY_STUDY

from s2ld_core.study import runner, steps
from s2ld_core.study.config import study_config
from s2ld_core.study.training import SHIPPED_LABEL, TrainedModel

pytestmark = pytest.mark.skipif(
    not steps.shipped_hrld().is_file(), reason="no shipped HR-LD in this installation"
)


def _args(*argv: str):
    import argparse

    parser = argparse.ArgumentParser()
    runner.add_study_arguments(parser)
    return parser.parse_args(list(argv))


def test_quick_takes_the_shipped_hrld_and_the_others_train_it():
    assert study_config("quick").hrld_source == "shipped"
    assert study_config("standard").hrld_source == "train" and study_config("paper").hrld_source == "train"
    assert runner.resolve_study(_args("--out", "x", "--hrld-source", "train")).hrld_source == "train"
    with pytest.raises(ValueError, match="hrld_source must be one of"):
        study_config("quick", hrld_source="downloaded")
    plan = {r["run"]: r for r in runner.training_plan(study_config("quick"))}
    assert plan["hrld"]["schedule"].startswith("not trained: the shipped")
    standard = {r["run"]: r for r in runner.training_plan(study_config("standard"))}
    assert "epochs" in standard["hrld"]["schedule"]


def _untrained_g2(path, schema: str = "aflw19"):
    """A G2 of the quick profile with random weights and a mean shape: stands in for S1 (the mean
    shape row is built from it) without training anything."""
    from s2ld_core.schemas import get_schema

    k = get_schema(schema).num_points
    mean = np.stack([np.linspace(8, 24, k), np.linspace(10, 22, k)], 1).astype(np.float32)
    write_g2(path, schema, setting="S1", mean_shape=torch.from_numpy(mean))
    return path


def test_shipped_hrld_rows_are_labelled_and_scored_in_the_studys_schema(tmp_path):
    from s2ld_core.evaluation import evaluate_detector

    overrides = {**TINY_STUDY, "hrld_source": "shipped", "cache_dir": str(tmp_path / "cache")}
    study = steps.open_study("quick", str(tmp_path / "run"), overrides=overrides, interactive=False,
                             notebook="05_hr_landmark_detector")
    hrld = steps.ensure_hrld(study)
    assert hrld.shipped and hrld.run is None and hrld.label == SHIPPED_LABEL == " (pretrained, shipped)"
    assert hrld.checkpoint == study.checkpoint("hrld_shipped")
    assert hrld.checkpoint.read_bytes() == steps.shipped_hrld().read_bytes()
    assert not study.checkpoint("hrld").exists() and not (study.runs / "hrld").exists()  # nothing trained
    record = steps.training_record(hrld)
    assert record["shipped"] and record["final_losses"] == {} and record["steps"] > 0
    assert steps.ensure_hrld(study).checkpoint == hrld.checkpoint  # a second call reuses the copy

    data = steps.StudyData(study)
    s1 = TrainedModel("S1", _untrained_g2(tmp_path / "S1.pt"), tmp_path, True, 1.0, 1)
    detectors = steps.comparison_detectors(study, {"S1": s1}, hrld)
    assert "upscale + HR-LD (pretrained, shipped)" in detectors
    assert "bicubic SR + HR-LD (pretrained, shipped)" in detectors and "upscale + HR-LD" not in detectors
    det, seconds = detectors["upscale + HR-LD (pretrained, shipped)"]
    assert seconds is None  # trained elsewhere: no training time in this study
    points, conf = det.predict(data.test.images[:3])
    assert det.schema == "aflw19" and points.shape == (3, 19, 2) and conf.shape == (3, 19)
    assert np.isfinite(evaluate_detector(det, data.test).summary["nme"])

    rows, box = steps.hrld_evaluation(study, data, hrld)
    methods = [(r["method"], r["normalizer"]) for r in rows]
    assert methods == [
        ("HR-LD (pretrained, shipped)", "box"),
        ("HR-LD (pretrained, shipped)", "interocular"),
        ("HR-LD (pretrained, shipped), its ibug68 points", "box"),
        ("HR-LD (pretrained, shipped), its ibug68 points", "interocular"),
    ]
    assert box.predictions.shape == (len(data.test_hr), 19, 2)  # the figures draw the study's schema
    assert all(0 < r["nme"] < 1 and r["n"] == len(data.test_hr) for r in rows)
    assert "hrld_source: shipped" in steps.describe(study)
