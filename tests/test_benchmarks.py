"""The benchmark scripts: MAC counter, peer architectures, timing statistics, report merging, and a
smoke run of both scripts with tiny repetitions. No timing is asserted — only that the numbers the
scripts write are consistent with each other and with hand calculations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks import bench_inference as bi
from benchmarks import bench_report, bench_timing
from benchmarks import bench_training as bt
from benchmarks.peers import FAN, PEERS, HRNetW18, build_peer
from s2ld_core.flops import count_macs
from s2ld_core.models import HeatmapGenerator, network_config
from s2ld_core.train.stage2 import Stage2

# ----------------------------------------------------------------------------- MAC counter


def test_conv_and_linear_macs_by_hand():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 10×10 out: 8·100·(3·9) = 21 600
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),  # 5×5 out: 8·25·(2·9) = 3 600
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # from 5×5 in: 8·25·(4·4) = 3 200
        nn.Flatten(),
        nn.Linear(4 * 10 * 10, 7),  # 400·7 = 2 800
    )
    report = count_macs(net, torch.zeros(4, 3, 10, 10))  # per sample, whatever the batch
    assert report.by_type == {"Conv2d": 21_600 + 3_600, "ConvTranspose2d": 3_200, "Linear": 2_800}
    assert report.macs == 31_200 and report.layers == 4
    assert report.gflops == pytest.approx(2 * 31_200 / 1e9)
    assert report.params == sum(p.numel() for p in net.parameters())
    assert all(not m._forward_hooks for m in net.modules()), "hooks must be removed"


def test_g2_macs_match_the_unet_formula():
    """Independent count from the architecture of Fig. 5 (stem, 2×2 residual blocks per level and side,
    down/fuse convs, 1×1 head)."""
    cfg, k, s = network_config("quick"), 19, 32
    w = cfg.g2_widths
    expected = 3 * w[0] * 9 * s * s + w[0] * (k + 1) * s * s
    for i, wi in enumerate(w):
        hw = (s >> i) ** 2
        expected += 2 * 2 * cfg.g2_blocks_per_level * wi * wi * 9 * hw  # enc + dec, 2 convs per block
        if i < len(w) - 1:
            expected += wi * w[i + 1] * 9 * (s >> (i + 1)) ** 2  # down
            expected += (w[i + 1] + wi) * wi * 9 * hw  # fuse
    got = count_macs(HeatmapGenerator(cfg, k, s).eval(), torch.zeros(1, 3, s, s))
    assert got.macs == expected


# ----------------------------------------------------------------------------- peers


def test_peer_shapes_and_published_sizes():
    # Small input keeps the test fast; the nets are fully convolutional, output = input / 4.
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert FAN(num_stacks=2).eval()(x).shape == (1, 68, 16, 16)
        assert HRNetW18().eval()(x).shape == (1, 68, 16, 16)
    # Published parameter counts: 2D-FAN ≈ 23.8 M (released HPM blocks), HRNetV2-W18 (face) ≈ 9.3 M.
    with torch.device("meta"):  # shapes only: no memory, no weight initialisation
        n = {name: sum(p.numel() for p in build_peer(name).parameters()) for name in PEERS}
    assert n["FAN-4 (HPM)"] == pytest.approx(23.8e6, rel=0.03)
    assert n["HRNet-W18"] == pytest.approx(9.3e6, rel=0.06)
    assert n["FAN-4"] < n["FAN-4 (HPM)"]
    with pytest.raises(ValueError, match="unknown peer"):
        build_peer("SAN")


# ----------------------------------------------------------------------------- timing and report


def test_timing_statistics():
    t = bench_timing.Timing.from_samples([0.004, 0.001, 0.002, 0.003, 0.005], [0.001] * 5)
    assert (t.median_ms, t.q1_ms, t.q3_ms, t.min_ms, t.n) == pytest.approx((3.0, 2.0, 4.0, 1.0, 5))
    assert t.iqr_ms == pytest.approx(2.0) and t.cpu_median_ms == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bench_timing.Timing.from_samples([], [])


def test_interleaved_measurement_is_round_robin_and_stops_on_budget():
    calls: list[str] = []
    out = bench_timing.measure_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                 warmup=1, repeats=4)
    # warm-up runs at least 1 round and at least MIN_WARMUP_S; every round calls a then b
    assert len(calls) >= 10 and len(calls) % 2 == 0 and calls == ["a", "b"] * (len(calls) // 2)
    assert out["a"].n == out["b"].n == 4
    slow = bench_timing.measure(lambda: __import__("time").sleep(0.01), warmup=0, repeats=100,
                                max_seconds=0.01)
    assert slow.n == 3, "stops after min_repeats once over budget"
    cfg = bi.BenchConfig(budget_s=1.0, repeats=20)
    assert bi._plan_repeats(0.5, cfg) == 0  # 3 calls would not fit
    assert bi._plan_repeats(0.01, cfg) == 20 and bi._plan_repeats(0.2, cfg) == 5


def test_report_sections_are_replaced_in_place_and_ordered(tmp_path):
    md = tmp_path / "benchmarks.md"
    bench_report.update_report(md, {"training": "T1"})
    bench_report.update_report(md, {"inference": "I1", "extra": "X"})
    bench_report.update_report(md, {"training": "T2"})
    text = md.read_text()
    assert "T1" not in text and text.index("I1") < text.index("T2") < text.index("X")
    assert text.count("<!-- BEGIN training -->") == 1


def test_accuracy_section_with_and_without_metrics(tmp_path):
    md = tmp_path / "benchmarks.md"
    bench_report.write_accuracy_section(tmp_path / "missing.json", md, inference_json=None)
    assert "Not available" in md.read_text()
    metrics = {"ablation": {"S1": {"nme": 0.12345, "train_seconds": 120},
                            "S4": {"nme": 0.1, "train_seconds": 600},
                            "upscale+HR-LD": {"nme": 0.2}, "mean shape": {"nme": 0.3}}}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    inference = {"latency": [{"network": "G2 quick aflw19 32²", "batch": 1, "threads": 1, "median_ms": 3.25}]}
    (tmp_path / "inf.json").write_text(json.dumps(inference))
    bench_report.write_accuracy_section(tmp_path / "m.json", md, inference_json=tmp_path / "inf.json")
    text = md.read_text()
    assert "Not available" not in text and text.count("<!-- BEGIN accuracy -->") == 1
    assert "| S1 | 0.1235 | 2.0 min | 3.25 |" in text
    assert "| mean shape | 0.3000 | — | 0 (no network) |" in text
    assert "| upscale+HR-LD | 0.2000 | — | — |" in text  # HR-LD not measured in that run


# ----------------------------------------------------------------------------- smoke runs


def test_bench_inference_smoke(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out_json, out_md = tmp_path / "inference.json", tmp_path / "benchmarks.md"
    rc = bi.main(["--profiles", "quick", "--schemas", "aflw19", "--hrld-schemas", "",
                  "--peers", "HRNet-W18", "--batches", "1,2", "--threads", "1", "--warmup", "1",
                  "--repeats", "2", "--budget", "0.5",
                  "--backend-profiles", "quick", "--backend-batches", "1", "--peak-sizes", "64,128",
                  "--json", str(out_json), "--md", str(out_md)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    g2, peer = "G2 quick aflw19 32²", "HRNet-W18 256²"
    g2_net = HeatmapGenerator(network_config("quick"), 19, 32).eval()
    assert res["networks"][g2]["macs"] == count_macs(g2_net, torch.zeros(1, 3, 32, 32)).macs
    rows = {(r["network"], r["batch"]): r for r in res["latency"]}
    assert (g2, 1) in rows and (g2, 2) in rows and (peer, 1) in rows
    assert any(s["network"] == peer and s["batch"] == 2 for s in res["skipped"]), "0.5 s budget skips b=2"
    for r in res["latency"]:
        assert r["faces_per_s"] == pytest.approx(1e3 * r["batch"] / r["median_ms"])
        assert r["q1_ms"] <= r["median_ms"] <= r["q3_ms"]
    (ratio,) = res["ratios"]
    assert ratio["latency_ratio"] == pytest.approx(rows[(peer, 1)]["median_ms"] / rows[(g2, 1)]["median_ms"])
    assert ratio["flop_ratio"] == pytest.approx(res["networks"][peer]["macs"] / res["networks"][g2]["macs"])
    backends = {b["backend"] for b in res["backends"]}
    assert {"torch", "torch-fast (+ jit freeze)", "onnx", "onnx-int8"} <= backends
    agree = {a["backend"]: a for a in res["agreement"]}
    assert agree["torch"]["max_px"] == 0 and agree["onnx"]["max_px"] < 0.01
    assert any("onnx" in g["what"] for g in res["goals"])
    text = out_md.read_text()
    assert "<!-- BEGIN inference -->" in text and "<!-- BEGIN backends -->" in text
    assert "random weights" in text
    assert "G2 quick aflw19 32²" in capsys.readouterr().out


def test_bench_training_smoke(tmp_path):
    out_json, out_md = tmp_path / "training.json", tmp_path / "benchmarks.md"
    bench_report.update_report(out_md, {"inference": "kept"})
    # stage 1 only (a fresh interpreter per stage); stage 2's step is checked in-process below
    rc = bt.main(["--profiles", "quick", "--stages", "stage1", "--batch", "2", "--warmup", "0",
                  "--repeats", "1", "--no-perceptual", "--json", str(out_json), "--md", str(out_md)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    steps = {r["stage"]: r for r in res["steps"]}
    assert set(steps) == {"stage1"}
    assert set(steps["stage1"]["params"]) == {"G1", "D1"}
    for r in steps.values():
        assert r["median_ms"] > 0 and r["peak_memory_mb"] >= r["rss_after_build_mb"] > 0
        assert sum(r["parts_ms"].values()) == pytest.approx(r["median_ms"], rel=0.2)
    text = out_md.read_text()
    assert "kept" in text and "<!-- BEGIN training -->" in text


def test_training_step_updates_every_trained_network():
    """The timed step is the trainer's: it trains what the stage trains (and leaves G1 frozen in stage 2)."""
    torch.manual_seed(0)
    step = bt.TrainerStep("stage2", "quick", 2, torch.device("cpu"), num_points=19)
    assert isinstance(step.stage, Stage2)
    assert set(step.networks) == {"G1 (frozen)", "G2", "D2", "D3"}
    for name, net in step.networks.items():
        net.train(name != "G1 (frozen)")
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in step.networks.items()}
    step()
    for name, net in step.networks.items():
        changed = any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters()))
        assert changed == (name != "G1 (frozen)"), name
    assert 0.0 <= step.k_t <= 1.0 and np.isfinite(step.k_t)


def _row(network: str, threads: int, batch: int, ms: float) -> dict:
    return {"network": network, "threads": threads, "batch": batch, "median_ms": ms, "q1_ms": ms, "q3_ms": ms,
            "min_ms": ms, "n": 3, "cpu_median_ms": ms, "iqr_ms": 0.0, "per_face_ms": ms / batch,
            "faces_per_s": 1e3 * batch / ms, "gflops_achieved": 1.0}


def test_contended_rows_are_flagged_and_reports_rerender_from_json(tmp_path):
    g2, fan = "G2 quick aflw19 32²", "FAN-4 256²"
    result = {
        "when": "now", "caveat": "c", "config": {"peak_sizes": [64]}, "skipped": [],
        "machine": {"cpu": "x", "threads_available": 2, "torch": "t"},
        "peak": {"1": {"gflops": 100.0, "n": 64}, "2": {"gflops": 200.0, "n": 64}},
        "networks": {g2: {"family": "S²LD", "macs": 10**7, "input": 32, "params": 1, "note": ""},
                     fan: {"family": "peer", "macs": 10**10, "input": 256, "params": 1, "note": ""}},
        "latency": [_row(g2, 1, 1, 2.0), _row(g2, 2, 1, 40.0),  # 20× slower on 2 threads: contended
                    _row(fan, 1, 1, 400.0), _row(fan, 2, 1, 300.0)],
    }
    bi.derive(result)
    flags = {(r["network"], r["threads"]): r["contended"] for r in result["latency"]}
    assert flags == {(g2, 1): False, (g2, 2): True, (fan, 1): False, (fan, 2): False}
    ratios = {q["threads"]: q for q in result["ratios"]}
    assert ratios[1]["latency_ratio"] == pytest.approx(200.0) and not ratios[1]["contended"]
    assert ratios[2]["contended"]
    goals = {(g["goal"][:6], g["threads"]): g for g in result["goals"]}
    assert goals[("G2 lat", 1)]["met"] and goals[("FAN-4 ", 1)]["met"]
    assert goals[("G2 lat", 1)]["floor_ms"] == pytest.approx(2 * 10**7 / 100e6)
    src = tmp_path / "run.json"
    src.write_text(json.dumps(result))
    md = tmp_path / "b.md"
    assert bi.main(["--from-json", str(src), "--json", str(tmp_path / "out.json"), "--md", str(md)]) == 0
    text = md.read_text()
    assert "| G2 quick aflw19 32² | 2 ⚠ |" in text and "*contended*" in text
