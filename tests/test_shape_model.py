"""Point-distribution model: the closed-form similarity fit by hand, exact recovery of shapes in the
model's span, robustness to wild peaks, and the checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest

from s2ld_core.shape_model import POSE_STARTS, PointDistributionModel, _similarity_fit


def test_similarity_fit_by_hand():
    # dst = 2·R(90°)·src + (1, 1): (0,0)→(1,1), (1,0)→(1,3).
    src = np.array([[[0.0, 0.0], [1.0, 0.0]]])
    dst = np.array([[[1.0, 1.0], [1.0, 3.0]]])
    A, t = _similarity_fit(src, dst, np.ones((1, 2)))
    np.testing.assert_allclose(A[0], [[0.0, -2.0], [2.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(t[0], [1.0, 1.0], atol=1e-12)


def _shapes(n=400, k=20, seed=0):
    """Shapes with two modes of variation (width, mouth opening), randomly posed."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    base = np.stack([np.cos(angles), np.sin(angles)], -1)
    width = rng.normal(0, 0.15, n)[:, None]
    mouth = rng.normal(0, 0.1, n)[:, None]
    shapes = base[None].repeat(n, 0)
    shapes[..., 0] *= 1 + width
    shapes[..., 1] += mouth * (base[None, :, 1] < 0)
    theta = rng.uniform(-0.4, 0.4, n)
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    return np.einsum("nij,nkj->nki", rot, shapes) * rng.uniform(8, 12, (n, 1, 1)) + 16


def test_recovers_shapes_in_its_span_exactly():
    shapes = _shapes()
    pdm = PointDistributionModel.fit(shapes[:300])
    assert 1 <= len(pdm.variances) <= 4
    held_out = shapes[300:]
    fitted = pdm.fit_points(held_out, np.ones(held_out.shape[:2]), prior=0.0, robust_px=None, limit=10.0)
    assert np.abs(fitted - held_out).max() < 0.05


def test_low_confidence_outliers_do_not_drag_the_shape():
    shapes = _shapes()
    pdm = PointDistributionModel.fit(shapes[:300])
    truth = shapes[300:340]
    noisy = truth.copy()
    weights = np.ones(truth.shape[:2])
    rng = np.random.default_rng(1)
    for i in range(len(noisy)):
        bad = rng.choice(truth.shape[1], 5, replace=False)
        noisy[i, bad] = rng.uniform(0, 32, (5, 2))  # scattered peaks of a weak heatmap
        weights[i, bad] = 0.05
    raw_error = np.linalg.norm(noisy - truth, axis=-1).mean()
    fitted_error = np.linalg.norm(pdm.fit_points(noisy, weights) - truth, axis=-1).mean()
    assert raw_error > 2.0
    assert fitted_error < 0.3


def test_round_trip_and_single_shape():
    pdm = PointDistributionModel.fit(_shapes())
    again = PointDistributionModel.from_dict(pdm.to_dict())
    one = _shapes(1, seed=5)[0]
    np.testing.assert_allclose(
        pdm.fit_points(one, np.ones(20)), again.fit_points(one, np.ones(20)), atol=1e-5
    )
    assert pdm.fit_points(one, np.ones(20)).shape == (20, 2)


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="N >= 3"):
        PointDistributionModel.fit(np.zeros((2, 5, 2)))
    pdm = PointDistributionModel.fit(_shapes())
    with pytest.raises(ValueError, match="expected"):
        pdm.fit_points(np.zeros((1, 7, 2)), np.ones((1, 7)))


def test_all_peaks_on_one_spot_gives_a_finite_shape():
    pdm = PointDistributionModel.fit(_shapes())
    with np.errstate(all="raise"):
        fitted = pdm.fit_points(np.zeros((20, 2)), np.ones(20))  # exactly zero spread: scale 0
    assert np.isfinite(fitted).all() and np.abs(fitted).max() < 1.0


def _yaw_shapes(n=400, seed=0, yaw=None):
    """Outline + a vertical 'nose' that swings sideways with yaw (the first mode) while the outline
    narrows, as a turned head's points do."""
    rng = np.random.default_rng(seed)
    a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    points = np.concatenate([np.stack([np.cos(a), np.sin(a)], -1),
                             np.stack([np.zeros(8), np.linspace(-0.5, 0.5, 8)], -1)])
    y = rng.normal(0, 0.3, n) if yaw is None else np.full(n, yaw)
    shapes = points[None].repeat(n, 0)
    shapes[:, 16:, 0] += y[:, None]
    shapes[:, :16, 0] *= 1 - 0.3 * np.abs(y)[:, None]
    shapes[:, :, 1] *= 1 + rng.normal(0, 0.05, n)[:, None]
    return shapes * 10 + 16


def test_pose_starts_reach_a_turned_face_the_mean_start_misses():
    pdm = PointDistributionModel.fit(_yaw_shapes())
    turned = _yaw_shapes(20, seed=1, yaw=0.9)  # 3σ of yaw, the edge of the model's range
    weights = np.ones(turned.shape[:2])
    one = np.linalg.norm(pdm.fit_points(turned, weights) - turned, axis=-1).mean()
    several = np.linalg.norm(pdm.fit_points(turned, weights, starts=POSE_STARTS) - turned, axis=-1).mean()
    assert one > 0.25 and several < 0.2  # pixels, on faces ~20 px wide


def test_each_face_keeps_the_start_with_the_lowest_robust_cost():
    pdm = PointDistributionModel.fit(_yaw_shapes())
    rng = np.random.default_rng(3)
    faces = _yaw_shapes(30, seed=2) + rng.normal(0, 0.7, (30, 24, 2))
    weights = rng.uniform(0.05, 1.0, (30, 24))

    def cost(fitted):
        return (weights * np.log1p(((fitted - faces) ** 2).sum(-1) / 1.5**2)).sum(-1)

    singles = np.stack([pdm.fit_points(faces, weights, starts=(s,)) for s in POSE_STARTS])
    chosen = pdm.fit_points(faces, weights, starts=POSE_STARTS)
    best = np.stack([cost(f) for f in singles]).argmin(0)
    np.testing.assert_allclose(chosen, singles[best, np.arange(30)], atol=1e-4)
    default = pdm.fit_points(faces, weights)
    np.testing.assert_array_equal(pdm.fit_points(faces, weights, starts=(0.0,)), default)
    with pytest.raises(ValueError, match="starts"):
        pdm.fit_points(faces, weights, starts=())
