"""The study notebooks: committed clean, one ``parameters`` cell, and all five run under papermill.

The execution test runs the real notebooks through :func:`s2ld_core.study.runner.run_study` (papermill
underneath) with tiny data (a few dozen rendered faces) and one training step per network, then checks
what each notebook recorded in ``metrics/<notebook>.json``.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import nbformat
import pytest
from study_params import TINY_STUDY

from s2ld_core.study import runner
from s2ld_core.study.config import NOTEBOOKS, study_config
from s2ld_core.study.evaluation import DLIB_ROW
from s2ld_core.study.notebooks import problems

ROOT = Path(__file__).resolve().parents[1]
# the study notebooks (00_quickstart is not part of the study; tests/test_photo.py runs it)
NOTEBOOK_FILES = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if not p.stem.startswith("00_"))
PARAMETERS = {
    "profile",
    "run_dir",
    "hr_data",
    "target_lr",
    "epochs",
    "max_steps",
    "seed",
    "device",
    "interactive",
    "overrides",
}


def test_every_study_notebook_is_there():
    assert [p.stem for p in NOTEBOOK_FILES] == list(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert problems(nb) == [], f"{path.name}: run `python -m s2ld_core.study.notebooks {path}` to strip it"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, "per-run metadata must not be committed"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_parameters_cell_declares_the_study_parameters_with_defaults(path):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = {
        t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets
    }
    assert names == PARAMETERS
    env: dict = {}
    exec(cell.source, env)  # noqa: S102 - our own committed cell: plain literal assignments
    assert env["profile"] == "quick" and env["epochs"] is None and env["max_steps"] is None
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'notebook="{path.stem}"' in code, "each notebook records its metrics under its own name"


TINY = {**TINY_STUDY}


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    cfg = study_config("quick", run_dir=str(tmp / "run"), cache_dir=str(tmp / "cache"), **TINY)
    result = runner.run_study(cfg, progress=False)
    return result.root


def _metrics(root: Path, nb: str) -> dict:
    return json.loads((root / "metrics" / f"{nb}.json").read_text())


def _finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_study_writes_report_checkpoints_and_exports(tiny_study):
    root = tiny_study
    for name in ("G1", "G1_target", "S1", "S2", "S3", "S4", "S4_target", "hrld"):
        assert (root / "checkpoints" / f"{name}.pt").exists(), name
        assert (root / "runs" / name / "stats.jsonl").exists(), name
    for nb in NOTEBOOKS:
        assert (root / "notebooks" / f"{nb}.html").exists(), nb
        executed = nbformat.read(root / "notebooks" / f"{nb}.ipynb", as_version=4)
        assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
        assert not any(
            "application/vnd.jupyter.widget-view+json" in o.get("data", {})
            for c in executed.cells
            for o in c.get("outputs", [])
        ), f"{nb}: widgets under papermill"
    index = (root / "index.html").read_text()
    assert "Ablations S1–S4" in index and "data:image/png;base64," in index
    metrics = json.loads((root / "metrics.json").read_text())
    assert set(metrics["notebooks"]) == set(NOTEBOOKS)


@pytest.mark.slow
def test_01_records_g1_and_lr_statistics(tiny_study):
    m = _metrics(tiny_study, "01_high_to_low")
    assert m["G1"]["steps"] == 2 and "l_pixel" in m["G1"]["final_losses"]
    assert set(m["lr_statistics"]) == {"real LR", "G1(HR)", "F(HR)", "target LR"}
    assert all(math.isfinite(v["sharpness"]) for v in m["lr_statistics"].values())
    assert "of 3 statistics" in m["lr_statistics_verdict"]
    assert (tiny_study / "figures" / "g1_samples.png").exists()


@pytest.mark.slow
def test_02_records_s4_training_and_scores(tiny_study):
    m = _metrics(tiny_study, "02_semi_supervised_landmarks")
    assert {"l_MSE", "l_kp", "l_conf", "k_t", "l_D3"} <= set(m["S4"]["final_losses"])
    assert _finite_positive(m["S4_scores"]["target_test"]["nme"])
    assert m["S4_scores"]["target_test"]["normalizer"] == "box"
    assert set(m["S4_scores"]["mean_confidence"]) == {"target LR test", "target LR pool", "real LFW faces"}


@pytest.mark.slow
def test_03_records_table_1_and_the_claim(tiny_study):
    m = _metrics(tiny_study, "03_ablations")
    methods = [r["method"] for r in m["table"]]
    dlib = [DLIB_ROW] if DLIB_ROW in methods else []  # an optional extra; otherwise a note says why
    assert methods == [
        "mean shape", "upscale + HR-LD", "bicubic SR + HR-LD", *dlib,
        "S1", "S2", "S3", "S4", "S4, raw decoding",
    ]
    assert bool(dlib) != any(n.startswith(DLIB_ROW) for n in m["table_notes"])
    for row in m["table"]:
        assert _finite_positive(row["nme"]) and _finite_positive(row["nme_generated"]), row
        assert {"auc@0.08", "auc@0.10", "fr@0.08", "fr@0.10", "train_seconds", "ms_per_face"} <= set(row)
    assert [c["claim"] for c in m["claim"]] == ["S4 <= S3", "S3 <= S2", "S2 < S1"]
    real = {r["method"]: r for r in m["real_faces"]}  # the 43 PASCAL faces, scored, never trained on
    assert set(real) == set(methods) and all(_finite_positive(r["native"]) for r in real.values())
    assert "paper's ordering" in m["claim_summary"]
    assert isinstance(m["undertrained"], bool) and [c["claim"] for c in m["claim_generated"]] == [
        "S4 <= S3",
        "S3 <= S2",
        "S2 < S1",
    ]


@pytest.mark.slow
def test_04_records_table_3a(tiny_study):
    m = _metrics(tiny_study, "04_face_verification")
    s = m["settings"]
    assert list(s) == ["baseline", "upscale + HR-LD", "L1", "L2", "L3", "L4", "L5"]
    for name in ("baseline", "upscale + HR-LD", "L1", "L2", "L3", "L4"):
        assert s[name]["status"] == "ok" and 0 <= s[name]["top1"] <= 100 and s[name]["seconds"] > 0, name
        assert {"top5", "top10", "top20", "mAP", "cmc"} <= set(s[name])
    # L5 starts from the shipped LightCNN-9 (the quick profile's default), labelled as such
    assert s["L5"]["status"] == "ok" and "pretrained, shipped" in s["L5"]["description"]


@pytest.mark.slow
def test_05_records_table_5(tiny_study):
    m = _metrics(tiny_study, "05_hr_landmark_detector")
    assert [r["normalizer"] for r in m["table"]] == ["box", "interocular"]
    assert all(_finite_positive(r["nme"]) for r in m["table"])
    assert m["HR-LD"]["steps"] == 2
