"""Where third-party data lives: never in the repository, always read from a path.

Two folders of real faces serve development and CI (``../shared/data`` beside the checkout on the
project's machines); a user points the tools at their own copy with an environment variable:

* ``pascal-faces-68`` — dlib's example faces: nine PASCAL VOC photos (and two others) with dlib's 68
  points in imglab XML. A *check set*: it scores, it never trains or chooses. ``S2LD_PASCAL_FACES``.
* ``real-faces`` — unlabelled real photos with dlib face boxes (``boxes.json``); the small faces play
  WIDER FACE's role, the large ones can be pseudo-labelled (:mod:`s2ld_core.data.real_faces`).
  ``S2LD_REAL_FACES``.

Each lookup returns ``None`` when the folder is absent, so a caller can skip its column with a
one-line note rather than fail.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA", "pascal_faces_dir", "real_faces_dir", "pascal_xml_files"]

# <checkout>/../shared/data: where the project's machines keep third-party data beside the checkout
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _lookup(env: str, name: str) -> Path | None:
    given = os.environ.get(env, "").strip()
    if given:
        path = Path(given).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{env}={given}: not a folder")
        return path
    default = SHARED_DATA / name
    return default if default.is_dir() else None


def pascal_faces_dir() -> Path | None:
    """The ``pascal-faces-68`` check set: ``$S2LD_PASCAL_FACES``, else ``../shared/data/pascal-faces-68``
    beside the checkout, else ``None``."""
    return _lookup("S2LD_PASCAL_FACES", "pascal-faces-68")


def real_faces_dir() -> Path | None:
    """The ``real-faces`` folder: ``$S2LD_REAL_FACES``, else ``../shared/data/real-faces``, else ``None``."""
    return _lookup("S2LD_REAL_FACES", "real-faces")


def pascal_xml_files() -> list[Path]:
    """The check set's imglab XML files (sorted), or ``[]`` when the set is not here."""
    root = pascal_faces_dir()
    return sorted(root.glob("*.xml")) if root is not None else []
