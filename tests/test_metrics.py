"""Metrics against numbers worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from s2ld_core.metrics import (
    auc,
    ced_curve,
    failure_rate,
    nme,
    normalizer_values,
    per_point_error,
    summarize,
)


def test_box_normaliser_and_nme_single_image():
    gt = np.array([[0, 0], [4, 0], [4, 9], [0, 9]], np.float32)
    pred = gt.copy()
    pred[2] += (3, 4)  # one point off by a 3-4-5 triangle
    # box: w = 4, h = 9 -> sqrt(36) = 6; mean distance = 5 / 4 = 1.25; NME = 1.25 / 6.
    assert normalizer_values(gt[None], "box").tolist() == pytest.approx([6.0])
    assert nme(pred, gt, "box").tolist() == pytest.approx([1.25 / 6])


def test_box_ignores_invisible_points_in_box_and_mean():
    gt = np.array([[[0, 0], [4, 0], [0, 9], [10, 10]]], np.float32)
    pred = gt.copy()
    pred[0, 0] += (0, 3)  # distance 3
    pred[0, 3] += (50, 50)  # invisible: must not count
    vis = np.array([True, True, True, False])
    # box of visible points is still 4 x 9 -> 6; mean over 3 visible = 3 / 3 = 1; NME = 1 / 6.
    assert normalizer_values(gt, "box", visible=vis).tolist() == pytest.approx([6.0])
    assert nme(pred, gt, "box", visible=vis).tolist() == pytest.approx([1 / 6])
    # Without the mask the far point widens the box to 10 x 10 and adds its error.
    assert normalizer_values(gt, "box").tolist() == pytest.approx([10.0])


def test_interocular_normaliser_uses_schema_indices():
    gt = np.zeros((1, 68, 2), np.float32)
    gt[0, 36] = (0, 0)
    gt[0, 45] = (30, 40)
    assert normalizer_values(gt, "interocular", "ibug68").tolist() == pytest.approx([50.0])

    # five: eyes are points 0 and 1, (10, 20) -> (16, 28) is a 6-8-10 triangle.
    gt5 = np.array([[10, 20], [16, 28], [13, 30], [9, 36], [17, 36]], np.float32)
    pred5 = gt5.copy()
    pred5[2] += (0, 2)
    pred5[3] += (1, 0)
    # mean distance = (0 + 0 + 2 + 1 + 0) / 5 = 0.6; NME = 0.6 / 10 = 0.06.
    assert nme(pred5, gt5, "interocular", "five").tolist() == pytest.approx([0.06])


def test_per_point_error_and_nme_over_two_images():
    gt = np.array([[[0, 0], [2, 0], [0, 8]], [[0, 0], [9, 1], [5, 5]]], np.float32)
    vis = np.array([[True, True, True], [True, True, False]])
    pred = gt.copy()
    pred[0, 0] += (2, 0)  # image A: box 2 x 8 -> 4; errors 2/4 = 0.5, 0, 1/4 = 0.25
    pred[0, 2] += (0, 1)
    pred[1, 0] += (0, 0.6)  # image B: visible box 9 x 1 -> 3; errors 0.6/3 = 0.2, 3/3 = 1.0, (hidden)
    pred[1, 1] += (3, 0)
    pred[1, 2] += (7, 7)
    # NME: A = (0.5 + 0 + 0.25) / 3 = 0.25; B = (0.2 + 1.0) / 2 = 0.6.
    assert nme(pred, gt, "box", visible=vis).tolist() == pytest.approx([0.25, 0.6])
    # Per point: (0.5 + 0.2) / 2 = 0.35; (0 + 1.0) / 2 = 0.5; point 2 only in A: 0.25.
    assert per_point_error(pred, gt, "box", visible=vis).tolist() == pytest.approx([0.35, 0.5, 0.25])


def test_per_point_error_nan_for_never_visible_point():
    gt = np.array([[[0, 0], [2, 0], [0, 2], [1, 1]]], np.float32)
    out = per_point_error(gt, gt, "box", visible=np.array([True, True, True, False]))
    assert out[:3].tolist() == [0.0, 0.0, 0.0] and np.isnan(out[3])


def test_precomputed_normaliser_values():
    gt = np.array([[[0, 0], [1, 1]]], np.float32)
    pred = gt + (0, 2)
    assert nme(pred, gt, np.array([4.0])).tolist() == pytest.approx([0.5])  # 2 / 4


ERRORS = np.array([0.01, 0.03, 0.05, 0.2])


def test_ced_curve():
    t, f = ced_curve(ERRORS, max_threshold=0.10, steps=6)
    # thresholds 0, .02, .04, .06, .08, .10; images with error <= t: 0, 1, 2, 3, 3, 3 of 4.
    np.testing.assert_allclose(t, [0, 0.02, 0.04, 0.06, 0.08, 0.10])
    np.testing.assert_allclose(f, [0, 0.25, 0.5, 0.75, 0.75, 0.75])


def test_auc_exact_and_matches_integrated_ced():
    # AUC@0.08 = mean(max(0, 1 - e / 0.08)) = (0.875 + 0.625 + 0.375 + 0) / 4 = 0.46875.
    assert auc(ERRORS, 0.08) == pytest.approx(0.46875)
    t, f = ced_curve(ERRORS, 0.08, steps=200_001)
    assert np.trapezoid(f, t) / 0.08 == pytest.approx(0.46875, abs=1e-4)
    assert auc(np.zeros(3), 0.1) == 1.0 and auc(np.full(3, 0.5), 0.1) == 0.0


def test_failure_rate_is_strictly_above():
    assert failure_rate(ERRORS, 0.08) == 0.25  # only 0.2
    assert failure_rate(ERRORS, 0.05) == 0.25  # 0.05 is not above 0.05
    assert failure_rate(ERRORS, 0.02) == 0.75


def test_summarize():
    s = summarize(ERRORS, "box")
    # nme = 0.29 / 4 = 0.0725; AUC@0.10 = (0.9 + 0.7 + 0.5 + 0) / 4 = 0.525.
    assert s == pytest.approx({
        "nme": 0.0725, "auc@0.08": 0.46875, "auc@0.10": 0.525, "fr@0.08": 0.25, "fr@0.10": 0.25,
        "normalizer": "box", "n": 4,
    })


def test_bad_inputs_raise_clear_errors():
    gt = np.array([[[0, 0], [4, 0], [4, 9]]], np.float32)
    with pytest.raises(ValueError, match=r"unknown normaliser 'iod'.*box.*interocular"):
        nme(gt, gt, "iod")
    with pytest.raises(ValueError, match="choose one of"):
        summarize(ERRORS, "eyes")
    with pytest.raises(ValueError, match="needs a schema"):
        normalizer_values(gt, "interocular")
    with pytest.raises(ValueError, match="zero or undefined"):
        normalizer_values(np.array([[[1, 1], [5, 1]]]), "box")  # colinear: h = 0
    with pytest.raises(ValueError, match="same shape"):
        nme(gt[:, :2], gt)
    with pytest.raises(ValueError, match="no visible points"):
        nme(gt, gt, np.array([1.0]), visible=np.zeros(3, bool))
    with pytest.raises(ValueError, match="no errors"):
        auc(np.array([]), 0.08)
