"""The Gradio app: an ALRF-style landmark annotator ("Annotate") and a live detector demo ("Demo").

Annotate: open a folder of low-resolution faces and place landmarks on a large magnified canvas
drawn in the browser (:mod:`annotator.canvas`): click to place the next point, drag to move one, drag
out a box for each further face; a grouped point list says what comes next. Every change is saved
atomically by :mod:`annotator.store`; :mod:`annotator.actions` holds what each button does.
Existing annotations can be imported as pre-placed points and every export downloaded.

Demo: upload or snapshot a photo; faces are found, shrunk to a chosen size and given to the landmark
model and the baselines side by side (:mod:`annotator.demo`).

``s2ld annotate`` serves both tabs; ``s2ld demo`` serves the Demo alone, plus an Annotate tab only
when ``--annotate DIR`` names the folder it may open.

Entry points for the ``s2ld`` CLI: :func:`add_annotate_arguments`, :func:`main_annotate`,
:func:`add_demo_arguments`, :func:`main_demo`; for code and tests: :func:`build_app`, :func:`launch`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from s2ld_core.atomic import check_writable
from s2ld_core.schemas import SCHEMAS

from . import demo as demo_lib
from .actions import EXPORTS, AppConfig, TabState, act, default_annotator, next_point, store_of
from .canvas import (
    CANVAS_CSS,
    CANVAS_HTML,
    CANVAS_JS,
    LIST_CSS,
    LIST_HTML,
    LIST_JS,
    canvas_value,
    empty_canvas,
    list_value,
)
from .cli import DEFAULT_ZOOM, add_annotate_arguments, add_demo_arguments, parse_zoom  # noqa: F401
from .imports import IMPORT_SUFFIXES
from .pictures import reference_diagram
from .point_sets import point_set
from .store import IMAGE_SUFFIXES, AnnotationStore, StoreError, UnreadableImage

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
             "d": "btn-delete", "s": "btn-skip", "f": "btn-flag", "a": "btn-done", "escape": "btn-deselect",
             "b": "btn-add-face", "w": "btn-whole", "m": "btn-marker", "l": "btn-labels", "g": "btn-grid",
             "+": "btn-zoom-in", "=": "btn-zoom-in", "-": "btn-zoom-out", "0": "btn-fit"}
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
.gradio-container { max-width: 1600px !important; }
.pixelated img { image-rendering: pixelated; }
#demo-table { overflow-x: auto; }
#demo-table td, #demo-table th { white-space: nowrap; padding: 2px 6px; }
#demo-sheet img { object-fit: none; width: auto; height: auto; max-width: 100%; }
#demo-sheet .image-frame, #demo-sheet .image-container { height: auto !important; }
#reference img { max-height: 240px; object-fit: contain; }
#progress-md { text-align: right; }
#progress-md p { font-size: 1.05rem; margin: 0; }
#shortcuts { margin-top: 6px; font-size: 0.85rem; color: #475569; }
#shortcuts kbd { border: 1px solid #bbb; border-bottom-width: 2px; border-radius: 4px; padding: 0 5px;
  font-size: 0.85em; background: #fafafa; }
.nav-row button { min-width: 0 !important; }
#msg-md p { margin: 0; }
#info-md p { margin: 0; }
"""


# --------------------------------------------------------------------------------------------------
# Annotate: view
# --------------------------------------------------------------------------------------------------


def _view(cfg: AppConfig, st: TabState) -> tuple:
    """Everything the Annotate tab shows, recomputed from the file (the single source of truth):
    ``(canvas, reference diagram, point list, info, progress, message, state)``."""
    store = store_of(st)
    msg = st.message
    st.rev += 1
    points = store.points if store is not None else cfg.points
    if store is None or not st.order:
        return (empty_canvas("Open a folder of face images to start (Folder, annotator, export).", st.rev),
                reference_diagram(points, 0), list_value(None, points), "*No folder open.*", "", msg, st)
    key = st.key
    try:
        store.refresh()
        ann = store.get(key)
        image = store.image(key)
    except UnreadableImage as exc:  # corrupt, not an image, or too large: say so, let the user move on
        info = f"`{key}` · status **unreadable** · {exc}"
        note = " ".join(filter(None, [msg, "This image cannot be annotated; ◀ Previous / Next ▶ move on."]))
        return (empty_canvas(f"{key}: {exc}", st.rev), reference_diagram(points, None),
                list_value(None, points), info, _progress_line(store, st), note, st)
    except StoreError as exc:  # e.g. the file was deleted or the JSON edited by hand since
        return (empty_canvas(str(exc), st.rev), reference_diagram(points, None), list_value(None, points),
                f"`{key}`", _progress_line(store, st), f"⚠️ {exc}", st)
    st.face = int(np.clip(st.face, 0, len(ann.faces) - 1))
    face = ann.faces[st.face]
    nxt = next_point(store, st)
    verb = "move" if st.selected is not None and face.points[st.selected] is not None else "next"
    ref = reference_diagram(points, nxt, [p is not None for p in face.points], verb=verb)
    conf = store.confidence.get(key)
    several = f" · face {st.face + 1} of {len(ann.faces)}" if len(ann.faces) > 1 else ""
    info = (f"`{key}` · {ann.width}×{ann.height} px · status **{ann.status}** · {ann.seconds:.0f} s{several}"
            + (" · pre-placed: review, then Done" if any(f.prefilled for f in ann.faces) else "")
            + (f" · model confidence {conf:.2f}" if conf is not None else ""))
    canvas = canvas_value(key, image, ann, points, active=st.face, selected=st.selected, zoom=cfg.zoom,
                          rev=st.rev)
    return (canvas, ref, list_value(ann, points, st.face, st.selected), info, _progress_line(store, st), msg,
            st)


def _progress_line(store: AnnotationStore, st: TabState) -> str:
    counts = store.progress()
    extra = " · ".join(f"{counts[s]} {s}" for s in ("skipped", "flagged", "unreadable") if counts[s])
    return (f"**{counts['done']} of {counts['total']} annotated**" + (f" · {extra}" if extra else "")
            + f" · image {st.index + 1}/{len(st.order)}")


# --------------------------------------------------------------------------------------------------
# Annotate: the Blocks
# --------------------------------------------------------------------------------------------------


def _annotate_tab(cfg: AppConfig):
    state = gr.State(TabState())
    with gr.Row(equal_height=True):
        gr.Markdown("### Landmarks on tiny faces: click to place the next point, drag to move one")
        progress = gr.Markdown(elem_id="progress-md")
    with gr.Row():
        with gr.Column(scale=7, min_width=620):
            canvas = gr.HTML(value=empty_canvas("Loading…"), html_template=CANVAS_HTML,
                             css_template=CANVAS_CSS, js_on_load=CANVAS_JS, elem_id="annot-canvas",
                             apply_default_css=False)
            info = gr.Markdown(elem_id="info-md")
            with gr.Row(elem_classes="nav-row"):
                prev_b = gr.Button("◀ Previous", elem_id="btn-prev", size="sm")
                next_b = gr.Button("Next ▶", elem_id="btn-next", size="sm", variant="primary")
                unfinished_b = gr.Button("First unfinished", size="sm")
                done_b = gr.Button("✓ Done", elem_id="btn-done", size="sm")
                skip_b = gr.Button("Skip", elem_id="btn-skip", size="sm")
                flag_b = gr.Button("⚑ Flag", elem_id="btn-flag", size="sm")
            gr.Markdown(
                "**Mouse** click: place the next point (or move the selected one) · drag a point: move it · "
                "click a point: select it · wheel: zoom. **Keys** <kbd>n</kbd>/<kbd>p</kbd> next/previous · "
                "<kbd>u</kbd>/<kbd>r</kbd> undo/redo · <kbd>o</kbd> occluded · <kbd>d</kbd> delete · "
                "<kbd>a</kbd> done · <kbd>s</kbd> skip · <kbd>f</kbd> flag · <kbd>b</kbd> box a face · "
                "<kbd>w</kbd> whole image / face · <kbd>m</kbd> marker size · <kbd>l</kbd> labels · "
                "<kbd>g</kbd> grid · <kbd>+</kbd>/<kbd>-</kbd>/<kbd>0</kbd> zoom · "
                "<kbd>Esc</kbd> deselect.  \n"
                "An image is done once every point of every face is placed (pre-placed ones: press Done); "
                "with several faces each needs its box. Occluded and delete act on the selected point, else "
                "on the last placed one; occluded points are drawn as rings and saved with COCO visibility "
                "1. *Left/right are as seen on screen.*",
                elem_id="shortcuts",
            )
        with gr.Column(scale=4, min_width=340):
            ref = gr.Image(format="png", interactive=False, show_label=False, buttons=[], elem_id="reference",
                           height=240)
            points = gr.HTML(value=list_value(None, cfg.points), html_template=LIST_HTML,
                             css_template=LIST_CSS, js_on_load=LIST_JS, elem_id="points-list",
                             apply_default_css=False)
            msg = gr.Markdown(elem_id="msg-md")
            with gr.Row(elem_classes="nav-row"):
                undo_b = gr.Button("↶ Undo", elem_id="btn-undo", size="sm")
                redo_b = gr.Button("↷ Redo", elem_id="btn-redo", size="sm")
                occ_b = gr.Button("Occluded", elem_id="btn-occlude", size="sm")
                del_b = gr.Button("Delete point", elem_id="btn-delete", size="sm")
                desel_b = gr.Button("Deselect", elem_id="btn-deselect", size="sm")
                del_face_b = gr.Button("Delete face", elem_id="btn-delete-face", size="sm")
            with gr.Accordion("Exact position (original pixels)", open=False):
                with gr.Row():
                    x_n = gr.Number(label="x", precision=None)
                    y_n = gr.Number(label="y", precision=None)
                    place_b = gr.Button("Place / move", size="sm")
            with gr.Accordion("Import annotations (pre-placed points)", open=False):
                import_f = gr.File(label="COCO keypoints or project .json, imglab .xml, 300W .pts",
                                   file_count="multiple", file_types=list(IMPORT_SUFFIXES), type="filepath",
                                   elem_id="import-files")
            with gr.Accordion("Export and download", open=False):
                with gr.Row():
                    export_bs = {kind: gr.Button(label, size="sm", elem_id=f"btn-export-{kind}")
                                 for kind, (label, _) in EXPORTS.items()}
                download = gr.File(label="Download", interactive=False, visible=False, elem_id="download")
            with gr.Accordion("Folder, annotator, schema", open=cfg.folder is None):
                folder_t = gr.Textbox(label="Image folder", value=str(cfg.folder or ""),
                                      placeholder=f"a folder under {cfg.root}")
                with gr.Row():
                    annot_t = gr.Textbox(label="Annotator", value=cfg.annotator or default_annotator())
                    names = sorted(set(SCHEMAS) | {cfg.points.name})
                    schema_d = gr.Dropdown(names, value=cfg.points.name, label="Schema")
                order_d = gr.Dropdown(ORDER_CHOICES, value=cfg.order, label="Queue order")
                open_b = gr.Button("Open folder", variant="primary")
    op_t = gr.Textbox(visible=False, elem_id="op-json")  # the API's way in for canvas operations

    outputs = [canvas, ref, points, info, progress, msg, state]
    common = dict(show_progress="hidden", concurrency_id="annotate", concurrency_limit=1)

    def wire(trigger, action, extra=(), api_name=None, fixed=(), outs=None):
        """Connect ``trigger`` to action ``action``; ``fixed`` are constant arguments after ``extra``."""

        def handler(st, *vals):
            return _view(cfg, act(cfg, st, action, *vals, *fixed))

        trigger(handler, [state, *extra], outs or outputs, api_name=api_name,
                api_visibility="public" if api_name else "private", trigger_mode="multiple", **common)

    def on_event(st, evt: gr.EventData):
        return _view(cfg, act(cfg, st, "op", dict(evt._data or {})))

    def on_pick(st, evt: gr.EventData):
        data = dict(evt._data or {})
        if "face" in data:
            op = {"op": "face", "face": data["face"]}
        else:
            op = {"op": "select", "index": data.get("index")}
        return _view(cfg, act(cfg, st, "op", op))

    canvas.edit(on_event, [state], outputs, api_visibility="private", trigger_mode="multiple", **common)
    points.pick(on_pick, [state], outputs, api_visibility="private", trigger_mode="multiple", **common)
    wire(op_t.submit, "op", [op_t], api_name="edit")
    wire(open_b.click, "open", [folder_t, annot_t, schema_d, order_d], api_name="open_folder")
    wire(place_b.click, "place", [x_n, y_n], api_name="place_point")
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
    wire(del_face_b.click, "delete_face", api_name="delete_face")
    wire(order_d.input, "order", [order_d])

    sel_n = gr.Number(visible=False, precision=0)
    wire(sel_n.submit, "select", [sel_n], api_name="select_point")

    def importer(st, files):
        st = act(cfg, st, "import", files)
        return (*_view(cfg, st), None)

    import_f.upload(importer, [state, import_f], [*outputs, import_f], api_name="import_annotations",
                    api_visibility="public", **common)
    for kind, button in export_bs.items():
        def exporter(st, kind=kind):
            st = act(cfg, st, "export", kind)
            shown = gr.File(value=st.download, visible=st.download is not None)
            return (*_view(cfg, st), shown)

        button.click(exporter, [state], [*outputs, download], api_name=f"export_{kind}",
                     api_visibility="public", **common)
    return state, (folder_t, annot_t, schema_d, order_d), outputs


# --------------------------------------------------------------------------------------------------
# Demo tab
# --------------------------------------------------------------------------------------------------


def _demo_tab(models: demo_lib.Models, finder, examples: list[Path]) -> None:
    loaded = f"**Model:** {models.s2ld_name} — {models.s2ld_detail}." if models.s2ld is not None else ""
    compared = ("**Compared with:** " + "; ".join(b.name for b in models.baselines) + "."
                if models.baselines else "**No comparison column** (no baseline is installed and trained).")
    missing = ("**Not shown:** " + "; ".join(models.missing) + ".") if models.missing else ""
    notes = " ".join(models.messages)
    finder_note = f"Face finder: {finder.note}." if finder is not None else "No face finder."
    gr.Markdown("### Landmarks on a photo's faces, shrunk to a low resolution\n"
                + "\n\n".join(filter(None, [loaded, compared, missing, notes, finder_note])),
                elem_id="demo-status")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            photo = gr.Image(sources=["upload", "webcam"], type="numpy", label="Photo (upload or webcam)",
                             format="png", height=360)
            with gr.Row():
                size_s = gr.Slider(12, 64, value=24, step=1, scale=3, elem_id="demo-size",
                                   label="Face size (px): faces shrunk to this width")
                native_c = gr.Checkbox(value=False, label="Native size", scale=1)
            cap_s = gr.Slider(1, demo_lib.MAX_FACES_LIMIT, value=demo_lib.DEFAULT_MAX_FACES, step=1,
                              label="Max faces (largest first)", elem_id="demo-cap")
            run_b = gr.Button("Find landmarks", variant="primary")
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[photo], label="Bundled examples",
                            elem_id="demo-examples")
        with gr.Column(scale=3, min_width=420):
            over = gr.Image(format="png", interactive=False, label="Faces found", buttons=[], height=420,
                            elem_id="demo-overview")
            table = gr.Markdown(elem_id="demo-table")
    names = [n for n, _ in models.columns]
    label = "Per face, the same LR crop: " + (" | ".join(names) if names else "no model loaded")
    sheet = gr.Image(format="png", interactive=False, label=label, buttons=["download"], elem_id="demo-sheet")

    def run(upload, size, native, cap):
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
            results, note = demo_lib.analyse(image, lr, models, finder, int(cap))
        except (ValueError, OSError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        md = demo_lib.results_markdown(results, note, models, lr, int(cap))
        return demo_lib.overview(image, results), demo_lib.contact_sheet(results, names or None), md

    inputs = [photo, size_s, native_c, cap_s]
    # one run at a time per page, in order: an upload's run must not land after a later click's
    once = dict(preprocess=False, concurrency_id="demo", concurrency_limit=1, trigger_mode="always_last")
    run_b.click(run, inputs, [over, sheet, table], api_name="demo", **once)
    photo.upload(run, inputs, [over, sheet, table], api_visibility="private", **once)


# --------------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------------


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
    zoom: str | int = DEFAULT_ZOOM,
    examples_dir: str | os.PathLike[str] | None = None,
    tabs: tuple[str, ...] = ("annotate", "demo"),
    initial_tab: str | None = None,
    device: str = "cpu",
    models: demo_lib.Models | None = None,
) -> gr.Blocks:
    """The app with the tabs named in ``tabs`` ("annotate", "demo"). ``folder`` opens on page load
    (resuming at the first unfinished image); the folder box may open other folders only under
    ``root`` (default: ``folder``, else the cwd). ``schema``: a built-in name or a schema file.
    ``checkpoint`` enables model-assisted annotation and names the demo's model (``models``: already
    loaded ones, as the command line does to report a bad checkpoint before serving)."""
    tabs = tuple(tabs)
    if not tabs or any(t not in ("annotate", "demo") for t in tabs):
        raise ValueError(f"tabs must be 'annotate' and/or 'demo', got {tabs}")
    cfg = AppConfig(
        points=point_set(schema),
        folder=Path(folder).expanduser().resolve() if folder else None,
        annotator=annotator or default_annotator(),
        out=Path(out).expanduser().resolve() if out else None,
        order=order,
        zoom=parse_zoom(zoom),
    )
    cfg.root = Path(root).expanduser().resolve() if root else (cfg.folder or Path.cwd().resolve())
    if models is None:
        models = demo_lib.load_models(checkpoint, baseline_checkpoint, device=device)
    cfg.assist = models.s2ld if checkpoint else None  # pre-placement only with a named checkpoint
    with gr.Blocks(title="S²LD — annotate & demo") as app:
        with gr.Tabs(selected=initial_tab or tabs[0]):
            if "annotate" in tabs:
                with gr.Tab("Annotate", id="annotate"):
                    state, fields, outputs = _annotate_tab(cfg)
            if "demo" in tabs:
                with gr.Tab("Demo", id="demo"):
                    ex_dir = (Path(examples_dir) if examples_dir
                              else Path(tempfile.gettempdir()) / "s2ld-demo-examples")
                    _demo_tab(models, demo_lib.demo_finder(), demo_lib.example_images(ex_dir))
        if "annotate" in tabs:

            def on_load(st, folder_v, annot_v, schema_v, order_v):
                if cfg.folder is not None:
                    st = act(cfg, st, "open", folder_v or str(cfg.folder), annot_v, schema_v, order_v)
                return _view(cfg, st)

            app.load(on_load, [state, *fields], outputs, api_visibility="private",
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
    """Folder, schema, annotation file, zoom and root checked up front, each problem one line naming
    the path."""
    parse_zoom(args.zoom)
    point_set(args.schema)
    if args.root and not Path(args.root).expanduser().is_dir():
        raise ValueError(f"{args.root}: --root is not a folder")
    if not args.folder:
        return None
    store = AnnotationStore.open(args.folder, args.schema, args.annotator or default_annotator(), args.out)
    if not store.keys:
        raise ValueError(f"{args.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    check_writable(store.path)
    return store


def _import_files(store: AnnotationStore, files: list[str]) -> str:
    """``--import``: pre-place the files' faces on untouched images; one line (plus notes) to print."""
    from .imports import read_import

    for f in files:
        if not Path(f).is_file():
            raise ValueError(f"{f}: no such annotation file (--import)")
    result = read_import(files, store.keys, store.size, store.schema)
    filled = store.preplace(result.faces)
    lines = [f"imported {result.num_faces} face(s) on {len(result.faces)} image(s); pre-placed on {filled} "
             f"untouched image(s)"]
    return "\n".join(lines + [f"  note: {n}" for n in result.notes])


def main_annotate(args: argparse.Namespace) -> int:
    """``s2ld annotate``: serve the annotator (or, with --export-*, export and exit)."""
    if args.export_coco or args.export_pts:
        if not args.folder:
            raise ValueError("--export-coco/--export-pts need the image folder")
        name = args.annotator or default_annotator()
        store = AnnotationStore.open(args.folder, args.schema, name, args.out)
        if args.export_coco:
            print(f"wrote {store.export_coco(args.export_coco)}")
        if args.export_pts:
            print(f"wrote {store.export_pts(args.export_pts)}")
        return 0
    _check_server_arguments(args)
    store = _open_for_annotation(args)
    if args.import_files:
        if store is None:
            raise ValueError("--import needs the image folder")
        print(_import_files(store, args.import_files))
    models = _load_models_or_fail(args)
    app = build_app(args.folder, schema=args.schema, annotator=args.annotator, out=args.out,
                    checkpoint=args.checkpoint, baseline_checkpoint=args.baseline_checkpoint,
                    root=args.root, order=args.order, zoom=args.zoom, device=args.device, models=models)
    launch(app, host=args.host, port=args.port, auth=_credentials(args))
    return 0


def main_demo(args: argparse.Namespace) -> int:
    """``s2ld demo``: the Demo tab, and an Annotate tab only for the folder ``--annotate`` names."""
    _check_server_arguments(args)
    if args.examples_dir:
        check_writable(args.examples_dir, folder=True)
    if args.annotate:
        args.folder, args.root, args.out, args.order, args.zoom = args.annotate, None, None, "file", "fit"
        args.annotator = None
        _open_for_annotation(args)
    models = _load_models_or_fail(args)
    tabs = ("demo", "annotate") if args.annotate else ("demo",)
    app = build_app(args.annotate, schema=args.schema, checkpoint=args.checkpoint,
                    baseline_checkpoint=args.baseline_checkpoint, examples_dir=args.examples_dir, tabs=tabs,
                    device=args.device, models=models)
    launch(app, host=args.host, port=args.port, auth=_credentials(args))
    return 0
