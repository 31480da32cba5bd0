"""Joint augmentation: markers stay under their points, flips permute, out-of-frame -> invisible."""

from __future__ import annotations

import numpy as np
import pytest

from s2ld_core.augment import AugmentConfig, augment, random_transform

# An asymmetric five-point layout in a 128x128 image (no two points mirror each other).
LAYOUT = np.array([[40, 50], [90, 45], [60, 70], [45, 95], [85, 100]], np.float32) + 0.3
ALL_VISIBLE = np.ones(5, bool)


def _marker_image(points: np.ndarray, size: int = 128, sigma: float = 1.2) -> np.ndarray:
    """Black image with a bright Gaussian blob centred (sub-pixel) on each point."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.zeros((size, size), np.float32)
    for x, y in points:
        img = np.maximum(img, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
    return np.repeat((img * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)


def _markers_under(image: np.ndarray, points: np.ndarray, mask: np.ndarray, radius: int = 4) -> bool:
    """True if every masked point has a bright pixel (its marker's peak) within 1 px of it."""
    gray = image[:, :, 0].astype(np.int32)
    h, w = gray.shape
    for (x, y), keep in zip(points, mask):
        if not keep:
            continue
        x0, y0 = int(round(x)), int(round(y))
        win = gray[max(0, y0 - radius): min(h, y0 + radius + 1), max(0, x0 - radius): min(w, x0 + radius + 1)]
        iy, ix = np.unravel_index(np.argmax(win), win.shape)
        by, bx = iy + max(0, y0 - radius), ix + max(0, x0 - radius)
        if win.max() < 100 or np.hypot(bx - x, by - y) > 1.0:
            return False
    return True


def _well_inside(points: np.ndarray, size: int = 128, margin: float = 3.0) -> np.ndarray:
    return (points >= margin).all(axis=1) & (points <= size - 1 - margin).all(axis=1)


def test_markers_follow_their_points_under_random_transforms():
    image = _marker_image(LAYOUT)
    assert _markers_under(image, LAYOUT, ALL_VISIBLE)
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(12):
        out_img, out_pts, out_vis = augment(image, LAYOUT, ALL_VISIBLE, "five", rng, AugmentConfig())
        assert out_img.shape == image.shape and out_img.dtype == np.uint8 and out_pts.dtype == np.float32
        checked = out_vis & _well_inside(out_pts)
        assert checked.sum() >= 3
        assert _markers_under(out_img, out_pts, checked)
        # Negative control: the untransformed points are (almost always) not under the markers.
        misses += int(not _markers_under(out_img, LAYOUT, _well_inside(LAYOUT)))
    assert misses >= 10


def test_flip_maps_coordinates_and_permutes_points_and_visibility():
    cfg = AugmentConfig(scale=(1.0, 1.0), rotation_deg=0.0, translation_px=0.0, flip_prob=1.0)
    pts = np.array([[40, 50], [90, 45], [60, 70], [45, 95], [85, 100]], np.float32)
    vis = np.array([True, True, True, True, False])  # mouth_right (image-right) occluded
    image = np.zeros((128, 128, 3), np.uint8)
    image[20, 10] = (255, 0, 0)
    out_img, out_pts, out_vis = augment(image, pts, vis, "five", np.random.default_rng(0), cfg)
    # x -> 127 - x: (87,50) (37,45) (67,70) (82,95) (42,100); then swap eyes (0,1) and mouth corners (3,4).
    expected = np.array([[37, 45], [87, 50], [67, 70], [42, 100], [82, 95]], np.float32)
    np.testing.assert_allclose(out_pts, expected, atol=1e-4)
    # The occluded image-right mouth corner is now the image-left one (index 3).
    assert out_vis.tolist() == [True, True, True, False, True]
    assert out_img[20, 117].tolist() == [255, 0, 0] and out_img[20, 10].tolist() == [0, 0, 0]


def test_points_leaving_the_frame_become_invisible_but_keep_coordinates():
    cfg = AugmentConfig(scale=(1.1, 1.1), rotation_deg=0.0, translation_px=0.0, flip_prob=0.0)
    pts = LAYOUT.copy()
    pts[0] = (1.0, 63.5)
    image = np.zeros((128, 128, 3), np.uint8)
    _, out_pts, out_vis = augment(image, pts, ALL_VISIBLE, "five", np.random.default_rng(0), cfg)
    # Scale 1.1 about the centre 63.5: x = 63.5 + (1 - 63.5) * 1.1 = -5.25 (outside), y stays 63.5.
    np.testing.assert_allclose(out_pts[0], [-5.25, 63.5], atol=1e-4)
    assert out_vis.tolist() == [False, True, True, True, True]


def test_disabled_config_returns_unchanged_copies():
    image = _marker_image(LAYOUT)
    vis = np.array([True, False, True, True, True])
    out_img, out_pts, out_vis = augment(image, LAYOUT, vis, "five", np.random.default_rng(3),
                                        AugmentConfig(enabled=False))
    np.testing.assert_array_equal(out_img, image)
    np.testing.assert_array_equal(out_pts, LAYOUT)
    np.testing.assert_array_equal(out_vis, vis)
    assert out_img is not image and out_pts is not LAYOUT


def test_random_transform_ranges_scale_with_size():
    rng = np.random.default_rng(5)
    cfg = AugmentConfig()
    draws = [random_transform(rng, 32, cfg) for _ in range(300)]
    mats = np.stack([m for m, _ in draws])
    scales = np.hypot(mats[:, 0, 0], mats[:, 0, 1])
    angles = np.degrees(np.arctan2(mats[:, 0, 1], mats[:, 0, 0]))
    assert 0.9 <= scales.min() and scales.max() <= 1.1
    assert -30 <= angles.min() < -25 and 25 < angles.max() <= 30
    # Translation = where the centre (15.5, 15.5) goes, minus itself; bound 20 * 32 / 128 = 5 px.
    centre_shift = mats[:, :, :2] @ np.array([15.5, 15.5]) + mats[:, :, 2] - 15.5
    assert np.abs(centre_shift).max() <= 5.0 + 1e-9 and np.abs(centre_shift).max() > 4.5
    flip_rate = np.mean([f for _, f in draws])
    assert 0.4 < flip_rate < 0.6


def test_seeded_augment_is_reproducible():
    image = _marker_image(LAYOUT)
    a = augment(image, LAYOUT, ALL_VISIBLE, "five", np.random.default_rng(9))
    b = augment(image, LAYOUT, ALL_VISIBLE, "five", np.random.default_rng(9))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_bad_inputs_raise():
    image = np.zeros((16, 16, 3), np.uint8)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="points must have shape"):
        augment(image, np.zeros((4, 2)), np.ones(4, bool), "five", rng)
    with pytest.raises(ValueError, match="uint8"):
        augment(image.astype(np.float32), np.zeros((5, 2)), np.ones(5, bool), "five", rng)
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="border"):
        AugmentConfig(border="wrap")
