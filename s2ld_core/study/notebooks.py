"""Keeping committed notebooks diff-friendly: no outputs, no execution counts, one parameters cell.

Executed copies live only under ``reports/<run>/``. To strip on every commit without extra tools,
``.gitattributes`` routes ``*.ipynb`` through a clean filter that a checkout enables once with::

    git config filter.s2ld-strip.clean ".venv/bin/python -m s2ld_core.study.notebooks --stdin"
    git config filter.s2ld-strip.smudge cat

and ``python -m s2ld_core.study.notebooks notebooks/*.ipynb`` strips files in place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

from ..atomic import atomic_write_text

KEEP_METADATA = ("kernelspec", "language_info")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and per-run metadata (papermill's, widgets' state)."""
    nb.metadata = nbformat.NotebookNode({k: v for k, v in nb.metadata.items() if k in KEEP_METADATA})
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = nbformat.NotebookNode(
            {"name": nb.metadata["language_info"].get("name", "python")}
        )
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.NotebookNode({"tags": tags} if tags else {})
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What keeps a notebook from being committable: outputs, execution counts, != 1 parameters cell."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("outputs"):
            found.append(f"cell {i} has outputs")
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        found.append(f"{len(tagged)} cells tagged 'parameters' (need exactly 1)")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m s2ld_core.study.notebooks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("files", nargs="*", help="notebooks to strip in place")
    parser.add_argument("--stdin", action="store_true", help="strip stdin to stdout (git clean filter)")
    parser.add_argument("--check", action="store_true", help="only report problems; exit 1 if any")
    args = parser.parse_args(argv)
    if args.stdin:
        nb = nbformat.reads(sys.stdin.read(), as_version=4)
        sys.stdout.write(nbformat.writes(strip(nb)) + "\n")
        return 0
    bad = 0
    for f in args.files:
        nb = nbformat.read(f, as_version=4)
        if args.check:
            for p in problems(nb):
                print(f"{f}: {p}")
                bad += 1
        else:
            atomic_write_text(Path(f), nbformat.writes(strip(nb)) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
