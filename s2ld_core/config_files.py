"""Configurations as nested dataclasses that round-trip through YAML: the one loader every config uses
(:class:`~s2ld_core.train.config.TrainConfig`, :class:`~s2ld_core.study.config.StudyConfig`).

A dict becomes a dataclass field by field: a nested dataclass from a nested dict, a tuple field from
a YAML list; an unknown key is an error that names its full path (``study.data.faces``), because a
misspelt key would otherwise be ignored silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import yaml

__all__ = ["YamlConfig", "from_dict", "read_mapping", "merge", "plain", "assignments", "with_settings"]


class YamlConfig:
    """``to_dict``/``to_yaml``/``from_dict``/``from_yaml`` for a configuration dataclass that derives
    from it. ``config_name`` names it in field errors (``study.data.faces``), ``config_what`` in file
    errors (``cannot read the study config``)."""

    config_name: ClassVar[str] = "config"
    config_what: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_yaml(self) -> str:
        return yaml.safe_dump(plain(self.to_dict()), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return from_dict(cls, data, cls.config_name)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        return cls.from_dict(read_mapping(path, cls.config_what))


def from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    """``cls`` (a dataclass with defaults) built from ``data``; ``where`` names it in errors."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(f'{where}.{u}' for u in unknown)}")
    template = cls()
    kwargs = {}
    for name, value in data.items():
        default = getattr(template, name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple) and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping in the YAML file ``path``; a :class:`ValueError` naming the file and ``what`` it
    should hold if it cannot be read or is not a mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the {what}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a {what} must be a mapping")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides`` recursively (nested dicts merge, other values replace)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def plain(obj: Any) -> Any:
    """Tuples as lists, recursively: what ``yaml.safe_dump`` can write."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def _value(text: str) -> Any:
    """A ``--set`` value as YAML reads it (``0.01``, ``true``, ``[16, 32]``, ``none`` stays the word),
    with ``1e-3`` a number although YAML 1.1 wants ``1.0e-3``."""
    value = yaml.safe_load(text) if text.strip() else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def assignments(items: Sequence[str] | None, option: str = "--set") -> dict[str, Any]:
    """``["stage2.c=0.01", "optim.lr=1e-3"]`` → ``{"stage2": {"c": 0.01}, "optim": {"lr": 0.001}}``:
    the one generic override of every configuration (``s2ld train … --set``, ``s2ld study … --set``).
    A malformed item is a :class:`ValueError` naming it; an unknown key is refused later, by
    :func:`from_dict`, with its full path."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise ValueError(f"{option} {item!r}: expected KEY=VALUE with a dotted KEY, e.g. stage2.c=0.01")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{option} {item!r}: {part} is set twice, as a value and as a section")
        node[path[-1]] = _value(text)
    return out


C = TypeVar("C", bound=YamlConfig)


def with_settings(cfg: C, items: Sequence[str] | None, option: str = "--set") -> C:
    """``cfg`` with ``--set KEY=VALUE`` items applied (a new object; unknown keys are errors)."""
    if not items:
        return cfg
    return type(cfg).from_dict(merge(cfg.to_dict(), assignments(items, option)))
