"""The realism meter: framing, AUC, and a classifier that separates what differs and not what does not."""

from __future__ import annotations

import numpy as np
import pytest

from s2ld_core.data.realism import frame_face, image_stats, real_faces, realism_score, roc_auc


def test_roc_auc_known_values():
    assert roc_auc(np.array([3.0, 4.0, 1.0, 2.0]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 0, 0])) == 0.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5


def test_frame_face_puts_the_landmark_box_where_asked():
    img = np.zeros((200, 200, 3), np.uint8)
    img[50:150, 60:140] = 255  # the "face" is the points' box
    pts = np.array([[60.0, 50.0], [139.0, 149.0]])
    crop = frame_face(img, pts, size=25, framing=(1.0, 0.0), grey=True)
    assert crop.shape == (25, 25, 3)
    assert crop[12, 12, 0] == 255 and crop[12, 0, 0] < 128  # box spans the height, not the width


def test_real_faces_are_lfw_and_pascal_at_one_size():
    from s2ld_core.data.external import pascal_faces_dir

    real, source = real_faces()
    pascal = 43 if pascal_faces_dir() is not None else 0  # the check set lives outside the repository
    assert real.shape == (100 + pascal, 25, 25, 3) and real.dtype == np.uint8
    assert (source == 0).sum() == 100 and (source == 1).sum() == pascal
    assert np.array_equal(real[..., 0], real[..., 2])  # grey


def test_image_stats_shapes():
    s = image_stats(np.random.default_rng(0).integers(0, 255, (5, 25, 25, 3), dtype=np.uint8), colour=True)
    assert s.histogram.shape == (32,) and abs(s.histogram.sum() - 1) < 1e-9
    assert s.spectrum.shape == (12,) and 0 <= s.edge_density <= 1 and s.saturation is not None


@pytest.mark.slow
def test_meter_separates_obviously_different_sets_and_not_a_set_from_itself():
    real, _ = real_faces()
    flipped = 255 - real  # negatives: obviously not real faces
    apart = realism_score(real, flipped, folds=3, epochs=8)
    assert apart["accuracy"] > 0.9 and apart["auc"] > 0.95
    rng = np.random.default_rng(0)
    half = rng.permutation(len(real))
    same = realism_score(real[half[:71]], real[half[71:]], folds=3, epochs=8)
    assert same["accuracy"] < 0.75
