"""The set-up files agree with each other and the README's two commands stay what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {_name(r) for r in reqs}


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-")}
        elif _name(dep) not in ("python", "pip"):
            names.add(_name(dep))
    return names


def test_environment_yml_mirrors_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_versions_agree_between_the_two_lists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    pins = {_name(r): r.replace(" ", "")[len(_name(r)) :] for r in reqs}
    text = (ROOT / "environment.yml").read_text()
    for name, spec in pins.items():
        if spec:
            assert re.search(rf"\b{re.escape(name)}{re.escape(spec)}", text, re.I) or re.search(
                rf"\b{re.escape(name.replace('-', '_'))}{re.escape(spec)}", text, re.I
            ), (name, spec)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme.split("## Quick start", 1)[1], re.S)
    test_cmd = next(c.strip() for c in commands if "pytest" in c)
    assert test_cmd in ci


def test_setup_never_asks_for_an_unpinned_cpu_torch():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "torch==${S2LD_TORCH_VERSION:-2.13.0}" in setup
