"""The quick subset of ``benchmarks/fuzz_inputs.py``: a few inputs of every entry point, each in a
forked child; none may end in a traceback, modify an input or use more than 1 GiB. The full run (over
2,000 inputs, ``python benchmarks/fuzz_inputs.py``) and its table are in ``docs/robustness.md``."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("gradio")
if not hasattr(__import__("os"), "fork") or sys.platform == "win32":  # pragma: no cover
    pytest.skip("the fuzz harness forks a child per input", allow_module_level=True)

import json  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.fuzz_inputs import Outcome, failures, summarise, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

ENTRIES = {"predict image", "annotate image", "demo upload", "evaluate image", "predict --faces",
           "evaluate --annotations", "evaluate --imglab", "annotate import", "API", "outputs"}


def _quick_outcomes(work: Path) -> list[Outcome]:
    """The quick cases run from a fresh interpreter, as the benchmark runs: a forked child's peak RSS
    counts the pages it shares with its parent, and a pytest process deep into the suite holds far
    more than the harness alone (1.2 GB against 0.2 GB), which would be charged to every input."""
    code = ("import json, sys; from dataclasses import asdict; sys.path.insert(0, sys.argv[1]); "
            "from benchmarks.fuzz_inputs import run_cases; "
            "print(json.dumps([asdict(o) for o in run_cases(sys.argv[2], seed=0, quick=True)]))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(work)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [Outcome(**o) for o in json.loads(done.stdout.strip().splitlines()[-1])]


def test_every_entry_point_fails_cleanly_and_leaves_inputs_alone(tmp_path):
    outcomes = _quick_outcomes(tmp_path / "work")
    rows = summarise(outcomes)
    print("\n" + table(rows))
    assert set(rows) - {"all"} == ENTRIES
    assert [(o.entry, o.case, o.result, o.message, o.modified, o.rss_mb) for o in failures(outcomes)] == []
    assert rows["all"]["clean errors"] >= 10 and rows["all"]["successes"] >= 2  # both paths exercised
    bombs = [o for o in outcomes if "20000x20000" in o.case]
    assert bombs and all(o.result == "error" and "20000x20000 px" in o.message for o in bombs)
