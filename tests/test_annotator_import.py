"""Existing annotations in as pre-placed points: each format, name matching, schema conversion, and the
per-image refusals (another size, points off the image) that would otherwise be silent wrong answers."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from annotator.imports import match_key, read_import
from annotator.store import AnnotationStore, place_next
from s2ld_core.data.formats import AnnotationSet, ImageAnnotation, write_annotations, write_pts
from s2ld_core.schemas import IBUG68_TO_FIVE


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "faces"
    (root / "sub").mkdir(parents=True)
    for key, (w, h) in {"a.png": (20, 20), "sub/b.png": (40, 24), "c.png": (20, 20)}.items():
        assert cv2.imwrite(str(root / key), np.full((h, w, 3), 90, np.uint8))
    return AnnotationStore.open(root, "five", "ann")


def _import(store, files, names=None):
    return read_import(files, store.keys, store.size, store.schema, names)


def test_match_key_prefers_whole_paths_then_unique_names():
    keys = ["a.png", "sub/b.png", "x/dup.png", "y/dup.png"]
    assert match_key("../faces/sub/b.png", keys) == "sub/b.png"
    assert match_key("/data/set/a.png", keys) == "a.png"
    assert match_key("b.png", keys) == "sub/b.png"  # the only b.png
    assert match_key("dup.png", keys) is None and match_key("z/dup.png", keys) is None  # ambiguous
    assert match_key("y/dup.png", keys) == "y/dup.png" and match_key("nothing.png", keys) is None


def test_pts_single_and_group_files(store, tmp_path):
    pts = np.array([[3, 4], [9, 4], [6, 7], [4, 10], [8, 10]], np.float32)
    write_pts(tmp_path / "a.pts", pts)
    write_pts(tmp_path / "b_1.pts", pts)
    write_pts(tmp_path / "b_2.pts", pts + [20, 0])
    write_pts(tmp_path / "zzz.pts", pts)
    res = _import(store, [tmp_path / n for n in ("a.pts", "b_1.pts", "b_2.pts", "zzz.pts")])
    assert res.faces["a.png"][0].points[0] == [3.0, 4.0] and res.faces["a.png"][0].box is None
    group = res.faces["sub/b.png"]
    # .pts has no box: a group's faces get the box of their points (edges half a pixel out)
    assert [f.box for f in group] == [[2.5, 3.5, 7.0, 7.0], [22.5, 3.5, 7.0, 7.0]]
    assert any("zzz.pts" in n for n in res.notes)
    assert store.preplace(res.faces) == 2 and store.get("sub/b.png").faces[1].prefilled


def test_coco_with_68_points_is_converted_and_several_faces_kept(store, tmp_path):
    rng = np.random.default_rng(0)
    a68 = rng.uniform(2, 17, (68, 2)).round(2)
    b68 = rng.uniform(2, 20, (68, 2)).round(2)
    doc = {
        "images": [{"id": 1, "file_name": "faces/sub/b.png", "width": 40, "height": 24},
                   {"id": 2, "file_name": "a.png", "width": 20, "height": 20}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [v for p in a68 for v in (*p, 2)],
             "bbox": [1, 1, 18, 18]},
            {"id": 2, "image_id": 1, "category_id": 1,
             "keypoints": [v for p in b68 + [18, 0] for v in (*p, 2)],
             "bbox": [20, 1, 18, 18]},
        ],
        "categories": [{"id": 1, "name": "face", "keypoints": [f"p{i}" for i in range(68)]}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    res = _import(store, [path])
    faces = res.faces["sub/b.png"]
    assert len(faces) == 2 and [f.box for f in faces] == [[0.5, 0.5, 18.0, 18.0], [19.5, 0.5, 18.0, 18.0]]
    eye = a68[list(IBUG68_TO_FIVE[0])].mean(axis=0)  # five's left eye = the mean of iBUG's six
    np.testing.assert_allclose(faces[0].points[0], eye, atol=1e-4)
    assert "a.png" not in res.faces  # listed without an annotation: nothing to pre-place


def test_imglab_xml_boxes_and_project_json(store, tmp_path):
    parts = "".join(f"<part name='{i:02d}' x='{3 + i % 10}' y='{4 + i // 10}'/>" for i in range(68))
    xml = tmp_path / "faces.xml"
    xml.write_text("<dataset><images><image file='a.png'><box top='2' left='1' width='16' height='15'>"
                   f"{parts}"
                   "</box></image><image file='gone.png'><box top='0' left='0' width='5' height='5'/></image>"
                   "</images></dataset>")
    res = _import(store, [xml])
    assert res.faces["a.png"][0].box == [0.5, 1.5, 16.0, 15.0]  # imglab boxes cover whole pixels
    assert any("gone.png" in n for n in res.notes)

    aset = AnnotationSet.new("five", "old")
    aset.images["c.png"] = ImageAnnotation.from_arrays(20, 20, np.full((5, 2), 5.0))
    aset.images["a.png"] = ImageAnnotation.from_arrays(32, 32, np.full((5, 2), 5.0))  # made on a larger copy
    res = _import(store, [write_annotations(tmp_path / "old.json", aset)])
    assert list(res.faces) == ["c.png"]
    assert any("a.png: the file describes a 32x32 image, this one is 20x20" in n for n in res.notes)


def test_points_off_the_image_and_unreadable_files_are_refused(store, tmp_path):
    write_pts(tmp_path / "c.pts", np.array([[3, 4], [90, 4], [6, 7], [4, 10], [8, 10]], np.float32))
    res = _import(store, [tmp_path / "c.pts"])
    assert not res.faces and "points lie outside the 20x20 image" in res.notes[0]
    bad = tmp_path / "upload_123.json"
    bad.write_text("{ nope")
    with pytest.raises(ValueError, match=r"^mine\.json:1: invalid JSON"):
        _import(store, [bad], names=["mine.json"])
    with pytest.raises(ValueError, match="not an annotation file"):
        _import(store, [tmp_path / "c.pts"], names=["c.txt"])
    write_pts(tmp_path / "a.pts", np.zeros((7, 2), np.float32) + 3)
    res = _import(store, [tmp_path / "a.pts"])
    assert "7 points" in res.notes[0]


def test_import_never_overwrites_work(store, tmp_path):
    store.modify("a.png", lambda a: place_next(a, 1.0, 1.0))
    write_pts(tmp_path / "a.pts", np.full((5, 2), 4.0, np.float32))
    res = _import(store, [tmp_path / "a.pts"])
    assert store.preplace(res.faces) == 0 and store.get("a.png").points[0] == [1.0, 1.0]
