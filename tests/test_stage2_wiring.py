"""Stage 2's wiring, setting by setting: which network sees which batch, which loss each optimiser
steps, and which parameters each loss reaches.

The settings of §4.1 differ only in this wiring (S1/S2: eq. 12; S3: + D2, eq. 7–10 and 13; S4: + D3,
eq. 11 and 14), so a notebook that only reads the final numbers would pass with D3 fed the wrong
batch or with a discriminator trained on G2's loss. Here one real ``Stage2.step`` runs on random
faces with a random-weight G1, and every optimiser update is intercepted *before* it happens:
``torch.autograd.grad`` tells which networks' parameters the loss reaches, forward hooks tell which
images each network saw.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2ld_core import losses
from s2ld_core.data.datasets import LabelledFaces
from s2ld_core.models import HighToLowGenerator, network_config
from s2ld_core.train.config import profile_config
from s2ld_core.train.runner import DistContext, RunState, seed_step
from s2ld_core.train.stage2 import Stage2

B = 4

# setting -> {optimiser stepped: the loss it steps, the networks that loss reaches}
EXPECTED = {
    "S1": {"G2": ("l_G2", {"G2"})},
    "S2": {"G2": ("l_G2", {"G2"})},
    "S3": {"D2": ("l_D2", {"D2"}), "G2": ("l_G2", {"G2"})},
    "S4": {"D2": ("l_D2", {"D2"}), "D3": ("l_D3", {"D3"}), "G2": ("l_G2", {"G2"})},
    "hrld": {"G2": ("l_G2", {"G2"})},
}


def _faces(n: int, size: int = 128) -> LabelledFaces:
    rng = np.random.default_rng(0)
    return LabelledFaces(
        rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        rng.uniform(0.3 * size, 0.7 * size, (n, 19, 2)).astype(np.float32),
        np.ones((n, 19), bool),
        np.arange(n),
        "aflw19",
    )


def _stage(setting: str, lr_augment: str | None = None, augment: bool = True, **stage2) -> Stage2:
    torch.manual_seed(0)
    cfg = profile_config("quick", "stage2")
    cfg.stage2.setting = setting
    cfg.augment = augment
    if lr_augment is not None:
        cfg.stage2.lr_augment = lr_augment
    for name, value in stage2.items():
        setattr(cfg.stage2, name, value)
    cfg.optim.batch_size = B
    real = np.random.default_rng(1).integers(0, 256, (2 * B, 32, 32, 3), dtype=np.uint8)
    g1 = HighToLowGenerator(network_config("quick")).eval() if setting in ("S2", "S3", "S4") else None
    stage = Stage2(cfg, _faces(2 * B), real, torch.device("cpu"), DistContext(), g1=g1)
    stage.total_steps = 10
    return stage


class Probe:
    """Records, per optimiser update, the loss value and the networks its gradient reaches; and per
    network the image batches it was called on."""

    def __init__(self, stage: Stage2) -> None:
        self.stage = stage
        self.updates: list[tuple[str, float, set[str]]] = []
        self.seen: dict[str, list[torch.Tensor]] = {name: [] for name in stage.networks}
        update = stage.update

        def probed(name: str, loss: torch.Tensor) -> None:
            nets = {n: [p for p in m.parameters() if p.requires_grad] for n, m in stage.networks.items()}
            flat = [p for ps in nets.values() for p in ps]
            grads = torch.autograd.grad(loss, flat, retain_graph=True, allow_unused=True)
            reached, i = set(), 0
            for n, ps in nets.items():
                g = grads[i : i + len(ps)]
                i += len(ps)
                if any(x is not None and bool(x.abs().sum() > 0) for x in g):
                    reached.add(n)
            self.updates.append((name, loss.item(), reached))
            update(name, loss)

        stage.update = probed  # type: ignore[method-assign]
        for name, net in stage.networks.items():
            net.register_forward_hook(lambda _m, args, _out, name=name: self.seen[name].append(args[0]))


def _same(a: torch.Tensor, b: torch.Tensor | None) -> bool:
    return b is not None and a.shape == b.shape and torch.equal(a, b)


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_each_optimiser_steps_its_own_loss_and_only_its_network(setting):
    stage = _stage(setting)
    probe = Probe(stage)
    state = RunState()
    batch = stage.batch(np.arange(B), 0, seed_step(0, 0))
    out = stage.step(batch, state)

    expected = EXPECTED[setting]
    assert [u[0] for u in probe.updates] == [n for n in ("D2", "D3", "G2") if n in expected]
    for name, value, reached in probe.updates:
        key, nets = expected[name]
        assert value == pytest.approx(out[key], rel=1e-6), (name, key)
        assert reached == nets, f"{setting}: the loss stepping {name} reaches {sorted(reached)}"
    # the generator's loss carries the discriminators' terms (eq. 13, 14) when they are present
    assert (out["l_kp"] != 0) == ("D2" in expected) and (out["l_conf"] != 0) == ("D3" in expected)
    # no discriminator is left frozen after G2's step, and G1 never trains
    for net in stage.networks.values():
        assert all(p.requires_grad for p in net.parameters())
    if stage.g1 is not None:
        assert not any(p.requires_grad for p in stage.g1.parameters())


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_which_network_sees_which_batch(setting):
    stage = _stage(setting)
    probe = Probe(stage)
    batch = stage.batch(np.arange(B), 0, seed_step(0, 0))
    stage.step(batch, RunState())

    size = 128 if setting == "hrld" else 32
    assert batch.lr.shape == (B, 3, size, size) and batch.target.shape == (B, 20, size, size)
    assert (batch.real is not None) == (setting == "S4")
    # G2 sees the labelled batch, and in S4 also the real LR (for eq. 11 and 14)
    g2_inputs = probe.seen["G2"]
    assert any(_same(x, batch.lr) for x in g2_inputs)
    assert all(_same(x, batch.lr) or _same(x, batch.real) for x in g2_inputs)
    assert any(_same(x, batch.real) for x in g2_inputs) == (setting == "S4")
    if "D2" in stage.networks:  # D2 judges heatmaps of the labelled images only
        assert probe.seen["D2"] and all(_same(x, batch.lr) for x in probe.seen["D2"])
    if "D3" in stage.networks:  # D3 sees the labelled images and the real LR
        seen = probe.seen["D3"]
        assert any(_same(x, batch.lr) for x in seen) and any(_same(x, batch.real) for x in seen)
        assert all(_same(x, batch.lr) or _same(x, batch.real) for x in seen)


def test_s1_trains_on_F_s2_on_G1_and_hrld_on_HR():
    """G2's images: F(HR) in S1 (eq. 4's average pooling), G1(HR) in S2–S4, the HR faces in hrld."""
    from s2ld_core.pixels import subsample_F_tensor, to_tensor

    idx = np.arange(B)
    for setting in ("S1", "S2", "hrld"):
        stage = _stage(setting, lr_augment="none")
        hr = to_tensor(stage.hr.batch(idx, 0)[0])
        lr = stage.batch(idx, 0, seed_step(0, 5)).lr  # seeds torch's global generators too
        seed_step(0, 5)  # the same draws again: G1's noise comes from the global generator
        if setting == "S1":
            expected = subsample_F_tensor(hr)
        elif setting == "S2":
            with torch.no_grad():
                expected = stage.g1(hr)
        else:
            expected = hr
        assert torch.equal(lr, expected), setting


@pytest.mark.parametrize("eq15_weights", ["fixed", "ordered"])
def test_began_statistics_go_through_the_report(eq15_weights):
    """M (BEGAN's convergence measure) and eq. 15's ordering counts come from the reporting hook."""
    stage = _stage("S4", eq15_weights=eq15_weights)
    state = RunState()
    out = stage.step(stage.batch(np.arange(B), 0, seed_step(0, 0)), state)
    stats = stage.report(out, state)
    assert stats["M_global"] == pytest.approx(
        losses.began_convergence(out["l_D_real"], out["l_D_fake"], stage.s2.began_gamma)
    )
    assert state.extra["eq15_steps"] == 1
    if eq15_weights == "fixed":
        assert (out["b"], out["c"]) == (stage.s2.b, stage.s2.c)
    held = stage.s2.a * out["l_MSE"] > out["b"] * out["l_kp"] > out["c"] * out["l_conf"]  # weights applied
    assert state.extra["eq15_order_held"] == int(held)
    assert 0.0 <= state.extra["k_t"] <= 1.0


def test_ordered_eq15_weights_keep_the_papers_ordering_on_every_step():
    stage = _stage("S4", eq15_weights="ordered", c=10.0)  # a c that would break the ordering at once
    state = RunState()
    for step in range(2):
        out = stage.step(stage.batch(np.arange(B), 0, seed_step(0, step)), state)
        stage.report(out, state)
        assert out["c"] < 10.0
        assert stage.s2.a * out["l_MSE"] > out["b"] * out["l_kp"] > out["c"] * out["l_conf"]
    assert state.extra["eq15_order_held"] == state.extra["eq15_steps"] == 2


def test_real_teacher_labels_the_real_faces_once_and_mixes_them_in_seeded(tmp_path):
    from checkpoint_files import write_g2

    from s2ld_core.heatmaps import decode_heatmaps
    from s2ld_core.inference import LandmarkDetector

    teacher = tmp_path / "teacher.pt"
    write_g2(teacher, "aflw19", setting="S1", seed=1, sigma=1.0)
    # no augmentation: the camera chain's two resizes map points exactly, so each mixed-in face's
    # target must be the teacher's points on one of the real faces
    stage = _stage("S1", "none", augment=False, real_teacher=str(teacher), real_teacher_prob=1.0)
    labels = LandmarkDetector.from_checkpoint(teacher).set_flip_test().predict(stage.real_lr)[0]
    np.testing.assert_allclose(stage.pseudo_points, labels, atol=1e-5)
    batch = stage.batch(np.arange(B), 0, torch.Generator().manual_seed(0))
    decoded = decode_heatmaps(batch.target)[0].numpy()
    for row in decoded:
        assert np.abs(labels - row).max(axis=(1, 2)).min() < 0.02
    again = stage.batch(np.arange(B), 0, torch.Generator().manual_seed(0))
    assert torch.equal(batch.lr, again.lr) and torch.equal(batch.target, again.target)
    rendered = _stage("S1", "none", augment=False).batch(np.arange(B), 0, torch.Generator().manual_seed(0))
    assert not torch.equal(batch.lr[0], rendered.lr[0])
    off = _stage("S1", "none", augment=False, real_teacher=str(teacher), real_teacher_prob=0.0)
    assert torch.equal(off.batch(np.arange(B), 0, torch.Generator().manual_seed(0)).lr, rendered.lr)
    with pytest.raises(ValueError, match="needs unlabelled target LR"):
        Stage2(off.cfg, _faces(B), None, torch.device("cpu"), DistContext())
