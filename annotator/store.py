"""Annotation state for one annotator on one image folder, persisted atomically after every change.

Why it is shaped this way:

* **The file on disk is the truth.** Every change is a read-modify-write of
  ``<folder>/annotations/<annotator>.json`` (or ``--out``) through
  :func:`s2ld_core.data.formats.write_annotations`, which is atomic. Before each change the store
  re-reads the file if someone else (a second browser tab, another process) rewrote it, so a crash, a
  page reload or a second tab loses nothing.
* **One writer at a time, across processes.** The read-modify-write runs under an exclusive
  ``flock`` on a sidecar ``.<file>.lock`` next to the annotation file (threads of one server also
  take the store's own lock first). Without it two servers on one file each re-read, change and
  rename, and whichever renames last silently drops the other's acknowledged point. A lock rather
  than "refuse a second server" because two tabs of two servers on one file is a real workflow
  (a laptop and a lab machine on a shared folder), and the lock costs a few microseconds per click.
* **Images that cannot be shown never trap the queue.** A corrupt, empty or non-image file, or one
  larger than :data:`MAX_IMAGE_SIDE`, gets the queue status ``unreadable``: it stays in the queue and
  in the counts (so nobody thinks it was annotated), navigation leaves it, and it is never the resume
  point. The status is not written to the file, which only holds what a person decided; a file
  repaired on disk is annotatable again after a reload.
* **Edits are pure functions on one** :class:`ImageAnnotation` (:func:`place_next`, :func:`move_point`,
  ...); :meth:`AnnotationStore.modify` applies one, saves, and returns an :class:`Edit` (before/after
  snapshots). Undo/redo is then a per-tab :class:`History` of edits that the store replays, so an
  undo in one tab never rewinds another tab's work.
* **Several faces per image.** An image holds one or more faces (:class:`FaceAnnotation`): a face
  crop has one face and no box; in a larger picture each face gets a box, then its points. Every
  edit names its face (``face=0`` by default), so one-face folders work exactly as before.
* **Only files under the opened folder are read.** Image keys are POSIX paths relative to the
  folder, listed by walking it; :func:`resolve_inside` refuses anything that escapes it (``..``,
  absolute paths, symlinks pointing outside).

Coordinates follow ``docs/architecture.md``: 0-based pixel centres in the original (small) image.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2ld_core.data.formats import (
    IMAGE_SUFFIXES,
    STATUSES,
    AnnotationSet,
    FaceAnnotation,
    FormatError,
    ImageAnnotation,
    export_pts_dir,
    pts_name,
    pts_text,
    read_annotations,
    utc_now_iso,
    write_annotations,
    write_coco_keypoints,
)
from s2ld_core.data.images import image_size, read_rgb
from s2ld_core.schemas import Schema

from .pictures import display_to_original  # noqa: F401 - part of this module's API
from .point_sets import PointSet, point_set

__all__ = [
    "IMAGE_SUFFIXES",
    "STATUSES",
    "StoreError",
    "UnreadableImage",
    "QUEUE_STATUSES",
    "MAX_IMAGE_SIDE",
    "Edit",
    "History",
    "AnnotationStore",
    "open_store",
    "list_images",
    "resolve_inside",
    "display_to_original",
    "place_next",
    "move_point",
    "delete_point",
    "set_occluded",
    "set_status",
    "add_face",
    "set_box",
    "delete_face",
    "next_unplaced",
    "missing_work",
    "order_keys",
]

ANNOTATIONS_DIRNAME = "annotations"
_ANNOTATOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_IDLE_SECONDS = 60.0  # a gap longer than this between actions is a break, not annotation time


QUEUE_STATUSES = (*STATUSES, "unreadable")  # what the queue shows; the file holds only STATUSES

# Why refuse rather than downsample: points are stored in the image's own pixels, and this tool is
# for faces of 12-64 px magnified x4-x16 so that single pixels can be seen. A 4000-px photo shown
# downsampled would give points that look pixel-exact but were placed on a view 16x coarser, and at
# full size the magnified view alone would need gigabytes. 256 px per side still takes the project's
# 128-px HR faces with room to spare; crop bigger images to the face first.
MAX_IMAGE_SIDE = 256


class StoreError(ValueError):
    """A user-facing problem with a folder, annotator name, image key or annotation file."""


class UnreadableImage(StoreError):
    """An image the annotator cannot show: corrupt, empty, not an image, or too large."""


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def resolve_inside(root: str | os.PathLike[str], key: str) -> Path:
    """The real path of image ``key`` if it lies inside ``root``; :class:`StoreError` otherwise."""
    base = Path(root).resolve()
    if not key or Path(key).is_absolute() or "\\" in key:
        raise StoreError(f"{key!r}: not a relative image path inside {base}")
    target = (base / key).resolve()
    if target != base and base not in target.parents:
        raise StoreError(f"{key!r}: outside the opened folder {base}")
    return target


def list_images(root: str | os.PathLike[str], exclude: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Relative POSIX paths of the images under ``root`` (recursive, sorted, hidden entries skipped).

    The ``annotations`` folder and anything in ``exclude`` are skipped, and so are symlinks whose
    target leaves ``root``, so the listing is also the allow-list of what the app may read.
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise StoreError(f"{root}: not a folder")
    skip = {(base / ANNOTATIONS_DIRNAME).resolve()} | {Path(p).resolve() for p in exclude}
    keys = []
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip
        )
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            key = (here / name).relative_to(base).as_posix()
            try:
                resolve_inside(base, key)
            except StoreError:
                continue
            keys.append(key)
    return sorted(keys)


def _header_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header without decoding pixels (the project's one guarded
    reader, :func:`s2ld_core.data.images.image_size`: the real size even for a 20000² "bomb").

    Read first so a small file that claims huge dimensions is refused before anything is allocated.
    """
    try:
        return image_size(path)
    except ValueError as exc:
        raise UnreadableImage(str(exc)) from None


def _check_side(path: Path, size: tuple[int, int] | None) -> None:
    if size is not None and max(size) > MAX_IMAGE_SIDE:
        w, h = size
        raise UnreadableImage(
            f"{path.name}: {w}x{h} px is larger than the annotator takes ({MAX_IMAGE_SIDE} px per side); "
            "crop it to the face first"
        )


def _read_rgb(path: Path) -> np.ndarray:
    """Decode an image for annotation, or raise :class:`UnreadableImage` with one line naming it."""
    _check_side(path, _header_size(path))
    try:
        image = read_rgb(path)
    except (OSError, ValueError) as exc:
        raise UnreadableImage(str(exc)) from None
    _check_side(path, (image.shape[1], image.shape[0]))
    return image


@contextlib.contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    """Exclusive lock on ``.<target name>.lock`` beside ``target``, held for one read-modify-write.

    ``flock`` is released by the kernel when the descriptor closes, so a killed server never leaves
    a stale lock behind. Platforms without ``fcntl`` (Windows) fall back to no cross-process lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# Pure edits on one ImageAnnotation
# --------------------------------------------------------------------------------------------------


def _face(ann: ImageAnnotation, face: int) -> FaceAnnotation:
    if not 0 <= face < len(ann.faces):
        raise StoreError(f"face {face + 1} does not exist; this image has {len(ann.faces)}")
    return ann.faces[face]


def next_unplaced(ann: ImageAnnotation, face: int = 0) -> int | None:
    """Index of the first point of ``face`` not yet placed (schema order), or ``None`` when all are."""
    for i, p in enumerate(_face(ann, face).points):
        if p is None:
            return i
    return None


def short_repr(value, limit: int = 60) -> str:
    """``repr(value)`` cut to one short line, for messages about values that came from a browser or
    the API (a list holding a 5000-digit integer, which ``repr`` itself refuses, included)."""
    try:
        text = repr(value)
    except ValueError:  # an integer beyond Python's limit on digits converted to text
        return f"a value with an integer of over {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_xy(ann: ImageAnnotation, x: float, y: float) -> list[float]:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise StoreError(f"point ({x}, {y}) is not finite")
    # Pixel centres run 0..W-1, but a point may sit anywhere on a border pixel: -0.5..W-0.5.
    if not (-0.5 <= x <= ann.width - 0.5 and -0.5 <= y <= ann.height - 0.5):
        raise StoreError(f"point ({x:.3f}, {y:.3f}) lies outside the {ann.width}x{ann.height} image")
    return [float(x), float(y)]


def _check_box(ann: ImageAnnotation, box: Sequence[float]) -> list[float]:
    """A face box ``[x, y, w, h]`` (left edge at ``x``) clipped to the image; at least a pixel each way."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too long for a float
        raise StoreError(f"a face box is [x, y, w, h] of finite numbers, got {short_repr(box)}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise StoreError(f"face box {[x, y, w, h]} is not finite")
    x0, y0 = max(x, -0.5), max(y, -0.5)
    x1, y1 = min(x + w, ann.width - 0.5), min(y + h, ann.height - 0.5)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise StoreError(f"face box {[round(v, 2) for v in (x, y, w, h)]} covers less than a pixel of the "
                         f"{ann.width}x{ann.height} image")
    return [x0, y0, x1 - x0, y1 - y0]


def missing_work(ann: ImageAnnotation) -> str | None:
    """What keeps ``ann`` from being done (``None``: nothing): unplaced points, or with several faces
    a face without its box."""
    several = len(ann.faces) > 1
    for f, face in enumerate(ann.faces):
        which = f"face {f + 1} " if several else ""
        gaps = [k + 1 for k, p in enumerate(face.points) if p is None]
        if gaps:
            shown = ", ".join(map(str, gaps[:6])) + (" …" if len(gaps) > 6 else "")
            return f"{which}points {shown} are missing"
        if several and face.box is None:
            return f"face {f + 1} has no box (draw one: several faces need a box each)"
    return None


def _update_done(ann: ImageAnnotation) -> None:
    """An image whose last point a person places is done; removing one makes it todo again. Points a
    model or an import pre-placed are not reviewed by being there: such an image waits for Done."""
    complete = missing_work(ann) is None
    if complete and ann.status == "todo" and not any(f.prefilled for f in ann.faces):
        ann.status = "done"
    elif not complete and ann.status == "done":
        ann.status = "todo"


def place_next(ann: ImageAnnotation, x: float, y: float, face: int = 0) -> int | None:
    """Put the next unplaced point of ``face`` at ``(x, y)``; returns its index (``None``: all placed)."""
    i = next_unplaced(ann, face)
    if i is None:
        return None
    f = ann.faces[face]
    f.points[i] = _check_xy(ann, x, y)
    f.visible[i] = True
    _update_done(ann)
    return i


def move_point(ann: ImageAnnotation, index: int, x: float, y: float, face: int = 0) -> None:
    """Place or move point ``index`` of ``face`` to ``(x, y)``, keeping its visibility flag if placed."""
    f = _face(ann, face)
    _check_index(f, index)
    was_placed = f.points[index] is not None
    f.points[index] = _check_xy(ann, x, y)
    if not was_placed:
        f.visible[index] = True
    _update_done(ann)


def delete_point(ann: ImageAnnotation, index: int, face: int = 0) -> None:
    """Unplace point ``index`` (it becomes the next one a click places)."""
    f = _face(ann, face)
    _check_index(f, index)
    f.points[index] = None
    f.visible[index] = True  # the default of an unplaced point: the next click places it visible
    _update_done(ann)


def set_occluded(ann: ImageAnnotation, index: int, occluded: bool, face: int = 0) -> None:
    """Mark a placed point occluded (COCO ``v=1``: position estimated, not seen) or visible again."""
    f = _face(ann, face)
    _check_index(f, index)
    if f.points[index] is None:
        raise StoreError(f"point {index + 1} is not placed yet; place it before marking it occluded")
    f.visible[index] = not occluded


def set_status(ann: ImageAnnotation, status: str) -> None:
    """Set ``skipped`` / ``flagged`` (or back to ``todo``; ``done`` needs every point placed)."""
    if status not in STATUSES:
        raise StoreError(f"unknown status {status!r}; choose one of {STATUSES}")
    gap = missing_work(ann)
    if status == "done" and gap is not None:
        raise StoreError(f"cannot mark this image done: {gap}; skip or flag it instead")
    ann.status = status
    if status == "todo":
        _update_done(ann)


def add_face(ann: ImageAnnotation, box: Sequence[float]) -> int:
    """Add a face with ``box`` and no points yet; returns its index. The first face of an image that has
    neither a box nor a placed point takes the box instead (drawing a box is how a photo starts)."""
    clipped = _check_box(ann, box)
    first = ann.faces[0]
    if len(ann.faces) == 1 and first.box is None and not first.touched:
        first.box = clipped
        _update_done(ann)
        return 0
    ann.faces.append(FaceAnnotation.empty(len(first.points), clipped))
    _update_done(ann)
    return len(ann.faces) - 1


def set_box(ann: ImageAnnotation, face: int, box: Sequence[float]) -> None:
    """Draw (or redraw) the box of ``face``."""
    _face(ann, face).box = _check_box(ann, box)
    _update_done(ann)


def delete_face(ann: ImageAnnotation, face: int) -> None:
    """Remove ``face`` and its points; the last face of an image is emptied instead (an image always
    holds one face)."""
    _face(ann, face)
    if len(ann.faces) == 1:
        ann.faces[0] = FaceAnnotation.empty(len(ann.faces[0].points))
    else:
        del ann.faces[face]
    _update_done(ann)


def _check_index(face: FaceAnnotation, index: int) -> None:
    if not 0 <= index < len(face.points):
        raise StoreError(f"point index {index + 1} is out of range 1..{len(face.points)}")


def _content(ann: ImageAnnotation | None) -> tuple | None:
    """What undo compares: the annotation without its time stamps and timing."""
    if ann is None:
        return None
    return (ann.faces, ann.status)


# --------------------------------------------------------------------------------------------------
# History (per browser tab)
# --------------------------------------------------------------------------------------------------


@dataclass
class Edit:
    """One change to one image: snapshots before (``None`` = image had no entry) and after."""

    key: str
    before: ImageAnnotation | None
    after: ImageAnnotation


@dataclass
class History:
    """Undo/redo stacks of :class:`Edit`; a new edit clears the redo stack, as in every editor."""

    undo_stack: list[Edit] = field(default_factory=list)
    redo_stack: list[Edit] = field(default_factory=list)
    limit: int = 500

    def push(self, edit: Edit | None) -> None:
        if edit is None:
            return
        self.undo_stack.append(edit)
        del self.undo_stack[: -self.limit]
        self.redo_stack.clear()


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


@dataclass
class AnnotationStore:
    """One annotator's annotation file for one folder of images. Thread-safe; see module docstring."""

    root: Path
    points: PointSet
    annotator: str
    path: Path
    keys: list[str]
    aset: AnnotationSet
    _stamp: tuple[int, int] | None = None
    _sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    unreadable: dict[str, str] = field(default_factory=dict)  # key -> why it cannot be shown
    confidence: dict[str, float] = field(default_factory=dict)  # per-image model confidence, if any

    # ---- opening -------------------------------------------------------------------------------

    @property
    def schema(self) -> Schema:
        return self.points.schema

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        schema: str | Schema | PointSet,
        annotator: str,
        out: str | os.PathLike[str] | None = None,
    ) -> AnnotationStore:
        """Open ``root`` for ``annotator``; resumes from the existing file if there is one. ``schema``:
        a built-in name, a :class:`Schema`/:class:`PointSet`, or a schema file (``annotator.point_sets``)."""
        base = Path(root).expanduser().resolve()
        if not base.is_dir():
            raise StoreError(f"{root}: not a folder")
        annotator = (annotator or "").strip()
        if not _ANNOTATOR_RE.match(annotator):
            raise StoreError(
                f"annotator name {annotator!r}: use 1-64 letters, digits, '.', '_' or '-' (it names the file)"
            )
        try:
            ps = point_set(schema)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        path = Path(out).expanduser().resolve() if out else base / ANNOTATIONS_DIRNAME / f"{annotator}.json"
        keys = list_images(base)
        store = cls(root=base, points=ps, annotator=annotator, path=path, keys=keys,
                    aset=AnnotationSet.new(ps.schema, annotator))
        store._load()
        return store

    def _file_stamp(self) -> tuple[int, int, int] | None:
        """What tells us another writer replaced the file: every atomic save is a new inode."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this store's thread lock and the file's cross-process lock, then catch up with disk."""
        with self._lock, _file_lock(self.path):
            self.refresh()
            yield

    def _load(self) -> None:
        stamp = self._file_stamp()
        if stamp is None:
            self._stamp = None
            return
        try:
            aset = read_annotations(self.path)
        except FormatError as exc:
            raise StoreError(str(exc)) from None
        if aset.schema != self.schema.name:
            raise StoreError(
                f"{self.path}: made with schema {aset.schema!r}, but {self.schema.name!r} was asked for"
            )
        if aset.landmarks.point_names != self.schema.point_names:
            raise StoreError(f"{self.path}: its {aset.schema!r} points differ from the schema file's "
                             f"({self.points.source}); use the file it was made with")
        self.aset = aset
        self._stamp = stamp

    def file_deleted(self) -> bool:
        """Whether the annotation file this store read or wrote has since been removed from disk."""
        return self._stamp is not None and self._file_stamp() is None

    def refresh(self) -> None:
        """Re-read the file if it changed on disk since we last read or wrote it.

        A file deleted while open is a :class:`StoreError`, not a reason to write it back: the
        person who deleted it meant something, and silently re-creating it from this server's memory
        would undo that. Opening the folder again starts a new file (:func:`open_store`)."""
        with self._lock:
            if self.file_deleted():
                raise StoreError(f"{self.path} was deleted on disk while open, so nothing more is saved; "
                                 "open the folder again to start a new annotation file")
            if self._file_stamp() != self._stamp:
                self._load()

    def save(self) -> None:
        with self._lock:
            write_annotations(self.path, self.aset)  # atomic; stamps ``updated``
            self._stamp = self._file_stamp()

    # ---- reading -------------------------------------------------------------------------------

    def check_key(self, key: str) -> str:
        if key not in self.keys:
            raise StoreError(f"{key!r} is not an image of {self.root}")
        return key

    def image(self, key: str) -> np.ndarray:
        """The original image as ``uint8`` HxWx3 RGB (only listed files under the folder).

        Raises :class:`UnreadableImage` and remembers the image as ``unreadable`` if it cannot be shown.
        """
        try:
            image = _read_rgb(resolve_inside(self.root, self.check_key(key)))
        except UnreadableImage as exc:
            self.unreadable[key] = str(exc)
            raise
        self.unreadable.pop(key, None)
        return image

    def readable(self, key: str) -> bool:
        """Whether ``key`` can be shown; images not known to be unreadable are tried once."""
        if key in self.unreadable:
            return False
        if key in self._sizes:
            return True
        try:
            self.size(key)
        except UnreadableImage:
            return False
        return True

    def size(self, key: str) -> tuple[int, int]:
        """``(width, height)`` of an image, cached."""
        if key not in self._sizes:
            ann = self.aset.images.get(key)
            if ann is not None:
                self._sizes[key] = (int(ann.width), int(ann.height))
            else:
                h, w = self.image(key).shape[:2]
                self._sizes[key] = (w, h)
        return self._sizes[key]

    def get(self, key: str) -> ImageAnnotation:
        """A *copy* of the annotation of ``key`` (an empty one if the image has none yet)."""
        with self._lock:
            self.check_key(key)
            ann = self.aset.images.get(key)
            if ann is None:
                w, h = self.size(key)
                return ImageAnnotation.empty(w, h, self.schema.num_points)
            return copy.deepcopy(ann)

    def status(self, key: str) -> str:
        """The queue status: the file's status, or ``unreadable`` for an image that cannot be shown."""
        if key in self.unreadable:
            return "unreadable"
        ann = self.aset.images.get(key)
        return "todo" if ann is None else ann.status

    def progress(self) -> dict[str, int]:
        """Counts per queue status over the folder's images (``total`` included)."""
        with self._lock:
            counts = dict.fromkeys(QUEUE_STATUSES, 0)
            for key in self.keys:
                counts[self.status(key)] += 1
            counts["total"] = len(self.keys)
            return counts

    def first_unfinished(self, order: Sequence[str] | None = None) -> int:
        """Position in ``order`` (default: file order) of the first readable ``todo`` image; 0 if none.

        Candidates are tried in order, so an unreadable image is found here and passed over instead of
        becoming the page the app resumes on.
        """
        with self._lock:
            keys = self.keys if order is None else order
            for i, key in enumerate(keys):
                if self.status(key) == "todo" and self.readable(key):
                    return i
            return 0

    # ---- writing -------------------------------------------------------------------------------

    def modify(
        self, key: str, change: Callable[[ImageAnnotation], object], seconds: float = 0.0
    ) -> tuple[Edit | None, object]:
        """Apply ``change`` to image ``key`` and save; returns ``(edit, change's result)``.

        ``edit`` is ``None`` when nothing but the time changed. ``seconds`` of annotation time are
        added to the image either way (timing is not part of what undo rewinds).
        """
        with self._writing():
            self.check_key(key)
            stored = self.aset.images.get(key)
            before = copy.deepcopy(stored)
            ann = self.get(key)
            result = change(ann)
            ann.seconds = float(ann.seconds) + max(0.0, float(seconds))
            changed = _content(ann) != _content(before)
            if not changed and seconds <= 0:
                return None, result
            ann.updated = utc_now_iso()
            self.aset.images[key] = ann
            self.save()
            return (Edit(key, before, copy.deepcopy(ann)) if changed else None), result

    def _restore(self, key: str, expected: ImageAnnotation | None, target: ImageAnnotation | None) -> bool:
        with self._writing():
            current = self.aset.images.get(key)
            if _content(current) != _content(expected):
                return False  # changed elsewhere since: refuse rather than clobber that work
            if target is None:
                self.aset.images.pop(key, None)
            else:
                new = copy.deepcopy(target)
                new.seconds = current.seconds if current is not None else new.seconds
                new.updated = utc_now_iso()
                self.aset.images[key] = new
            self.save()
            return True

    def undo(self, history: History) -> str | None:
        """Undo the tab's last edit; returns the image key it touched (``None`` if nothing to undo).

        Raises :class:`StoreError` if that image was changed elsewhere (another tab) in between.
        """
        if not history.undo_stack:
            return None
        edit = history.undo_stack[-1]
        if not self._restore(edit.key, edit.after, edit.before):
            history.undo_stack.pop()
            raise StoreError(f"{edit.key} was changed in another tab since; that undo step was dropped")
        history.redo_stack.append(history.undo_stack.pop())
        return edit.key

    def redo(self, history: History) -> str | None:
        """Redo the last undone edit; returns the image key it touched."""
        if not history.redo_stack:
            return None
        edit = history.redo_stack[-1]
        if not self._restore(edit.key, edit.before, edit.after):
            history.redo_stack.pop()
            raise StoreError(f"{edit.key} was changed in another tab since; that redo step was dropped")
        history.undo_stack.append(history.redo_stack.pop())
        return edit.key

    def preplace(
        self, faces: dict[str, list[FaceAnnotation]], confidence: dict[str, float] | None = None
    ) -> int:
        """Pre-place faces (a model's points, or an imported file's) on untouched images.

        ``faces`` maps key -> the faces to put there (their points in original pixels; points just
        outside the image are moved onto its border). Only images with status ``todo``, no placed
        point, no drawn box and no earlier pre-placement are filled, each face marked ``prefilled``,
        so reopening a folder or importing twice never overwrites human work. ``confidence`` (a
        model's mean per image) is remembered for the queue order. Returns how many images were filled.
        """
        filled = 0
        with self._writing():
            for key, conf in (confidence or {}).items():
                self.check_key(key)
                self.confidence[key] = float(conf)
            for key, new in faces.items():
                self.check_key(key)
                ann = self.get(key)
                human = any(f.touched or f.prefilled or f.box is not None for f in ann.faces)
                if not new or ann.status != "todo" or human:
                    continue
                ann.faces = [self._fitted(ann, face) for face in new]
                ann.updated = utc_now_iso()
                self.aset.images[key] = ann
                filled += 1
            if filled:
                self.save()
        return filled

    def _fitted(self, ann: ImageAnnotation, face: FaceAnnotation) -> FaceAnnotation:
        if len(face.points) != self.schema.num_points:
            raise StoreError(f"{len(face.points)} points given for a {self.schema.num_points}-point schema")
        hi = [ann.width - 0.5, ann.height - 0.5]
        pts = [None if p is None else [float(np.clip(v, -0.5, top)) for v, top in zip(p, hi)]
               for p in face.points]
        box = None if face.box is None else _check_box(ann, face.box)
        return FaceAnnotation(pts, [bool(v) for v in face.visible], box, prefilled=True)

    def prefill(self, predictions: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
        """One model face per image (``key -> (points (K, 2), confidence (K,))``), see :meth:`preplace`."""
        faces, conf = {}, {}
        for key, (pts, c) in predictions.items():
            arr = np.asarray(pts, np.float64)
            faces[key] = [FaceAnnotation([[float(x), float(y)] for x, y in arr], [True] * len(arr))]
            conf[key] = float(np.mean(c))
        return self.preplace(faces, conf)

    # ---- exports -------------------------------------------------------------------------------

    def export_coco(self, path: str | os.PathLike[str] | None = None) -> Path:
        """COCO keypoints JSON (default ``<annotations>/<annotator>.coco.json``)."""
        with self._lock:
            self.refresh()
            target = Path(path) if path else self.path.with_suffix(".coco.json")
            write_coco_keypoints(target, self.aset, image_root=self.root)
            return target

    def export_pts(self, out_dir: str | os.PathLike[str] | None = None) -> Path:
        """300W ``.pts`` files, one per face of each done image (default
        ``<annotations>/<annotator>_pts/``)."""
        with self._lock:
            self.refresh()
            target = Path(out_dir) if out_dir else self.path.parent / f"{self.path.stem}_pts"
            export_pts_dir(self.aset, target)
            return target

    def export_pts_zip(self, path: str | os.PathLike[str] | None = None) -> Path:
        """The same ``.pts`` files in one zip (for a browser download); default
        ``<annotations>/<annotator>_pts.zip``. Written atomically; an empty zip when nothing is done."""
        import io
        import zipfile

        from s2ld_core.atomic import atomic_write_bytes

        with self._lock:
            self.refresh()
            target = Path(path) if path else self.path.parent / f"{self.path.stem}_pts.zip"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for key, ann in sorted(self.aset.images.items()):
                    if ann.status != "done":
                        continue
                    for f, face in enumerate(ann.faces):
                        name = pts_name(key, f, len(ann.faces)).as_posix()
                        try:
                            zf.writestr(name, pts_text(face.points_array()))
                        except ValueError:  # a done image always has every point: only a hand edit
                            raise StoreError(f"{key}: face {f + 1} lacks points; .pts needs all") from None
            return atomic_write_bytes(target, buf.getvalue())


def order_keys(store: AnnotationStore, mode: str) -> list[str]:
    """The queue: ``"file"`` order, or ``"confidence"`` (least confident model prediction first)."""
    if mode == "confidence" and store.confidence:
        return sorted(store.keys, key=lambda k: (store.confidence.get(k, math.inf), k))
    return list(store.keys)


_STORES: dict[Path, AnnotationStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(
    root: str | os.PathLike[str],
    schema: str | Schema | PointSet,
    annotator: str,
    out: str | os.PathLike[str] | None = None,
) -> AnnotationStore:
    """Like :meth:`AnnotationStore.open`, but tabs of one server share a store (and its lock) per file.

    Sharing matters because Gradio runs handlers in threads: two tabs writing the same file must
    take turns, and a shared store also shares the model-confidence cache.
    """
    fresh = AnnotationStore.open(root, schema, annotator, out)
    with _STORES_LOCK:
        known = _STORES.get(fresh.path)
        same = known is not None and known.root == fresh.root and known.points == fresh.points
        if same and not known.file_deleted():  # a deleted file starts afresh (see refresh)
            with known._lock:
                known.keys = fresh.keys  # the folder may have gained images since
                known.unreadable.clear()  # and a broken image may have been replaced: try again
                known.refresh()
            return known
        _STORES[fresh.path] = fresh
        return fresh
