"""The quick subset of ``benchmarks/fuzz_inputs.py``: a few inputs of every entry point, each in a
forked child; none may end in a traceback, modify an input or use more than 1 GiB. The full run (over
2,000 inputs, ``python benchmarks/fuzz_inputs.py``) and its table are in ``docs/robustness.md``."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("gradio")
if not hasattr(__import__("os"), "fork") or sys.platform == "win32":  # pragma: no cover
    pytest.skip("the fuzz harness forks a child per input", allow_module_level=True)

from benchmarks.fuzz_inputs import failures, run_cases, summarise, table  # noqa: E402

ENTRIES = {"predict image", "annotate image", "demo upload", "evaluate image", "predict --faces",
           "evaluate --annotations", "evaluate --imglab", "annotate import", "API", "outputs"}


def test_every_entry_point_fails_cleanly_and_leaves_inputs_alone(tmp_path):
    outcomes = run_cases(tmp_path / "work", seed=0, quick=True)
    rows = summarise(outcomes)
    print("\n" + table(rows))
    assert set(rows) - {"all"} == ENTRIES
    assert [(o.entry, o.case, o.result, o.message, o.modified, o.rss_mb) for o in failures(outcomes)] == []
    assert rows["all"]["clean errors"] >= 10 and rows["all"]["successes"] >= 2  # both paths exercised
    bombs = [o for o in outcomes if "20000x20000" in o.case]
    assert bombs and all(o.result == "error" and "20000x20000 px" in o.message for o in bombs)
