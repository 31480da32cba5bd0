"""Degradations: exact pooling, exact point mapping, markers staying under their points, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from s2ld_core.data.degrade import (
    DEGRADATIONS,
    TARGET_CAMERA,
    TRAIN_CAMERA,
    CameraChainConfig,
    apply_camera_params,
    bicubic_down,
    camera_chain,
    degrade,
    motion_blur,
    motion_kernel,
    ranges_overlap,
    scale_severity,
    subsample_F,
    turbulence_warp,
)

# A chain that only changes geometry: blur, noise, JPEG and colour are all off.
GEOMETRY_ONLY = CameraChainConfig(
    blur_sigma=(0.0, 0.0), noise_sigma=(0.0, 0.0), jpeg_quality=None, gain=((1.0, 1.0),) * 3,
    offset=((0.0, 0.0),) * 3, saturation=(1.0, 1.0), gamma=(1.0, 1.0),
)


def blob_image(size: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    """A dark image with one bright Gaussian dot centred at a sub-pixel position."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    g = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat(np.round(10 + 240 * g).astype(np.uint8)[..., None], 3, axis=2)


def blob_centre(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid of the bright part (above the dark background) of an RGB image."""
    v = image.astype(np.float64).mean(axis=2)
    v = np.clip(v - np.median(v) - 0.2 * (v.max() - np.median(v)), 0, None)
    ys, xs = np.mgrid[0 : v.shape[0], 0 : v.shape[1]]
    return np.array([(xs * v).sum() / v.sum(), (ys * v).sum() / v.sum()])


def random_face(seed: int = 0, size: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------- F / bicubic


def test_F_is_the_hand_computed_block_mean():
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, :4, 0] = np.arange(16).reshape(4, 4)  # mean 7.5 -> 8 (ties round up)
    img[:, 4:, 0] = 200
    img[:, :4, 1] = [[0, 0, 0, 0]] * 3 + [[4, 4, 4, 4]]  # mean 1.0
    img[:, 4:, 2] = [[255, 0, 0, 0]] * 4  # mean 63.75 -> 64
    out, _ = subsample_F(img, factor=4)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [8, 1, 0])
    np.testing.assert_array_equal(out[0, 1], [200, 0, 64])


def test_F_maps_points_by_the_resize_rule():
    _, pts = subsample_F(random_face(), np.array([[0, 0], [127, 127], [63.5, 10]], np.float32))
    np.testing.assert_allclose(pts, [[-0.375, -0.375], [31.375, 31.375], [15.5, 2.125]], atol=1e-6)
    assert pts.dtype == np.float32


def test_F_rejects_sizes_not_divisible_by_the_factor():
    with pytest.raises(ValueError, match="not divisible by factor 4"):
        subsample_F(np.zeros((30, 32, 3), np.uint8))


def test_bicubic_maps_points_and_shapes():
    img = random_face(size=128)
    out, pts = bicubic_down(img, np.array([[0, 0], [127, 127]], np.float32), size=32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(pts, [[-0.375, -0.375], [31.375, 31.375]], atol=1e-6)
    out, pts = bicubic_down(np.zeros((64, 128, 3), np.uint8), np.array([[127, 63]], np.float32), size=32)
    np.testing.assert_allclose(pts, [[31.375, 31.25]], atol=1e-6)  # y scale is 0.5 here


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        bicubic_down(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        subsample_F(random_face(), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------ camera chain


@pytest.mark.parametrize("lr_size", [14, 17, 23, 28])
def test_camera_chain_marker_stays_under_the_mapped_point(lr_size):
    centre = (83.3, 41.7)
    config = CameraChainConfig(**{**GEOMETRY_ONLY.__dict__, "lr_size": (lr_size, lr_size)})
    out, pts, params = camera_chain(blob_image(128, centre, 5.0), np.array([centre], np.float32),
                                    np.random.default_rng(0), config)
    assert params["lr_size"] == lr_size and out.shape == (32, 32, 3)
    # well within the 1 px asked for, and tight enough to catch a missing half-pixel (0.5 px off here)
    assert np.linalg.norm(blob_centre(out) - pts[0]) < 0.3
    # and the mapping is the composition of both resizes, i.e. one resize 128 -> 32
    np.testing.assert_allclose(pts[0], (np.array(centre) + 0.5) / 4 - 0.5, atol=1e-4)


def test_camera_chain_with_everything_on_keeps_the_marker_close():
    centre = (50.0, 70.0)
    out, pts, _ = camera_chain(blob_image(128, centre, 6.0), np.array([centre], np.float32),
                               np.random.default_rng(3), TRAIN_CAMERA)
    assert np.linalg.norm(blob_centre(out) - pts[0]) < 1.0


def test_camera_chain_is_deterministic_by_seed_and_samples_within_ranges():
    img, pts = random_face(1), np.array([[10, 20]], np.float32)
    a = camera_chain(img, pts, np.random.default_rng(7), TARGET_CAMERA)
    b = camera_chain(img, pts, np.random.default_rng(7), TARGET_CAMERA)
    c = camera_chain(img, pts, np.random.default_rng(8), TARGET_CAMERA)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2] and a[2] != c[2]
    assert not np.array_equal(a[0], c[0])
    p = a[2]
    assert 15 <= p["lr_size"] <= 19 and 30 <= p["jpeg_quality"] <= 55
    assert TARGET_CAMERA.blur_sigma[0] <= p["blur_sigma"] <= TARGET_CAMERA.blur_sigma[1]
    assert all(lo <= g <= hi for g, (lo, hi) in zip(p["gain"], TARGET_CAMERA.gain))


def test_noise_and_colour_stages_do_change_the_image():
    img = random_face(2)
    base = {"blur_sigma": 0.0, "lr_size": 20, "noise_sigma": 0.0, "jpeg_quality": None, "gain": [1.0] * 3,
            "offset": [0.0] * 3, "saturation": 1.0, "gamma": 1.0, "final_size": 32}
    clean, _ = apply_camera_params(img, None, base, np.random.default_rng(0))
    for change in ({"noise_sigma": 8.0}, {"jpeg_quality": 20}, {"gain": [1.2, 1.0, 0.8]}, {"gamma": 1.4}):
        out, _ = apply_camera_params(img, None, {**base, **change}, np.random.default_rng(0))
        assert np.abs(out.astype(int) - clean).mean() > 1.0, change


def test_target_camera_overlaps_nothing_in_train_camera():
    assert ranges_overlap(TARGET_CAMERA, TRAIN_CAMERA) == []
    assert ranges_overlap(TRAIN_CAMERA, TARGET_CAMERA) == []
    assert "lr_size" in ranges_overlap(TRAIN_CAMERA, TRAIN_CAMERA)
    shifted = CameraChainConfig(**{**TARGET_CAMERA.__dict__, "lr_size": (14, 20)})
    assert ranges_overlap(shifted, TRAIN_CAMERA) == ["lr_size"]
    green = CameraChainConfig(**{**TARGET_CAMERA.__dict__, "gain": ((1.1, 1.2), (0.9, 1.0), (0.7, 0.8))})
    assert ranges_overlap(green, TRAIN_CAMERA) == ["gain[G]"]


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="lo > hi"):
        CameraChainConfig(noise_sigma=(3.0, 1.0))
    with pytest.raises(ValueError, match="1..100"):
        CameraChainConfig(jpeg_quality=(0, 50))
    with pytest.raises(ValueError, match="three"):
        CameraChainConfig(gain=(0.9, 1.1))
    assert CameraChainConfig.from_dict(TARGET_CAMERA.to_dict()) == TARGET_CAMERA


def test_scale_severity_moves_ranges_towards_and_away_from_neutral():
    assert scale_severity(TARGET_CAMERA, 1.0) == TARGET_CAMERA
    zero = scale_severity(TARGET_CAMERA, 0.0)
    assert zero.lr_size == (32, 32) and zero.noise_sigma == (0.0, 0.0) and zero.jpeg_quality is None
    assert zero.gain == ((1.0, 1.0),) * 3 and zero.gamma == (1.0, 1.0)
    double = scale_severity(TRAIN_CAMERA, 2.0)
    assert double.lr_size == (8, 24) and double.noise_sigma == (0.0, 6.0)
    assert scale_severity(TARGET_CAMERA, 3.0).lr_size[0] == 4  # clipped to a usable size


# ------------------------------------------------------------------------------- motion, turbulence


def test_motion_kernel_is_centred_and_normalised():
    for length, angle in [(3, 0), (7.5, 33), (9, 90), (5, 145)]:
        k = motion_kernel(length, angle).astype(np.float64)
        c = k.shape[0] // 2
        ys, xs = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
        assert abs(k.sum() - 1) < 1e-5
        assert abs((k * xs).sum() - c) < 1e-5 and abs((k * ys).sum() - c) < 1e-5
    horizontal = motion_kernel(5, 0)
    assert horizontal[horizontal.shape[0] // 2].sum() > 0.99  # a horizontal line blurs along x only


def test_motion_blur_smears_without_moving_the_marker():
    centre = (60.0, 64.0)
    out, pts = motion_blur(blob_image(128, centre, 2.0), np.array([centre], np.float32),
                           np.random.default_rng(0), length=9, angle=30)
    np.testing.assert_array_equal(pts, [centre])
    assert np.linalg.norm(blob_centre(out) - centre) < 0.3
    assert out.max() < 240  # it did blur


def test_turbulence_moves_points_with_the_content():
    rng_seed, centre = 5, (64.0, 60.0)
    out, pts = turbulence_warp(blob_image(128, centre, 2.5), np.array([centre], np.float32),
                               np.random.default_rng(rng_seed), strength=4.0, scale=20.0)
    moved = np.linalg.norm(pts[0] - centre)
    assert moved > 1.5, "pick a seed where the field actually moves the marker"
    assert np.linalg.norm(blob_centre(out) - pts[0]) < 0.3
    again, _ = turbulence_warp(blob_image(128, centre, 2.5), None, np.random.default_rng(rng_seed), 4.0, 20.0)
    np.testing.assert_array_equal(out, again)


# ----------------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_registry_entries_give_32px_uint8_and_are_deterministic(name):
    img, pts = random_face(4), np.array([[30.0, 40.0], [100.0, 90.0]], np.float32)
    a_img, a_pts = DEGRADATIONS[name](img, pts, np.random.default_rng(11))
    b_img, b_pts = degrade(name, img, pts, np.random.default_rng(11))
    assert a_img.shape == (32, 32, 3) and a_img.dtype == np.uint8
    assert a_pts.shape == (2, 2) and a_pts.dtype == np.float32
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_pts, b_pts)
    out, none = DEGRADATIONS[name](img, None, np.random.default_rng(11))
    assert none is None and out.shape == (32, 32, 3)


def test_registry_marker_test_through_turbulence_and_f():
    centre = (70.0, 50.0)
    out, pts = degrade("turbulence", blob_image(128, centre, 5.0), np.array([centre], np.float32),
                       np.random.default_rng(1))
    assert np.linalg.norm(blob_centre(out) - pts[0]) < 0.5


def test_degrade_strength_changes_severity():
    img = random_face(6)
    ref, _ = subsample_F(img)  # strength 0 leaves only the area resize 128 -> 32, i.e. F
    mild, _ = degrade("target-camera", img, None, np.random.default_rng(0), strength=0.0)
    harsh, _ = degrade("target-camera", img, None, np.random.default_rng(0), strength=1.0)
    d_mild, d_harsh = (np.abs(x.astype(int) - ref).mean() for x in (mild, harsh))
    assert d_mild < 1 and d_harsh > 10
    still, _ = degrade("motion", img, None, np.random.default_rng(0), strength=0.0)
    np.testing.assert_array_equal(still, subsample_F(img)[0])


def test_unknown_degradation_lists_the_names():
    known = "known: F, bicubic, camera, camera-family, motion, target-camera, turbulence"
    with pytest.raises(ValueError, match=known):
        degrade("pixelate", random_face(), None, np.random.default_rng(0))


# ----------------------------------------------------------------------------- camera family


def test_camera_family_never_draws_the_held_out_camera():
    from s2ld_core.data.degrade import CAMERA_FAMILY, sample_camera_params, sample_family_params

    rng = np.random.default_rng(0)
    raw = [sample_camera_params(CAMERA_FAMILY.chain, rng) for _ in range(20_000)]
    assert sum(CAMERA_FAMILY.excluded(p) for p in raw) > 50  # the family's ranges do cover the target's
    drawn = [sample_family_params(CAMERA_FAMILY, rng) for _ in range(20_000)]
    assert not any(CAMERA_FAMILY.excluded(p) for p in drawn)
    box = dict(TARGET_CAMERA.ranges())
    inside = [all(box[n][0] <= p[n] <= box[n][1] for n in CAMERA_FAMILY.exclude_on) for p in drawn]
    assert not any(inside)


def test_random_camera_maps_points_exactly_and_is_seeded():
    from s2ld_core.data.degrade import random_camera

    img = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    pts = np.array([[10.0, 20.0], [63.5, 64.0], [120.25, 3.0]], np.float32)
    out, mapped = random_camera(img, pts, np.random.default_rng(3))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(mapped, (pts + 0.5) / 4 - 0.5, atol=1e-5)
    again, _ = random_camera(img, pts, np.random.default_rng(3))
    np.testing.assert_array_equal(out, again)
    # A 32-px input (e.g. G1's output) stays 32 px with its points unchanged.
    small, same = random_camera(out, mapped, np.random.default_rng(4))
    assert small.shape == (32, 32, 3)
    np.testing.assert_allclose(same, mapped, atol=1e-5)
