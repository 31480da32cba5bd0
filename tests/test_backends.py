"""Fast inference backends agree with the PyTorch reference (s2ld_core.inference.backends).

A random-weight quick-profile G2 is enough to pin the plumbing: resizing, the exported graph, the
metadata round trip and decoding must give the *same points* as ``LandmarkDetector`` (< 0.01 px).
BatchNorm statistics are randomised so that folding them into the convs is not a no-op.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoint_files import write_g2
from torch import nn

from s2ld_core.inference import (
    LandmarkDetector,
    OnnxLandmarkDetector,
    TorchSpeedOptions,
    compare_backends,
    export_onnx,
    fuse_conv_bn,
    load_detector,
    optimize_network,
    quantize_onnx,
)
from s2ld_core.inference.onnx_backend import export_checked
from s2ld_core.models import HeatmapGenerator, network_config

pytest.importorskip("onnxruntime")

PARITY_PX = 0.01


def _random_g2(seed: int = 0) -> HeatmapGenerator:
    torch.manual_seed(seed)
    cfg = network_config("quick")
    net = HeatmapGenerator(cfg, 19, in_size=32)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        # G2 starts from a near-constant head (std 1e-3); a bigger one gives heatmaps with clear,
        # well-separated peaks, so "same points" is a sharp test rather than a tie-break lottery.
        nn.init.normal_(net.net.head.weight, std=0.05)
    return net.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("fast") / "S4.pt"
    write_g2(path, "aflw19", network=_random_g2(), sigma=1.0, mean_shape=[[16.0, 16.0]] * 19)
    return str(path)


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    """Crops of several sizes (shrunk, grown and as-is), so the resize path is exercised too."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (s, s + d, 3), dtype=np.uint8) for s, d in
            [(32, 0), (25, 0), (48, 4), (17, 2), (64, 0), (32, 0), (40, 0), (29, 3)]]


@pytest.fixture(scope="module")
def onnx_bytes(checkpoint) -> bytes:
    return export_onnx(checkpoint, None)


def test_fuse_conv_bn_is_exact_and_removes_every_batchnorm():
    net = _random_g2(1)
    fused = fuse_conv_bn(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules()), "the original must be left alone"
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ref, got = net(x), fused(x)
    assert (ref - got).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())


def test_optimize_network_options_keep_outputs():
    net = _random_g2(2)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = net(x)
        # the default (fold + channels-last + TorchScript) is covered by the torch-fast parity test
        for opts in (TorchSpeedOptions(channels_last=False, jit=False), TorchSpeedOptions(jit=False),
                     TorchSpeedOptions(fuse_bn=False, channels_last=False)):
            got = optimize_network(net, 32, opts)(x)
            assert torch.allclose(ref, got, atol=1e-4), opts


def test_onnx_export_carries_the_checkpoint_description(checkpoint, onnx_bytes, tmp_path):
    path = tmp_path / "g2.onnx"
    path.write_bytes(onnx_bytes)
    det = OnnxLandmarkDetector(path, threads=1)
    assert det.schema.name == "aflw19" and det.schema.num_points == 19
    assert det.input_size == 32
    assert det.meta["setting"] == "S4" and det.meta["sigma"] == 1.0 and det.meta["path"] == str(path)
    assert len(det.meta["mean_shape"]) == 19


@pytest.mark.parametrize("backend", ["onnx", "torch-fast"])
def test_backend_points_match_pytorch(checkpoint, faces, backend):
    ref = LandmarkDetector.from_checkpoint(checkpoint)
    fast = load_detector(checkpoint, backend, threads=1)
    assert fast.schema == ref.schema and fast.input_size == ref.input_size
    p_ref, c_ref = ref.predict(faces)
    p, c = fast.predict(faces)
    assert p.shape == (len(faces), 19, 2) and p.dtype == np.float32
    assert np.abs(p - p_ref).max() < PARITY_PX
    assert np.abs(c - c_ref).max() < 1e-4
    # points come back in each crop's own pixels, not the network's 32²
    assert p[4].max() > 32 or p_ref[4].max() <= 32


def test_onnx_heatmaps_match_and_batch_is_dynamic(checkpoint, faces, onnx_bytes):
    ref = LandmarkDetector.from_checkpoint(checkpoint)
    det = OnnxLandmarkDetector(onnx_bytes)
    for chunk in (faces[:1], faces):
        want = ref.heatmaps(chunk)
        got = det.heatmaps(chunk)
        assert got.shape == want.shape
        assert (got - want).abs().max().item() < 1e-4
    # batch_size smaller than the input: same answer in pieces
    p_all, _ = det.predict(faces)
    p_chunked, _ = det.predict(faces, batch_size=3)
    np.testing.assert_allclose(p_all, p_chunked, atol=1e-5)
    empty_p, empty_c = det.predict([])
    assert empty_p.shape == (0, 19, 2) and empty_c.shape == (0, 19)


def test_static_batch_export_rejects_other_batch_sizes(checkpoint, faces):
    det = OnnxLandmarkDetector(export_onnx(checkpoint, None, dynamic_batch=False))
    assert det.predict(faces[:1])[0].shape == (1, 19, 2)
    with pytest.raises(Exception, match="(?i)dimension|shape|index"):
        det.predict(faces[:2])


def test_int8_model_runs_and_stays_close(checkpoint, faces, onnx_bytes):
    int8 = OnnxLandmarkDetector(quantize_onnx(onnx_bytes, None))
    assert int8.meta["quantization"] == "int8-static-qdq" and int8.schema.name == "aflw19"
    ref = LandmarkDetector.from_checkpoint(checkpoint).heatmaps(faces)
    got = int8.heatmaps(faces)
    assert got.shape == ref.shape
    # int8 is approximate: errors must be small against the heatmaps' own range, not zero
    span = (ref.amax() - ref.amin()).item()
    err = (got - ref).abs()
    assert err.mean().item() < 0.02 * span
    assert err.max().item() > 0, "a quantised model that is bit-exact was not quantised"


def test_compare_backends_reports_zero_distance_for_exact_backends(checkpoint, faces):
    gt = np.random.default_rng(1).uniform(2, 20, (len(faces), 19, 2)).astype(np.float32)
    rows = {r.backend: r for r in compare_backends(checkpoint, faces, backends=("onnx",), ground_truth=gt)}
    assert rows["onnx"].max_px < PARITY_PX and rows["onnx"].nme_vs_torch < 1e-3
    assert rows["onnx"].nme == pytest.approx(rows["onnx"].nme_torch, abs=1e-4)


def test_export_command_writes_a_checked_file(checkpoint, tmp_path, capsys):
    from s2ld_core.cli import main

    out = tmp_path / "sub" / "g2.onnx"
    assert main(["export", checkpoint, "--onnx", str(out)]) == 0 and out.exists()
    text = capsys.readouterr().out
    assert "fp32" in text and "max 0.0" in text
    path, check = export_checked(checkpoint, out)
    assert path == out and check["faces"] == 100 and check["max_px"] < 1e-3


def test_errors_are_clear(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown backend"):
        load_detector(checkpoint, "tensorrt")
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), foreign)
    with pytest.raises(ValueError, match="not an s2ld ONNX export"):
        OnnxLandmarkDetector(foreign)
    with pytest.raises(ValueError, match="needs backend 'onnx'"):
        load_detector(foreign, "torch")


# ----------------------------------------------------------------------------- the shipped default


def test_pretrained_runs_the_shipped_weights_on_onnx_runtime_and_says_so():
    """The shipped detector.onnx is the export of the shipped detector.pt (its source_sha1), and the
    default detector runs on it: the fastest installed backend, named in the repr, with PyTorch's
    points."""
    from s2ld_core import pretrained

    fast, reference = pretrained("ibug68"), pretrained("ibug68", backend="torch")
    assert type(fast).__name__ == "OnnxLandmarkDetector" and "ONNX Runtime" in repr(fast)
    assert "torch" in repr(reference)
    faces = (np.random.default_rng(0).random((4, 32, 32, 3)) * 255).astype(np.uint8)
    assert np.abs(fast.predict(faces)[0] - reference.predict(faces)[0]).max() < 1e-3


def test_pretrained_falls_back_to_torch_beside_stale_onnx_and_insisting_says_why(tmp_path):
    import shutil

    from s2ld_core.inference import pretrained
    from s2ld_core.inference.detector import shipped_weights

    shipped = shipped_weights("ibug68").parent
    mine = tmp_path / "ibug68"
    mine.mkdir()
    shutil.copy(shipped / "detector.pt", mine / "detector.pt")
    shutil.copy(shipped / "detector.onnx", mine / "detector.onnx")
    with open(mine / "detector.pt", "ab") as f:  # other weights: the export no longer belongs to them
        f.write(b"\0")
    assert "torch" in repr(pretrained("ibug68", weights_dir=tmp_path))
    with pytest.raises(ValueError, match="exported from another detector.pt"):
        pretrained("ibug68", backend="onnx", weights_dir=tmp_path)
    with pytest.raises(ValueError, match="not the CPU"):
        pretrained("ibug68", backend="onnx", device="cuda")
    with pytest.raises(ValueError, match="choose one of auto, onnx, torch"):
        pretrained("ibug68", backend="tensorrt")
