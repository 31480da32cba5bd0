"""Server-side pictures for the annotator: magnified faces, pixel grids, point markers, the reference face.

Why server-side: a browser shows a 24-pixel face as a 24-pixel smudge (``gr.Image`` never enlarges a
small image) and smooths it when it is scaled by CSS, which hides exactly the pixel structure an
annotator needs to see. So we enlarge by an integer ``zoom`` here, nearest-neighbour by default, and
send a lossless PNG. Display pixel ``(u, v)`` then covers original coordinates
``[(u)/zoom - 0.5, (u + 1)/zoom - 0.5)``; its centre maps back with ``x = (u + 0.5) / zoom - 0.5``
(the resize convention of ``docs/architecture.md``), and an original point ``x`` is drawn at
``u = (x + 0.5) * zoom - 0.5``.

The reference diagram is drawn from one canonical iBUG-68 template (built from named parts below) and
converted to the smaller schemas with :func:`s2ld_core.schemas.convert_points`, so the diagram for
``five`` or ``aflw19`` uses exactly the definitions the rest of the project uses.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from s2ld_core.schemas import Schema, convert_points, get_schema

__all__ = [
    "MIN_ZOOM",
    "MAX_ZOOM",
    "magnify",
    "draw_grid",
    "draw_markers",
    "render_annotation_view",
    "point_colors",
    "canonical_points",
    "reference_diagram",
    "display_to_original",
    "original_to_display",
]

MIN_ZOOM, MAX_ZOOM = 4, 16
_SUBPIXEL_SHIFT = 4  # cv2 drawing in 1/16 display pixels, so markers sit at their sub-pixel spot
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def display_to_original(u: float, v: float, zoom: float) -> tuple[float, float]:
    """Display pixel ``(u, v)`` of an image magnified by ``zoom`` -> original sub-pixel ``(x, y)``."""
    return (u + 0.5) / zoom - 0.5, (v + 0.5) / zoom - 0.5


def original_to_display(x: float, y: float, zoom: float) -> tuple[float, float]:
    """Inverse of :func:`display_to_original`."""
    return (x + 0.5) * zoom - 0.5, (y + 0.5) * zoom - 0.5


def _check_zoom(zoom: int) -> int:
    z = int(zoom)
    if z != zoom or not 1 <= z <= 64:
        raise ValueError(f"zoom must be an integer between 1 and 64, got {zoom!r}")
    return z


def magnify(image: np.ndarray, zoom: int, smooth: bool = False) -> np.ndarray:
    """Enlarge ``image`` (uint8 HxWx3) by an integer ``zoom``.

    Nearest-neighbour uses ``np.repeat`` so every original pixel becomes an exact ``zoom x zoom``
    block (what the click mapping assumes). ``smooth`` uses bicubic interpolation under OpenCV's
    pixel-centre convention, which keeps the same geometry, only softer.
    """
    z = _check_zoom(zoom)
    img = np.ascontiguousarray(image)
    if smooth:
        h, w = img.shape[:2]
        return cv2.resize(img, (w * z, h * z), interpolation=cv2.INTER_CUBIC)
    return np.repeat(np.repeat(img, z, axis=0), z, axis=1)


def draw_grid(canvas: np.ndarray, zoom: int, strength: float = 0.35) -> np.ndarray:
    """Darken the first row/column of every ``zoom``-sized block: a grid on original pixel edges."""
    z = _check_zoom(zoom)
    out = canvas.astype(np.float32)
    mask = np.zeros(canvas.shape[:2], bool)
    mask[::z, :] = True
    mask[:, ::z] = True
    out[mask] *= 1.0 - strength
    return out.astype(np.uint8)


def point_colors(num_points: int) -> list[tuple[int, int, int]]:
    """A distinct RGB colour per point index, shared by the markers and the reference diagram.

    Hues are spread with the golden ratio so neighbouring indices (which are neighbouring points on
    the face) never look alike, even for 68 points.
    """
    colors = []
    for i in range(num_points):
        hue = (i * 0.6180339887) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return colors


def _fixed(value: float) -> int:
    return int(round(value * (1 << _SUBPIXEL_SHIFT)))


def _marker(canvas: np.ndarray, u: float, v: float, color, radius: float, occluded: bool) -> None:
    """A crosshair in a circle with a dark halo so it reads on light and dark skin alike."""
    c = (_fixed(u), _fixed(v))
    r = _fixed(radius)
    arm = _fixed(radius * 1.6)
    for col, thick in (((0, 0, 0), 4), (color, 2)):
        cv2.circle(canvas, c, r, col, thick, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        if not occluded:  # occluded points keep only the ring: visible but clearly "guessed"
            cv2.line(canvas, (c[0] - arm, c[1]), (c[0] - r, c[1]), col, thick, cv2.LINE_AA, _SUBPIXEL_SHIFT)
            cv2.line(canvas, (c[0] + r, c[1]), (c[0] + arm, c[1]), col, thick, cv2.LINE_AA, _SUBPIXEL_SHIFT)
            cv2.line(canvas, (c[0], c[1] - arm), (c[0], c[1] - r), col, thick, cv2.LINE_AA, _SUBPIXEL_SHIFT)
            cv2.line(canvas, (c[0], c[1] + r), (c[0], c[1] + arm), col, thick, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    if not occluded:
        cv2.circle(canvas, c, _fixed(1.0), color, -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)


def _label(canvas: np.ndarray, text: str, u: float, v: float, color, scale: float = 0.38) -> None:
    org = (int(round(u)), int(round(v)))
    cv2.putText(canvas, text, org, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, org, _FONT, scale, color, 1, cv2.LINE_AA)


def draw_markers(
    canvas: np.ndarray,
    points: Sequence[Sequence[float] | None],
    visible: Sequence[bool],
    zoom: int,
    selected: int | None = None,
    labels: bool = True,
) -> np.ndarray:
    """Draw original-coordinate ``points`` (``None`` = not placed) on a canvas magnified by ``zoom``.

    The selected point gets a white ring; occluded points (``visible`` False) are drawn as rings
    without a crosshair. Labels are 1-based indices, matching the list in the UI.
    """
    out = canvas.copy()
    colors = point_colors(len(points))
    radius = max(3.0, min(8.0, zoom * 0.45))
    for i, p in enumerate(points):
        if p is None:
            continue
        u, v = original_to_display(float(p[0]), float(p[1]), zoom)
        if i == selected:
            for col, thick in (((0, 0, 0), 4), ((255, 255, 255), 2)):
                cv2.circle(out, (_fixed(u), _fixed(v)), _fixed(radius + 5), col, thick, cv2.LINE_AA,
                           _SUBPIXEL_SHIFT)
        _marker(out, u, v, colors[i], radius, occluded=not visible[i])
        if labels:
            _label(out, str(i + 1), u + radius + 2, v - radius - 1, colors[i])
    return out


def render_annotation_view(
    image: np.ndarray,
    points: Sequence[Sequence[float] | None],
    visible: Sequence[bool],
    zoom: int,
    *,
    smooth: bool = False,
    grid: bool = True,
    selected: int | None = None,
    labels: bool = True,
) -> np.ndarray:
    """The picture the annotator clicks on: magnified face, optional grid, then the markers."""
    canvas = magnify(image, zoom, smooth=smooth)
    if grid and zoom >= MIN_ZOOM:
        canvas = draw_grid(canvas, zoom)
    return draw_markers(canvas, points, visible, zoom, selected=selected, labels=labels)


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


def reference_diagram(
    schema: str | Schema,
    next_index: int | None,
    placed: Sequence[bool] | None = None,
    size: int = 300,
    verb: str = "next",
) -> np.ndarray:
    """Draw the canonical face with every point of ``schema``; highlight and name ``next_index``.

    ``placed`` greys out points the annotator has already put down, so the diagram doubles as a
    checklist; ``verb`` starts the caption ("next", or "move" while a placed point is selected).
    Returns a ``uint8`` RGB image of ``(size + 44) x size`` (a caption strip below the face).
    """
    s = get_schema(schema)
    k = s.num_points
    placed = [False] * k if placed is None else list(placed)
    pad = int(size * 0.06)
    inner = size - 2 * pad
    canvas = np.full((size, size, 3), 255, np.uint8)
    face = np.full((inner, inner, 3), 255, np.uint8)
    _face_outline(face, inner)
    canvas[pad:pad + inner, pad:pad + inner] = face
    colors = point_colors(k)
    pts = canonical_points(s) * inner + pad
    small = 2.5 if k > 20 else 4.5
    for i, (x, y) in enumerate(pts):
        c = (_fixed(x), _fixed(y))
        if i == next_index:
            continue
        col = (190, 190, 190) if placed[i] else colors[i]
        cv2.circle(canvas, c, _fixed(small + 1), (60, 60, 60), -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        cv2.circle(canvas, c, _fixed(small), col, -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    if next_index is not None and 0 <= next_index < k:
        x, y = pts[next_index]
        c = (_fixed(x), _fixed(y))
        cv2.circle(canvas, c, _fixed(13), (255, 214, 0), 3, cv2.LINE_AA, _SUBPIXEL_SHIFT)
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
