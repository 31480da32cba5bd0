"""The annotator's geometry and its one server-drawn picture, the reference face.

Display geometry (the canvas in :mod:`annotator.canvas` draws by it): on an image magnified ``zoom``
times, display pixel ``(u, v)`` covers original coordinates ``[u/zoom - 0.5, (u + 1)/zoom - 0.5)``;
its centre maps back with ``x = (u + 0.5) / zoom - 0.5`` (the resize convention of
``docs/architecture.md``), and an original point ``x`` is drawn at ``u = (x + 0.5) * zoom - 0.5``.

The reference diagram is drawn from one canonical iBUG-68 template (built from named parts below) and
converted to the smaller schemas with :func:`s2ld_core.schemas.convert_points`, so the diagram for
``five`` or ``aflw19`` uses exactly the definitions the rest of the project uses; a custom point set
draws the spots its schema file gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from s2ld_core.schemas import Schema, convert_points, get_schema

__all__ = [
    "canonical_points",
    "reference_diagram",
    "display_to_original",
    "original_to_display",
]

_SUBPIXEL_SHIFT = 4  # cv2 drawing in 1/16 pixels, so points sit at their sub-pixel spot
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def display_to_original(u: float, v: float, zoom: float) -> tuple[float, float]:
    """Display pixel ``(u, v)`` of an image magnified by ``zoom`` -> original sub-pixel ``(x, y)``;
    e.g. ``u = 100`` at zoom 8 -> ``12.0625``."""
    if zoom <= 0:
        raise ValueError(f"zoom must be positive, got {zoom}")
    return (u + 0.5) / zoom - 0.5, (v + 0.5) / zoom - 0.5


def original_to_display(x: float, y: float, zoom: float) -> tuple[float, float]:
    """Inverse of :func:`display_to_original`."""
    return (x + 0.5) * zoom - 0.5, (y + 0.5) * zoom - 0.5


def _fixed(value: float) -> int:
    return int(round(value * (1 << _SUBPIXEL_SHIFT)))


# --------------------------------------------------------------------------------------------------
# Canonical face for the reference diagram
# --------------------------------------------------------------------------------------------------


def _ibug68_template() -> np.ndarray:
    """A frontal iBUG-68 face in the unit square, built part by part in 300W order.

    The shape is schematic (symmetric, neutral) rather than a data-set mean: it only has to show
    *where* each point goes. Symmetry is exact, which a test checks against the flip permutation.
    """
    pts: list[tuple[float, float]] = []
    # Jaw 0..16: half an ellipse from the image-left ear, around the chin, to the right ear.
    for t in np.linspace(np.pi + 0.12, -0.12, 17):
        pts.append((0.5 + 0.40 * np.cos(t), 0.36 + 0.60 * np.sin(t) * (1 if np.sin(t) >= 0 else 0.3)))
    # Brows 17..21 (image-left, outer -> inner) and 22..26 (image-right, inner -> outer).
    left_brow = [(0.17 + 0.065 * i, 0.285 - 0.04 * np.sin(np.pi * (i + 0.5) / 5)) for i in range(5)]
    pts += left_brow
    pts += [(1.0 - x, y) for x, y in reversed(left_brow)]
    # Nose bridge 27..30, top to tip.
    pts += [(0.5, 0.37 + 0.07 * i) for i in range(4)]
    # Lower nose 31..35, image-left to image-right.
    pts += [(0.42, 0.63), (0.46, 0.645), (0.5, 0.655), (0.54, 0.645), (0.58, 0.63)]
    # Eyes 36..41 (image-left) and 42..47 (image-right, mirrored in 300W's order).
    left_eye = [(0.22, 0.385), (0.265, 0.36), (0.325, 0.36), (0.37, 0.39), (0.325, 0.405), (0.265, 0.405)]
    pts += left_eye
    m = [(1.0 - x, y) for x, y in left_eye]
    pts += [m[3], m[2], m[1], m[0], m[5], m[4]]
    # Outer lips 48..59 clockwise from the image-left corner; inner lips 60..67.
    pts += [
        (0.35, 0.78), (0.40, 0.75), (0.45, 0.735), (0.5, 0.745), (0.55, 0.735), (0.60, 0.75),
        (0.65, 0.78), (0.60, 0.82), (0.55, 0.84), (0.5, 0.845), (0.45, 0.84), (0.40, 0.82),
    ]
    pts += [
        (0.37, 0.78), (0.44, 0.77), (0.5, 0.772), (0.56, 0.77),
        (0.63, 0.78), (0.56, 0.795), (0.5, 0.798), (0.44, 0.795),
    ]
    return np.asarray(pts, np.float32)


_TEMPLATE68 = _ibug68_template()


def canonical_points(schema: str | Schema) -> np.ndarray:
    """Canonical ``(K, 2)`` points of ``schema`` in the unit square (x right, y down)."""
    s = get_schema(schema)
    pts, _ = convert_points(_TEMPLATE68, "ibug68", s)
    return pts


def _poly(canvas, pts, closed, color, thickness=2) -> None:
    cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], closed, color, thickness, cv2.LINE_AA, 4)


def _face_outline(canvas: np.ndarray, size: int) -> None:
    """The schematic face every diagram shares: head, brows, eyes, nose, lips (from the template)."""
    t = _TEMPLATE68 * size
    line = (150, 156, 170)
    head = np.concatenate([t[0:17], [[size * (0.5 + 0.40 * np.cos(a)), size * (0.36 - 0.33 * np.sin(a))]
                                     for a in np.linspace(0.12, np.pi - 0.12, 24)]])
    cv2.fillPoly(canvas, [np.round(head * 16).astype(np.int32)], (247, 236, 226), cv2.LINE_AA, 4)
    _poly(canvas, head, True, line)
    for a, b, closed in ((17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
                         (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True)):
        _poly(canvas, t[a:b], closed, line, 1 if a >= 60 else 2)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def reference_diagram(
    schema,
    next_index: int | None,
    placed: Sequence[bool] | None = None,
    size: int = 300,
    verb: str = "next",
) -> np.ndarray | None:
    """Draw the canonical face with every point of ``schema`` (a name, :class:`Schema` or
    :class:`annotator.point_sets.PointSet`); highlight and name ``next_index``.

    Points take their group's colour (the canvas and the point list use the same ones). ``placed``
    greys out points the annotator has already put down, so the diagram doubles as a checklist;
    ``verb`` starts the caption ("next", or "move" while a placed point is selected). Returns a
    ``uint8`` RGB image of ``(size + 44) x size`` (a caption strip below the face), or ``None`` for a
    custom point set whose file gives no spots.
    """
    from .canvas import group_color
    from .point_sets import point_set

    ps = point_set(schema)
    if ps.template is None:
        return None
    s = ps.schema
    k = s.num_points
    placed = [False] * k if placed is None else list(placed)
    pad = int(size * 0.06)
    inner = size - 2 * pad
    canvas = np.full((size, size, 3), 255, np.uint8)
    face = np.full((inner, inner, 3), 255, np.uint8)
    _face_outline(face, inner)
    canvas[pad:pad + inner, pad:pad + inner] = face
    colors = [_rgb(group_color(g)) for g in ps.groups]
    pts = ps.template * inner + pad
    small = 2.5 if k > 20 else 4.5
    for i, (x, y) in enumerate(pts):
        if i == next_index or not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = (_fixed(x), _fixed(y))
        col = (200, 200, 200) if placed[i] else colors[i]
        cv2.circle(canvas, c, _fixed(small + 1), (60, 60, 60), -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        cv2.circle(canvas, c, _fixed(small), col, -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    if next_index is not None and 0 <= next_index < k and np.isfinite(pts[next_index]).all():
        x, y = pts[next_index]
        c = (_fixed(x), _fixed(y))
        cv2.circle(canvas, c, _fixed(13), (255, 170, 0), 3, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        cv2.circle(canvas, c, _fixed(small + 2.5), (20, 20, 20), -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        cv2.circle(canvas, c, _fixed(small + 1.5), colors[next_index], -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    caption = np.full((44, size, 3), 255, np.uint8)
    if next_index is None or not 0 <= next_index < k:
        text, col = "all points placed", (40, 140, 60)
    else:
        text, col = f"{verb}: {next_index + 1}. {s.point_names[next_index].replace('_', ' ')}", (30, 30, 30)
    scale = 0.62 if len(text) < 28 else 0.5
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(caption, text, ((size - tw) // 2, 28), _FONT, scale, col, 1, cv2.LINE_AA)
    return np.concatenate([canvas, caption], axis=0)
