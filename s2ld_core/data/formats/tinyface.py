"""TinyFace folder layout (Cheng et al., ACCV 2018), the paper's target LR set for verification.

::

    <root>/Training_Set/<identity>/<identity>_<n>.jpg
    <root>/Testing_Set/Probe/<identity>_<n>.jpg
    <root>/Testing_Set/Gallery_Match/<identity>_<n>.jpg
    <root>/Testing_Set/Gallery_Distractor/<anything>.jpg     # no identity

Training identities come from the folder name; test identities from the file-name prefix before
the first ``_``. Distractors belong to nobody, so their identity is ``None``. Lists are sorted by
path so that every run sees the same order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..images import IMAGE_EXTENSIONS
from .errors import FormatError

__all__ = ["TinyFaceLayout", "read_tinyface", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = frozenset(IMAGE_EXTENSIONS)  # the one list, as a set (kept under its old name)
_TEST_FOLDERS = ("Probe", "Gallery_Match", "Gallery_Distractor")


@dataclass
class TinyFaceLayout:
    """Image paths with identities; ``gallery_distractor`` identities are always ``None``."""

    root: Path
    train: list[tuple[Path, str]] = field(default_factory=list)
    probe: list[tuple[Path, str]] = field(default_factory=list)
    gallery_match: list[tuple[Path, str]] = field(default_factory=list)
    gallery_distractor: list[tuple[Path, None]] = field(default_factory=list)


def _images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (hidden files such as ``.DS_Store`` are skipped)."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _identity_from_name(path: Path) -> str:
    prefix, sep, _ = path.stem.partition("_")
    if not sep or not prefix:
        raise FormatError(path, "file name has no '<identity>_' prefix")
    return prefix


def _require_folders(root: Path) -> None:
    required = [root / "Training_Set"] + [root / "Testing_Set" / name for name in _TEST_FOLDERS]
    missing = [str(p.relative_to(root)) for p in required if not p.is_dir()]
    if missing:
        raise FormatError(root, f"not a TinyFace root: missing folder(s) {', '.join(missing)}")


def _read_training(folder: Path) -> list[tuple[Path, str]]:
    """``<id>/<files>``; loose images directly under ``Training_Set`` fall back to the name prefix."""
    items = [(p, _identity_from_name(p)) for p in _images_in(folder)]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        items.extend((p, sub.name) for p in _images_in(sub))
    return sorted(items)


def read_tinyface(root: str | os.PathLike[str]) -> TinyFaceLayout:
    """List a TinyFace tree; a missing folder or a nameless test image is a :class:`FormatError`."""
    base = Path(root)
    if not base.is_dir():
        raise FormatError(base, "TinyFace root folder does not exist")
    _require_folders(base)
    test = base / "Testing_Set"
    layout = TinyFaceLayout(
        root=base,
        train=_read_training(base / "Training_Set"),
        probe=[(p, _identity_from_name(p)) for p in _images_in(test / "Probe")],
        gallery_match=[(p, _identity_from_name(p)) for p in _images_in(test / "Gallery_Match")],
        gallery_distractor=[(p, None) for p in _images_in(test / "Gallery_Distractor")],
    )
    if not layout.train:
        raise FormatError(base / "Training_Set", "no training images found")
    return layout
