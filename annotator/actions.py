"""What the Annotate tab does, without Gradio: open a folder, apply one edit, say what changed.

The browser tab only holds *where it is* (:class:`TabState`: image, active face, selected point,
undo history); the annotation itself always lives in the file, so a reload or a second tab resumes
from disk. Every user action is :func:`act` with an action name; user mistakes become the tab's
message (``⚠️ …``), never an exception, and the view is then rebuilt from the file
(:mod:`annotator.app`).

Canvas edits arrive as small JSON operations (:func:`apply_op`) in original-image coordinates; they
name the image they were made on, so an edit that reaches the server after the tab moved on is
refused rather than applied to the wrong image.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2ld_core.data.formats import FaceAnnotation
from s2ld_core.data.formats.errors import MAX_COORDINATE, finite

from .point_sets import PointSet
from .store import (
    MAX_IDLE_SECONDS,
    AnnotationStore,
    History,
    StoreError,
    UnreadableImage,
    add_face,
    delete_face,
    delete_point,
    move_point,
    next_unplaced,
    open_store,
    order_keys,
    place_next,
    set_box,
    set_occluded,
    set_status,
    short_repr,
)

__all__ = ["TabState", "AppConfig", "act", "apply_op", "default_annotator", "EXPORTS"]

# export kind -> (button label, what the file is)
EXPORTS = {"coco": ("COCO keypoints (.json)", "COCO"), "pts": ("300W .pts (.zip)", ".pts zip"),
           "json": ("annotation file (.json)", "annotation file")}


@dataclass
class TabState:
    """What one browser tab remembers; everything else is re-read from the annotation file."""

    store_path: str | None = None  # key into the store registry (the annotation file)
    order: list[str] = field(default_factory=list)
    index: int = 0
    face: int = 0  # the face the canvas edits
    selected: int | None = None  # point chosen for moving/deleting; None = clicks place the next point
    history: History = field(default_factory=History)
    last_action: float | None = None  # time.monotonic() of the last action on the current image
    message: str = ""
    rev: int = 0  # bumped on every view, so the page always redraws from the server's answer
    download: str | None = None  # the file the last export made for the browser

    @property
    def key(self) -> str | None:
        return self.order[self.index] if self.order else None


@dataclass
class AppConfig:
    """Server-side settings fixed at start-up (CLI arguments)."""

    points: PointSet
    folder: Path | None = None
    annotator: str = ""
    out: Path | None = None
    root: Path = field(default_factory=Path.cwd)  # folders the UI may open must lie under this
    order: str = "file"
    zoom: str | int = "fit"
    assist: object | None = None  # a LandmarkDetector that pre-places points
    downloads: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "s2ld-downloads")


_STORES: dict[str, AnnotationStore] = {}


def store_of(st: TabState) -> AnnotationStore | None:
    return _STORES.get(st.store_path) if st.store_path else None


def default_annotator() -> str:
    name = "".join(c for c in os.environ.get("USER", "") if c.isalnum() or c in "._-")
    return name or "annotator"


def _elapsed(st: TabState) -> float:
    """Seconds since the last action on this image, capped: a long pause is a break, not work."""
    now = time.monotonic()
    dt = 0.0 if st.last_action is None else min(now - st.last_action, MAX_IDLE_SECONDS)
    st.last_action = now
    return dt


def _label(store: AnnotationStore, i: int) -> str:
    return store.points.label(i)


def _face_word(store: AnnotationStore, st: TabState) -> str:
    n = len(store.get(st.key).faces)
    return f" (face {st.face + 1})" if n > 1 else ""


# --------------------------------------------------------------------------------------------------
# Opening a folder, pre-placing
# --------------------------------------------------------------------------------------------------


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
    points = cfg.points if schema in (None, "", cfg.points.name) else schema
    store = open_store(path, points, annotator, out)
    _STORES[str(store.path)] = store
    note = _prefill(cfg, store) if cfg.assist is not None else ""
    new = TabState(store_path=str(store.path), rev=st.rev)
    new.order = order_keys(store, order)
    new.index = store.first_unfinished(new.order)
    new.last_action = time.monotonic()
    counts = store.progress()
    new.message = (f"Opened {store.root} ({counts['total']} images) as **{store.annotator}**; saving to "
                   f"`{store.path}`. {note}").strip()
    if not store.keys:
        new.message = f"No images (png, jpg, bmp, tif, webp) found under {store.root}."
    return new


def _model_faces(landmarker, image: np.ndarray, boxes=None) -> tuple[list[FaceAnnotation], float]:
    """The detector's faces on ``image`` (found, or in ``boxes``), as faces to pre-place, and their
    mean confidence. A picture no bigger than a face crop, or one where no face is found, is one face."""
    if boxes is None:
        res = landmarker(image, faces="auto")
        if not res.faces:
            res = landmarker(image, faces="whole")
    else:
        given = [(b[0] + 0.5, b[1] + 0.5, b[2], b[3]) for b in boxes]  # our box edges -> finder-style boxes
        res = landmarker(image, faces=given, box_framing="boxes")
    whole = res.finder == "whole"
    faces, conf = [], []
    for f in res.faces:
        # a finder's box starts at its left pixel's index; ours at that pixel's left edge
        box = None if whole else [f.box.x - 0.5, f.box.y - 0.5, f.box.w, f.box.h]
        faces.append(FaceAnnotation([[float(x), float(y)] for x, y in f.points], [True] * len(f.points), box))
        conf.append(f.landmark_score)
    return faces, float(np.mean(conf)) if conf else 0.0


def _landmarker(cfg: AppConfig, finder="auto"):
    from s2ld_core.photo import PhotoLandmarker

    return PhotoLandmarker(cfg.assist, finder)


def _assist_fits(cfg: AppConfig, store: AnnotationStore) -> str | None:
    """``None`` if the assisting detector predicts this store's points, else why not."""
    from s2ld_core.schemas import get_schema

    theirs = get_schema(cfg.assist.schema)
    if theirs != store.schema:
        return f"The checkpoint predicts {theirs.name!r} points, not {store.schema.name!r}: no pre-placement."
    return None


def _prefill(cfg: AppConfig, store: AnnotationStore) -> str:
    """Run the assisting detector on images it has not seen; pre-place its faces on untouched ones.

    Confidences are cached on the (shared) store, so a page reload does not re-run the model.
    """
    why_not = _assist_fits(cfg, store)
    if why_not:
        return why_not
    landmarker = _landmarker(cfg)
    faces, conf, unreadable = {}, {}, 0
    for key in [k for k in store.keys if k not in store.confidence]:
        try:
            image = store.image(key)
        except StoreError:
            unreadable += 1
            continue
        faces[key], conf[key] = _model_faces(landmarker, image)
    filled = store.preplace(faces, conf)
    note = f"S²LD pre-placed points on {filled} new image(s): correct them, then press Done."
    return note + (f" {unreadable} image(s) could not be read." if unreadable else "")


# --------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------


def _navigate(store: AnnotationStore, st: TabState, index: int) -> None:
    if st.key is not None:
        try:  # book the time on the image we leave
            store.modify(st.key, lambda a: None, seconds=_elapsed(st))
        except UnreadableImage:
            pass  # nothing to book on an image that cannot be shown, and leaving it must work
    st.index = int(np.clip(index, 0, max(0, len(st.order) - 1)))
    st.face = 0
    st.selected = None
    st.last_action = time.monotonic()


def _edit(store: AnnotationStore, st: TabState, change) -> object:
    edit, result = store.modify(st.key, change, seconds=_elapsed(st))
    st.history.push(edit)
    return result


def _last_placed(store: AnnotationStore, st: TabState) -> int | None:
    face = store.get(st.key).faces[st.face]
    placed = [i for i, p in enumerate(face.points) if p is not None]
    return placed[-1] if placed else None


def _click(store: AnnotationStore, st: TabState, x: float, y: float) -> None:
    """A click moves the selected point, else places the next one, else selects the nearest."""
    f = st.face
    if st.selected is not None:
        i = st.selected
        _edit(store, st, lambda a: move_point(a, i, x, y, face=f))
        st.selected = None
        st.message = f"Moved {_label(store, i)}{_face_word(store, st)} to ({x:.2f}, {y:.2f})."
        return
    i = _edit(store, st, lambda a: place_next(a, x, y, face=f))
    if i is not None:
        st.message = f"Placed {_label(store, i)}{_face_word(store, st)} at ({x:.2f}, {y:.2f})."
        return
    pts = store.get(st.key).faces[f].points_array()
    nearest = int(np.nanargmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))
    st.selected = nearest
    st.message = f"All points are placed; selected {_label(store, nearest)}: click to move it."


def act(cfg: AppConfig, st: TabState, action: str, *args) -> TabState:
    """Run one annotate action; user errors become the message instead of an exception."""
    st.message = ""
    st.download = None
    try:
        if action == "open":
            return _open(cfg, st, *args)
        store = store_of(st)
        if store is None or not st.order:
            raise StoreError("open a folder first")
        with store._lock:
            if st.key is not None and st.key in store.keys and store.readable(st.key):
                st.face = int(np.clip(st.face, 0, len(store.get(st.key).faces) - 1))
            _ACTIONS[action](cfg, store, st, *args)
    except StoreError as exc:
        st.message = f"⚠️ {exc}"
    return st


def _number(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise StoreError(f"{what} must be a number, got {short_repr(value)}") from None
    if not finite(out):
        raise StoreError(f"{what} must be finite and within ±{MAX_COORDINATE:.0f}, got {short_repr(value)}")
    return out


def _index(value, what: str) -> int:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and finite(value)
    if not ok or int(value) != value:
        raise StoreError(f"{what} must be a whole number, got {short_repr(value)}")
    return int(value)


def _do_place(cfg, store, st, x, y):
    if x is None or y is None:
        raise StoreError("type both x and y (original pixels, 0-based centres)")
    _click(store, st, _number(x, "x"), _number(y, "y"))


def _do_select(cfg, store, st, index):
    if index is None or index == "":
        st.selected = None
        return
    i = _index(index, "point")
    if not 0 <= i < store.schema.num_points:
        raise StoreError(f"point {i + 1} does not exist in schema {store.schema.name}")
    st.selected = i
    placed = store.get(st.key).faces[st.face].points[i] is not None
    st.message = (f"Selected {_label(store, i)}: click or drag on the image to "
                  f"{'move' if placed else 'place'} it, or use occluded/delete.")


def _target_point(store, st) -> int:
    i = st.selected if st.selected is not None else _last_placed(store, st)
    if i is None:
        raise StoreError("no point is placed on this face yet")
    return i


def _do_occlude(cfg, store, st):
    i, f = _target_point(store, st), st.face
    now_occluded = store.get(st.key).faces[f].visible[i]
    _edit(store, st, lambda a: set_occluded(a, i, now_occluded, face=f))
    st.message = f"{_label(store, i)} is now {'occluded (v=1)' if now_occluded else 'visible (v=2)'}."


def _do_delete(cfg, store, st):
    i, f = _target_point(store, st), st.face
    _edit(store, st, lambda a: delete_point(a, i, face=f))
    st.selected = None
    st.message = f"Deleted {_label(store, i)}; the next click places it again."


def _do_delete_face(cfg, store, st):
    f = st.face
    n = len(store.get(st.key).faces)
    _edit(store, st, lambda a: delete_face(a, f))
    st.face, st.selected = max(0, f - 1), None
    st.message = f"Deleted face {f + 1} and its points." if n > 1 else "Cleared the face: its points and box."


def _do_status(cfg, store, st, status):
    if not store.readable(st.key):
        st.message = f"`{st.key}` cannot be shown, so it stays **unreadable**; moved on."
        _navigate(store, st, st.index + 1)
        return
    _edit(store, st, lambda a: set_status(a, status))
    st.message = f"Marked `{st.key}` as {status}."
    _navigate(store, st, st.index + 1)


def _do_history(cfg, store, st, which):
    key = store.undo(st.history) if which == "undo" else store.redo(st.history)
    if key is None:
        st.message = f"Nothing to {which}."
        return
    if key != st.key and key in st.order:
        _navigate(store, st, st.order.index(key))
    st.selected = None
    st.message = f"{which.capitalize()}: `{key}`."


def _do_move(cfg, store, st, delta):
    _navigate(store, st, st.index + delta)


def _do_goto_unfinished(cfg, store, st):
    _navigate(store, st, store.first_unfinished(st.order))


def _do_order(cfg, store, st, order):
    key = st.key
    st.order = order_keys(store, order)
    st.index = st.order.index(key) if key in st.order else 0
    if order == "confidence" and not store.confidence:
        st.message = "No model confidences (start with --checkpoint); keeping file order."


def _do_export(cfg, store, st, kind):
    """Write the export beside the annotations (as the command line does) and a copy the browser
    downloads (served from the temporary folder, never from the image folder)."""
    if kind == "coco":
        path = store.export_coco()
    elif kind == "pts":
        path = store.export_pts_zip()
    elif kind == "json":
        store.refresh()
        if not store.path.is_file():
            raise StoreError("nothing annotated yet: the annotation file does not exist")
        path = store.path
    else:
        raise StoreError(f"unknown export {kind!r}")
    target = Path(tempfile.mkdtemp(prefix="export-", dir=_ensure(cfg.downloads))) / path.name
    shutil.copyfile(path, target)
    st.download = str(target)
    what = EXPORTS[kind][1]
    scope = "" if kind == "json" else " (done images)"
    st.message = f"Exported the {what}{scope} to `{path}`; the download is below."


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _do_import(cfg, store, st, files):
    """Read annotation files (browser uploads) and pre-place their faces on untouched images."""
    from .imports import read_import

    paths = [str(getattr(f, "name", f)) for f in (files or [])]
    try:
        result = read_import(paths, store.keys, store.size, store.schema)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    images = len(result.faces)
    filled = store.preplace(result.faces)
    kept = images - filled
    parts = [f"Imported {result.num_faces} face(s) on {images} image(s): pre-placed on {filled}"]
    if kept:
        parts.append(f"{kept} image(s) that already hold points or boxes kept as they are")
    st.message = "; ".join(parts) + ". Review each and press Done." + (
        "  \n" + "  \n".join(f"⚠️ {n}" for n in result.notes[:6]) if result.notes else "")
    if st.key in result.faces:
        st.face, st.selected = 0, None


def _do_op(cfg, store, st, op):
    """One canvas or list operation (a dict, or its JSON text from the API)."""
    if isinstance(op, str):
        try:
            op = json.loads(op)
        except json.JSONDecodeError as exc:
            raise StoreError(f"edit: not JSON ({exc.msg})") from None
        except (ValueError, RecursionError) as exc:  # an integer of 5000 digits, nesting too deep
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:80]
            raise StoreError(f"edit: not JSON this editor takes ({reason})") from None
    if not isinstance(op, dict) or "op" not in op:
        raise StoreError("edit: expected an object with 'op'")
    key = op.get("key")
    if key is not None and key != st.key:
        raise StoreError(f"that edit was made on `{key}`, but `{st.key}` is shown now; it was not applied")
    name = op["op"]
    faces = store.get(st.key).faces
    f = _index(op.get("face", st.face), "face")
    if name != "add_face" and not 0 <= f < len(faces):
        raise StoreError(f"face {f + 1} does not exist; this image has {len(faces)}")
    if name == "face":
        st.face, st.selected = f, None
        st.message = f"Face {f + 1} of {len(faces)}."
    elif name == "select":
        st.face = f
        _do_select(cfg, store, st, op.get("index"))
    elif name in ("place", "move"):
        st.face = f
        i = _index(op.get("index"), "point")
        x, y = _number(op.get("x"), "x"), _number(op.get("y"), "y")
        if not 0 <= i < store.schema.num_points:
            raise StoreError(f"point {i + 1} does not exist in schema {store.schema.name}")
        was = faces[f].points[i] is not None
        _edit(store, st, lambda a: move_point(a, i, x, y, face=f))
        st.selected = None
        verb = "Moved" if was else "Placed"
        st.message = f"{verb} {_label(store, i)}{_face_word(store, st)} at ({x:.2f}, {y:.2f})."
    elif name in ("add_face", "set_box"):
        box = op.get("box")
        if not isinstance(box, list) or len(box) != 4:
            raise StoreError(f"a face box is [x, y, w, h], got {short_repr(box)}")
        box = [_number(v, "box") for v in box]
        prefill = _box_prefill(cfg, store, st.key)

        def change(a):
            j = add_face(a, box) if name == "add_face" else (set_box(a, f, box) or f)
            if prefill is not None and not a.faces[j].touched:
                pts = prefill(a.faces[j].box)
                if pts is not None:
                    a.faces[j].points, a.faces[j].visible, a.faces[j].prefilled = pts, [True] * len(pts), True
            return j

        j = _edit(store, st, change)
        st.face, st.selected = j, None
        got = store.get(st.key).faces[j]
        filled = " S²LD pre-placed its points: correct them." if got.prefilled and got.touched else ""
        st.message = f"Face {j + 1}: box drawn.{filled}"
    elif name == "delete_face":
        st.face = f
        _do_delete_face(cfg, store, st)
    else:
        raise StoreError(f"edit: unknown operation {name!r}")


def _box_prefill(cfg, store, key):
    """With a model loaded: a function ``box -> points`` that runs it on a freshly drawn face box."""
    if cfg.assist is None or _assist_fits(cfg, store):
        return None
    image = store.image(key)
    landmarker = _landmarker(cfg, None)

    def predict(box):
        faces, _ = _model_faces(landmarker, image, [box])
        if not faces:
            return None
        w, h = image.shape[1], image.shape[0]
        return [[float(np.clip(p[0], -0.5, w - 0.5)), float(np.clip(p[1], -0.5, h - 0.5))]
                for p in faces[0].points]

    return predict


def _do_refresh(cfg, store, st):
    return None


_ACTIONS = {
    "place": _do_place, "select": _do_select, "occlude": _do_occlude, "delete": _do_delete,
    "status": _do_status, "history": _do_history, "move": _do_move, "unfinished": _do_goto_unfinished,
    "order": _do_order, "export": _do_export, "import": _do_import, "op": _do_op,
    "delete_face": _do_delete_face,
    "deselect": lambda cfg, store, st: _do_select(cfg, store, st, None), "refresh": _do_refresh,
}


def apply_op(cfg: AppConfig, st: TabState, op) -> TabState:
    """:func:`act` for one canvas operation (see :func:`_do_op`)."""
    return act(cfg, st, "op", op)


def next_point(store: AnnotationStore, st: TabState) -> int | None:
    """The point the reference diagram highlights: the selected one, else the next to place."""
    if st.selected is not None:
        return st.selected
    return next_unplaced(store.get(st.key), st.face)
