"""S4 against "upscale, then an HR detector" (the paper's Fig. 1c; HR-LD and dlib ×4): judged per
face in each run, then over runs with ``--runs K`` beside the paper's ordering."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from s2ld_core.study import steps
from s2ld_core.study.analysis import ONE_RUN, check_against_baselines
from s2ld_core.study.evaluation import DLIB_ROW, ablation_claims, upscaling_baselines

UPSCALE = "upscale + HR-LD (pretrained, shipped)"


def test_s4_against_each_upscaling_row_in_the_per_face_words():
    rng = np.random.default_rng(0)
    s4 = rng.uniform(0.05, 0.1, 200)
    errors = {"S4": s4, UPSCALE: s4 + 0.5, DLIB_ROW: s4[::-1].copy()}
    comps, text = check_against_baselines(errors, "S4", [UPSCALE, DLIB_ROW])
    assert [c.as_dict()["claim"] for c in comps] == [f"S4 < {UPSCALE}", f"S4 < {DLIB_ROW}"]
    assert comps[0].verdict == "clearly holds" and comps[0].diff == pytest.approx(-0.5)
    assert "within noise" in comps[1].verdict  # the same faces in another order: no difference
    assert ONE_RUN in text and f"**S4 < {UPSCALE}**" in text and "+50.00" not in text
    assert upscaling_baselines(["mean shape", UPSCALE, "bicubic SR + HR-LD", DLIB_ROW, "S4"]) == [
        UPSCALE, DLIB_ROW]


def test_ablation_claims_records_the_comparison_against_upscaling(tmp_path):
    study = steps.open_study("quick", str(tmp_path / "run"), interactive=False, notebook="03_ablations")
    rng = np.random.default_rng(1)
    base = rng.uniform(0.05, 0.1, 100)
    errors = {"S1": base + 0.03, "S2": base + 0.02, "S3": base + 0.01, "S4": base, UPSCALE: base + 0.8}
    ablation = SimpleNamespace(
        evaluations={k: SimpleNamespace(errors=v) for k, v in errors.items()},
        generated={},
        rows=[{"method": k, "nme": float(v.mean())} for k, v in errors.items()],
    )
    text = ablation_claims(study, ablation)
    m = json.loads((tmp_path / "run" / "metrics" / "03_ablations.json").read_text())
    assert [c["claim"] for c in m["claim"]] == ["S4 <= S3", "S3 <= S2", "S2 < S1"]  # unchanged
    (c,) = m["claim_baselines"]
    assert c["claim"] == f"S4 < {UPSCALE}" and c["verdict"] == "clearly holds"
    assert c["difference"] == pytest.approx(-0.8)
    assert f"S4 < {UPSCALE}" in m["claim_summary"] and f"S4 < {UPSCALE}" in text


def _fake_run(run, diff: float) -> None:
    (run / "metrics").mkdir(parents=True)
    table = [{"method": "S4", "nme": 0.06}, {"method": UPSCALE, "nme": 0.06 - diff}]
    claim = [{"claim": "S4 <= S3", "difference": 0.0, "ci95": [-0.01, 0.01],
              "verdict": "holds (within noise)"}]
    baselines = [{"claim": f"S4 < {UPSCALE}", "difference": diff, "ci95": [diff - 0.004, diff + 0.004],
                  "verdict": "clearly holds" if diff + 0.004 < 0 else "violated (within noise)"}]
    (run / "metrics" / "03_ablations.json").write_text(
        json.dumps({"table": table, "claim": claim, "claim_baselines": baselines})
    )


def test_the_comparison_against_upscaling_is_judged_over_runs(tmp_path):
    from s2ld_core.study.over_runs import aggregate, markdown

    runs = []
    for i, diff in enumerate([-0.0059, 0.0032, 0.0004]):
        runs.append(tmp_path / f"seed{i}")
        _fake_run(runs[-1], diff)
    result = aggregate(runs)
    (c,) = result["claims"]["claim_baselines"]
    v = c["over_runs"]
    # by hand, in points: mean -0.23/3 = -0.07667, sd sqrt(0.43447/2) = 0.46608, se 0.26909,
    # t(0.975, 2) = 4.3027, half-width 1.15781: [-1.23448, +1.08114]
    assert v["mean"] == pytest.approx(-0.0007667, abs=1e-7)
    assert v["sd"] == pytest.approx(0.0046608, abs=1e-7)
    assert v["ci95"] == pytest.approx([-0.0123448, 0.0108114], abs=2e-7)
    assert v["verdict"] == "holds (within noise)"
    text = markdown(result)
    assert "**S4 against upscale + an HR detector over runs, target-LR test, against upscaling**" in text
    each = "-0.59 [-0.99, -0.19]; +0.32 [-0.08, +0.72]; +0.04 [-0.36, +0.44]"
    assert f"| S4 < {UPSCALE} | {each} | -0.08 | [-1.23, +1.08] | holds (within noise) |" in text
    one = aggregate(runs[:1])["claims"]["claim_baselines"][0]["over_runs"]
    assert one["verdict"] == ONE_RUN and one["ci95"] is None
