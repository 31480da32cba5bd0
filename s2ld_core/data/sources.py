"""Unlabelled real low-resolution face sources: the target domain that D1 and D3 learn from.

S²LD needs real LR faces without labels. Two kinds of source serve that, with one interface
(``len``, indexing to a ``uint8 (size, size, 3)`` RGB image, ``names``, ``load_all``):

* :class:`ArraySource` wraps images already in memory - by default the 100 real 25x25 LFW faces that
  scikit-image ships (:func:`lfw_faces`), so the project has real LR faces without any download;
* :class:`FolderSource` reads any folder of LR face crops (e.g. TinyFace) from disk, lazily.

:func:`resolve_lr_source` turns a user-facing string (a config value, a CLI flag) into one of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from tqdm.auto import tqdm

from s2ld_core.atomic import atomic_write_bytes
from s2ld_core.geometry import to_rgb_uint8
from s2ld_core.pixels import resize_face

from .images import IMAGE_EXTENSIONS, read_rgb  # re-exported: older code imports them from here

__all__ = [
    "IMAGE_EXTENSIONS",
    "LRSource",
    "lfw_faces",
    "export_lfw_pngs",
    "read_rgb",
    "FolderSource",
    "ArraySource",
    "resolve_lr_source",
]

_LFW_FACES = 100  # skimage.data.lfw_subset(): "100 first images are faces and subsequent 100 are non-faces"
_PROGRESS_ABOVE = 500  # load_all shows a progress bar only when reading this many images or more


class LRSource(Protocol):
    """What training code may rely on from an unlabelled LR source."""

    size: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...

    @property
    def names(self) -> list[str]: ...

    def load_all(self) -> np.ndarray: ...


@lru_cache(maxsize=1)
def _lfw_faces_cached() -> np.ndarray:
    from skimage.data import lfw_subset  # local: importing skimage.data is slowish and rarely needed

    images = np.asarray(lfw_subset())
    if images.ndim != 3 or images.shape[0] != 2 * _LFW_FACES:
        raise RuntimeError(
            f"skimage.data.lfw_subset() returned shape {images.shape}; expected (200, H, W), faces first"
        )
    faces = np.stack([to_rgb_uint8(img) for img in images[:_LFW_FACES]])
    faces.setflags(write=False)
    return faces


def lfw_faces() -> np.ndarray:
    """The 100 real 25x25 LFW faces from ``skimage.data.lfw_subset()`` as ``(100, 25, 25, 3) uint8``.

    ``lfw_subset`` returns 200 grey images in ``[0, 1]``; its docstring states the first 100 are faces
    and the last 100 background patches, so only the first 100 are kept. Returns a fresh copy.
    """
    return _lfw_faces_cached().copy()


def _encode_png(image: np.ndarray, where: str) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{where}: OpenCV failed to encode a PNG")
    return buf.tobytes()


def export_lfw_pngs(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the LFW faces as ``lfw_000.png`` ... ``lfw_099.png`` (atomically), e.g. to try a FolderSource
    or to look at them; returns the paths in order."""
    out = Path(out_dir)
    paths = []
    for i, face in enumerate(lfw_faces()):
        path = out / f"lfw_{i:03d}.png"
        atomic_write_bytes(path, _encode_png(face, str(path)))
        paths.append(path)
    return paths


def _find_images(root: Path, recursive: bool, extensions: tuple[str, ...]) -> list[Path]:
    candidates = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in extensions and p.is_file())


def _load_all(source: LRSource, label: str) -> np.ndarray:
    """Stack every image; a progress bar only when reading is long enough to want one."""
    n = len(source)
    out = np.empty((n, source.size, source.size, 3), np.uint8)
    for i in tqdm(range(n), desc=f"loading {label}", disable=n < _PROGRESS_ABOVE, leave=False):
        out[i] = source[i]
    return out


def _check_index(index: int, n: int, label: str) -> int:
    if not -n <= index < n:
        raise IndexError(f"{label}: index {index} out of range for {n} images")
    return index % n


class FolderSource:
    """Every image under ``root`` (recursively by default), read lazily and resized to ``size``.

    The file list is taken once at construction, sorted, so indices are stable across runs.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        size: int = 32,
        recursive: bool = True,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
    ) -> None:
        self.root = Path(root).expanduser()
        self.size = int(size)
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        if self.size < 1:
            raise ValueError(f"FolderSource: size must be >= 1, got {size}")
        if not self.root.exists():
            raise FileNotFoundError(f"LR image folder {self.root} does not exist")
        if not self.root.is_dir():
            raise NotADirectoryError(f"LR image folder {self.root} is not a directory")
        self.paths: list[Path] = _find_images(self.root, recursive, self.extensions)
        if not self.paths:
            where = "under" if recursive else "directly in"
            raise FileNotFoundError(
                f"no images with extensions {', '.join(self.extensions)} found {where} {self.root}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[_check_index(index, len(self.paths), f"FolderSource({self.root})")]
        return resize_face(read_rgb(path), self.size)

    @property
    def names(self) -> list[str]:
        """Paths relative to ``root`` (POSIX style), e.g. TinyFace's ``<id>/<file>``."""
        return [p.relative_to(self.root).as_posix() for p in self.paths]

    def load_all(self) -> np.ndarray:
        """All images as ``(N, size, size, 3) uint8``."""
        return _load_all(self, str(self.root))

    def __repr__(self) -> str:
        return f"FolderSource({str(self.root)!r}, size={self.size}, n={len(self)})"


class ArraySource:
    """Images already in memory (an ``(N, H, W[, C])`` array or a list of arrays), resized to ``size``.

    Images are converted to the API format (grey expanded, alpha dropped, floats taken in ``[0, 1]``)
    and resized once at construction: LR sources are small and this keeps indexing free.
    """

    def __init__(
        self, images: np.ndarray | Sequence[np.ndarray], size: int = 32, name: str = "array"
    ) -> None:
        self.size = int(size)
        self.name = name
        if self.size < 1:
            raise ValueError(f"ArraySource({name}): size must be >= 1, got {size}")
        if len(images) == 0:
            raise ValueError(f"ArraySource({name}): no images given")
        try:
            converted = [resize_face(to_rgb_uint8(img), self.size) for img in images]
        except ValueError as exc:
            raise ValueError(f"ArraySource({name}): {exc}") from exc
        self._images = np.stack(converted)
        self._images.setflags(write=False)

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._images[_check_index(index, len(self._images), f"ArraySource({self.name})")].copy()

    @property
    def names(self) -> list[str]:
        """``<name>_000`` ... in order (the names :func:`export_lfw_pngs` gives the LFW faces)."""
        return [f"{self.name}_{i:03d}" for i in range(len(self))]

    def load_all(self) -> np.ndarray:
        """All images as ``(N, size, size, 3) uint8`` (a copy)."""
        return self._images.copy()

    def __repr__(self) -> str:
        return f"ArraySource({self.name!r}, size={self.size}, n={len(self)})"


def resolve_lr_source(spec: str, size: int = 32) -> LRSource:
    """``"lfw"`` -> the embedded LFW faces; ``real-faces[:split]`` or a folder with a ``boxes.json``
    -> its small faces (:class:`~.real_faces.RealFacesSource`); another existing directory -> a
    :class:`FolderSource` over it."""
    from .real_faces import RealFacesSource, is_real_faces_spec, parse_real_faces_spec

    text = str(spec).strip()
    if text.lower() == "lfw":
        return ArraySource(lfw_faces(), size=size, name="lfw")
    if text.split(":")[0] == "real-faces" or is_real_faces_spec(text):
        root, split = parse_real_faces_spec(text)
        return RealFacesSource(root, split, size=size)
    path = Path(text).expanduser()
    if path.is_dir():
        return FolderSource(path, size=size)
    problem = "is a file, not a directory" if path.exists() else "is neither 'lfw' nor an existing directory"
    raise ValueError(f"LR source {spec!r} {problem}; use 'lfw', 'real-faces' or a folder of LR face crops")
