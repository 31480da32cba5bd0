"""The realism meter: framing, AUC, and a classifier that separates what differs and not what does not;
the real colour class (a real-faces folder) and its folds grouped by photo."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from s2ld_core.data.external import real_faces_dir
from s2ld_core.data.real_faces import split_of
from s2ld_core.data.realism import (
    frame_face,
    group_folds,
    image_stats,
    real_colour_faces,
    real_faces,
    realism_score,
    roc_auc,
)

needs_real_faces = pytest.mark.skipif(real_faces_dir() is None, reason="no real-faces folder here")


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


def test_group_folds_keep_every_photo_on_one_side_and_stay_stratified():
    rng = np.random.default_rng(3)
    # a few crowd photos (20-40 faces) among many single-face photos, and renders of their own
    sizes = [40, 25, 20] + list(rng.integers(1, 4, 60))
    photos = np.repeat([f"p{i}" for i in range(len(sizes))], sizes)
    groups = list(photos) + [f"r{i}" for i in range(len(photos))]
    y = np.r_[np.ones(len(photos), int), np.zeros(len(photos), int)]
    for seed in range(5):
        fold = group_folds(y, groups, 5, np.random.default_rng(seed))
        for g in set(groups):
            assert len(set(fold[np.asarray(groups) == g])) == 1  # no photo on both sides
        for cls in (0, 1):
            counts = np.bincount(fold[y == cls], minlength=5)
            assert counts.min() > 0 and counts.max() - counts.min() <= 40  # the largest photo bounds it
        assert np.ptp(np.bincount(fold[y == 0], minlength=5)) <= 1  # singletons deal evenly


def test_grouped_colour_score_runs_and_reports_its_protocol():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8)
    fake = rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8)
    photos = [f"photo{i // 4}" for i in range(24)]
    r = realism_score(real, fake, folds=3, epochs=1, groups=photos, colour=True)
    assert r["grouped"] and r["colour"] and r["groups_real"] == 6 and len(r["fold_accuracy"]) == 3
    assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["auc"] <= 1.0
    with pytest.raises(ValueError, match="groups"):
        realism_score(real, fake, folds=3, epochs=1, groups=photos[:5])


def test_real_colour_faces_of_a_folder_are_dlib_framed_colour_and_never_upsampled(tmp_path):
    (tmp_path / "images").mkdir()
    img = np.zeros((200, 300, 3), np.uint8)
    img[..., 0], img[..., 2] = 200, 40  # reddish photo
    cv2.imwrite(str(tmp_path / "images" / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    faces = [{"box": [20, 20, 60, 60], "score": 1.0}, {"box": [150, 50, 10, 10], "score": 1.0}]
    (tmp_path / "boxes.json").write_text(json.dumps([{"file": "a.png", "width": 300, "height": 200,
                                                      "faces": faces}]))
    real, photos = real_colour_faces(tmp_path, split="all", size=32)
    assert real.shape == (1, 32, 32, 3) and real.dtype == np.uint8 and photos == ["a.png"]  # 10 px: out
    assert real[0, 16, 16, 0] > 150 and real[0, 16, 16, 2] < 80  # colour kept
    both, _ = real_colour_faces(tmp_path, split="all", size=32, min_px=0)
    assert len(both) == 2


@needs_real_faces
def test_real_colour_class_is_held_out_colour_32px_and_capped_per_photo():
    real, photos = real_colour_faces(split="val", size=32, max_per_photo=5)
    assert real.ndim == 4 and real.shape[1:] == (32, 32, 3) and real.dtype == np.uint8
    assert len(real) == len(photos) > 20
    assert all(split_of(p) == "val" for p in photos)
    assert max(photos.count(p) for p in set(photos)) <= 5
    chroma = np.abs(real[..., 0].astype(int) - real[..., 2].astype(int)).mean()
    assert chroma > 5  # colour, not grey


def test_bench_style_keys_and_the_donor_check(tmp_path):
    from benchmarks import bench_realism as br
    from s2ld_core.data.render import RenderConfig

    assert br.render_config("v1") == RenderConfig(style="v1")  # the default protocol's renders
    assert br.render_config("v1 (split)") == RenderConfig(style="v1")
    assert br.render_config("v1+300w").conventions == "300w"
    cfg = br.render_config("v3+real-skin+300w", texture_source="donors")
    assert (cfg.style, cfg.texture_source, cfg.conventions) == ("v3", "donors", "300w")
    with pytest.raises(ValueError, match="texture-source"):
        br.render_config("v3+real-skin")
    with pytest.raises(ValueError, match="modifier"):
        br.render_config("v1+shiny")
    with pytest.raises(ValueError, match="v3 option"):
        br.render_config("v2+real-skin", texture_source="donors")
    assert br.split_protocol("v3") and br.split_protocol("v3+300w") and br.split_protocol("v1 (split)")
    assert not br.split_protocol("v3+real-skin") and not br.split_protocol("v1+300w")
    from s2ld_core.data.formats.pts import write_pts

    pts = np.stack(np.meshgrid(np.linspace(20, 60, 17), np.linspace(20, 60, 4)), -1).reshape(-1, 2)[:68]
    cv2.imwrite(str(tmp_path / "photoA__f3.png"), np.full((80, 80, 3), 128, np.uint8))
    write_pts(tmp_path / "photoA__f3.pts", pts)
    assert br.donor_photos_apart(str(tmp_path), ["photoB.jpg"]) == 1
    with pytest.raises(SystemExit, match="shares 1 photo"):
        br.donor_photos_apart(str(tmp_path), ["photoB.jpg", "photoA.jpg"])
