"""Every reader, fed truncated, binary, huge and mislabelled inputs: one clear line each, no writes.

The inputs and the classification live in ``benchmarks/fuzz_readers.py`` (which also prints the
table); here every outcome must be "accepted" or "one-line error", and no file may change.
"""

from __future__ import annotations

from benchmarks.fuzz_readers import run_fuzz, summarise, table

READERS = {"pts", "aflw-csv", "wider-bbx", "coco", "annotation-json", "imglab-xml", "wider-image", "tinyface"}


def test_every_reader_fails_cleanly_on_every_corruption(tmp_path):
    outcomes = run_fuzz(tmp_path / "work", seed=0)
    rows = summarise(outcomes)
    print("\n" + table(rows))
    assert set(rows) - {"all"} == READERS
    assert all(rows[r]["inputs"] >= 20 for r in READERS)
    assert all(rows[r]["one-line errors"] >= 15 for r in READERS)  # the corruptions really are refused
    bad = [(o.reader, o.case, o.result, o.message, o.changed) for o in outcomes
           if o.result not in ("accepted", "error") or o.changed]
    assert bad == []
    valid = {o.reader for o in outcomes if o.case == "valid" and o.result == "accepted"}
    assert valid == READERS  # the untouched fixture still reads: the harness itself is sound

