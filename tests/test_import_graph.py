"""The package's layering, read from the source: ``s2ld_core`` never imports the app or the benchmarks
(they add their commands through entry points), ``data/`` never imports ``inference/``, and no module
imports itself round a circle — in-function imports included, ``if TYPE_CHECKING:`` blocks not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "s2ld_core"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _imports(path: Path) -> set[str]:
    """Absolute names of what ``path`` imports at run time."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names]
                out.update([target, *names])
            else:
                out.add(node.module or "")
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (a name resolves to its longest module prefix)."""
    sources = {_module(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name:
            if name in sources:
                return name
            name = name.rpartition(".")[0]
        return None

    out = {}
    for module, path in sources.items():
        targets = {resolve(t) for t in _imports(path) if t.startswith("s2ld_core")}
        out[module] = {t for t in targets if t and t != module and t != "s2ld_core"}
    return out


def test_core_never_imports_the_app_or_the_benchmarks():
    offenders = [
        (_module(p), name) for p in PACKAGE.rglob("*.py") for name in _imports(p)
        if name.split(".")[0] in ("annotator", "benchmarks")
    ]
    assert offenders == []


def test_data_never_imports_inference(graph):
    offenders = [(m, t) for m, ts in graph.items() if m.startswith("s2ld_core.data")
                 for t in ts if t.startswith("s2ld_core.inference")]
    assert offenders == []


def test_no_import_circles(graph):
    """Tarjan's strongly connected components: any of two or more modules is a circle. A package's
    ``__init__`` re-exporting its own modules is not one (the edge runs one way)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_app_and_the_benchmarks_register_their_commands():
    from s2ld_core.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"annotate", "demo", "agreement", "bench"} <= set(commands)
