"""Pictures for notebooks, reports and the annotator: landmarks on tiny faces, grids, CED plots.

Everything returns ``uint8 HxWx3 RGB`` arrays or a :class:`matplotlib.figure.Figure` built without
``pyplot``, so it runs headless (no display, no global figure state) in papermill jobs and servers.
Faces here are often 16-32 px, so :func:`draw_points` upscales with nearest-neighbour first (the
pixels stay honest, nothing is smoothed) and maps points with the resize convention of
``docs/architecture.md`` so a marker sits on the pixel it labels. Text is drawn with OpenCV's Hershey
font, which covers ASCII only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from s2ld_core.atomic import atomic_write_bytes
from s2ld_core.geometry import resize_points, to_rgb_uint8
from s2ld_core.metrics import auc, ced_curve

__all__ = ["draw_points", "image_grid", "contact_sheet", "plot_ced", "save_figure", "save_png"]

_SHIFT = 4  # OpenCV sub-pixel drawing: coordinates carry 4 fractional bits
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PAD = 2  # px between contact-sheet cells


def _upscale_nearest(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(image, (int(width), int(height)), interpolation=cv2.INTER_NEAREST)


def draw_points(
    image: np.ndarray,
    points: np.ndarray,
    visible: np.ndarray | None = None,
    zoom: int = 4,
    color: tuple[int, int, int] = (0, 255, 0),
    radius: int | None = None,
    labels: bool = False,
) -> np.ndarray:
    """Upscale ``image`` by ``zoom`` (nearest) and draw ``(K, 2)`` points on it; returns a new image.

    Visible points are filled discs, occluded ones hollow rings; non-finite points are skipped.
    ``labels`` writes each point's index next to it (handy when checking a schema's order).
    """
    if int(zoom) < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom}")
    zoom = int(zoom)
    img = to_rgb_uint8(image)
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool).reshape(-1)
    if vis.shape != (len(pts),):
        raise ValueError(f"visible must have shape ({len(pts)},), got {np.shape(visible)}")
    out = _upscale_nearest(img, img.shape[1] * zoom, img.shape[0] * zoom)
    radius = max(2, zoom // 2 + 1) if radius is None else int(radius)
    color = tuple(int(c) for c in color)
    for k, (p, v) in enumerate(zip(resize_points(pts, zoom), vis)):
        if not np.isfinite(p).all():
            continue
        centre = (int(round(p[0] * (1 << _SHIFT))), int(round(p[1] * (1 << _SHIFT))))
        cv2.circle(out, centre, radius << _SHIFT, color, -1 if v else 1, cv2.LINE_AA, _SHIFT)
        if labels:
            org = (int(p[0]) + radius + 1, int(p[1]) - radius - 1)
            cv2.putText(out, str(k), org, _FONT, 0.3, color, 1, cv2.LINE_AA)
    return out


def image_grid(images: Sequence[np.ndarray], ncols: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile images row-major into ``ncols`` columns, each centred in a cell of the largest size."""
    if len(images) == 0:
        raise ValueError("image_grid needs at least one image")
    if int(ncols) < 1 or int(pad) < 0:
        raise ValueError(f"image_grid needs ncols >= 1 and pad >= 0, got ncols={ncols}, pad={pad}")
    imgs = [to_rgb_uint8(im) for im in images]
    ch, cw = max(im.shape[0] for im in imgs), max(im.shape[1] for im in imgs)
    ncols = min(int(ncols), len(imgs))
    nrows = -(-len(imgs) // ncols)
    grid = np.full((pad + nrows * (ch + pad), pad + ncols * (cw + pad), 3), pad_value, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        y = pad + r * (ch + pad) + (ch - im.shape[0]) // 2
        x = pad + c * (cw + pad) + (cw - im.shape[1]) // 2
        grid[y: y + im.shape[0], x: x + im.shape[1]] = im
    return grid


def _fit_cell(image: np.ndarray, cell: int, background: int = 255) -> np.ndarray:
    """Nearest-upscale so the longer side is ``cell`` px, centred on a ``cell`` x ``cell`` square."""
    img = to_rgb_uint8(image)
    h, w = img.shape[:2]
    s = cell / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = np.full((cell, cell, 3), background, np.uint8)
    y, x = (cell - nh) // 2, (cell - nw) // 2
    out[y: y + nh, x: x + nw] = _upscale_nearest(img, nw, nh)
    return out


def _label_panel(text: str, width: int, height: int, scale: float) -> np.ndarray:
    panel = np.full((height, width, 3), 255, np.uint8)
    (_, th), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(panel, text, (6, (height + th) // 2), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def _row_strip(
    name: str, images: Sequence[np.ndarray], cell: int, ncols: int, label_w: int, scale: float
) -> np.ndarray:
    """Label panel then ``ncols`` cells (short rows padded with blank cells so columns line up)."""
    blank = np.full((cell, cell, 3), 255, np.uint8)
    cells = [_fit_cell(im, cell) for im in images] + [blank] * (ncols - len(images))
    tiles = image_grid(cells, ncols, pad=_PAD)[_PAD:-_PAD]  # keep only the horizontal padding
    return np.hstack([_label_panel(name, label_w, cell, scale), tiles])


def contact_sheet(
    rows: Mapping[str, Sequence[np.ndarray]],
    cell: int = 96,
    path: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """One labelled row per name, images nearest-upscaled to ``cell`` px; optionally saved as PNG.

    Short rows are padded with blank cells so columns line up (e.g. methods side by side per face).
    """
    if not rows:
        raise ValueError("contact_sheet needs at least one row")
    if int(cell) < 4:
        raise ValueError(f"contact_sheet cell must be >= 4 px, got {cell}")
    cell, scale = int(cell), max(0.4, cell / 192)
    ncols = max(1, max(len(r) for r in rows.values()))
    label_w = 12 + max(cv2.getTextSize(str(name), _FONT, scale, 1)[0][0] for name in rows)
    strips = [_row_strip(str(name), images, cell, ncols, label_w, scale) for name, images in rows.items()]
    sheet = image_grid(strips, 1, pad=_PAD)
    if path is not None:
        save_png(sheet, path)
    return sheet


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write an RGB image as PNG atomically (a reader never sees a half-written file)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(to_rgb_uint8(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode an image of shape {np.shape(image)} as PNG")
    atomic_write_bytes(path, buf.tobytes())


def plot_ced(
    errors_by_method: Mapping[str, np.ndarray],
    max_threshold: float = 0.10,
    ax: Axes | None = None,
    title: str | None = None,
    normalizer: str | None = None,
) -> Figure:
    """CED curves, one per method; the legend gives each method's NME and AUC@0.08.

    ``normalizer`` (``box``/``interocular``) only labels the x axis, because an NME without its
    normaliser cannot be compared with anything.
    """
    if not errors_by_method:
        raise ValueError("plot_ced needs at least one method")
    if ax is None:
        fig = Figure(figsize=(5.0, 4.0))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    for name, errors in errors_by_method.items():
        e = np.asarray(errors, dtype=np.float64).reshape(-1)
        t, f = ced_curve(e, max_threshold)
        ax.plot(t, f, label=f"{name}: NME {100 * e.mean():.2f}%, AUC@0.08 {auc(e, 0.08):.3f}")
    ax.set_xlim(0.0, max_threshold)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("NME" if normalizer is None else f"NME ({normalizer})")
    ax.set_ylabel("fraction of images")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Render ``fig`` to PNG at 120 dpi in memory, then write it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
