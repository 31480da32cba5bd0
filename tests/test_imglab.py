"""dlib imglab XML: the real-face check's reader — parsed by hand, and one clear error per bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2ld_core.data.external import pascal_faces_dir
from s2ld_core.data.formats import FormatError, read_imglab_xml

PASCAL = pascal_faces_dir() or Path("/nonexistent")


def _xml(tmp_path: Path, boxes: str) -> Path:
    path = tmp_path / "faces.xml"
    path.write_text(
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset><name>t</name><images>\n"
        f"<image file='a.jpg'>{boxes}</image>\n</images></dataset>\n"
    )
    return path


def _box(n=3, ignore=""):
    parts = "".join(f"<part name='{i:02d}' x='{10 + i}' y='{20 + 2 * i}'/>" for i in range(n))
    return f"<box top='5' left='7' width='30' height='31'{ignore}>{parts}</box>"


def test_reads_boxes_and_parts(tmp_path):
    faces = read_imglab_xml(_xml(tmp_path, _box() + _box(ignore=" ignore='1'")), num_points=3)
    assert len(faces) == 1  # the ignored box is skipped
    assert faces[0].box == (7.0, 5.0, 30.0, 31.0)
    np.testing.assert_array_equal(faces[0].points, [[10, 20], [11, 22], [12, 24]])
    assert faces[0].image_path(tmp_path / "faces.xml") == tmp_path / "a.jpg"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not well-formed XML"),
        ("<html/>", "not an imglab dataset"),
        ("BOX2", "expected parts 00…02, got 2"),
        ("<box top='x' left='1' width='2' height='3'/>", "top"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, message):
    if content is None:
        path = tmp_path / "faces.xml"
        path.write_bytes(b"<dataset><images><image file='a.jpg'>\x00\xff")
    elif content == "<html/>":
        path = tmp_path / "faces.xml"
        path.write_text(content)
    else:
        path = _xml(tmp_path, _box(2) if content == "BOX2" else content)
    with pytest.raises(FormatError) as err:
        read_imglab_xml(path, num_points=3)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not PASCAL.is_dir(), reason="no pascal-faces-68 here")
def test_pascal_faces_load_as_crops():
    from s2ld_core.data.datasets import load_imglab_faces

    xml = sorted(PASCAL.glob("*.xml"))
    assert sum(len(read_imglab_xml(x)) for x in xml) == 43
    faces = load_imglab_faces(xml)
    assert faces.images.shape == (43, 32, 32, 3) and faces.schema == "ibug68"
    # Framed like the renders: the landmark box spans ~68 % of the crop.
    span = (faces.points.max(1) - faces.points.min(1)).max(-1)
    assert np.all(np.abs(span / 32 - 0.68) < 0.02)
    camera = load_imglab_faces(xml, camera="target-camera")
    assert camera.images.shape == (43, 32, 32, 3)
    assert not np.array_equal(camera.images, faces.images)
