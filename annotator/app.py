"""The Gradio app: an ALRF-style landmark annotator ("Annotate") and a live detector demo ("Demo").

Annotate: open a folder of low-resolution faces, click landmarks on a server-side magnified copy
(see :mod:`annotator.pictures` for why), every change saved atomically by :mod:`annotator.store`. The
browser tab only holds *where it is* (:class:`TabState`: image, selected point, undo history); the
annotation itself always lives in the file, so a reload or a second tab resumes from disk.

Demo: upload or snapshot a photo; faces are detected, cropped, shrunk to a chosen size and given to
S²LD and to "upscale + HR-LD" side by side (:mod:`annotator.demo`).

Entry points for the ``s2ld`` CLI: :func:`add_annotate_arguments`, :func:`main_annotate`,
:func:`add_demo_arguments`, :func:`main_demo`; for code and tests: :func:`build_app`, :func:`launch`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from s2ld_core.atomic import check_writable
from s2ld_core.schemas import SCHEMAS, get_schema

from . import demo as demo_lib
from .cli import DEFAULT_ZOOM, add_annotate_arguments, add_demo_arguments  # noqa: F401 - re-exported
from .pictures import MAX_ZOOM, MIN_ZOOM, reference_diagram, render_annotation_view
from .store import (
    IMAGE_SUFFIXES,
    MAX_IDLE_SECONDS,
    AnnotationStore,
    History,
    StoreError,
    UnreadableImage,
    delete_point,
    display_to_original,
    move_point,
    next_unplaced,
    open_store,
    order_keys,
    place_next,
    set_occluded,
    set_status,
)

__all__ = [
    "TabState",
    "build_app",
    "launch",
    "add_annotate_arguments",
    "add_demo_arguments",
    "main_annotate",
    "main_demo",
]

MAX_UPLOAD = "10mb"
SHORTCUTS = {"n": "btn-next", "p": "btn-prev", "u": "btn-undo", "r": "btn-redo", "o": "btn-occlude",
             "d": "btn-delete", "s": "btn-skip", "f": "btn-flag", "a": "btn-done", "escape": "btn-deselect"}
ORDER_CHOICES = [("file name", "file"), ("least confident first", "confidence")]

# Keyboard shortcuts: a key press clicks the matching button, unless the user is typing in a field
# or the Annotate tab is hidden (its buttons then have no layout box).
SHORTCUTS_JS = """
() => {
  const map = __MAP__;
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target, tag = ((t && t.tagName) || '').toLowerCase();
    const typing = tag === 'textarea' || tag === 'select' || (t && t.isContentEditable) ||
      (tag === 'input' && !['radio', 'checkbox', 'range', 'button'].includes((t.type || '').toLowerCase()));
    if (typing) return;
    const id = map[e.key.toLowerCase()];
    const el = id && document.getElementById(id);
    if (!el || el.offsetParent === null) return;
    e.preventDefault();
    el.click();
  });
}
""".replace("__MAP__", json.dumps(SHORTCUTS))

CSS = """
.gradio-container { max-width: 1400px !important; }
#annot-image img, .pixelated img { image-rendering: pixelated; cursor: crosshair; }
#annot-image { min-height: 200px; }
#reference img { max-height: 344px; }
#progress-md { text-align: right; }
#progress-md p { font-size: 1.05rem; margin: 0; }
#shortcuts { margin-top: 6px; font-size: 0.9rem; color: #475569; }
#shortcuts kbd { border: 1px solid #bbb; border-bottom-width: 2px; border-radius: 4px; padding: 0 5px;
  font-size: 0.85em; background: #fafafa; }
#points-radio label { font-size: 0.85rem; padding: 2px 8px !important; }
.nav-row button { min-width: 0 !important; }
#msg-md p { margin: 0; }
"""


@dataclass
class TabState:
    """What one browser tab remembers; everything else is re-read from the annotation file."""

    store_path: str | None = None  # key into the store registry (the annotation file)
    order: list[str] = field(default_factory=list)
    index: int = 0
    selected: int | None = None  # point chosen for moving/deleting; None = clicks place the next point
    history: History = field(default_factory=History)
    last_action: float | None = None  # time.monotonic() of the last action on the current image
    shown_zoom: int = DEFAULT_ZOOM  # the zoom of the picture on screen: clicks are mapped with it
    message: str = ""

    @property
    def key(self) -> str | None:
        return self.order[self.index] if self.order else None


@dataclass
class AppConfig:
    """Server-side settings fixed at start-up (CLI arguments)."""

    folder: Path | None = None
    schema: str = "five"
    annotator: str = ""
    out: Path | None = None
    root: Path = field(default_factory=Path.cwd)  # folders the UI may open must lie under this
    order: str = "file"
    assist: object | None = None  # a LandmarkDetector that pre-places points
    assist_note: str = ""


_STORES: dict[str, AnnotationStore] = {}


def _store(st: TabState) -> AnnotationStore | None:
    return _STORES.get(st.store_path) if st.store_path else None


def _default_annotator() -> str:
    name = "".join(c for c in os.environ.get("USER", "") if c.isalnum() or c in "._-")
    return name or "annotator"


# --------------------------------------------------------------------------------------------------
# Annotate: actions
# --------------------------------------------------------------------------------------------------


def _elapsed(st: TabState) -> float:
    """Seconds since the last action on this image, capped: a long pause is a break, not work."""
    now = time.monotonic()
    dt = 0.0 if st.last_action is None else min(now - st.last_action, MAX_IDLE_SECONDS)
    st.last_action = now
    return dt


def _point_label(store: AnnotationStore, i: int) -> str:
    return f"{i + 1}. {store.schema.point_names[i].replace('_', ' ')}"


def _open(cfg: AppConfig, st: TabState, folder: str, annotator: str, schema: str, order: str) -> TabState:
    folder = (folder or "").strip()
    if not folder:
        raise StoreError("type the folder of images to annotate")
    try:  # a NUL byte or an over-long name is a typing mistake to report, not a server traceback
        path = Path(folder).expanduser().resolve()
        path.is_dir()
    except (ValueError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreError(f"{folder[:80]!r}{'…' if len(folder) > 80 else ''}: not a usable folder name "
                         f"({reason})") from None
    allowed = {cfg.root.resolve()} | ({cfg.folder.resolve()} if cfg.folder else set())
    if not any(path == a or a in path.parents for a in allowed):
        raise StoreError(f"{path}: outside the folders this server may open ({', '.join(map(str, allowed))})")
    out = cfg.out if cfg.folder is not None and path == cfg.folder.resolve() else None
    store = open_store(path, schema, annotator, out)
    _STORES[str(store.path)] = store
    note = ""
    if cfg.assist is not None:
        note = _prefill(cfg, store)
    new = TabState(store_path=str(store.path), shown_zoom=st.shown_zoom)
    new.order = order_keys(store, order)
    new.index = store.first_unfinished(new.order)
    new.last_action = time.monotonic()
    counts = store.progress()
    new.message = (f"Opened {store.root} ({counts['total']} images) as **{store.annotator}**; saving to "
                   f"`{store.path}`. {note}").strip()
    if not store.keys:
        new.message = f"No images (png, jpg, bmp, tif, webp) found under {store.root}."
    return new


def _prefill(cfg: AppConfig, store: AnnotationStore) -> str:
    """Run the assisting detector on images it has not seen; pre-place points on untouched ones.

    Confidences are cached on the (shared) store, so a page reload does not re-run the model.
    """
    from s2ld_core.photo import PhotoLandmarker, one_face_each

    det = cfg.assist
    if get_schema(det.schema).name != store.schema.name:
        return (f"The checkpoint predicts {get_schema(det.schema).name!r} points, "
                f"not {store.schema.name!r}: no prefill.")
    todo = [k for k in store.keys if k not in store.confidence]
    preds, unreadable = {}, 0
    for start in range(0, len(todo), 128):
        images, keys = [], []
        for key in todo[start:start + 128]:
            try:
                images.append(store.image(key))
                keys.append(key)
            except StoreError:
                unreadable += 1
        if images:  # the photo API: a face crop as is, a larger photo's face found first
            preds.update(zip(keys, one_face_each(PhotoLandmarker(det, "auto"), images)))
    filled = store.prefill(preds)
    note = f"S²LD pre-placed points on {filled} new image(s): correct them, then press Done."
    return note + (f" {unreadable} image(s) could not be read." if unreadable else "")


def _navigate(store: AnnotationStore, st: TabState, index: int) -> None:
    if st.key is not None:
        try:  # book the time on the image we leave
            store.modify(st.key, lambda a: None, seconds=_elapsed(st))
        except UnreadableImage:
            pass  # nothing to book on an image that cannot be shown, and leaving it must work
    st.index = int(np.clip(index, 0, max(0, len(st.order) - 1)))
    st.selected = None
    st.last_action = time.monotonic()


def _edit(store: AnnotationStore, st: TabState, change) -> object:
    edit, result = store.modify(st.key, change, seconds=_elapsed(st))
    st.history.push(edit)
    return result


def _last_placed(store: AnnotationStore, st: TabState) -> int | None:
    ann = store.get(st.key)
    placed = [i for i, p in enumerate(ann.points) if p is not None]
    return placed[-1] if placed else None


def _click(store: AnnotationStore, st: TabState, x: float, y: float) -> None:
    """A click moves the selected point, else places the next one, else selects the nearest."""
    if st.selected is not None:
        i = st.selected
        _edit(store, st, lambda a: move_point(a, i, x, y))
        st.selected = None
        st.message = f"Moved {_point_label(store, i)} to ({x:.2f}, {y:.2f})."
        return
    i = _edit(store, st, lambda a: place_next(a, x, y))
    if i is not None:
        st.message = f"Placed {_point_label(store, i)} at ({x:.2f}, {y:.2f})."
        return
    pts = store.get(st.key).points_array()
    nearest = int(np.nanargmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))
    st.selected = nearest
    st.message = f"All points are placed; selected {_point_label(store, nearest)}: click to move it."


def _act(cfg: AppConfig, st: TabState, action: str, *args) -> TabState:
    """Run one annotate action; user errors become the message instead of an exception."""
    st.message = ""
    try:
        if action == "open":
            return _open(cfg, st, *args)
        store = _store(st)
        if store is None or not st.order:
            raise StoreError("open a folder first")
        with store._lock:
            _ACTIONS[action](store, st, *args)
    except StoreError as exc:
        st.message = f"⚠️ {exc}"
    return st


def _do_place(store, st, x, y):
    if x is None or y is None:
        raise StoreError("type both x and y (original pixels, 0-based centres)")
    _click(store, st, float(x), float(y))


def _do_click_display(store, st, u, v):
    x, y = display_to_original(float(u), float(v), st.shown_zoom)
    _click(store, st, x, y)


def _do_select(store, st, index):
    if index is None:
        st.selected = None
        return
    i = int(index)
    if not 0 <= i < store.schema.num_points:
        raise StoreError(f"point {i + 1} does not exist in schema {store.schema.name}")
    st.selected = i
    placed = store.get(st.key).points[i] is not None
    st.message = (f"Selected {_point_label(store, i)}: click the image to "
                  f"{'move' if placed else 'place'} it, or use occluded/delete.")


def _target_point(store, st) -> int:
    i = st.selected if st.selected is not None else _last_placed(store, st)
    if i is None:
        raise StoreError("no point is placed on this image yet")
    return i


def _do_occlude(store, st):
    i = _target_point(store, st)
    now_occluded = store.get(st.key).visible[i]
    _edit(store, st, lambda a: set_occluded(a, i, now_occluded))
    st.message = f"{_point_label(store, i)} is now {'occluded (v=1)' if now_occluded else 'visible (v=2)'}."


def _do_delete(store, st):
    i = _target_point(store, st)
    _edit(store, st, lambda a: delete_point(a, i))
    st.selected = None
    st.message = f"Deleted {_point_label(store, i)}; the next click places it again."


def _do_status(store, st, status):
    if not store.readable(st.key):
        st.message = f"`{st.key}` cannot be shown, so it stays **unreadable**; moved on."
        _navigate(store, st, st.index + 1)
        return
    _edit(store, st, lambda a: set_status(a, status))
    st.message = f"Marked `{st.key}` as {status}."
    _navigate(store, st, st.index + 1)


def _do_history(store, st, which):
    key = store.undo(st.history) if which == "undo" else store.redo(st.history)
    if key is None:
        st.message = f"Nothing to {which}."
        return
    if key != st.key and key in st.order:
        _navigate(store, st, st.order.index(key))
    st.selected = None
    st.message = f"{which.capitalize()}: `{key}`."


def _do_move(store, st, delta):
    _navigate(store, st, st.index + delta)


def _do_goto_unfinished(store, st):
    _navigate(store, st, store.first_unfinished(st.order))


def _do_order(store, st, order):
    key = st.key
    st.order = order_keys(store, order)
    st.index = st.order.index(key) if key in st.order else 0
    if order == "confidence" and not store.confidence:
        st.message = "No model confidences (start with --checkpoint); keeping file order."


def _do_export(store, st, kind):
    if kind == "coco":
        path = store.export_coco()
    else:
        path = store.export_pts()
    st.message = f"Exported the done images to `{path}`."


_ACTIONS = {
    "place": _do_place, "click": _do_click_display, "select": _do_select, "occlude": _do_occlude,
    "delete": _do_delete, "status": _do_status, "history": _do_history, "move": _do_move,
    "unfinished": _do_goto_unfinished, "order": _do_order, "export": _do_export,
    "deselect": lambda store, st: _do_select(store, st, None), "refresh": lambda store, st: None,
}


# --------------------------------------------------------------------------------------------------
# Annotate: view
# --------------------------------------------------------------------------------------------------


def _view(cfg: AppConfig, st: TabState, zoom: int, grid: bool, smooth: bool) -> tuple:
    """Everything the Annotate tab shows, recomputed from the file (the single source of truth)."""
    store = _store(st)
    msg = st.message
    if store is None or not st.order:
        ref = reference_diagram(cfg.schema, 0)
        return (None, ref, gr.Radio(choices=[], value=None), "*No folder open.*",
                "", msg, st)
    zoom = int(np.clip(int(zoom or DEFAULT_ZOOM), MIN_ZOOM, MAX_ZOOM))
    key = st.key
    try:
        store.refresh()
        ann = store.get(key)
        image = store.image(key)
    except UnreadableImage as exc:  # corrupt, not an image, or too large: say so, let the user move on
        info = f"`{key}` · status **unreadable** · {exc}"
        note = " ".join(filter(None, [msg, "This image cannot be annotated; ◀ Previous / Next ▶ move on."]))
        return (None, reference_diagram(store.schema, None), gr.Radio(choices=[], value=None),
                info, _progress_line(store, st), note, st)
    except StoreError as exc:  # e.g. the file was deleted or the JSON edited by hand since
        return (None, reference_diagram(store.schema, None), gr.Radio(choices=[], value=None),
                f"`{key}`", _progress_line(store, st), f"⚠️ {exc}", st)
    st.shown_zoom = zoom
    picture = render_annotation_view(image, ann.points, ann.visible, zoom,
                                     smooth=bool(smooth), grid=bool(grid), selected=st.selected)
    nxt = st.selected if st.selected is not None else next_unplaced(ann)
    verb = "move" if st.selected is not None and ann.points[st.selected] is not None else "next"
    ref = reference_diagram(store.schema, nxt, [p is not None for p in ann.points], verb=verb)
    choices = []
    for i, p in enumerate(ann.points):
        mark = "·" if p is None else ("◌" if not ann.visible[i] else "✓")
        choices.append((f"{mark} {_point_label(store, i)}", i))
    progress = _progress_line(store, st)
    conf = store.confidence.get(key)
    info = (f"`{key}` · {ann.width}×{ann.height} px · status **{ann.status}** · {ann.seconds:.0f} s"
            + (" · pre-placed by S²LD" if ann.prefilled else "")
            + (f" · model confidence {conf:.2f}" if conf is not None else ""))
    return (picture, ref, gr.Radio(choices=choices, value=st.selected), info, progress, msg, st)


def _progress_line(store: AnnotationStore, st: TabState) -> str:
    counts = store.progress()
    extra = " · ".join(f"{counts[s]} {s}" for s in ("skipped", "flagged", "unreadable") if counts[s])
    return (f"**{counts['done']} of {counts['total']} annotated**" + (f" · {extra}" if extra else "")
            + f" · image {st.index + 1}/{len(st.order)}")


# --------------------------------------------------------------------------------------------------
# Building the Blocks
# --------------------------------------------------------------------------------------------------


def _annotate_tab(cfg: AppConfig, zoom: int) -> None:
    state = gr.State(TabState(shown_zoom=zoom))
    with gr.Row(equal_height=True):
        gr.Markdown("### Landmarks on tiny faces: click the magnified face in the order the diagram shows")
        progress = gr.Markdown(elem_id="progress-md")
    with gr.Row():
        with gr.Column(scale=5, min_width=360):
            picture = gr.Image(
                format="png", interactive=False, show_label=False, buttons=[], elem_id="annot-image",
                placeholder="Open a folder of face images to start.",
            )
            info = gr.Markdown(elem_id="info-md")
            with gr.Row(elem_classes="nav-row"):
                prev_b = gr.Button("◀ Previous", elem_id="btn-prev", size="sm")
                next_b = gr.Button("Next ▶", elem_id="btn-next", size="sm", variant="primary")
                unfinished_b = gr.Button("First unfinished", size="sm")
                done_b = gr.Button("✓ Done", elem_id="btn-done", size="sm")
                skip_b = gr.Button("Skip", elem_id="btn-skip", size="sm")
                flag_b = gr.Button("⚑ Flag", elem_id="btn-flag", size="sm")
            with gr.Row(equal_height=True):
                zoom_s = gr.Slider(MIN_ZOOM, MAX_ZOOM, value=zoom, step=1, label="Zoom ×", scale=3)
                with gr.Column(scale=1, min_width=120):
                    grid_c = gr.Checkbox(value=True, label="Pixel grid")
                    smooth_c = gr.Checkbox(value=False, label="Smooth")
            gr.Markdown(
                "**Keys** <kbd>n</kbd>/<kbd>p</kbd> next/previous · <kbd>u</kbd>/<kbd>r</kbd> undo/redo · "
                "<kbd>o</kbd> occluded · <kbd>d</kbd> delete · <kbd>a</kbd> done · <kbd>s</kbd> skip · "
                "<kbd>f</kbd> flag · <kbd>Esc</kbd> deselect.  \n"
                "An image is done once every point is placed (pre-placed ones: press Done). Occluded and "
                "delete act on the selected point, else on the last placed one. Occluded points are "
                "drawn as rings and saved with COCO visibility 1. *Left/right are as seen on screen.*",
                elem_id="shortcuts",
            )
        with gr.Column(scale=3, min_width=300):
            ref = gr.Image(format="png", interactive=False, show_label=False, buttons=[], elem_id="reference")
            msg = gr.Markdown(elem_id="msg-md")
            points = gr.Radio(label="Points · select one to move, delete or mark occluded", choices=[],
                              elem_id="points-radio")
            with gr.Row(elem_classes="nav-row"):
                undo_b = gr.Button("↶ Undo", elem_id="btn-undo", size="sm")
                redo_b = gr.Button("↷ Redo", elem_id="btn-redo", size="sm")
                occ_b = gr.Button("Occluded", elem_id="btn-occlude", size="sm")
                del_b = gr.Button("Delete", elem_id="btn-delete", size="sm")
                desel_b = gr.Button("Deselect", elem_id="btn-deselect", size="sm")
            with gr.Accordion("Exact position (original pixels)", open=False):
                with gr.Row():
                    x_n = gr.Number(label="x", precision=None)
                    y_n = gr.Number(label="y", precision=None)
                    place_b = gr.Button("Place / move", size="sm")
            with gr.Accordion("Folder, annotator, export", open=cfg.folder is None):
                folder_t = gr.Textbox(label="Image folder", value=str(cfg.folder or ""),
                                      placeholder=f"a folder under {cfg.root}")
                with gr.Row():
                    annot_t = gr.Textbox(label="Annotator", value=cfg.annotator or _default_annotator())
                    schema_d = gr.Dropdown(sorted(SCHEMAS), value=cfg.schema, label="Schema")
                order_d = gr.Dropdown(ORDER_CHOICES, value=cfg.order, label="Queue order")
                open_b = gr.Button("Open folder", variant="primary")
                with gr.Row():
                    coco_b = gr.Button("Export COCO", size="sm")
                    pts_b = gr.Button("Export .pts", size="sm")

    view = [zoom_s, grid_c, smooth_c]
    outputs = [picture, ref, points, info, progress, msg, state]

    def wire(trigger, action, extra=(), api_name=None, fixed=(), trigger_mode="multiple"):
        """Connect ``trigger`` to action ``action``; ``fixed`` are constant arguments after ``extra``."""

        def handler(st, *vals):
            n = len(extra)
            st = _act(cfg, st, action, *vals[:n], *fixed)
            return _view(cfg, st, *vals[n:])

        trigger(handler, [state, *extra, *view], outputs, api_name=api_name,
                api_visibility="public" if api_name else "private", show_progress="hidden",
                concurrency_id="annotate", concurrency_limit=1, trigger_mode=trigger_mode)

    def on_select(st, zoom_v, grid_v, smooth_v, evt: gr.SelectData):
        st = _act(cfg, st, "click", evt.index[0], evt.index[1])
        return _view(cfg, st, zoom_v, grid_v, smooth_v)

    picture.select(on_select, [state, *view], outputs, api_visibility="private", show_progress="hidden",
                   concurrency_id="annotate", concurrency_limit=1, trigger_mode="multiple")
    wire(open_b.click, "open", [folder_t, annot_t, schema_d, order_d], api_name="open_folder")
    wire(place_b.click, "place", [x_n, y_n], api_name="place_point")
    wire(points.input, "select", [points], api_name="select_point")
    wire(next_b.click, "move", fixed=(1,), api_name="next_image")
    wire(prev_b.click, "move", fixed=(-1,), api_name="previous_image")
    wire(unfinished_b.click, "unfinished", api_name="first_unfinished")
    wire(done_b.click, "status", fixed=("done",), api_name="done")
    wire(skip_b.click, "status", fixed=("skipped",), api_name="skip")
    wire(flag_b.click, "status", fixed=("flagged",), api_name="flag")
    wire(undo_b.click, "history", fixed=("undo",), api_name="undo")
    wire(redo_b.click, "history", fixed=("redo",), api_name="redo")
    wire(occ_b.click, "occlude", api_name="toggle_occluded")
    wire(del_b.click, "delete", api_name="delete_point")
    wire(desel_b.click, "deselect")
    wire(order_d.input, "order", [order_d])
    wire(coco_b.click, "export", fixed=("coco",), api_name="export_coco")
    wire(pts_b.click, "export", fixed=("pts",), api_name="export_pts")
    for comp in view:  # re-render only for the latest value while a slider is dragged
        wire(comp.change, "refresh", trigger_mode="always_last")
    return state, (folder_t, annot_t, schema_d, order_d), outputs, view


def _demo_tab(models: demo_lib.Models, finder: demo_lib.FaceFinder, examples: list[Path]) -> None:
    loaded = [m.name for m in (models.s2ld, models.baseline) if m is not None]
    status = " ".join([f"Loaded: {', '.join(loaded)}." if loaded else "", *models.messages]).strip()
    gr.Markdown(f"### S²LD on a photo: faces are found, shrunk to a low resolution, and given to both "
                f"detectors\n{status}\n\nFace detector: {finder.note}.", elem_id="demo-status")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            photo = gr.Image(sources=["upload", "webcam"], type="numpy", label="Photo (upload or webcam)",
                             format="png", height=360)
            with gr.Row():
                size_s = gr.Slider(12, 64, value=24, step=1, label="LR face size (px)", scale=3)
                native_c = gr.Checkbox(value=False, label="Native size", scale=1)
            run_b = gr.Button("Find landmarks", variant="primary")
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[photo], label="Bundled examples",
                            elem_id="demo-examples")
        with gr.Column(scale=3, min_width=420):
            over = gr.Image(format="png", interactive=False, label="Faces found", buttons=[], height=360)
            table = gr.Markdown(elem_id="demo-table")
    gallery = gr.Gallery(label="Per face: S²LD (left) vs upscale + HR-LD (right) on the same LR crop",
                         columns=2, height="auto", format="png", object_fit="contain",
                         elem_classes="pixelated", elem_id="demo-gallery")

    def run(upload, size, native):
        # ``preprocess=False``: Gradio has already checked the file is one of this session's uploads;
        # we decode it ourselves so that non-images get a readable refusal (see demo.load_upload).
        # User errors are shown in the page; ``print_exception=False`` keeps their tracebacks (which
        # say nothing the message does not) out of the terminal. Bugs still print theirs.
        if upload is None:
            raise gr.Error("Upload a photo, take a webcam snapshot, or pick an example first.",
                           print_exception=False)
        lr = None if native else int(size)
        try:
            image = demo_lib.load_upload(upload)
            results, note = demo_lib.analyse(image, lr, models, finder)
        except (ValueError, OSError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        panels = [(demo_lib.face_panel(r), f"face {i + 1}") for i, r in enumerate(results)]
        return demo_lib.overview(image, results), panels, demo_lib.results_markdown(results, note, models, lr)

    run_b.click(run, [photo, size_s, native_c], [over, gallery, table], api_name="demo", preprocess=False)
    photo.upload(run, [photo, size_s, native_c], [over, gallery, table], api_visibility="private",
                 preprocess=False)


def build_app(
    folder: str | os.PathLike[str] | None = None,
    *,
    schema: str = "five",
    annotator: str | None = None,
    out: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    baseline_checkpoint: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    order: str = "file",
    zoom: int = DEFAULT_ZOOM,
    examples_dir: str | os.PathLike[str] | None = None,
    initial_tab: str = "annotate",
    device: str = "cpu",
    models: demo_lib.Models | None = None,
) -> gr.Blocks:
    """The two-tab app. ``folder`` opens on page load (resuming at the first unfinished image);
    the folder box may open other folders only under ``root`` (default: ``folder``, else the cwd).
    ``checkpoint`` enables model-assisted annotation and the demo's S²LD column (``models``: already
    loaded ones, as the command line does to report a bad checkpoint before serving)."""
    get_schema(schema)
    cfg = AppConfig(
        folder=Path(folder).expanduser().resolve() if folder else None,
        schema=schema,
        annotator=annotator or _default_annotator(),
        out=Path(out).expanduser().resolve() if out else None,
        order=order,
    )
    cfg.root = Path(root).expanduser().resolve() if root else (cfg.folder or Path.cwd().resolve())
    if models is None:
        models = demo_lib.load_models(checkpoint, baseline_checkpoint, device=device)
    cfg.assist = models.s2ld if checkpoint else None  # pre-placement only with a named checkpoint
    finder = demo_lib.make_face_finder()
    ex_dir = Path(examples_dir) if examples_dir else Path(tempfile.gettempdir()) / "s2ld-demo-examples"
    examples = demo_lib.example_images(ex_dir)
    zoom = int(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))

    with gr.Blocks(title="S²LD — annotate & demo") as app:
        with gr.Tabs(selected=initial_tab):
            with gr.Tab("Annotate", id="annotate"):
                state, fields, outputs, view = _annotate_tab(cfg, zoom)
            with gr.Tab("Demo", id="demo"):
                _demo_tab(models, finder, examples)

        def on_load(st, folder_v, annot_v, schema_v, order_v, *view_vals):
            if cfg.folder is not None:
                st = _act(cfg, st, "open", folder_v or str(cfg.folder), annot_v, schema_v, order_v)
            return _view(cfg, st, *view_vals)

        app.load(on_load, [state, *fields, *view], outputs, api_visibility="private",
                 concurrency_id="annotate", concurrency_limit=1)
    return app


AUTH_ENV = "S2LD_AUTH"  # USER:PASS from the environment, which `ps` does not show


def _parse_auth(auth: str | None, source: str = "--auth") -> tuple[str, str] | None:
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"{source} must look like user:password")
    return user, password


def _credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login from ``--auth-file`` (first line), ``--auth`` or ``$S2LD_AUTH``, in that order.

    A password on the command line is readable by every user of the machine through ``ps``; the
    file and the environment variable are not, so they are what the help recommends."""
    path = getattr(args, "auth_file", None)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a UTF-8 text file"
            raise ValueError(f"{path}: cannot read the --auth-file ({reason})") from None
        return _parse_auth(lines[0].strip() if lines else "", f"{path}: the --auth-file's first line")
    if args.auth:
        return _parse_auth(args.auth)
    return _parse_auth(os.environ.get(AUTH_ENV, "").strip(), f"${AUTH_ENV}")


def launch(
    app: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    auth: str | tuple[str, str] | None = None,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve ``app`` with the annotator's theme, shortcuts and upload limit.

    ``block=False`` returns once the server is up (tests, screenshots); ``app.local_url`` is set.
    """
    credentials = _parse_auth(auth) if isinstance(auth, str) or auth is None else auth
    app.queue(default_concurrency_limit=2)
    app.launch(
        server_name=host, server_port=port, auth=credentials, prevent_thread_lock=not block,
        max_file_size=MAX_UPLOAD, theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        css=CSS, js=SHORTCUTS_JS, quiet=quiet, show_error=True, footer_links=[], ssr_mode=False,
    )
    return app


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def _check_server_arguments(args: argparse.Namespace) -> None:
    """Login and port: a wrong value is one line in the terminal, not a server that half works."""
    _credentials(args)
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port}: choose a port between 1 and 65535")


def _load_models_or_fail(args: argparse.Namespace) -> demo_lib.Models:
    """A checkpoint named on the command line must load; say which and why before serving."""
    if args.baseline_checkpoint and not args.checkpoint:
        raise ValueError(f"{args.baseline_checkpoint}: --baseline-checkpoint is used only with --checkpoint")
    models = demo_lib.load_models(args.checkpoint, args.baseline_checkpoint, device=args.device)
    if models.errors:
        raise ValueError(models.errors[0])
    return models


def _open_for_annotation(args: argparse.Namespace) -> AnnotationStore | None:
    """Folder, annotation file, zoom and root checked up front, each problem one line naming the path."""
    if not MIN_ZOOM <= args.zoom <= MAX_ZOOM:
        raise ValueError(f"--zoom {args.zoom}: choose {MIN_ZOOM}-{MAX_ZOOM}")
    if args.root and not Path(args.root).expanduser().is_dir():
        raise ValueError(f"{args.root}: --root is not a folder")
    if not args.folder:
        return None
    store = AnnotationStore.open(args.folder, args.schema, args.annotator or _default_annotator(), args.out)
    if not store.keys:
        raise ValueError(f"{args.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    check_writable(store.path)
    return store


def main_annotate(args: argparse.Namespace) -> int:
    """``s2ld annotate``: serve the annotator (or, with --export-*, export and exit)."""
    if args.export_coco or args.export_pts:
        if not args.folder:
            raise ValueError("--export-coco/--export-pts need the image folder")
        name = args.annotator or _default_annotator()
        store = AnnotationStore.open(args.folder, args.schema, name, args.out)
        if args.export_coco:
            print(f"wrote {store.export_coco(args.export_coco)}")
        if args.export_pts:
            print(f"wrote {store.export_pts(args.export_pts)}")
        return 0
    _check_server_arguments(args)
    _open_for_annotation(args)
    models = _load_models_or_fail(args)
    app = build_app(args.folder, schema=args.schema, annotator=args.annotator, out=args.out,
                    checkpoint=args.checkpoint, baseline_checkpoint=args.baseline_checkpoint,
                    root=args.root, order=args.order, zoom=args.zoom, device=args.device, models=models)
    launch(app, host=args.host, port=args.port, auth=_credentials(args))
    return 0


def main_demo(args: argparse.Namespace) -> int:
    """``s2ld demo``: the same app, opened on the Demo tab."""
    _check_server_arguments(args)
    if args.examples_dir:
        check_writable(args.examples_dir, folder=True)
    models = _load_models_or_fail(args)
    app = build_app(checkpoint=args.checkpoint, baseline_checkpoint=args.baseline_checkpoint,
                    examples_dir=args.examples_dir, initial_tab="demo", device=args.device, models=models)
    launch(app, host=args.host, port=args.port, auth=_credentials(args))
    return 0
