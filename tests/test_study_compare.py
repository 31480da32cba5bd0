"""Comparing two study runs: exact on every figure, blind only to timings, provenance and the run's
own path, and loud about what differs or is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from s2ld_core.study.compare import MISSING, compare_studies

ROOT = Path(__file__).resolve().parents[1]


def _run(root: Path, metrics: dict[str, dict]) -> Path:
    (root / "metrics").mkdir(parents=True)
    for name, m in metrics.items():
        (root / "metrics" / f"{name}.json").write_text(json.dumps(m))
    return root


def _table(root: Path, s4: float, seconds: float, reused: bool) -> dict:
    return {
        "table": [{"method": "S4", "nme": s4, "train_seconds": seconds, "reused": reused,
                   "checkpoint": f"{root}/checkpoints/S4.pt"}],
        "verification": {"top1": [17.75, float("nan")], "seconds": seconds},
    }


def test_runs_that_differ_only_in_timings_provenance_and_folder_are_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, {"03_ablations": _table(a, 8.32, 100.0, False)})
    _run(b, {"03_ablations": _table(b, 8.32, 250.5, True)})
    c = compare_studies(a, b)
    assert c.identical, c.markdown()
    # nme, checkpoint, method, top1[0], top1[1] (NaN == NaN); three keys set aside
    assert (c.compared, c.set_aside) == (5, 3)
    assert c.summary() == "identical: 5 figures in 1 metrics files (3 timings/provenance set aside)"


def test_the_last_digit_and_a_missing_figure_or_file_differ(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    right = _table(b, 8.3200001, 1.0, False)
    right["extra"] = 1
    _run(a, {"03_ablations": _table(a, 8.32, 1.0, False), "04_face_verification": {"top1": 17.75}})
    _run(b, {"03_ablations": right})
    c = compare_studies(a, b)
    found = {(d.file, d.path): (d.left, d.right) for d in c.differences}
    assert found == {
        ("03_ablations.json", "table[0].nme"): (8.32, 8.3200001),
        ("03_ablations.json", "extra"): (MISSING, 1),
        ("04_face_verification.json", "(the whole file)"): ("present", MISSING),
    }
    assert not c.identical and c.summary().startswith("3 differ of ")
    assert "| 03_ablations.json | `table[0].nme` | 8.32 | 8.3200001 |" in c.markdown()


def test_an_integer_is_not_the_float_it_equals(tmp_path):
    a = _run(tmp_path / "a", {"x": {"n": 400}})
    b = _run(tmp_path / "b", {"x": {"n": 400.0}})
    assert not compare_studies(a, b).identical


def test_the_script_exits_0_1_or_2_with_one_line(tmp_path):
    a = _run(tmp_path / "a", {"x": {"nme": 1.0}})
    b = _run(tmp_path / "b", {"x": {"nme": 2.0}})
    script = [sys.executable, str(ROOT / "scripts" / "compare_studies.py")]
    same = subprocess.run([*script, str(a), str(a)], capture_output=True, text=True)
    assert same.returncode == 0 and same.stdout.startswith("identical: 1 figures"), same.stderr
    differ = subprocess.run([*script, str(a), str(b)], capture_output=True, text=True)
    assert differ.returncode == 1 and "| x.json | `nme` | 1.0 | 2.0 |" in differ.stdout
    broken = _run(tmp_path / "c", {})
    (broken / "metrics" / "x.json").write_text("{not json")
    bad = subprocess.run([*script, str(a), str(broken)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"error: {broken / 'metrics' / 'x.json'}: not valid JSON")
    nowhere = subprocess.run([*script, str(a), str(tmp_path / "none")], capture_output=True, text=True)
    assert nowhere.returncode == 2 and "no metrics folder" in nowhere.stderr


def test_a_folder_without_metrics_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics folder"):
        compare_studies(tmp_path, tmp_path)
