"""Atomic file writes: a reader never sees a half-written checkpoint, annotation file or report.

Every writer serialises into a temporary file in the *same folder* as the target (so the final
:func:`os.replace` is a rename on one file system, which POSIX and Windows make atomic), flushes and
fsyncs it, then renames it over the target. If serialisation fails midway the temporary file is
removed and the previous content of the target is left untouched. Parent folders are created.

A target that cannot be written (a folder, a path through a file, a read-only folder) gives an
``OSError`` whose message is one line naming the target and the reason, e.g.
``/etc/passwd/x.json: cannot write here: /etc/passwd is a file, not a folder`` rather than
``[Errno 17] File exists: '/etc/passwd'``. :func:`check_writable` tells the same before any work starts.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save",
    "check_writable", "write_problem",
]


def write_problem(path: str | os.PathLike[str], folder: bool = False) -> str | None:
    """Why ``path`` could not be created as a file (or, with ``folder``, a folder); ``None`` if it can.

    Walks up to the nearest existing ancestor: it must be a folder we may write in. Nothing is created.
    A command creates at most the folder it was asked to write (the folder itself, or a file's own
    folder), never folders above it: ``--out /nonexistent/dir/x.png`` is refused, not a new
    ``/nonexistent``.
    """
    target = Path(path)
    if target.is_dir() and not folder:
        return "is a folder; give a file name"
    if target.exists() and not target.is_dir() and folder:
        return "is a file, not a folder"
    if target.exists():
        return None if os.access(target if target.is_dir() else target.parent, os.W_OK) else "no permission"
    ancestor = target if folder else target.parent
    missing = []  # the folders writing would create, nearest first
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot write here: {ancestor} is a file, not a folder"
    if len(missing) > 1:
        return (f"cannot write here: folder {missing[-1]} does not exist (s2ld creates the output's own "
                "folder, not the folders above it)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot write here: no permission to write in {ancestor}"
    return None


def check_writable(path: str | os.PathLike[str], folder: bool = False) -> Path:
    """:class:`ValueError` naming ``path`` if :func:`write_problem` finds one; returns the path."""
    problem = write_problem(path, folder)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return Path(path)


def _explained(target: Path, err: OSError) -> OSError:
    """The same kind of OSError, with one line that names ``target`` and says what is wrong."""
    explained = type(err)(f"{target}: {write_problem(target) or err.strerror or err}")
    explained.errno = err.errno  # kept for callers that test it; the text stays one plain line
    return explained


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; best effort because some platforms cannot open folders."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` only when the ``with`` block finishes cleanly.

    The temporary file is named ``.<name>.<random>.tmp`` next to the target so that a crash leaves
    an obviously stale, hidden file rather than a truncated target.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _explained(target, err) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(target, tmp)
        try:
            os.replace(tmp, target)
        except OSError as err:  # e.g. the target is a folder
            raise _explained(target, err) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _keep_mode(target: Path, tmp: Path) -> None:
    """mkstemp creates 0600 files; give the result the permissions a plain ``open`` would have."""
    if target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o777)
        return
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def _atomic_write_with(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    with atomic_open(path) as fh:
        write(fh)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return _atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (UTF-8, ``\\n`` line endings on every platform)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` to JSON *before* touching the disk, then write it atomically.

    Serialising first means an unserialisable object raises without creating even a temp file.
    ``allow_nan=False`` because NaN is not JSON and other tools (browsers, COCO tools) reject it.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` into a temp file and rename: an interrupted save never clobbers a checkpoint."""
    import torch  # local import: readers of annotations should not pay for importing torch

    return _atomic_write_with(path, lambda fh: torch.save(obj, fh))
