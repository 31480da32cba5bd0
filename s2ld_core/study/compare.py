"""Do two study runs measure the same thing? Compare every figure two run folders recorded.

A study records what each notebook measured in ``<run>/metrics/<notebook>.json``. Two runs with the
same seed, the same thread count and the same machine must agree there exactly, figure for figure.
What may differ is set aside, by name, never silently: how long things took (``TIMING_KEYS``),
whether a step trained or reused a finished checkpoint (``PROVENANCE_KEYS``), and the run folder's
own path inside strings (each run's root reads ``<run>``). NaN equals NaN; everything else must be
``==``, floats included: a repeatable study has no tolerance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMING_KEYS = frozenset({"seconds", "train_seconds", "ms_per_face"})
PROVENANCE_KEYS = frozenset({"reused"})


@dataclass(frozen=True)
class Difference:
    """One figure that differs: the metrics file, its dotted path inside it, and both values
    (``MISSING`` where one run lacks it)."""

    file: str
    path: str
    left: Any
    right: Any


MISSING = "<missing>"


@dataclass
class StudyComparison:
    """What :func:`compare_studies` found: the files and figures compared, how many were set aside,
    and every difference."""

    left: Path
    right: Path
    files: list[str] = field(default_factory=list)
    compared: int = 0
    set_aside: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        """One line for the terminal or a closing note."""
        head = (f"{self.compared} figures in {len(self.files)} metrics files "
                f"({self.set_aside} timings/provenance set aside)")
        if self.identical:
            return f"identical: {head}"
        return f"{len(self.differences)} differ of {head}"

    def markdown(self, limit: int = 40) -> str:
        """The summary and, if any, a table of the first ``limit`` differences."""
        lines = [self.summary()]
        if self.differences:
            lines += ["", "| file | figure | left | right |", "|---|---|---:|---:|"]
            lines += [f"| {d.file} | `{d.path}` | {_cell(d.left)} | {_cell(d.right)} |"
                      for d in self.differences[:limit]]
            if len(self.differences) > limit:
                lines.append(f"| … | {len(self.differences) - limit} more | | |")
        return "\n".join(lines)


def _cell(value: Any, width: int = 60) -> str:
    """A value as one table cell: one line, pipes escaped, long text cut to ``width`` characters."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def compare_studies(left: str | Path, right: str | Path) -> StudyComparison:
    """Compare ``left/metrics/*.json`` with ``right/metrics/*.json``, figure for figure."""
    left, right = Path(left), Path(right)
    files = _metrics_files(left) | _metrics_files(right)
    out = StudyComparison(left, right, files=sorted(files))
    for name in out.files:
        a, b = _load(left, name), _load(right, name)
        if a is MISSING or b is MISSING:
            out.differences.append(Difference(name, "(the whole file)", _presence(a), _presence(b)))
            continue
        fa, aside_a = _flatten(a, _root_text(left))
        fb, aside_b = _flatten(b, _root_text(right))
        out.set_aside += max(aside_a, aside_b)
        for path in sorted(fa.keys() | fb.keys()):
            va, vb = fa.get(path, MISSING), fb.get(path, MISSING)
            out.compared += 1
            if not _equal(va, vb):
                out.differences.append(Difference(name, path, va, vb))
    return out


def _metrics_files(run: Path) -> set[str]:
    folder = run / "metrics"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no metrics folder (is {run} a study run folder?)")
    return {p.name for p in folder.glob("*.json")}


def _load(run: Path, name: str) -> Any:
    path = run / "metrics" / name
    if not path.exists():
        return MISSING
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def _presence(value: Any) -> str:
    return MISSING if value is MISSING else "present"


def _root_text(run: Path) -> list[str]:
    """The spellings of a run folder that may appear inside recorded strings."""
    return sorted({str(run), str(run.resolve())}, key=len, reverse=True)


def _flatten(value: Any, roots: list[str]) -> tuple[dict[str, Any], int]:
    flat: dict[str, Any] = {}
    aside = 0
    for path, leaf, key in _leaves(value, ""):
        if key in TIMING_KEYS or key in PROVENANCE_KEYS:
            aside += 1
            continue
        if isinstance(leaf, str):
            for root in roots:
                leaf = leaf.replace(root, "<run>")
        flat[path] = leaf
    return flat, aside


def _leaves(value: Any, path: str, key: str | None = None) -> Iterator[tuple[str, Any, str | None]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]", key)
    else:
        yield path, value, key


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
