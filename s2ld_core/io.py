"""Atomic file writes: a reader never sees a half-written checkpoint, annotation file or report.

Every writer serialises into a temporary file in the *same folder* as the target (so the final
:func:`os.replace` is a rename on one file system, which POSIX and Windows make atomic), flushes and
fsyncs it, then renames it over the target. If serialisation fails midway the temporary file is
removed and the previous content of the target is left untouched. Parent folders are created.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save"]


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(target, tmp)
        os.replace(tmp, target)
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
