"""The annotator's drawing surface and point list: two ``gr.HTML`` components with their own JavaScript.

Why client-side: a server-rendered picture cannot be dragged, and every marker drawn into the
magnified pixels grows with the zoom until 68 of them are one blob. Here the browser draws the
*original* small image scaled to fit the viewport (nearest-neighbour, integer zoom, so every source
pixel is an exact block), then draws the pixel grid, face boxes and markers at screen resolution on
top: a marker is 3-8 screen pixels whatever the zoom. Mouse work (click to place, drag to move, drag
out a face box) is drawn at once in the page and sent to the server as one edit in original-image
coordinates (:func:`canvas_value` documents the geometry); the server's answer, re-read from the
annotation file, replaces the page's copy, so the file stays the single source of truth.

The point list is grouped (jaw, brows, nose, eyes, mouth) and shows, for each point, whether it is
placed, occluded, missing, selected or next; a click on a point selects it, a click on a face chip
makes that face the one the canvas edits.

View preferences (zoom, marker size, labels, grid, smoothing, whole image or face) live in the
browser's ``localStorage``: they are about the screen, not the annotation.
"""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np

from s2ld_core.data.formats import ImageAnnotation

from .point_sets import PointSet

__all__ = ["GROUP_COLORS", "canvas_value", "list_value", "empty_canvas", "CANVAS_HTML", "CANVAS_CSS",
           "CANVAS_JS", "LIST_HTML", "LIST_CSS", "LIST_JS", "group_color"]

# One colour per group, chosen to read on skin and on dark hair alike; the reference diagram and the
# list use the same colours so the eye links a chip to its marker.
GROUP_COLORS = {"jaw": "#f59e0b", "brows": "#c084fc", "nose": "#22c55e", "eyes": "#22d3ee",
                "mouth": "#f43f5e", "other": "#facc15"}
GROUP_TITLES = {"jaw": "Jaw", "brows": "Brows", "nose": "Nose", "eyes": "Eyes", "mouth": "Mouth",
                "other": "Other"}


def group_color(group: str) -> str:
    return GROUP_COLORS.get(group, GROUP_COLORS["other"])


def _png_data_url(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("cannot encode the image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def empty_canvas(message: str, rev: int = 0) -> dict:
    """The canvas with no image: a sentence instead (no folder, or an image that cannot be shown)."""
    return {"empty": True, "message": message, "rev": rev}


def canvas_value(
    key: str,
    image: np.ndarray,
    ann: ImageAnnotation,
    points: PointSet,
    *,
    active: int = 0,
    selected: int | None = None,
    zoom: str | int = "fit",
    rev: int = 0,
) -> dict:
    """What the canvas draws for one image (JSON-able).

    Geometry: points and boxes are in original-image coordinates, 0-based pixel centres (a box
    ``[x, y, w, h]`` has its left edge at ``x``; a whole W x H image is ``[-0.5, -0.5, W, H]``). The
    page draws original pixel ``i`` over screen ``[(i - r0) z, (i + 1 - r0) z)`` for a view that starts
    at pixel edge ``r0`` with zoom ``z``, so a point ``x`` sits at ``u = (x + 0.5 - r0) z`` and a
    mouse at ``u`` means ``x = u / z + r0 - 0.5`` -- sub-pixel, at any zoom.
    """
    active = int(np.clip(active, 0, len(ann.faces) - 1))
    face = ann.faces[active]
    nxt = next((k for k, p in enumerate(face.points) if p is None), None)
    return {
        "key": key,
        "rev": rev,
        "image": _png_data_url(image),
        "w": int(ann.width),
        "h": int(ann.height),
        "faces": [{"box": f.box, "points": f.points, "visible": f.visible} for f in ann.faces],
        "active": active,
        "selected": selected,
        "next": nxt,
        "colors": [group_color(g) for g in points.groups],
        "names": [points.label(k) for k in range(points.num_points)],
        "zoom": zoom,
    }


def list_value(ann: ImageAnnotation | None, points: PointSet, active: int = 0,
               selected: int | None = None) -> dict:
    """The grouped point list and face chips (JSON-able); ``ann`` ``None``: no image."""
    if ann is None:
        return {"groups": [], "faces": [], "active": 0, "next": None, "selected": None, "guide": ""}
    active = int(np.clip(active, 0, len(ann.faces) - 1))
    face = ann.faces[active]
    nxt = next((k for k, p in enumerate(face.points) if p is None), None)
    groups = []
    for g, idx in points.grouped():
        items = []
        for k in idx:
            state = "missing" if face.points[k] is None else ("placed" if face.visible[k] else "occluded")
            items.append({"i": k, "n": k + 1, "state": state, "title": points.label(k)})
        done = sum(it["state"] != "missing" for it in items)
        groups.append({"name": g, "title": GROUP_TITLES.get(g, g), "color": group_color(g), "items": items,
                       "done": done})
    faces = []
    for f in ann.faces:
        placed = sum(p is not None for p in f.points)
        faces.append({"placed": placed, "total": len(f.points), "box": f.box is not None,
                      "prefilled": bool(f.prefilled)})
    if selected is not None:
        verb = "Move" if face.points[selected] is not None else "Place"
        guide = f"{verb} {points.label(selected)}"
    elif nxt is not None:
        guide = f"Next: {points.label(nxt)}"
    else:
        guide = "All points placed" + (" — press Done" if ann.status == "todo" else "")
    return {"groups": groups, "faces": faces, "active": active, "next": nxt, "selected": selected,
            "guide": guide}


# --------------------------------------------------------------------------------------------------
# The components' HTML, CSS and JavaScript (annotator/web/). Each script runs once per page load with
# ``element`` (its component), ``props`` (its value), ``trigger`` (send an event to Python) and
# ``watch`` (run after the server changes the value).
# --------------------------------------------------------------------------------------------------

_WEB = Path(__file__).with_name("web")


def _web(name: str) -> str:
    return (_WEB / name).read_text(encoding="utf-8")


CANVAS_HTML, CANVAS_CSS, CANVAS_JS = _web("canvas.html"), _web("canvas.css"), _web("canvas.js")
LIST_HTML, LIST_CSS, LIST_JS = _web("list.html"), _web("list.css"), _web("list.js")

