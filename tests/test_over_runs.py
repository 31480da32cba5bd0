"""Verdicts over training runs: the t-interval of the per-run differences and the comparison of several
runs' ``evaluation.json``, checked against figures computed by hand."""

from __future__ import annotations

import builtins
import importlib.util
import json
from pathlib import Path

import pytest

from s2ld_core.study import analysis
from s2ld_core.study.analysis import ONE_RUN, compare_runs, t975, verdict_over_runs


def test_three_runs_give_the_hand_computed_t_interval():
    # mean = -0.23/3 = -0.07667; sd = sqrt(0.43487/2) = 0.46628; t(0.975, 2) = 4.3027;
    # half-width = 4.3027 * 0.46628 / sqrt(3) = 1.1583 (1.1581 with sd rounded to 0.4662)
    v = verdict_over_runs([-0.59, 0.32, 0.04], claim="S4 <= S1")
    assert v["runs"] == 3
    assert v["mean"] == pytest.approx(-0.07667, abs=1e-4)
    assert v["sd"] == pytest.approx(0.4662, abs=1e-3)
    assert v["t"] == pytest.approx(4.3027, abs=1e-4)
    assert v["half_width"] == pytest.approx(1.1581, abs=1e-3)
    assert v["ci95"] == pytest.approx([-0.07667 - 1.1583, -0.07667 + 1.1583], abs=1e-3)
    assert v["holds"] and v["verdict"] == "holds (within noise)"


def test_verdict_words_match_the_per_face_ones():
    assert verdict_over_runs([-1.0, -1.2, -0.9])["verdict"] == "clearly holds"
    assert verdict_over_runs([1.0, 1.2, 0.9])["verdict"] == "clearly violated"
    assert verdict_over_runs([0.5, -0.3, 0.4])["verdict"] == "violated (within noise)"
    # a strict claim is not met by a zero mean
    assert not verdict_over_runs([0.1, -0.1], claim="S2 < S1")["holds"]
    assert verdict_over_runs([0.1, -0.1], claim="S3 <= S2")["holds"]


def test_one_run_has_no_interval():
    v = verdict_over_runs([-0.4])
    assert v["verdict"] == ONE_RUN == "one run: no interval over runs"
    assert v["ci95"] is None and v["sd"] is None and v["mean"] == pytest.approx(-0.4)
    with pytest.raises(ValueError):
        verdict_over_runs([])


def test_t_table_without_scipy(monkeypatch):
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    assert t975(2) == 4.3027 and t975(30) == 2.0423
    assert t975(60) == pytest.approx(2.0003, abs=1e-3)
    assert analysis.verdict_over_runs([-0.59, 0.32, 0.04])["t"] == 4.3027


def _run(s4: dict[str, float], s1: dict[str, float]) -> dict:
    def cand(values):
        return {name: {"faces": 43, "raw": v + 2, "pdm": v, "mean shape": 11.0} for name, v in values.items()}

    return {"shipped": "S4", "candidates": {"S4": cand(s4), "S1": cand(s1)}}


def test_compare_runs_over_hand_made_evaluations():
    runs = [_run({"a": 5.0, "b": 7.0}, {"a": 5.59, "b": 7.5}),
            _run({"a": 5.32, "b": 7.0}, {"a": 5.0, "b": 7.6}),
            _run({"a": 5.04, "b": 7.0}, {"a": 5.0, "b": 7.4})]
    out = compare_runs(runs, "S4", "S1", ["a", "b"])
    a = out["a"]
    assert a["faces"] == 43
    assert a["left"]["values"] == [5.0, 5.32, 5.04] and a["right"]["values"] == [5.59, 5.0, 5.0]
    assert a["left"]["mean"] == pytest.approx(5.12)
    assert a["difference"]["differences"] == pytest.approx([-0.59, 0.32, 0.04])
    assert a["difference"]["half_width"] == pytest.approx(1.1581, abs=1e-3)
    assert a["difference"]["claim"] == "S4 <= S1"
    assert a["difference"]["verdict"] == "holds (within noise)"
    assert out["b"]["difference"]["mean"] == pytest.approx(-0.5)
    assert out["b"]["difference"]["verdict"] == "clearly holds"
    assert compare_runs(runs[:1], "S4", "S1", ["a"])["a"]["difference"]["verdict"] == ONE_RUN
    with pytest.raises(ValueError, match="run 1 has no 'S4' on 'c'"):
        compare_runs([{"candidates": {"S4": {"c": {"pdm": 1.0}}, "S1": {"c": {"pdm": 1.0}}}}, runs[1]],
                     "S4", "S1", ["c"])


def test_compare_over_runs_script_prints_the_table_and_writes_the_json(tmp_path, capsys):
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("compare_over_runs", root / "scripts/compare_over_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    runs = []
    for i, (s4, s1) in enumerate([(5.0, 5.59), (5.32, 5.0), (5.04, 5.0)]):
        run = tmp_path / f"s{i}"
        run.mkdir()
        ev = _run({"val": 4.0, "a": s4}, {"val": 4.5, "a": s1}) | {"chosen_on": ["val"]}
        (run / "evaluation.json").write_text(json.dumps(ev))
        runs.append(str(run))
    out = tmp_path / "out" / "s4_vs_s1.json"
    result = script.main(["--runs", *runs, "--left", "S4", "--right", "S1", "--out", str(out)])
    text = capsys.readouterr().out
    assert "| val † | 4.00 ± 0.00 | 4.50 ± 0.00 | -0.50 | [-0.50, -0.50] | clearly holds |" in text
    assert "| a | 5.12 ± 0.17 | 5.20 ± 0.34 | -0.08 | [-1.23, +1.08] | holds (within noise) |" in text
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["runs"] == runs and saved["command"].startswith("python scripts/compare_over_runs.py --runs")
    assert saved["sets"]["a"]["left"]["values"] == [5.0, 5.32, 5.04]
    with pytest.raises(SystemExit, match="evaluation.json: not found"):
        script.main(["--runs", str(tmp_path / "missing"), "--left", "S4", "--right", "S1"])


# ----------------------------------------------------------------------------- s2ld study --runs K


def _fake_ablation_metrics(run: Path, s4: float, s1: float, diff: float) -> None:
    (run / "metrics").mkdir(parents=True, exist_ok=True)
    table = [{"method": "mean shape", "nme": 0.2}, {"method": "S1", "nme": s1, "nme_generated": s1 - 0.01},
             {"method": "S4", "nme": s4, "nme_generated": s4 - 0.01}]
    claim = [{"claim": "S4 <= S1", "difference": diff, "ci95": [diff - 0.004, diff + 0.004],
              "verdict": "clearly holds" if diff + 0.004 < 0 else "holds (within noise)"}]
    (run / "metrics" / "03_ablations.json").write_text(json.dumps({"table": table, "claim": claim}))


def test_training_seed_moves_training_only():
    from s2ld_core.study.config import study_config

    cfg = study_config("quick", seed=3)
    assert cfg.training_seed == 3 and cfg.train_config("stage1").seed == 3
    cfg = study_config("quick", seed=3, train_seed=5)
    assert cfg.train_config("stage1").seed == 5 and cfg.train_config("stage2", "S4").seed == 5
    assert cfg.seed == 3  # the test sets, cameras and probes keep the data seed


def test_over_runs_table_and_claims(tmp_path):
    from s2ld_core.study.over_runs import aggregate, markdown

    runs = []
    for i, (s4, s1) in enumerate([(0.0500, 0.0559), (0.0532, 0.0500), (0.0504, 0.0500)]):
        runs.append(tmp_path / f"seed{i}")
        _fake_ablation_metrics(runs[-1], s4, s1, s4 - s1)
    (tmp_path / "seed9").mkdir()  # a run whose notebook 03 did not run
    result = aggregate([*runs, tmp_path / "seed9"])
    assert result["missing"] == [str(tmp_path / "seed9")] and len(result["runs"]) == 3
    s4 = next(r for r in result["table"] if r["method"] == "S4")
    assert s4["runs"] == 3 and s4["nme"] == pytest.approx(0.0512)
    assert s4["nme_values"] == [0.05, 0.0532, 0.0504] and "nme_generated_sd" in s4
    assert next(r for r in result["table"] if r["method"] == "mean shape")["runs"] == 3
    (claim,) = result["claims"]["claim"]
    assert claim["over_runs"]["differences"] == pytest.approx([-0.0059, 0.0032, 0.0004])
    assert claim["over_runs"]["half_width"] == pytest.approx(0.011581, abs=1e-5)
    assert claim["over_runs"]["verdict"] == "holds (within noise)"
    assert claim["per_run"][0]["verdict"] == "clearly holds"  # one run's faces said more than the runs do
    text = markdown(result)
    assert "| S4 | 3 | 5.12 ± 0.17 |" in text
    assert "| S4 <= S1 | -0.59 [-0.99, -0.19]; +0.32 [-0.08, +0.72]; +0.04 [-0.36, +0.44] | -0.08 " in text
    assert "holds (within noise) |" in text and "Not counted" in text


def test_study_runs_k_trains_each_seed_in_its_folder_and_writes_over_runs(tmp_path, monkeypatch, capsys):
    import argparse

    from s2ld_core.study import runner

    seen = []

    def fake_run_study(cfg, notebooks, nb_dir, **kwargs):
        seen.append((cfg.seed, cfg.training_seed, Path(cfg.run_dir)))
        r = cfg.training_seed - 7
        _fake_ablation_metrics(Path(cfg.run_dir), 0.05 + 0.001 * r, 0.06, -0.01 + 0.001 * r)

    monkeypatch.setattr(runner, "run_study", fake_run_study)
    parser = argparse.ArgumentParser()
    runner.add_study_arguments(parser)
    out = tmp_path / "study"
    runner.main_study(parser.parse_args(["--runs", "2", "--seed", "7", "--out", str(out), "--only", "03"]))
    assert seen == [(7, 7, out / "seed7"), (7, 8, out / "seed8")]
    saved = json.loads((out / "over_runs.json").read_text())
    assert saved["claims"]["claim"][0]["over_runs"]["runs"] == 2
    assert (out / "over_runs.md").read_text().startswith("**Table 1 over 2 training runs**")
    assert "| S4 <= S1 |" in capsys.readouterr().out
    runner.main_study(parser.parse_args(["--runs", "3", "--out", str(out), "--dry-run"]))
    assert "# --runs 3: training seeds 0, 1, 2 (data seed 0)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--runs must be >= 1"):
        runner.main_study(parser.parse_args(["--runs", "0", "--out", str(out)]))


def test_a_quick_report_shows_the_committed_reference_of_its_arm(tmp_path):
    """The reference over runs sits under a quick study's single-run Table 1, for the arm it ran;
    the pipe tables become HTML tables."""
    from s2ld_core.study import report
    from s2ld_core.study.over_runs import aggregate
    from s2ld_core.study.reference import arm_of, reference_markdown

    runs = []
    for i, (s4, s1) in enumerate([(0.0500, 0.0559), (0.0532, 0.0500)]):
        runs.append(tmp_path / "runs" / f"seed{i}")
        _fake_ablation_metrics(runs[-1], s4, s1, s4 - s1)
    ref = {**aggregate(runs), "about": {"budget": "the quick profile, 16 epochs", "time": "9 min per run"}}
    (tmp_path / "paper-arm.json").write_text(json.dumps(ref))
    assert arm_of({"train": {"stage2": {"lr_augment": "none"}}}) == "paper-arm"
    assert arm_of({"profile": "quick"}) == "camera-family"
    assert reference_markdown("camera-family", tmp_path) is None
    text = reference_markdown("paper-arm", tmp_path)
    assert "paper-arm, 2 training runs" in text and "the quick profile, 16 epochs" in text
    page = report._markdownish(text)
    assert '<table class="s2ld"><tr><th>method</th>' in page and "<td>5.16 ± 0.23</td>" in page
    assert "| S4" not in page


def test_table_3_over_runs_judges_each_alignment_against_none(tmp_path):
    from s2ld_core.study.over_runs import aggregate, markdown

    runs = []
    for i, (none, l3) in enumerate([(20.0, 24.0), (22.0, 25.0), (21.0, 26.0)]):
        runs.append(tmp_path / f"seed{i}")
        _fake_ablation_metrics(runs[-1], 0.05, 0.055, -0.005)
        settings = {"baseline": {"status": "ok", "top1": none, "num_probes": 400, "train_accuracy": 0.97},
                    "L3": {"status": "ok", "top1": l3, "num_probes": 400, "train_accuracy": 0.95},
                    "L4": {"status": "not run", "reason": "same as L3"}}
        (runs[-1] / "metrics" / "04_face_verification.json").write_text(json.dumps({"settings": settings}))
    v = aggregate(runs)["verification"]
    assert [r["setting"] for r in v["table"]] == ["baseline", "L3"] and v["runs"] == 3
    (claim,) = v["claims"]
    assert claim["differences"] == [-4.0, -3.0, -5.0] and claim["mean"] == pytest.approx(-4.0)
    # t(2) = 4.303, sd 1, n 3: half-width 2.484
    assert claim["half_width"] == pytest.approx(4.303 / 3 ** 0.5, abs=1e-3)
    assert claim["verdict"] == "clearly holds"
    text = markdown(aggregate(runs))
    assert "| L3 | 400 | 25.0 ± 1.0 | 95.0 ± 0.0 |" in text
    row = "| L3 < no alignment (top-1 error) | -4.0; -3.0; -5.0 | -4.0 | [-6.5, -1.5] | clearly holds |"
    assert row in text
