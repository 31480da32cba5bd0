"""Each loss of §3 against a value computed by hand on a tiny tensor."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from s2ld_core import losses as L
from s2ld_core.pixels import subsample_F_tensor

torch.set_num_threads(1)


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_eq3_g1_adversarial():
    d = t(2.0, 0.5, -1.0)
    # paper: relu(1 - d) = [0, 0.5, 2] -> mean 2.5 / 3
    assert L.eq3_g1_adversarial(d).item() == pytest.approx(2.5 / 3)
    # sagan: -mean(d) = -(1.5 / 3)
    assert L.eq3_g1_adversarial(d, "sagan").item() == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="paper, sagan"):
        L.eq3_g1_adversarial(d, "wgan")


def test_subsample_F_is_area_average():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # 2x2 blocks: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, (8+9+12+13)/4 = 10.5, (10+11+14+15)/4 = 12.5
    assert subsample_F_tensor(x, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert subsample_F_tensor(x, 4).item() == 7.5  # mean of 0..15
    assert subsample_F_tensor(torch.zeros(2, 3, 128, 128)).shape == (2, 3, 32, 32)
    assert torch.equal(subsample_F_tensor(x, 1), x)
    with pytest.raises(ValueError, match="power of 2"):
        subsample_F_tensor(x, 3)
    with pytest.raises(ValueError, match="divisible"):
        subsample_F_tensor(torch.zeros(1, 1, 6, 6), 4)


def test_eq4_pixel():
    hr = torch.arange(16.0).view(1, 1, 4, 4)  # F(hr) = [[2.5, 4.5], [10.5, 12.5]]
    gen = t(2.0, 4.0, 10.0, 13.0).view(1, 1, 2, 2)
    # differences 0.5, 0.5, 0.5, -0.5 -> squares 0.25 -> mean 0.25
    assert L.eq4_pixel(gen, hr).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="integer multiple"):
        L.eq4_pixel(torch.zeros(1, 1, 3, 3), hr)


def test_eq2_g1_loss():
    # 2*1 + 3*0.5 + 4*0.25 = 4.5
    assert L.eq2_g1_loss(t(1.0), t(0.5), t(0.25), 2.0, 3.0, 4.0).item() == pytest.approx(4.5)


def test_perceptual_loss():
    hr = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 3, 1, 1)
    gen = t(2.0, 4.0, 10.0, 13.0).view(1, 1, 2, 2).repeat(1, 3, 1, 1).requires_grad_(True)
    # features [x, 2x]: MSEs 0.25 and 4 * 0.25 = 1 -> mean 0.625
    loss = L.perceptual_loss(lambda x: [x, 2 * x], gen, hr)
    assert loss.item() == pytest.approx(0.625)
    loss.backward()
    assert gen.grad is not None and gen.grad.abs().sum() > 0
    seen = []
    L.perceptual_loss(lambda x: seen.append(tuple(x.shape)) or [x], gen, hr, size=8)
    assert seen == [(1, 3, 8, 8), (1, 3, 8, 8)]
    assert L.perceptual_loss(None, gen, hr).item() == 0.0


def test_eq6_d1_hinge():
    # real [2, 0]: relu(1 - d) = [0, 1] -> 0.5; fake [-2, 0.5]: relu(1 + d) = [0, 1.5] -> 0.75
    assert L.eq6_d1_hinge(t(2.0, 0.0), t(-2.0, 0.5)).item() == pytest.approx(1.25)


class _LinearD(nn.Module):
    """D(x) = w · flatten(x) + b, with ‖w‖ = scale: its input gradient has norm ``scale`` everywhere."""

    def __init__(self, numel: int, scale: float) -> None:
        super().__init__()
        w = torch.randn(numel, generator=torch.Generator().manual_seed(0))
        self.w = nn.Parameter(w / w.norm() * scale)
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def test_gradient_penalty_of_linear_discriminator():
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    unit = _LinearD(3 * 8 * 8, 1.0)
    assert L.gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-6)
    assert L.gradient_penalty(unit, real, fake, kind="r1").item() == pytest.approx(1.0, rel=1e-5)
    double = _LinearD(3 * 8 * 8, 2.0)
    gp = L.gradient_penalty(double, real, fake)  # (2 - 1)^2
    assert gp.item() == pytest.approx(1.0, rel=1e-5)
    assert L.gradient_penalty(double, real, fake, kind="r1").item() == pytest.approx(4.0, rel=1e-5)
    gp.backward()  # the penalty trains D: d/dw (‖w‖ - 1)^2 = 2 (‖w‖ - 1) w / ‖w‖ = w
    torch.testing.assert_close(double.w.grad, double.w.detach())
    with pytest.raises(ValueError, match="wgan-gp, r1"):
        L.gradient_penalty(unit, real, fake, kind="dragan")
    with pytest.raises(ValueError, match="shapes differ"):
        L.gradient_penalty(unit, real, fake[:2])


def test_eq5_d1_loss():
    assert L.eq5_d1_loss(t(1.25), t(0.5)).item() == pytest.approx(1.25 + 10 * 0.5)
    assert L.eq5_d1_loss(t(1.25), t(0.5), gp_weight=1.0).item() == pytest.approx(1.75)


def test_heatmap_sq_error_sums_channels_and_averages_pixels():
    a = t(1.0, 2.0, 3.0, 4.0).view(1, 2, 1, 2)  # channel 0: [1, 2], channel 1: [3, 4]
    b = torch.zeros_like(a)
    # pixel 0: 1 + 9 = 10; pixel 1: 4 + 16 = 20 -> mean 15
    assert L.heatmap_sq_error(a, b).item() == pytest.approx(15.0)
    a2, b2 = torch.cat([a, b]), torch.cat([b, b])  # a second, error-free image halves it
    assert L.heatmap_sq_error(a2, b2).item() == pytest.approx(7.5)
    for fn in (L.eq7_d2_real, L.eq8_d2_fake, L.eq12_g2_mse, L.eq13_g2_kp):
        assert fn(a, b).item() == pytest.approx(15.0)
    with pytest.raises(ValueError, match="shapes differ"):
        L.heatmap_sq_error(a, b[:, :1])


def test_eq9_d2_loss():
    assert L.eq9_d2_loss(t(3.0), t(2.0), 0.5).item() == pytest.approx(2.0)  # 3 - 0.5 * 2


def test_eq10_update_k_moves_by_exactly_lambda_times_balance():
    lam, gamma = 0.1, 0.5
    # gamma * l_real = 0.5 > l_fake = 0.3: k rises by 0.1 * 0.2 = 0.02
    assert L.eq10_update_k(0.5, 1.0, 0.3, lam, gamma) == pytest.approx(0.52, abs=1e-12)
    # gamma * l_real = 0.5 < l_fake = 0.9: k falls by 0.1 * 0.4 = 0.04
    assert L.eq10_update_k(0.5, 1.0, 0.9, lam, gamma) == pytest.approx(0.46, abs=1e-12)
    # clipped to [0, 1]
    assert L.eq10_update_k(0.99, 1.0, 0.0, 1.0, 1.0) == 1.0
    assert L.eq10_update_k(0.01, 0.0, 1.0, 1.0, 1.0) == 0.0
    assert isinstance(L.eq10_update_k(t(0.5)[0], t(1.0)[0], t(0.3)[0], lam, gamma), float)
    k = 0.0
    for l_fake in (0.1, 2.0, 0.4, 5.0, 0.0, 0.0, 3.0):
        k = L.eq10_update_k(k, 1.0, l_fake, 0.3, 0.7)
        assert 0.0 <= k <= 1.0
    with pytest.raises(ValueError, match="non-finite"):
        L.eq10_update_k(0.5, float("nan"), 0.3, lam, gamma)


def test_began_convergence():
    assert L.began_convergence(1.0, 0.3, 0.5) == pytest.approx(1.2)  # 1 + |0.5 - 0.3|


def test_eq11_d3_least_squares():
    gt, pred_gen, pred_real = t(1.0, 0.0), t(0.0, 1.0), t(2.0)
    # (0 + 1) / 2 + (0 + 1) / 2 + 4 = 5
    assert L.eq11_d3_loss(gt, pred_gen, pred_real).item() == pytest.approx(5.0)
    assert L.eq11_d3_loss(gt, pred_gen).item() == pytest.approx(1.0)


def test_eq14_g2_conf():
    # set 1: ((1-1)^2 + (0-1)^2) / 2 = 0.5; set 2: (3-1)^2 = 4; mean 2.25
    assert L.eq14_g2_conf(t(1.0, 0.0), t(3.0)).item() == pytest.approx(2.25)
    assert L.eq14_g2_conf(t(1.0, 0.0)).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least one"):
        L.eq14_g2_conf()


def test_eq15_g2_loss():
    # 1*2 + 0.5*4 + 0.1*10 = 5
    assert L.eq15_g2_loss(t(2.0), t(4.0), t(10.0), 1.0, 0.5, 0.1).item() == pytest.approx(5.0)


def test_eq15_ordered_weights_lower_b_and_c_only_as_far_as_the_ordering_needs():
    # a·l_MSE = 0.13; b·l_kp = 0.1·0.03 = 0.003 ≤ 0.065 stays; c·l_conf = 0.05 > 0.0015 → c = 0.0015
    b, c = L.eq15_ordered_weights(1.0, 0.1, 0.05, l_mse=0.13, l_kp=0.03, l_conf=1.0)
    assert b == pytest.approx(0.1) and c == pytest.approx(0.5 * 0.1 * 0.03 / 1.0)
    # l_kp large: b falls to 0.5·0.2/4 = 0.025, and c follows the lowered b: 0.5·0.025·4/2 = 0.025
    b, c = L.eq15_ordered_weights(1.0, 0.1, 0.05, l_mse=0.2, l_kp=4.0, l_conf=2.0)
    assert (b, c) == (pytest.approx(0.025), pytest.approx(0.025))
    assert 1.0 * 0.2 > b * 4.0 > c * 2.0
    # already ordered with room: nothing changes; no D2 and no D3 (l_kp = l_conf = 0): nothing changes
    assert L.eq15_ordered_weights(1.0, 0.1, 0.001, 1.0, 0.1, 0.1) == (0.1, 0.001)
    assert L.eq15_ordered_weights(1.0, 0.1, 0.05, 0.3, 0.0, 0.0) == (0.1, 0.05)
    with pytest.raises(ValueError, match="ratio"):
        L.eq15_ordered_weights(1.0, 0.1, 0.05, 0.3, 0.1, 0.1, ratio=0.0)
