"""dlib's imglab XML (``<dataset><images><image file=…><box top left width height><part name x y/>``).

dlib's training files for its shape predictors, and the project's real-face check
(``pascal-faces-68``), use it. Boxes are ``top, left, width, height`` in integer pixels; ``part``
coordinates are integer pixel positions, which we read as 0-based pixel centres (dlib's convention,
the same as ours). ``name`` orders the parts (``'00'``…``'67'`` for iBUG 68); a box with fewer parts
than the others, or parts with non-numeric names or coordinates, is a one-line :class:`FormatError`.
``ignore='1'`` boxes (dlib's "don't care" regions) are skipped. Coordinates must be finite and within
±2**24 px (:data:`~.errors.MAX_COORDINATE`), part names below the point count (or :data:`MAX_PARTS`),
box sides positive: a file that breaks these is refused before any array is sized from it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FormatError, parse_float

__all__ = ["ImglabFace", "read_imglab_xml", "MAX_PARTS"]

MAX_PARTS = 1000  # with num_points=None, part names run 0…999: the array is sized by the largest name


@dataclass
class ImglabFace:
    """One annotated box: ``image`` as written in the XML (relative to the XML's folder), ``box`` as
    ``(left, top, width, height)``, ``points (K, 2)`` float32 (NaN where a part is missing)."""

    image: str
    box: tuple[float, float, float, float]
    points: np.ndarray

    def image_path(self, xml_path: str | Path) -> Path:
        return Path(xml_path).parent / self.image


def _float(elem: ET.Element, key: str, path: Path, what: str) -> float:
    value = elem.get(key)
    if value is None:
        raise FormatError(path, f"{what} has no '{key}' attribute")
    return parse_float(value, path, None, f"{what} '{key}'")


def read_imglab_xml(path: str | Path, num_points: int | None = 68) -> list[ImglabFace]:
    """Every annotated, not-ignored box of an imglab XML file, in file order.

    ``num_points``: the parts each box must name, ``0 … num_points-1`` (``None`` accepts boxes
    without parts and keeps whatever parts there are, numbered by name).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except OSError as err:
        raise FormatError(path, f"cannot read the file ({err.strerror or err})") from None
    except ET.ParseError as err:
        raise FormatError(path, f"not well-formed XML ({err})", line=err.position[0]) from None
    except (LookupError, ValueError) as err:  # e.g. an unknown encoding named in the XML declaration
        raise FormatError(path, f"not readable XML ({err})") from None
    if root.tag != "dataset" or root.find("images") is None:
        raise FormatError(path, "not an imglab dataset (expected <dataset><images>…)")
    faces: list[ImglabFace] = []
    for image in root.iter("image"):
        file = image.get("file")
        if not file:
            raise FormatError(path, "an <image> has no 'file' attribute")
        for box in image.iter("box"):
            if box.get("ignore") == "1":
                continue
            what = f"box {len(faces) + 1} of {file}"
            rect = tuple(_float(box, k, path, what) for k in ("left", "top", "width", "height"))
            if rect[2] <= 0 or rect[3] <= 0:
                what += f": width and height must be positive, got {rect[2]:g}x{rect[3]:g}"
                raise FormatError(path, what)
            parts = {}
            for part in box.iter("part"):
                name = part.get("name", "")
                if not name.isdigit():
                    raise FormatError(path, f"{what}: part name {name!r} is not a point number")
                if int(name) >= (num_points or MAX_PARTS):
                    limit = num_points or MAX_PARTS
                    raise FormatError(path, f"{what}: part name {name!r} is beyond the {limit} points "
                                            f"a box may have (00…{limit - 1:02d})")
                parts[int(name)] = (_float(part, "x", path, what), _float(part, "y", path, what))
            k = num_points if num_points is not None else (max(parts) + 1 if parts else 0)
            if num_points is not None and sorted(parts) != list(range(num_points)):
                raise FormatError(path, f"{what}: expected parts 00…{num_points - 1:02d}, got {len(parts)}")
            points = np.full((k, 2), np.nan, np.float32)
            for i, xy in parts.items():
                points[i] = xy
            faces.append(ImglabFace(file, rect, points))
    return faces
