"""What the annotator asks people to place: a landmark schema plus the groups its list shows and, where
known, where each point sits on a schematic face (the reference diagram).

Built-in schemas (``ibug68``, ``aflw19``, ``five``) get their groups from their point names and their
diagram from :func:`annotator.pictures.canonical_points`. Any other point set comes from a small
schema file (YAML or JSON) -- the point names in order, optionally each point's group and its spot on
a frontal face in the unit square, and the left/right pairs a mirror swaps::

    name: eyes_nose_chin
    points:
      - {name: eye_left, group: eyes, at: [0.32, 0.40]}
      - {name: eye_right, group: eyes, at: [0.68, 0.40]}
      - {name: nose_tip, group: nose, at: [0.50, 0.60]}
      - {name: chin, at: [0.50, 0.95]}          # group from the name ("chin" -> jaw), no diagram spot
    pairs: [[eye_left, eye_right]]

A point given as a bare string is just its name. Everything is checked up front and every problem is
one line naming the file: a tool people annotate hundreds of faces with must not find out at face 300
that two points share a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2ld_core.schemas import SCHEMAS, Schema, get_schema

__all__ = ["GROUP_ORDER", "PointSet", "point_set", "load_point_set", "group_of"]

GROUP_ORDER = ("jaw", "brows", "nose", "eyes", "mouth", "other")
_GROUP_WORDS = (("jaw", "jaw"), ("chin", "jaw"), ("brow", "brows"), ("nose", "nose"), ("eye", "eyes"),
                ("mouth", "mouth"), ("lip", "mouth"))
MAX_POINTS = 200


def group_of(name: str) -> str:
    """The list group of a point name: the first of jaw/chin, brow, nose, eye, mouth/lip it starts
    with (``brow_left_0`` -> brows, ``eye_left`` -> eyes); ``other`` when none does."""
    low = name.lower()
    for word, group in _GROUP_WORDS:
        if low.startswith(word):
            return group
    return "other"


@dataclass(frozen=True)
class PointSet:
    """A schema with the annotator's extras: ``groups[k]`` names point k's group, ``template`` is
    ``(K, 2)`` in the unit square (NaN rows: no diagram spot) or ``None`` (no diagram at all)."""

    schema: Schema
    groups: tuple[str, ...]
    template: np.ndarray | None = None
    source: str | None = None  # the schema file, for messages

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def num_points(self) -> int:
        return self.schema.num_points

    @property
    def builtin(self) -> bool:
        return SCHEMAS.get(self.schema.name) == self.schema

    def grouped(self) -> list[tuple[str, list[int]]]:
        """``[(group, [point indices])]`` in :data:`GROUP_ORDER`, each group's points in schema order."""
        out = []
        for g in GROUP_ORDER:
            idx = [k for k, gk in enumerate(self.groups) if gk == g]
            if idx:
                out.append((g, idx))
        return out

    def label(self, k: int) -> str:
        return f"{k + 1}. {self.schema.point_names[k].replace('_', ' ')}"

    def __eq__(self, other: object) -> bool:  # the ndarray field makes the generated __eq__ ambiguous
        return isinstance(other, PointSet) and self.schema == other.schema and self.groups == other.groups

    def __hash__(self) -> int:
        return hash((self.schema, self.groups))


def point_set(schema: str | Schema | PointSet | os.PathLike[str]) -> PointSet:
    """A :class:`PointSet` from a built-in schema name, a :class:`Schema`, or a schema file path
    (a string ending in ``.yaml``/``.yml``/``.json``, or any path that exists)."""
    if isinstance(schema, PointSet):
        return schema
    if isinstance(schema, Schema):
        template = None
        if SCHEMAS.get(schema.name) == schema:
            from .pictures import canonical_points

            template = canonical_points(schema)
        return PointSet(schema, tuple(group_of(n) for n in schema.point_names), template)
    text = os.fspath(schema)
    if text in SCHEMAS:
        return point_set(get_schema(text))
    if text.lower().endswith((".yaml", ".yml", ".json")) or Path(text).is_file():
        return load_point_set(text)
    raise ValueError(f"unknown schema {text!r}: use one of {', '.join(sorted(SCHEMAS))} or a schema file "
                     "(.yaml/.json, see docs/annotator.md)")


def _fail(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}")


def _read(path: Path) -> object:
    import yaml

    from s2ld_core.data.formats.errors import FormatError, load_json, read_text

    if not path.is_file():
        raise _fail(path, "no such schema file")
    try:
        if path.suffix.lower() == ".json":
            return load_json(path)
        return yaml.safe_load(read_text(path))
    except FormatError as exc:
        raise ValueError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise _fail(path, f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _point(path: Path, k: int, item: object) -> tuple[str, str | None, list[float] | None]:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise _fail(path, f"point {k + 1} must be a name or a mapping with 'name', got {item!r}")
    unknown = set(item) - {"name", "group", "at"}
    if unknown:
        raise _fail(path, f"point {k + 1} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip("_")):
        raise _fail(path, f"point {k + 1}: 'name' must be a word such as eye_left, got {name!r}")
    group = item.get("group")
    if group is not None and group not in GROUP_ORDER:
        raise _fail(path, f"point {name!r}: group {group!r} is not one of {', '.join(GROUP_ORDER)}")
    at = item.get("at")
    if at is not None:
        ok = isinstance(at, list) and len(at) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in at)
        if not ok:
            raise _fail(path, f"point {name!r}: 'at' must be [x, y] in the unit square, got {at!r}")
        at = [float(at[0]), float(at[1])]
    return name.strip(), group, at


def _flip(path: Path, names: list[str], pairs: object) -> tuple[int, ...]:
    perm = list(range(len(names)))
    if pairs is None:
        return tuple(perm)
    if not isinstance(pairs, list):
        raise _fail(path, "'pairs' must be a list of [left, right] point names")
    index = {n: k for k, n in enumerate(names)}
    used: set[str] = set()
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(p in index for p in pair)):
            raise _fail(path, f"pair {pair!r}: each pair is two point names of this file")
        a, b = pair
        if a == b or a in used or b in used:
            raise _fail(path, f"pair {pair!r}: a point can be in one pair only, and not with itself")
        used |= {a, b}
        perm[index[a]], perm[index[b]] = index[b], index[a]
    return tuple(perm)


def load_point_set(path: str | os.PathLike[str]) -> PointSet:
    """Read a schema file (see the module docstring); :class:`ValueError` naming the file otherwise."""
    p = Path(path)
    doc = _read(p)
    if not isinstance(doc, dict):
        raise _fail(p, "a schema file is a mapping with 'name' and 'points'")
    unknown = set(doc) - {"name", "points", "pairs"}
    if unknown:
        raise _fail(p, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; a schema file has name, "
                       "points and optionally pairs")
    name = doc.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "._-" for c in name):
        raise _fail(p, f"'name' must be a short word (letters, digits, . _ -), got {name!r}")
    if name in SCHEMAS:
        raise _fail(p, f"'{name}' is a built-in schema; give your point set another name")
    items = doc.get("points")
    if not isinstance(items, list) or not items:
        raise _fail(p, "'points' must be a non-empty list")
    if len(items) > MAX_POINTS:
        raise _fail(p, f"{len(items)} points; the annotator takes at most {MAX_POINTS}")
    parsed = [_point(p, k, item) for k, item in enumerate(items)]
    names = [n for n, _, _ in parsed]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(p, f"point name(s) {', '.join(dup)} appear more than once")
    schema = Schema(name, tuple(names), _flip(p, names, doc.get("pairs")), "box")
    groups = tuple(g or group_of(n) for n, g, _ in parsed)
    spots = [at for _, _, at in parsed]
    template = None
    if any(at is not None for at in spots):
        template = np.array([at if at is not None else [np.nan, np.nan] for at in spots], np.float32)
    return PointSet(schema, groups, template, str(p))
