"""The S²LD networks (§3): shapes, gradients, the paper's architectural constraints, configs, VGG."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from s2ld_core.models import (
    PROFILES,
    ConfidenceDiscriminator,
    HeatmapDiscriminator,
    HeatmapGenerator,
    HighToLowDiscriminator,
    HighToLowGenerator,
    NetworkConfig,
    VGGPerceptual,
    build_vgg19_features,
    count_parameters,
    load_perceptual,
    network_config,
)
from s2ld_core.models.blocks import ResidualBlock

torch.set_num_threads(1)
K = 5  # landmarks in these tests: K + 1 = 6 heatmaps


def _images(b: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _heatmaps(b: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, K + 1, size, size, generator=torch.Generator().manual_seed(seed))


def _cases(profile: str):
    """(name, network, inputs, expected output shape) for every network, batch 2 at 32² (G1: 128²)."""
    cfg = network_config(profile)
    lr, hm = _images(2, 32), _heatmaps(2, 32)
    return [
        ("G1", HighToLowGenerator(cfg), (_images(2, 128),), (2, 3, 32, 32)),
        ("D1", HighToLowDiscriminator(cfg), (lr,), (2,)),
        ("G2", HeatmapGenerator(cfg, K), (lr,), (2, K + 1, 32, 32)),
        ("D2", HeatmapDiscriminator(cfg, K), (lr, hm), (2, K + 1, 32, 32)),
        ("D3", ConfidenceDiscriminator(cfg, K), (lr, hm), (2,)),
    ]


def _check_forward_backward(net: nn.Module, inputs, shape) -> None:
    net.train()
    out = net(*inputs)
    assert tuple(out.shape) == shape
    assert torch.isfinite(out).all()
    # A loss touching every output with varying weights, so that no parameter can get a zero-by-symmetry
    # gradient (e.g. a bias before a BatchNorm would; none should exist).
    weights = torch.linspace(-1, 1, out.numel()).view_as(out)
    (out * weights).sum().add(out.square().mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert sum(p.grad.abs().sum() for p in net.parameters()) > 0


@pytest.mark.parametrize("idx", range(5), ids=["G1", "D1", "G2", "D2", "D3"])
def test_quick_networks_forward_and_backward(idx):
    torch.manual_seed(0)
    _, net, inputs, shape = _cases("quick")[idx]
    _check_forward_backward(net, inputs, shape)


@pytest.mark.slow
def test_paper_networks_forward_and_backward():
    torch.manual_seed(0)
    for _, net, inputs, shape in _cases("paper"):
        _check_forward_backward(net, inputs, shape)


@pytest.mark.slow
def test_paper_g2_runs_as_hr_landmark_detector_at_128():
    net = HeatmapGenerator(network_config("paper"), K, in_size=128).eval()
    with torch.no_grad():
        out = net(_images(1, 128))
    assert out.shape == (1, K + 1, 128, 128) and torch.isfinite(out).all()


def test_quick_g2_and_d2_at_128_for_hr_ld():
    cfg = network_config("quick")
    g2, d2 = HeatmapGenerator(cfg, K, in_size=128), HeatmapDiscriminator(cfg, K, in_size=128)
    x = _images(1, 128)
    out = g2(x)
    assert out.shape == (1, K + 1, 128, 128)
    rec = d2(x, out)
    assert rec.shape == (1, K + 1, 128, 128)
    rec.square().mean().backward()
    assert all(p.grad is not None for p in g2.parameters())


def test_g2_has_16_residual_blocks_and_k_plus_1_outputs():
    for profile in PROFILES:
        net = HeatmapGenerator(network_config(profile), 68)
        assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 16
        assert net.net.head.out_channels == 69
        d2 = HeatmapDiscriminator(network_config(profile), 68)
        assert sum(isinstance(m, ResidualBlock) for m in d2.modules()) == 16
        assert d2.net.stem[0].in_channels == 3 + 69


def test_g1_topology_follows_section_3_1():
    cfg = network_config("paper")
    g1 = HighToLowGenerator(cfg)
    # 8 encoder residual blocks + 6 decoder residual units
    assert sum(isinstance(m, ResidualBlock) for m in g1.modules()) == 14
    # BatchNorm after every conv except the final RGB one
    convs = [m for m in g1.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in g1.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(convs) - 1
    # the bottleneck is 4x4 at 128² input: find the smallest activation
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o.shape[-1])) for m in g1.body]
    g1.eval()(_images(1, 128))
    for h in hooks:
        h.remove()
    assert min(sizes) == 4
    # the noise is projected by a linear layer to one 128x128 plane concatenated to the image
    assert g1.noise_proj.out_features == 128 * 128
    assert g1.body[0][0].in_channels == 4


def test_g1_output_in_image_range_and_noise_matters():
    torch.manual_seed(0)
    g1 = HighToLowGenerator(network_config("quick")).eval()
    hr = _images(2, 128) * 50  # far outside [-1, 1]: only tanh keeps the output in range
    with torch.no_grad():
        out = g1(hr)
        assert out.shape == (2, 3, 32, 32)
        assert out.min() >= -1 and out.max() <= 1
        hr = _images(2, 128)
        z = torch.randn(2, 16)
        assert torch.equal(g1(hr, z), g1(hr, z))
        assert not torch.allclose(g1(hr, z), g1(hr, -z))
        assert not torch.allclose(g1(hr), g1(hr))  # noise=None samples fresh noise


def test_bad_inputs_raise_clear_errors():
    cfg = network_config("quick")
    with pytest.raises(ValueError, match="G1 expects HR images"):
        HighToLowGenerator(cfg)(_images(1, 64))
    with pytest.raises(ValueError, match="noise"):
        HighToLowGenerator(cfg)(_images(1, 128), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="discriminator expects"):
        HighToLowDiscriminator(cfg)(_images(1, 64))
    with pytest.raises(ValueError, match="heatmaps"):
        ConfidenceDiscriminator(cfg, K)(_images(1, 32), _heatmaps(1, 32)[:, :3])
    with pytest.raises(ValueError, match="heatmaps"):
        HeatmapDiscriminator(cfg, K)(_images(2, 32), _heatmaps(1, 32))
    with pytest.raises(ValueError, match="divisible by 8"):
        HeatmapGenerator(cfg, K)(_images(1, 36))
    with pytest.raises(ValueError, match="in_size"):
        HeatmapGenerator(cfg, K, in_size=20)


def _sn_layers(net: nn.Module):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@pytest.mark.parametrize(
    "make", [lambda c: HighToLowDiscriminator(c), lambda c: ConfidenceDiscriminator(c, K)], ids=["D1", "D3"]
)
def test_spectral_norm_on_every_discriminator_layer(make):
    net = make(network_config("quick"))
    layers = _sn_layers(net)
    assert len(layers) >= 12
    for m in layers:
        assert parametrize.is_parametrized(m, "weight")
        assert type(m.parametrizations.weight[0]).__name__ == "_SpectralNorm"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    # eq. 1: the effective weight has spectral norm 1 (after a few power iterations)
    x = _images(2, 32)
    for _ in range(5):
        net(x) if isinstance(net, HighToLowDiscriminator) else net(x, _heatmaps(2, 32))
    net.eval()
    with torch.no_grad():
        for m in layers:
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
            assert sigma == pytest.approx(1.0, rel=0.05)


def test_d1_max_pools_only_in_last_three_stages():
    d1 = HighToLowDiscriminator(network_config("paper"))
    feats = d1.net.features
    from s2ld_core.models.blocks import SNResidualBlock

    assert sum(isinstance(m, nn.MaxPool2d) for m in feats) == 3
    # stage = residual block [→ max-pool] → conv: only the last three stages pool
    blocks = [i for i, m in enumerate(feats) if isinstance(m, SNResidualBlock)]
    pooled = [isinstance(feats[i + 1], nn.MaxPool2d) for i in blocks]
    assert pooled == [False, False, True, True, True]


def test_d3_is_d1_with_more_input_channels():
    cfg = network_config("paper")
    d1, d3 = HighToLowDiscriminator(cfg), ConfidenceDiscriminator(cfg, K)
    shapes1 = [tuple(p.shape) for p in d1.parameters()]
    shapes3 = [tuple(p.shape) for p in d3.parameters()]
    assert len(shapes1) == len(shapes3)
    diffs = [(a, b) for a, b in zip(shapes1, shapes3) if a != b]
    assert diffs == [((64, 3, 3, 3), (64, 3 + K + 1, 3, 3))]


def test_count_parameters():
    assert count_parameters(nn.Linear(3, 2)) == 8
    # spectral norm's u/v vectors are buffers, not parameters
    from s2ld_core.models.blocks import sn_linear

    assert count_parameters(sn_linear(3, 2)) == 8


# --- config ---------------------------------------------------------------------------------------


def test_config_round_trip_and_yaml_safety():
    for profile in PROFILES:
        cfg = network_config(profile)
        d = cfg.to_dict()
        assert json.loads(json.dumps(d)) == d
        assert NetworkConfig.from_dict(d) == cfg
        assert cfg.profile == profile


def test_config_errors():
    with pytest.raises(ValueError, match="paper, standard, quick"):
        network_config("huge")
    with pytest.raises(ValueError, match="unknown NetworkConfig keys"):
        NetworkConfig.from_dict({"g3_widths": [1]})
    with pytest.raises(ValueError, match="lr_size"):
        NetworkConfig(lr_size=64)
    with pytest.raises(ValueError, match="g2_widths"):
        NetworkConfig(g2_widths=())


def test_quick_profile_is_smaller_with_same_topology():
    q, p = network_config("quick"), network_config("paper")
    for field in ("g1_encoder_widths", "g1_decoder_widths", "d1_widths", "d3_widths", "g2_widths",
                  "d2_widths"):
        assert len(getattr(q, field)) == len(getattr(p, field))
    assert count_parameters(HeatmapGenerator(q, K)) * 20 < count_parameters(HeatmapGenerator(p, K))


# --- VGG ------------------------------------------------------------------------------------------

_TV_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_vgg19_features_match_torchvision_layout():
    feats = build_vgg19_features()
    assert len(feats) == 37  # torchvision vgg19().features has 37 modules
    keys = list(feats.state_dict())
    assert keys == [f"{i}.{k}" for i in _TV_CONV_INDICES for k in ("weight", "bias")]
    sd = feats.state_dict()
    assert sd["0.weight"].shape == (64, 3, 3, 3)
    assert sd["34.weight"].shape == (512, 512, 3, 3)
    assert isinstance(feats[36], nn.MaxPool2d) and isinstance(feats[8], nn.ReLU)


def test_vgg_loads_saved_random_weights(tmp_path):
    torch.manual_seed(0)
    feats = build_vgg19_features()
    full = {f"features.{k}": v for k, v in feats.state_dict().items()}
    full["classifier.0.weight"] = torch.zeros(4, 4)  # a full vgg19 state dict: ignored
    path = tmp_path / "vgg19.pth"
    torch.save(full, path)
    vgg = VGGPerceptual(path, layers=("relu1_2", "relu2_2"))
    x = _images(2, 32)
    with torch.no_grad():
        h = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        expected = feats[:9](h)
    out = vgg(x)
    assert [o.shape for o in out] == [(2, 64, 32, 32), (2, 128, 16, 16)]
    torch.testing.assert_close(out[1], expected)
    # frozen and always in eval mode, yet differentiable w.r.t. its input
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    xg = x.clone().requires_grad_(True)
    vgg(xg)[1].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    # bare keys (a `features` state dict) work too
    bare = tmp_path / "bare.pth"
    torch.save(feats[:9].state_dict(), bare)
    torch.testing.assert_close(load_perceptual(str(bare))(x)[0], expected)


def test_vgg_rejects_wrong_files(tmp_path):
    assert load_perceptual(None) is None
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        VGGPerceptual(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not a tensor file")
    with pytest.raises(ValueError, match="garbage.pth") as e:
        VGGPerceptual(garbage)
    assert "\n" not in str(e.value)
    other = tmp_path / "other.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3)).state_dict(), other)
    with pytest.raises(ValueError, match=r"other\.pth.*not VGG-19") as e:
        VGGPerceptual(other)
    assert "\n" not in str(e.value)
    shapes = tmp_path / "shapes.pth"
    sd = build_vgg19_features(8).state_dict()
    sd["0.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(sd, shapes)
    with pytest.raises(ValueError, match="wrong shapes"):
        VGGPerceptual(shapes)
    with pytest.raises(ValueError, match="unknown VGG-19 layers"):
        VGGPerceptual(shapes, layers=("relu9_9",))


def test_g1_blur_head_blurs_f_hr_by_a_sigma_drawn_from_the_noise():
    """``g1_blur``: a per-sample Gaussian of F(HR) — identity at σ→0, mean-preserving, smoother at
    larger σ, differentiable in σ — and a fresh G1 with it still starts close to F(HR)."""
    from dataclasses import replace

    import torch.nn.functional as F

    from s2ld_core.models.high_to_low import gaussian_blur_per_sample

    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.05, 2.0], requires_grad=True)
    y = gaussian_blur_per_sample(x, sigma)
    assert torch.allclose(y[0], x[0], atol=1e-6)
    assert torch.allclose(y[1].mean(), x[1].mean(), atol=2e-2) and y[1].std() < 0.3 * x[1].std()
    y[1].square().sum().backward()
    assert sigma.grad[1] != 0

    cfg = replace(network_config("quick"), g1_blur=True)
    g1 = HighToLowGenerator(cfg).eval()
    hr = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        out = g1(hr, torch.zeros(2, cfg.noise_dim))
    assert (out - F.avg_pool2d(hr, 4)).abs().mean() < 0.2  # F(HR), lightly blurred
    assert 0.3 < g1.blur_sigmas(torch.zeros(1, cfg.noise_dim)).item() < 1.5
    assert HighToLowGenerator(replace(cfg, g1_blur=False)).state_dict().keys() < g1.state_dict().keys()
