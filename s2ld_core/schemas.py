"""Landmark schemas: point names, horizontal-flip permutations, default normalisers, conversions.

Every schema lists its points in image order as seen by the viewer: "left" means the *image* left
(the subject's right), which is how 300W's and HRNet's AFLW-19 orderings are laid out. The flip
permutation ``perm`` satisfies ``flipped_points = points[perm]`` after ``x -> W - 1 - x``.

Conversions from ``ibug68`` to the smaller schemas are exact where the target point is itself an
iBUG point, and an approximation where it is not (documented per point in ``IBUG68_TO_AFLW19`` and
``IBUG68_TO_FIVE``): eye centres are the mean of the six eye-contour points, brow centres are the
middle brow point, and AFLW's "mouth centre" is the mean of the upper- and lower-lip middle points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Schema", "SCHEMAS", "get_schema", "convert_points", "IBUG68_TO_AFLW19", "IBUG68_TO_FIVE"]


@dataclass(frozen=True)
class Schema:
    """A landmark layout. ``normalizer`` is the default NME normaliser: ``box`` or ``interocular``."""

    name: str
    point_names: tuple[str, ...]
    flip_permutation: tuple[int, ...]
    normalizer: str
    interocular: tuple[int, int] | None = None  # indices used by the ``interocular`` normaliser

    @property
    def num_points(self) -> int:
        return len(self.point_names)

    def __post_init__(self) -> None:
        k = len(self.point_names)
        perm = self.flip_permutation
        if sorted(perm) != list(range(k)):
            raise ValueError(f"schema {self.name}: flip permutation is not a permutation of 0..{k - 1}")
        if any(perm[perm[i]] != i for i in range(k)):
            raise ValueError(f"schema {self.name}: flip permutation is not an involution")


def _pairs_to_perm(k: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    perm = list(range(k))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


_IBUG_NAMES = (
    [f"jaw_{i:02d}" for i in range(17)]
    + [f"brow_left_{i}" for i in range(5)]  # image-left brow, outer -> inner
    + [f"brow_right_{i}" for i in range(5)]  # image-right brow, inner -> outer
    + [f"nose_bridge_{i}" for i in range(4)]
    + [f"nose_lower_{i}" for i in range(5)]
    + [
        "eye_left_outer", "eye_left_upper_outer", "eye_left_upper_inner",
        "eye_left_inner", "eye_left_lower_inner", "eye_left_lower_outer",
        "eye_right_inner", "eye_right_upper_inner", "eye_right_upper_outer",
        "eye_right_outer", "eye_right_lower_outer", "eye_right_lower_inner",
    ]
    + [
        "mouth_left", "lip_outer_upper_1", "lip_outer_upper_2", "lip_outer_upper_mid",
        "lip_outer_upper_4", "lip_outer_upper_5", "mouth_right", "lip_outer_lower_5",
        "lip_outer_lower_4", "lip_outer_lower_mid", "lip_outer_lower_2", "lip_outer_lower_1",
    ]
    + [
        "lip_inner_left", "lip_inner_upper_1", "lip_inner_upper_mid", "lip_inner_upper_3",
        "lip_inner_right", "lip_inner_lower_3", "lip_inner_lower_mid", "lip_inner_lower_1",
    ]
)

_IBUG_PAIRS = (
    [(i, 16 - i) for i in range(8)]
    + [(17 + i, 26 - i) for i in range(5)]
    + [(31, 35), (32, 34)]
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    + [(60, 64), (61, 63), (65, 67)]
)

IBUG68 = Schema(
    name="ibug68",
    point_names=tuple(_IBUG_NAMES),
    flip_permutation=_pairs_to_perm(68, _IBUG_PAIRS),
    normalizer="interocular",
    interocular=(36, 45),  # outer eye corners, the 300W convention
)

AFLW19 = Schema(
    name="aflw19",
    point_names=(
        "brow_left_outer", "brow_left_center", "brow_left_inner",
        "brow_right_inner", "brow_right_center", "brow_right_outer",
        "eye_left_outer", "eye_left_center", "eye_left_inner",
        "eye_right_inner", "eye_right_center", "eye_right_outer",
        "nose_left", "nose_tip", "nose_right",
        "mouth_left", "mouth_center", "mouth_right",
        "chin",
    ),
    flip_permutation=_pairs_to_perm(
        19, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]
    ),
    normalizer="box",
    interocular=(6, 11),
)

FIVE = Schema(
    name="five",
    point_names=("eye_left", "eye_right", "nose_tip", "mouth_left", "mouth_right"),
    flip_permutation=_pairs_to_perm(5, [(0, 1), (3, 4)]),
    normalizer="box",
    interocular=(0, 1),  # eye centres: the only eye pair this schema has
)

SCHEMAS: dict[str, Schema] = {s.name: s for s in (IBUG68, AFLW19, FIVE)}

# Each target point is the mean of the listed iBUG-68 indices (one index = exact).
IBUG68_TO_AFLW19: tuple[tuple[int, ...], ...] = (
    (17,), (19,), (21,),  # image-left brow: outer, centre (approx: middle brow point), inner
    (22,), (24,), (26,),  # image-right brow
    (36,), (36, 37, 38, 39, 40, 41), (39,),  # image-left eye; centre approx: contour mean
    (42,), (42, 43, 44, 45, 46, 47), (45,),
    (31,), (30,), (35,),  # nose wings (approx: nostril ends) and tip
    (48,), (51, 57), (54,),  # mouth corners; centre approx: mean of outer-lip middles
    (8,),  # chin
)
IBUG68_TO_FIVE: tuple[tuple[int, ...], ...] = (
    (36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47), (30,), (48,), (54,),
)
AFLW19_TO_FIVE: tuple[tuple[int, ...], ...] = ((7,), (10,), (13,), (15,), (17,))

_CONVERSIONS = {
    ("ibug68", "aflw19"): IBUG68_TO_AFLW19,
    ("ibug68", "five"): IBUG68_TO_FIVE,
    ("aflw19", "five"): AFLW19_TO_FIVE,
}


def get_schema(schema: str | Schema) -> Schema:
    """Look a schema up by name (a :class:`Schema` passes through)."""
    if isinstance(schema, Schema):
        return schema
    try:
        return SCHEMAS[schema]
    except KeyError:
        raise ValueError(f"unknown landmark schema {schema!r}; choose one of {sorted(SCHEMAS)}") from None


def convert_points(
    points: np.ndarray, src: str | Schema, dst: str | Schema, visible: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(..., K_src, 2)`` points to schema ``dst``; returns ``(points, visible)``.

    A target point averaged from several source points is visible only if all of them are.
    """
    s, d = get_schema(src), get_schema(dst)
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape[-2:] != (s.num_points, 2):
        raise ValueError(f"expected points of shape (..., {s.num_points}, 2) for {s.name}, got {pts.shape}")
    vis = np.ones(pts.shape[:-1], bool) if visible is None else np.asarray(visible, bool)
    if s.name == d.name:
        return pts.copy(), vis.copy()
    table = _CONVERSIONS.get((s.name, d.name))
    if table is None:
        raise ValueError(f"no conversion from {s.name} to {d.name}")
    out = np.stack([pts[..., list(idx), :].mean(axis=-2) for idx in table], axis=-2).astype(np.float32)
    out_vis = np.stack([vis[..., list(idx)].all(axis=-1) for idx in table], axis=-1)
    return out, out_vis
