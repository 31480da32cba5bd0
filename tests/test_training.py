"""Training: a tiny overfit, exact resume after a real kill, 2-process DDP on gloo, config round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from s2ld_core.data.datasets import LabelledFaces
from s2ld_core.train.config import TrainConfig, profile_config

ROOT = Path(__file__).resolve().parents[1]


def _faces(n: int, seed: int = 0) -> LabelledFaces:
    from s2ld_core.data.render import RenderConfig, render_dataset

    fs = render_dataset(range(n), 1, seed=seed, config=RenderConfig())
    return LabelledFaces(fs.images, fs.points, fs.visible, fs.identity, "ibug68").to_schema("aflw19")


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    _faces(64).save_npz(path)
    return path


def _cfg(npz: Path, stage: str, **kw) -> TrainConfig:
    cfg = profile_config("quick", stage)
    cfg.data.hr_data = str(npz)
    cfg.data.target_lr = "lfw"
    cfg.optim.batch_size = 8
    cfg.threads = 1
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_config_yaml_round_trip(tmp_path):
    cfg = profile_config("paper", "stage2")
    cfg.stage2.setting = "S3"
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    back = TrainConfig.from_yaml(tmp_path / "c.yaml")
    assert back == cfg
    assert back.optim.milestone_epochs() == [80, 160]
    assert back.optim.betas == (0.5, 0.9) and back.optim.lr == 2e-4 and back.optim.batch_size == 32


def test_config_rejects_unknown_fields(tmp_path):
    (tmp_path / "bad.yaml").write_text("optim: {learning_rate: 1}\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_g2_overfits_16_images(tmp_path):
    """Supervised G2 (eq. 12) on 16 fixed subsampled faces drives NME (box) below 0.02."""
    from s2ld_core.evaluation import evaluate_detector
    from s2ld_core.inference import LandmarkDetector
    from s2ld_core.train.launch import train_stage2

    faces = _faces(16, seed=3)
    npz = tmp_path / "16.npz"
    faces.save_npz(npz)
    cfg = _cfg(npz, "stage2", augment=False, checkpoint_every_steps=10_000, samples_every_epochs=10_000)
    cfg.stage2.setting = "S1"
    cfg.optim.batch_size = 16
    cfg.optim.epochs = 400
    cfg.optim.lr = 2e-3
    ckpt = train_stage2(cfg, tmp_path / "run", progress=False)
    det = LandmarkDetector.from_checkpoint(ckpt)
    from s2ld_core.data.degrade import subsample_F

    lr = LabelledFaces(
        np.stack([subsample_F(im)[0] for im in faces.images]),
        np.stack([subsample_F(im, p)[1] for im, p in zip(faces.images, faces.points)]),
        faces.visible,
        faces.identity,
        faces.schema,
    )
    ev = evaluate_detector(det, lr, "box")
    assert ev.summary["nme"] < 0.02, ev.summary


def _stats(run: Path) -> dict[int, dict]:
    lines = (run / "stats.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines)}


def _train_cmd(npz: Path, out: Path, g1: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "s2ld_core.cli",
        "train",
        "stage2",
        "--setting",
        "S4",
        "--g1",
        str(g1),
        "--hr-data",
        str(npz),
        "--target-lr",
        "lfw",
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--checkpoint-every",
        "3",
        *extra,
    ]


@pytest.fixture(scope="module")
def tiny_g1(tiny_npz, tmp_path_factory) -> Path:
    from s2ld_core.train.launch import train_stage1

    cfg = _cfg(tiny_npz, "stage1", max_steps=2)
    return train_stage1(cfg, tmp_path_factory.mktemp("g1"), progress=False)


@pytest.mark.slow
def test_resume_after_kill_repeats_the_uninterrupted_losses(tiny_npz, tiny_g1, tmp_path):
    """SIGKILL an S4 run (D2, D3, k_t, real-LR draws) after a checkpoint; ``--resume`` must log the
    same losses, step for step, as a run that was never interrupted."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ref = tmp_path / "ref"
    subprocess.run(
        _train_cmd(tiny_npz, ref, tiny_g1, ["--max-steps", "12"]),
        check=True,
        env=env,
        capture_output=True,
        cwd=ROOT,
    )

    run = tmp_path / "killed"
    proc = subprocess.Popen(  # the same --max-steps: it sets the length of the one-cycle schedule
        _train_cmd(tiny_npz, run, tiny_g1, ["--max-steps", "12"]),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if (
            (run / "checkpoints" / "last.pt").exists()
            and (run / "stats.jsonl").exists()
            and len((run / "stats.jsonl").read_text().splitlines()) >= 5
        ):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    blob = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    resumed_from = blob["state"]["step"]
    assert 3 <= resumed_from < 12
    subprocess.run(
        _train_cmd(tiny_npz, run, tiny_g1, ["--max-steps", "12", "--resume"]),
        check=True,
        env=env,
        capture_output=True,
        cwd=ROOT,
    )
    a, b = _stats(ref), _stats(run)
    assert sorted(b) == list(range(1, 13))
    for step in range(resumed_from + 1, 13):
        for key in ("l_G2", "l_MSE", "l_D2", "l_D3", "k_t", "l_conf"):
            assert a[step][key] == pytest.approx(b[step][key], rel=1e-6, abs=1e-9), (step, key)


@pytest.mark.slow
def test_two_process_gloo_ddp_ends_with_equal_weights(tiny_npz, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29500 + os.getpid() % 1000),
        str(ROOT / "tests" / "ddp_worker.py"),
        str(tiny_npz),
        str(out),
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode == 0, res.stderr[-3000:]
    w0 = torch.load(out / "rank0.pt")
    w1 = torch.load(out / "rank1.pt")
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    # each rank saw half of every epoch: 64 faces / (2 ranks × batch 8) = 4 steps per epoch
    assert summary["steps"] == 4 * 2


def test_nan_guard_names_the_loss(tiny_npz, tmp_path):
    from s2ld_core.train.launch import train_stage2
    from s2ld_core.train.runner import TrainingDiverged

    cfg = _cfg(tiny_npz, "stage2", max_steps=3)
    cfg.stage2.setting = "S1"
    cfg.optim.lr = 1e30  # the first update blows the weights up
    with pytest.raises(TrainingDiverged, match=r"loss l_\w+ became (nan|inf|-inf) at epoch 1"):
        train_stage2(cfg, tmp_path / "nan", progress=False)


def test_stage2_without_g1_is_a_clear_error(tiny_npz, tmp_path):
    from s2ld_core.train.launch import train_stage2

    cfg = _cfg(tiny_npz, "stage2")
    cfg.stage2.setting = "S3"
    with pytest.raises(ValueError, match="--g1"):
        train_stage2(cfg, tmp_path / "x", progress=False)


def test_profiles_randomise_cameras_except_the_papers():
    for profile in ("quick", "standard"):
        cfg = profile_config(profile, "stage2")
        assert cfg.stage2.lr_augment == "camera-family" and cfg.optim.schedule == "onecycle"
        assert cfg.stage2.eq15_weights == "ordered"
    paper = profile_config("paper", "stage2")
    assert paper.stage2.lr_augment == "none" and paper.optim.schedule == "steps"
    assert paper.stage2.eq15_weights == "fixed"  # eq. 15 with constant a, b, c
    assert profile_config("standard", "stage2").stage2.eq15_ratio == 0.1  # chosen on validation
    assert profile_config("quick", "stage2").stage2.eq15_ratio == 0.5  # the configuration's default
    assert profile_config("standard", "stage2").stage2.real_lr_norm == "running"
    assert profile_config("quick", "stage2").stage2.real_lr_norm == "running"
    assert profile_config("standard", "stage2").data.embedded_train_identities * 8 >= 10_000


def _train_weights_script():
    """``scripts/train_weights.py`` as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_weights", ROOT / "scripts" / "train_weights.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_train_weights_rejects_an_eq15_ratio_outside_0_1_before_training(capsys):
    script = _train_weights_script()
    assert script.parse_args(["--eq15-ratio", "0.1"]).eq15_ratio == 0.1
    with pytest.raises(SystemExit):
        script.parse_args(["--eq15-ratio", "0"])
    assert "--eq15-ratio must be in (0, 1], got 0.0" in capsys.readouterr().err


def test_eq15_weights_only_need_to_be_non_negative():
    cfg = profile_config("quick", "stage2")
    cfg.stage2.setting = "S1"
    cfg.stage2.a, cfg.stage2.b, cfg.stage2.c = 0.05, 0.1, 1.0  # any order of the *weights* is allowed
    cfg.validate()
    cfg.stage2.c = -1.0
    with pytest.raises(ValueError, match="≥ 0"):
        cfg.validate()


def test_camera_family_mix_replaces_faces_with_exact_points_and_is_seeded(tiny_npz):
    from s2ld_core.geometry import resize_points
    from s2ld_core.pixels import to_tensor
    from s2ld_core.train.runner import DistContext, seed_step
    from s2ld_core.train.stage2 import Stage2

    faces = LabelledFaces.load_npz(tiny_npz)
    cfg = _cfg(tiny_npz, "stage2")
    cfg.stage2.setting = "S1"
    stage = Stage2(cfg, faces, None, torch.device("cpu"), DistContext())
    images, points, _ = stage.hr.batch(np.arange(8), 0)
    lr, pts = stage.lr_inputs(to_tensor(images, stage.device), points)

    cfg.stage2.lr_augment_prob = 1.0
    mixed, mixed_pts = stage.camera_family_mix(lr, pts, images, points, seed_step(0, 5))
    again, _ = stage.camera_family_mix(lr, pts, images, points, seed_step(0, 5))
    assert torch.equal(mixed, again)  # a pure function of the step: exact resume holds
    assert all(not torch.equal(mixed[i], lr[i]) for i in range(8))
    np.testing.assert_allclose(mixed_pts, resize_points(points, 32 / 128), atol=1e-4)

    cfg.stage2.lr_augment_prob = 0.0
    same, same_pts = stage.camera_family_mix(lr, pts, images, points, seed_step(0, 5))
    assert torch.equal(same, lr) and np.array_equal(same_pts, pts)


def test_peaks_d3_sees_points_not_blob_shapes_and_passes_gradients(tiny_npz, tiny_g1):
    """``d3_input = peaks``: a tall and a low heatmap of the same points look alike to D3, a wider one
    nearly so, moved points do not, and the gradient reaches the heatmaps through the points."""
    from s2ld_core.heatmaps import encode_heatmaps
    from s2ld_core.train.runner import DistContext
    from s2ld_core.train.stage2 import Stage2

    faces = LabelledFaces.load_npz(tiny_npz)
    cfg = _cfg(tiny_npz, "stage2")
    cfg.stage2.g1_checkpoint = str(tiny_g1)
    cfg.stage2.d3_input = "peaks"
    real = np.zeros((4, 32, 32, 3), np.uint8)
    stage = Stage2(cfg, faces, real, torch.device("cpu"), DistContext())
    pts = torch.tensor([[[10.3, 12.7], [20.0, 9.5]] + [[16.0, 16.0]] * 17], dtype=torch.float32)
    sharp = encode_heatmaps(pts, 32, 1.0)
    weak = encode_heatmaps(pts, 32, 1.0) * 0.4
    np.testing.assert_allclose(stage.d3_view(sharp), stage.d3_view(weak), atol=1e-5)
    wide = encode_heatmaps(pts, 32, 1.6)
    np.testing.assert_allclose(stage.d3_view(sharp), stage.d3_view(wide), atol=0.15)
    moved = encode_heatmaps(pts + torch.tensor([1.0, 0.0]), 32, 1.0)
    assert (stage.d3_view(moved) - stage.d3_view(sharp)).abs().max() > 0.3
    weak.requires_grad_(True)
    stage.d3_view(weak)[:, 0].sum().backward()
    assert weak.grad[:, 0].abs().sum() > 0

    cfg.stage2.d3_input = "heatmaps"  # the paper: D3 sees the heatmaps themselves
    assert stage.d3_view(weak) is weak


def test_adversarial_ramp_grows_from_zero_to_one(tiny_npz):
    from s2ld_core.train.runner import DistContext, RunState
    from s2ld_core.train.stage2 import Stage2

    cfg = _cfg(tiny_npz, "stage2")
    cfg.stage2.setting = "S1"
    stage = Stage2(cfg, LabelledFaces.load_npz(tiny_npz), None, torch.device("cpu"), DistContext())
    stage.total_steps = 100
    assert stage.adversarial_ramp(RunState(step=50)) == 1.0  # adv_warmup 0: eq. 15 from the start
    cfg.stage2.adv_warmup = 0.4
    assert [stage.adversarial_ramp(RunState(step=s)) for s in (0, 20, 40, 90)] == [0.0, 0.5, 1.0, 1.0]
    cfg.stage2.adv_warmup, cfg.stage2.d3_input = 1.5, "peaks"
    with pytest.raises(ValueError, match="adv_warmup"):
        cfg.validate()
    cfg.stage2.adv_warmup, cfg.stage2.d3_input = 0.0, "blobs"
    with pytest.raises(ValueError, match="d3_input"):
        cfg.validate()
    cfg.stage2.d3_input, cfg.stage2.eq15_weights = "heatmaps", "balanced"
    with pytest.raises(ValueError, match="eq15_weights"):
        cfg.validate()
    cfg.stage2.eq15_weights, cfg.stage2.eq15_ratio = "ordered", 0.0
    with pytest.raises(ValueError, match="eq15_ratio"):
        cfg.validate()
    cfg.stage2.eq15_ratio, cfg.stage2.real_lr_norm = 0.5, "eval"
    with pytest.raises(ValueError, match="real_lr_norm 'eval'; choose one of"):
        cfg.validate()


def test_init_g2_starts_from_another_runs_g2_and_refuses_a_different_model(tiny_npz, tiny_g1, tmp_path):
    """``init_g2``: S3's G2 starts as the S1 run's G2 (D2 fresh); a G2 of another size is one error."""
    from s2ld_core.checkpoints import load_checkpoint
    from s2ld_core.train.launch import train_stage2
    from s2ld_core.train.runner import DistContext, RunState
    from s2ld_core.train.stage2 import Stage2

    faces = LabelledFaces.load_npz(tiny_npz)
    cfg = _cfg(tiny_npz, "stage2", max_steps=2, checkpoint_every_steps=10_000, samples_every_epochs=10_000)
    cfg.stage2.setting = "S1"
    start = train_stage2(cfg, tmp_path / "s1", progress=False)
    saved = load_checkpoint(start, role="G2")["state_dict"]

    cfg.stage2.setting, cfg.stage2.g1_checkpoint, cfg.stage2.init_g2 = "S3", str(tiny_g1), str(start)
    stage = Stage2(cfg, faces, None, torch.device("cpu"), DistContext())
    for name, value in stage.g2.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert stage.final_checkpoint(RunState(step=0))["init_g2"] == str(start)
    cfg.stage2.init_g2 = None
    fresh = Stage2(cfg, faces, None, torch.device("cpu"), DistContext())
    assert not torch.equal(fresh.g2.state_dict()["net.head.weight"], saved["net.head.weight"])

    cfg.stage2.setting, cfg.stage2.init_g2 = "hrld", str(start)  # G2 at 128², the S1 run's at 32²
    with pytest.raises(ValueError, match=r"init_g2 holds G2 for aflw19 at 32² .* G2 for aflw19 at 128²"):
        Stage2(cfg, faces, None, torch.device("cpu"), DistContext())


def test_train_weights_warm_start_needs_both_runs_before_training(capsys):
    script = _train_weights_script()
    assert script.parse_args(["--warm-start"]).warm_lr == 2e-4  # the paper's Adam step
    with pytest.raises(SystemExit):
        script.parse_args(["--warm-start", "--s2-steps", "0"])
    assert "--warm-start continues the S2 candidate with S4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.parse_args(["--warm-start", "--warm-lr", "0"])
    assert "--warm-lr must be positive, got 0.0" in capsys.readouterr().err


def test_train_weights_real_lr_norm_defaults_to_the_profile_and_refuses_others(capsys):
    script = _train_weights_script()
    assert script.parse_args([]).real_lr_norm is None  # the standard profile's
    assert script.parse_args(["--real-lr-norm", "batch"]).real_lr_norm == "batch"
    with pytest.raises(SystemExit):
        script.parse_args(["--real-lr-norm", "eval"])
    assert "invalid choice: 'eval'" in capsys.readouterr().err


def test_running_batchnorm_normalises_as_at_inference_and_keeps_the_statistics():
    from s2ld_core.train.runner import running_batchnorm

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Dropout(0.5))
    net.train()
    net(torch.randn(8, 3, 6, 6))  # running statistics away from their initial 0 and 1
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(8, 3, 6, 6) * 5 + 3
    with running_batchnorm(net):
        assert not net[1].training and net[2].training  # only the BatchNorm layers
        y = net[1](net[0](x))
        y.sum().backward()
    assert net[1].training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    net.eval()
    torch.testing.assert_close(y, net[1](net[0](x)))
    assert net[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("norm", ["running", "batch"])
def test_s4_real_faces_move_g2_batchnorm_statistics_only_with_batch_norm(tiny_npz, tiny_g1, norm):
    """``real_lr_norm``: with "running" an S4 step leaves G2's running statistics where its labelled
    batch alone puts them; with "batch" (train mode) the real faces pull them too."""
    import copy

    from s2ld_core.train.runner import DistContext, RunState
    from s2ld_core.train.stage2 import Stage2

    cfg = _cfg(tiny_npz, "stage2")
    cfg.stage2.setting, cfg.stage2.g1_checkpoint, cfg.stage2.real_lr_norm = "S4", str(tiny_g1), norm
    real = np.full((8, 32, 32, 3), 250, np.uint8)  # far from any rendered face's statistics
    stage = Stage2(cfg, LabelledFaces.load_npz(tiny_npz), real, torch.device("cpu"), DistContext())
    batch = stage.batch(np.arange(8), 1, torch.Generator().manual_seed(0))
    labelled_only = copy.deepcopy(stage.g2)
    labelled_only(batch.lr)
    stage.step(batch, RunState(step=1))
    name = next(k for k in labelled_only.state_dict() if k.endswith("running_mean"))
    same = torch.allclose(stage.g2.state_dict()[name], labelled_only.state_dict()[name])
    assert same == (norm == "running")
