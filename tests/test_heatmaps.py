"""Heatmap encode/decode: exact values, shapes, sub-pixel round trips, borders, invisibles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2ld_core.heatmaps import DECODE_METHODS, decode_heatmaps, encode_heatmaps


def _round_trip_errors(points: np.ndarray, size: int, sigma: float, method: str = "parabola") -> np.ndarray:
    decoded, _ = decode_heatmaps(encode_heatmaps(points, size, sigma), method=method)
    return np.linalg.norm(decoded.numpy() - points, axis=-1)


def test_encode_values_by_hand():
    # One point at (3.5, 2); sigma 1 -> value at pixel (x=3, y=2) is exp(-0.25/2), at (5, 4) exp(-(2.25+4)/2).
    hm = encode_heatmaps(np.array([[3.5, 2.0]], np.float32), size=8, sigma=1.0)
    assert hm.shape == (2, 8, 8) and hm.dtype == torch.float32
    assert hm[0, 2, 3].item() == pytest.approx(math.exp(-0.125), rel=1e-6)
    assert hm[0, 4, 5].item() == pytest.approx(math.exp(-3.125), rel=1e-6)
    # Background is 1 - max over point channels.
    torch.testing.assert_close(hm[1], 1.0 - hm[0])


def test_background_is_one_minus_max_of_several_points():
    pts = torch.tensor([[[4.0, 4.0], [6.0, 5.0]], [[1.0, 1.0], [9.0, 9.0]]])
    hm = encode_heatmaps(pts, size=12, sigma=1.5)
    assert hm.shape == (2, 3, 12, 12)
    torch.testing.assert_close(hm[:, 2], 1.0 - hm[:, :2].amax(dim=1))
    # A point on a pixel centre peaks at exactly 1 there.
    assert hm[0, 0, 4, 4].item() == pytest.approx(1.0)


def test_invisible_and_nan_points_give_zero_channels():
    pts = np.array([[5.0, 5.0], [np.nan, 3.0], [8.0, 2.0]], np.float32)
    hm = encode_heatmaps(pts, size=10, sigma=1.0, visible=np.array([True, True, False]))
    assert torch.isfinite(hm).all()
    assert hm[1].abs().max() == 0 and hm[2].abs().max() == 0
    torch.testing.assert_close(hm[3], 1.0 - hm[0])
    _, conf = decode_heatmaps(hm)
    assert conf.tolist() == pytest.approx([1.0, 0.0, 0.0])


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_round_trip_interior_subpixel(sigma):
    rng = np.random.default_rng(1)
    pts = rng.uniform(2, 29, size=(64, 10, 2)).astype(np.float32)
    err = _round_trip_errors(pts, 32, sigma)
    assert err.mean() < 0.05  # requirement; measured < 1e-6 (see module docstring)
    assert err.max() < 1e-3


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_round_trip_near_and_beyond_border(sigma):
    # Border windows shift inward; exact for Gaussians up to 1 px outside the map.
    pts = np.array([[0.0, 0.0], [31.0, 31.0], [-0.4, 15.3], [31.45, 0.2], [-1.0, 30.7], [12.6, 31.9]],
                   np.float32)
    err = _round_trip_errors(pts, 32, sigma)
    assert err.max() < 1e-3, err


def test_far_outside_point_is_clamped_one_pixel_out():
    decoded, _ = decode_heatmaps(encode_heatmaps(np.array([[-4.0, 10.0]], np.float32), 16, 1.0))
    assert decoded[0].tolist() == pytest.approx([-1.0, 10.0], abs=1e-4)


def test_parabola_beats_other_methods():
    rng = np.random.default_rng(2)
    pts = rng.uniform(2, 29, size=(32, 10, 2)).astype(np.float32)
    means = {m: _round_trip_errors(pts, 32, 1.5, m).mean() for m in DECODE_METHODS}
    assert means["parabola"] < means["softargmax"] < means["argmax"]
    assert 0.25 < means["argmax"] < 0.5  # nearest-pixel error of uniform offsets is ~0.38


def test_decode_is_amplitude_invariant_and_ignores_background():
    pts = torch.tensor([[[7.3, 9.8], [20.1, 4.4]]])
    hm = encode_heatmaps(pts, 32, 1.0)
    hm[:, :2] *= 0.4
    hm[:, 2] = 5.0  # a loud background must not matter
    decoded, conf = decode_heatmaps(hm)
    torch.testing.assert_close(decoded, pts, atol=1e-4, rtol=0)
    assert (conf <= 0.4 + 1e-6).all() and (conf > 0.3).all()


def test_confidence_clipped_and_numpy_in_numpy_out():
    hm = np.zeros((2, 9, 9), np.float32)
    hm[0, 4, 4] = 3.0
    hm[0, 4, 3] = hm[0, 4, 5] = hm[0, 3, 4] = hm[0, 5, 4] = 1.0
    pts, conf = decode_heatmaps(hm)
    assert isinstance(pts, np.ndarray) and pts.shape == (1, 2) and conf.shape == (1,)
    assert conf[0] == 1.0
    assert pts[0].tolist() == pytest.approx([4.0, 4.0])


def test_num_points_selects_leading_channels():
    pts = torch.tensor([[[3.2, 4.7], [10.0, 11.0], [6.5, 2.5]]])
    hm = encode_heatmaps(pts, 16, 1.0)
    decoded, conf = decode_heatmaps(hm, num_points=2)
    assert decoded.shape == (1, 2, 2) and conf.shape == (1, 2)
    torch.testing.assert_close(decoded, pts[:, :2], atol=1e-4, rtol=0)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="shape"):
        encode_heatmaps(np.zeros((3,)), 8, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        encode_heatmaps(np.zeros((1, 2)), 8, 0.0)
    with pytest.raises(ValueError, match="shape"):
        decode_heatmaps(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="3x3"):
        decode_heatmaps(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="method"):
        decode_heatmaps(torch.zeros(1, 2, 8, 8), method="magic")


def test_soft_argmax_finds_confident_peaks_and_is_differentiable():
    from s2ld_core.heatmaps import soft_argmax

    pts = torch.tensor([[[5.25, 20.5], [16.0, 16.0], [27.7, 3.1]]])
    maps = encode_heatmaps(pts, 32, 1.0).requires_grad_(True)
    found = soft_argmax(maps, 3)
    np.testing.assert_allclose(found.detach(), pts, atol=0.1)
    found.sum().backward()
    assert maps.grad[:, :3].abs().sum() > 0 and maps.grad[:, 3].abs().sum() == 0
    # the gradient stays in the 5x5 window of each peak: far mass cannot move a point
    near = maps.grad[0, 1, 14:19, 14:19].abs().sum()
    assert near > 0 and torch.isclose(maps.grad[0, 1].abs().sum(), near)
    # amplitude drops out, and a 2 % noise floor barely moves a weak peak
    floor = 0.02 * torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    weak = soft_argmax(encode_heatmaps(pts, 32, 1.0) * 0.3 + floor, 3)
    np.testing.assert_allclose(weak, pts, atol=0.25)


def test_numpy_and_torch_decoding_agree():
    """numpy input takes a numpy path (faster for one face on a CPU); it must give the same points."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1.5, 32.5, (8, 19, 2))
    hm = encode_heatmaps(pts, 32, 1.0).numpy() + rng.normal(0, 0.03, (8, 20, 32, 32)).astype(np.float32)
    hm[3, 5] = 0.0  # an all-zero (invisible) channel
    ref_p, ref_c = decode_heatmaps(torch.from_numpy(hm))
    got_p, got_c = decode_heatmaps(hm)
    assert isinstance(got_p, np.ndarray) and got_p.dtype == np.float32 and got_p.shape == (8, 19, 2)
    np.testing.assert_allclose(got_p, ref_p.numpy(), atol=1e-5)
    np.testing.assert_allclose(got_c, ref_c.numpy(), atol=1e-7)
    one_p, _ = decode_heatmaps(hm[0])
    np.testing.assert_allclose(one_p, ref_p[0].numpy(), atol=1e-5)
