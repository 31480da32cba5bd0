"""Readers/writers of every data-set format, the annotation JSON, COCO export and atomic I/O.

Fixtures under ``tests/fixtures/formats/`` are hand-written in each official format; expected numbers
below are worked out by hand from those files.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2ld_core.atomic import (
    atomic_open,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from s2ld_core.data.formats import (
    AflwRecord,
    AnnotationSet,
    FormatError,
    ImageAnnotation,
    export_pts_dir,
    extract_wider_crops,
    read_aflw_csv,
    read_annotations,
    read_coco_keypoints,
    read_pts,
    read_tinyface,
    read_wider_bbx,
    split_wider_faces,
    write_aflw_csv,
    write_annotations,
    write_coco_keypoints,
    write_pts,
)

FIX = Path(__file__).parent / "fixtures" / "formats"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- atomic I/O -----------------------------------------------------------------------------------


def test_atomic_writes_create_parents_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "a" / "b" / "report.json"
    atomic_write_json(target, {"nme": 0.05, "name": "café"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"nme": 0.05, "name": "café"}
    atomic_write_text(tmp_path / "t.txt", "hello\n")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "t.txt").read_text() == "hello\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []


def test_atomic_write_gives_plain_file_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_failed_json_serialisation_keeps_old_file(tmp_path):
    target = _write(tmp_path / "ann.json", '{"old": true}')
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"nan": float("nan")})  # NaN is not JSON
    assert target.read_text() == '{"old": true}'
    assert _leftovers(tmp_path) == []


def test_failure_midway_through_writing_keeps_old_file(tmp_path):
    target = _write(tmp_path / "f.bin", "old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write(b"half of the new cont")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle me")


def test_atomic_torch_save_round_trip_and_failure(tmp_path):
    import torch

    target = tmp_path / "ckpt" / "last.pt"
    atomic_torch_save({"w": torch.arange(3)}, target)
    assert torch.equal(torch.load(target)["w"], torch.arange(3))
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_torch_save({"w": torch.ones(1000), "x": _Unpicklable()}, target)
    assert target.read_bytes() == before
    assert _leftovers(target.parent) == []


# --- FormatError ----------------------------------------------------------------------------------


def test_format_error_message_and_pickling():
    err = FormatError("data/x.pts", "bad value", 7)
    assert str(err) == "data/x.pts:7: bad value" and isinstance(err, ValueError)
    assert str(FormatError("data/x.json", "no images")) == "data/x.json: no images"
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.what, str(again)) == ("data/x.pts", 7, "bad value", str(err))


# --- 300W .pts ------------------------------------------------------------------------------------


def test_read_pts_subtracts_one():
    pts = read_pts(FIX / "face68.pts", expected_points=68)
    assert pts.shape == (68, 2) and pts.dtype == np.float32
    np.testing.assert_array_equal(pts[0], [10.5, 19.0])  # "11.5 20" on disk
    np.testing.assert_array_equal(pts[1], [102.0, 201.25])  # "103.000 202.250"
    np.testing.assert_array_equal(pts[67], [300.0, 333.25])  # "301.000 334.250"


def test_read_pts_67_points_when_68_expected_is_one_line_error():
    with pytest.raises(FormatError) as info:
        read_pts(FIX / "face67.pts", expected_points=68)
    msg = str(info.value)
    assert "\n" not in msg and str(FIX / "face67.pts") in msg and "68" in msg and "67" in msg
    assert read_pts(FIX / "face67.pts").shape == (67, 2)


def test_write_pts_exact_text_and_round_trip(tmp_path):
    pts = np.array([[10.5, 19.0], [0.1, 2.0]], np.float32)
    path = write_pts(tmp_path / "sub" / "a.pts", pts)
    assert path.read_text() == "version: 1\nn_points:  2\n{\n11.5 20\n1.1 3\n}\n"
    np.testing.assert_array_equal(read_pts(path), pts)
    with pytest.raises(ValueError, match="NaN"):
        write_pts(tmp_path / "b.pts", np.array([[1.0, np.nan]]))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("version: 1\nn_points:  3\n{\n1 2\n3 4\n}\n", 6, "n_points 3 but the body has 2"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 four\n}\n", 5, "'four' is not a number"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4 5\n}\n", 5, "expected 'x y'"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", 5, "missing closing '}'"),
        ("version: 1\nn_points: x\n{\n}\n", 2, "not an integer"),
        ("version: 1\n{\n1 2\n}\n", 2, "before any 'n_points:'"),
        ("version: 1\nn_points: 1\n{\n1 nan\n}\n", 4, "not a finite number"),
        ("version: 1\nn_points: 1\n{\n1 2\n}\n3 4\n", 6, "after '}'"),
    ],
)
def test_malformed_pts_names_path_and_line(tmp_path, text, line, fragment):
    path = _write(tmp_path / "bad.pts", text)
    with pytest.raises(FormatError) as info:
        read_pts(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_pts_tolerates_crlf_and_bom(tmp_path):
    path = tmp_path / "win.pts"
    path.write_bytes(b"\xef\xbb\xbfversion: 1\r\nn_points: 1\r\n{\r\n2 3\r\n}\r\n")
    np.testing.assert_array_equal(read_pts(path), [[1.0, 2.0]])


# --- AFLW-19 CSV (HRNet layout) -------------------------------------------------------------------


def test_read_aflw_csv_keeps_zero_based_values():
    recs = read_aflw_csv(FIX / "aflw_two_rows.csv")
    assert [r.image for r in recs] == ["flickr/3/image00035.jpg", "flickr/0/image13244.jpg"]
    first = recs[0]
    assert (first.scale, first.box_size, first.center) == (1.2, 240.5, (310.25, 220.0))
    assert first.points.shape == (19, 2) and first.points.dtype == np.float32
    np.testing.assert_array_equal(first.points[0], [210.0, 150.5])  # x1,y1 unchanged: HRNet is 0-based
    np.testing.assert_array_equal(recs[1].points[18], [60.0, 100.0])


def test_aflw_csv_round_trip(tmp_path):
    recs = read_aflw_csv(FIX / "aflw_two_rows.csv")
    out = write_aflw_csv(tmp_path / "out.csv", recs)
    header = out.read_text().splitlines()[0].split(",")
    assert header[:7] == ["image_name", "scale", "box_size", "center_w", "center_h", "x1", "y1"]
    assert header[-1] == "y19" and len(header) == 43
    again = read_aflw_csv(out)
    for a, b in zip(recs, again):
        assert (a.image, a.scale, a.box_size, a.center) == (b.image, b.scale, b.box_size, b.center)
        np.testing.assert_array_equal(a.points, b.points)


def test_malformed_aflw_csv(tmp_path):
    rows = (FIX / "aflw_two_rows.csv").read_text().splitlines()
    short = _write(tmp_path / "short.csv", "\n".join([rows[0], rows[1], rows[2].rsplit(",", 1)[0]]) + "\n")
    with pytest.raises(FormatError, match=rf"^{short}:3: expected 43 columns .* got 42"):
        read_aflw_csv(short)
    bad = _write(tmp_path / "bad.csv", "\n".join([rows[0], rows[1].replace(",1.2,", ",big,", 1)]) + "\n")
    with pytest.raises(FormatError, match=rf"^{bad}:2: scale: 'big' is not a number"):
        read_aflw_csv(bad)
    headless = _write(tmp_path / "headless.csv", rows[1] + "\n")
    with pytest.raises(FormatError, match=rf"^{headless}:1: first row is data"):
        read_aflw_csv(headless)
    with pytest.raises(ValueError, match="19, 2"):
        write_aflw_csv(tmp_path / "w.csv", [AflwRecord("a.jpg", 1, 1, (0, 0), np.zeros((5, 2)))])


# --- WIDER FACE -----------------------------------------------------------------------------------


def test_read_wider_bbx():
    images = read_wider_bbx(FIX / "wider_face_val_bbx_gt.txt")
    assert [len(im.boxes) for im in images] == [5, 0, 5]
    assert images[1].file == "12--Group/12_Group_Group_12_Group_Group_12_10.jpg"
    assert images[1].boxes.shape == (0, 4) and images[1].attrs["blur"].shape == (0,)
    np.testing.assert_array_equal(images[0].boxes[2], [100, 40, 120, 150])
    third = images[2]
    assert third.attrs["blur"].tolist() == [2, 0, 0, 1, 0]
    assert third.attrs["expression"][0] == 1 and third.attrs["occlusion"][0] == 2
    assert third.attrs["pose"].tolist() == [1, 0, 0, 1, 0]
    assert images[0].attrs["invalid"].tolist() == [0, 0, 0, 1, 0]


def test_split_wider_faces_by_both_sides():
    groups = split_wider_faces(read_wider_bbx(FIX / "wider_face_val_bbx_gt.txt"))
    ids = {k: [(f.file.split("/")[0], f.index) for f in v] for k, v in groups.items()}
    # 30x35 and the 20x20 / 40x40 boundaries are LR; 25x45 (too tall), 19x25 (too small), the invalid
    # 30x30 and the zero box are in no group; HR needs both sides > 100, so 100x120 is out, 101x130 in.
    assert ids["lr"] == [("0--Parade", 0), ("7--Cheering", 0), ("7--Cheering", 1)]
    assert ids["hr"] == [("0--Parade", 2), ("7--Cheering", 3)]
    assert groups["hr"][1].box == (220.0, 10.0, 101.0, 130.0) and groups["hr"][1].attrs["pose"] == 1
    wider = split_wider_faces(read_wider_bbx(FIX / "wider_face_val_bbx_gt.txt"), lr_range=(20, 50), hr_min=99)
    assert len(wider["lr"]) == 4 and len(wider["hr"]) == 3


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 3, "file ends where face 2 of 2"),
        ("a.jpg\n1\n1 2 3 4 0 0 0 0 0\n", 3, "expected 10 numbers"),
        ("a.jpg\nmany\n", 2, "expected the face count"),
        ("a.jpg\n1\n1 2 3 x 0 0 0 0 0 0\n", 3, "face h: 'x' is not a number"),
        ("a.jpg\n1\n1 2 1e300 4 0 0 0 0 0 0\n", 3, "face w: '1e300' is beyond"),
        ("a.jpg\n1\n1 2 inf 4 0 0 0 0 0 0\n", 3, "face w: 'inf' is not a finite number"),
        ("a.jpg\n1\n1 2 3 4 0.5 0 0 0 0 0\n", 3, "attributes must be whole numbers"),
        ("a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n3\n", 4, "expected an image file name"),
    ],
)
def test_malformed_wider_bbx(tmp_path, text, line, fragment):
    path = _write(tmp_path / "gt.txt", text)
    with pytest.raises(FormatError) as info:
        read_wider_bbx(path)
    assert str(info.value).startswith(f"{path}:{line}: ") and fragment in str(info.value)


def test_extract_wider_crops(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    (tmp_path / "0--Parade").mkdir()
    cv2.imwrite(str(tmp_path / "0--Parade" / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    gt = _write(tmp_path / "gt.txt", "0--Parade/a.png\n2\n10 20 30 25 0 0 0 0 0 0\n0 0 20 20 0 0 0 0 0 0\n")
    faces = [f for im in read_wider_bbx(gt) for f in im.faces()]
    crops = list(extract_wider_crops(faces, tmp_path))
    assert crops[0][1].dtype == np.uint8 and crops[0][1].shape == (25, 30, 3)
    np.testing.assert_array_equal(crops[0][1], rgb[20:45, 10:40])  # RGB, exact pixels
    _, padded = list(extract_wider_crops(faces[1:], tmp_path, margin=0.25))[0]
    assert padded.shape == (30, 30, 3)  # 20 px box + 5 px each side, 5 px of it off-image (replicated)
    np.testing.assert_array_equal(padded[5:, 5:], rgb[0:25, 0:25])
    np.testing.assert_array_equal(padded[0, 0], rgb[0, 0])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        next(extract_wider_crops([faces[0].__class__("missing.png", 0, (0, 0, 5, 5))], tmp_path))


# --- TinyFace -------------------------------------------------------------------------------------


def _tinyface_tree(root: Path) -> None:
    files = [
        "Training_Set/17/17_1.jpg", "Training_Set/17/17_2.jpg", "Training_Set/230/230_1.png",
        "Testing_Set/Probe/5_1.jpg", "Testing_Set/Probe/12_3.jpg",
        "Testing_Set/Gallery_Match/5_2.jpg", "Testing_Set/Gallery_Match/12_1.jpg",
        "Testing_Set/Gallery_Distractor/000123.jpg", "Testing_Set/Gallery_Distractor/.DS_Store",
        "Testing_Set/Gallery_Distractor/readme.txt",
    ]
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"")


def test_read_tinyface(tmp_path):
    _tinyface_tree(tmp_path)
    lay = read_tinyface(tmp_path)
    rel = lambda items: [(p.relative_to(tmp_path).as_posix(), i) for p, i in items]
    assert rel(lay.train) == [
        ("Training_Set/17/17_1.jpg", "17"),
        ("Training_Set/17/17_2.jpg", "17"),
        ("Training_Set/230/230_1.png", "230"),
    ]
    assert rel(lay.probe) == [("Testing_Set/Probe/12_3.jpg", "12"), ("Testing_Set/Probe/5_1.jpg", "5")]
    assert [i for _, i in lay.gallery_match] == ["12", "5"]
    assert rel(lay.gallery_distractor) == [("Testing_Set/Gallery_Distractor/000123.jpg", None)]


def test_tinyface_missing_layout_and_bad_names(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        read_tinyface(tmp_path / "nowhere")
    _tinyface_tree(tmp_path)
    shutil.rmtree(tmp_path / "Testing_Set" / "Probe")
    with pytest.raises(FormatError, match=r"missing folder\(s\) Testing_Set/Probe"):
        read_tinyface(tmp_path)
    (tmp_path / "Testing_Set" / "Probe").mkdir()
    (tmp_path / "Testing_Set" / "Probe" / "noidentity.jpg").write_bytes(b"")
    with pytest.raises(FormatError, match="noidentity.jpg: file name has no"):
        read_tinyface(tmp_path)


# --- the project's annotation JSON ----------------------------------------------------------------


def test_read_annotations_fixture():
    aset = read_annotations(FIX / "annotations_five.json")
    assert (aset.schema, aset.annotator, aset.created) == ("five", "alice", "2020-06-14T09:30:00+00:00")
    first = aset.images["Testing_Set/Probe/1_1.jpg"]
    assert (first.width, first.height, first.status) == (24, 20, "done")
    assert (first.seconds, first.prefilled) == (12.3, False)
    arr = first.points_array()
    assert arr.dtype == np.float32 and arr.shape == (5, 2)
    np.testing.assert_array_equal(arr[:4], [[7.5, 8], [15.25, 8], [11, 12], [8, 15.5]])
    assert np.isnan(arr[4]).all()
    assert first.coco_visibility().tolist() == [2, 2, 1, 2, 0]
    assert aset.images["Testing_Set/Probe/2_1.jpg"].points[0] == [10.0, 12.0]  # ints read as floats


def test_labelled_arrays_only_done_images():
    keys, pts, vis = read_annotations(FIX / "annotations_five.json").labelled_arrays()
    assert keys == ["Testing_Set/Probe/1_1.jpg", "Testing_Set/Probe/2_1.jpg"]
    assert pts.shape == (2, 5, 2) and vis.shape == (2, 5) and vis.dtype == bool
    assert vis[0].tolist() == [True, True, False, True, False] and vis[1].all()
    keys, pts, vis = AnnotationSet.new("ibug68", "x").labelled_arrays()
    assert keys == [] and pts.shape == (0, 68, 2) and vis.shape == (0, 68)


def test_annotations_round_trip_and_layout(tmp_path):
    aset = read_annotations(FIX / "annotations_five.json")
    old_updated = aset.updated
    out = write_annotations(tmp_path / "deep" / "ann.json", aset)
    doc = json.loads(out.read_text())
    top = ["format", "version", "schema", "annotator", "convention", "created", "updated", "images"]
    assert list(doc) == top
    assert doc["format"] == "s2ld-annotations" and doc["convention"] == "0-based pixel centres"
    assert doc["updated"] != old_updated and doc["updated"] == aset.updated
    entry = doc["images"]["Testing_Set/Probe/1_1.jpg"]
    fields = ["width", "height", "points", "visible", "status", "seconds", "prefilled", "updated"]
    assert list(entry) == fields
    assert entry["points"][4] is None
    again = read_annotations(out)
    assert again.images == aset.images and again.created == aset.created
    assert _leftovers(tmp_path / "deep") == []


def test_new_set_and_empty_image(tmp_path):
    aset = AnnotationSet.new("five", "carol")
    aset.images["a/b.png"] = ImageAnnotation.empty(16, 16, aset.num_points)
    aset.images["a/c.png"] = ImageAnnotation.from_arrays(
        16, 16, np.array([[1, 2], [np.nan, np.nan], [3, 4], [5, 6], [7, 8]]), status="done", prefilled=True
    )
    again = read_annotations(write_annotations(tmp_path / "a.json", aset))
    assert again.images["a/b.png"].points == [None] * 5 and again.images["a/b.png"].status == "todo"
    assert again.images["a/c.png"].points[1] is None and again.images["a/c.png"].prefilled
    with pytest.raises(ValueError, match="unknown landmark schema"):
        AnnotationSet.new("seven", "x")


def _doc() -> dict:
    return json.loads((FIX / "annotations_five.json").read_text())


def _set(doc: dict, dotted: str, value) -> dict:
    *path, last = dotted.split("|")
    node = doc
    for part in path:
        node = node[part]
    node[last] = value
    return doc


KEY = "Testing_Set/Probe/1_1.jpg"


@pytest.mark.parametrize(
    ("dotted", "value", "fragment"),
    [
        ("format", "other", "format is 'other'"),
        ("version", 3, "unsupported version 3"),
        ("schema", "seven", "unknown schema 'seven'"),
        ("convention", "1-based", "convention is '1-based'"),
        (f"images|{KEY}|points", [[1, 2]] * 4, f"image '{KEY}': points has 4 entries, the schema has 5"),
        (f"images|{KEY}|visible", [True] * 6, f"image '{KEY}': visible has 6 entries"),
        (f"images|{KEY}|width", True, f"image '{KEY}': width must be an integer, got a boolean"),
        (f"images|{KEY}|width", 0, "width and height must be positive"),
        (f"images|{KEY}|status", "finished", "status 'finished' is not one of"),
        (f"images|{KEY}|seconds", -1, "seconds must be a non-negative number"),
        (f"images|{KEY}|visible", [1, 1, 1, 1, 1], "visible[0] must be true or false"),
        (f"images|{KEY}|points", [[1, 2], [1], None, None, None], "points[1] must be [x, y] or null"),
        (f"images|{KEY}|points", [[1, "2"], None, None, None, None], "points[0] must be a number"),
        (f"images|{KEY}|updated", "yesterday", "updated 'yesterday' is not an ISO 8601 time"),
        (f"images|{KEY}|colour", "red", "unknown key(s) colour"),
        ("created", 5, "created must be a string"),
    ],
)
def test_invalid_annotations_name_file_and_image(tmp_path, dotted, value, fragment):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_set(_doc(), dotted, value)))
    with pytest.raises(FormatError) as info:
        read_annotations(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_annotation_missing_key_bad_image_key_and_bad_json(tmp_path):
    doc = _doc()
    del doc["images"][KEY]["seconds"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=f"image '{KEY}': entry lacks key.s. seconds"):
        read_annotations(path)
    doc = _doc()
    doc["images"]["/abs/x.png"] = doc["images"].pop(KEY)
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="POSIX path relative"):
        read_annotations(path)
    path.write_text('{\n  "format": "s2ld-annotations",\n  "version": 1,,\n}')
    with pytest.raises(FormatError, match=rf"^{path}:3: invalid JSON"):
        read_annotations(path)


def test_write_annotations_refuses_invalid_set_and_keeps_old_file(tmp_path):
    path = tmp_path / "ann.json"
    aset = read_annotations(FIX / "annotations_five.json")
    write_annotations(path, aset)
    before = path.read_text()
    aset.images["bad.png"] = ImageAnnotation.empty(8, 8, 68)  # wrong K for the five-point schema
    with pytest.raises(FormatError, match="'bad.png': points has 68 entries"):
        write_annotations(path, aset)
    assert path.read_text() == before and _leftovers(tmp_path) == []


# --- COCO keypoints -------------------------------------------------------------------------------


def test_write_coco_keypoints_values(tmp_path):
    aset = read_annotations(FIX / "annotations_five.json")
    doc = json.loads(write_coco_keypoints(tmp_path / "coco.json", aset, image_root="tinyface").read_text())
    assert [im["file_name"] for im in doc["images"]] == [
        "tinyface/Testing_Set/Probe/1_1.jpg", "tinyface/Testing_Set/Probe/2_1.jpg"  # done images only
    ]
    names = ["eye_left", "eye_right", "nose_tip", "mouth_left", "mouth_right"]
    assert doc["categories"][0]["keypoints"] == names
    ann = doc["annotations"][0]
    # keypoints are our 0-based values unchanged; v: 2 visible, 1 occluded, 0 unplaced (written 0, 0, 0)
    assert ann["keypoints"] == [7.5, 8.0, 2, 15.25, 8.0, 2, 11.0, 12.0, 1, 8.0, 15.5, 2, 0, 0, 0]
    assert ann["num_keypoints"] == 4 and ann["image_id"] == doc["images"][0]["id"]
    # bbox is the face box; a face crop (no box drawn) is the whole 24x20 image, in continuous coordinates
    assert ann["bbox"] == [0.0, 0.0, 24.0, 20.0] and ann["area"] == pytest.approx(480.0)


def test_read_coco_fixture_and_round_trip(tmp_path):
    aset = read_coco_keypoints(FIX / "coco_five.json", "five")
    assert aset.annotator == "bob"
    assert list(aset.images) == ["probe/1_1.jpg", "probe/2_1.jpg", "probe/3_1.jpg"]
    first = aset.images["probe/1_1.jpg"]
    assert first.points == [[7.5, 8.0], [15.25, 8.0], [11.0, 12.0], [8.0, 15.5], None]
    assert first.coco_visibility().tolist() == [2, 2, 1, 2, 0] and first.status == "done"
    assert aset.images["probe/3_1.jpg"].status == "todo"  # listed without an annotation
    original = read_annotations(FIX / "annotations_five.json")
    path = write_coco_keypoints(tmp_path / "c.json", original, image_root="root")
    back = read_coco_keypoints(path, "five", image_root="root")
    for key in ("Testing_Set/Probe/1_1.jpg", "Testing_Set/Probe/2_1.jpg"):
        assert back.images[key].points == original.images[key].points
        assert back.images[key].coco_visibility().tolist() == original.images[key].coco_visibility().tolist()


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2]), "annotation id 1: keypoints must be"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 3), "visibility flags must be 0, 1 or 2"),
        (lambda d: d["annotations"][1].update(bbox=[1, 2, 0, 4]), "needs a positive width and height"),
        (lambda d: d["annotations"][1].update(image_id=99), "refers to no listed image"),
        (lambda d: d["categories"][0]["keypoints"].pop(), "category 1 has 4 keypoints, schema five has 5"),
        (lambda d: d.pop("images"), "needs a list 'images'"),
        (lambda d: d["images"][1].update(file_name="probe/1_1.jpg"), "'probe/1_1.jpg' is listed twice"),
    ],
)
def test_malformed_coco(tmp_path, edit, fragment):
    doc = json.loads((FIX / "coco_five.json").read_text())
    edit(doc)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError) as info:
        read_coco_keypoints(path, "five")
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


# --- .pts export ----------------------------------------------------------------------------------


def test_export_pts_dir(tmp_path):
    aset = AnnotationSet.new("five", "dan")
    pts = np.array([[1, 2], [3, 4], [5.5, 6], [7, 8], [9, 10]], np.float32)
    aset.images["Probe/1_1.jpg"] = ImageAnnotation.from_arrays(16, 16, pts, status="done")
    aset.images["Probe/2_1.jpg"] = ImageAnnotation.from_arrays(16, 16, pts + 1, status="skipped")
    written = export_pts_dir(aset, tmp_path / "pts")
    assert written == [tmp_path / "pts" / "Probe" / "1_1.pts"]
    assert written[0].read_text().splitlines()[3] == "2 3"  # 1-based on disk
    np.testing.assert_array_equal(read_pts(written[0], expected_points=5), pts)
    aset.images["Probe/3_1.jpg"] = ImageAnnotation.empty(16, 16, 5)
    aset.images["Probe/3_1.jpg"].status = "done"
    with pytest.raises(ValueError, match=r"'Probe/3_1.jpg' is done but points \[0, 1, 2, 3, 4\] are"):
        export_pts_dir(aset, tmp_path / "pts2")


# ---- bounded geometry: every coordinate finite, within ±2**24, and near its image ------------------


def test_annotation_points_must_lie_near_their_image(tmp_path):
    from s2ld_core.data.formats import annotations_from_dict

    doc = json.loads((FIX / "annotations_five.json").read_text())
    entry = doc["images"]["Testing_Set/Probe/2_1.jpg"]  # 32x32
    entry["points"][0] = [-32, 64]  # one image size out: still allowed (a face partly outside)
    annotations_from_dict(doc)
    entry["points"][0] = [1e308, 4]
    with pytest.raises(FormatError, match=r"points\[0\] is not finite or beyond ±16777216: \[1e\+308, 4\]"):
        annotations_from_dict(doc)
    entry["points"][0] = [100, 4]
    with pytest.raises(FormatError, match=r"points\[0\] \(100, 4\) lies more than one image size outside "
                                          r"the 32x32 image \(allowed: x -32..64, y -32..64\)"):
        annotations_from_dict(doc)
    entry["points"][0] = [1, 2]
    entry["width"] = 2**40
    with pytest.raises(FormatError, match="width and height must be positive and at most 16777216"):
        annotations_from_dict(doc)


def test_coco_keypoints_and_boxes_are_bounded(tmp_path):
    from s2ld_core.data.formats import read_coco_boxes

    doc = json.loads((FIX / "coco_five.json").read_text())
    doc["annotations"][0]["keypoints"][0] = 1e9
    bad = _write(tmp_path / "k.json", json.dumps(doc))
    with pytest.raises(FormatError, match="keypoints must be finite numbers within ±16777216"):
        read_coco_keypoints(bad, "five")
    doc["annotations"][0]["keypoints"][0] = 1000
    bad = _write(tmp_path / "k.json", json.dumps(doc))
    with pytest.raises(FormatError, match="keypoint \\(1000, .*lies more than one image size outside"):
        read_coco_keypoints(bad, "five")
    boxes = _write(tmp_path / "b.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png"}, {"id": "x", "file_name": "b.png"}],
        "annotations": [{"image_id": 1, "bbox": [1, 2, 3, 4]}, {"image_id": "x", "bbox": [0, 0, 5.5, 6]},
                        {"image_id": 1, "bbox": [5, 5, 1, 1]}, {"image_id": 1, "keypoints": []}]}))
    assert read_coco_boxes(boxes) == {"a.png": [(1, 2, 3, 4), (5, 5, 1, 1)], "b.png": [(0, 0, 5.5, 6)]}


def test_imglab_boxes_need_positive_sides_and_bounded_part_numbers(tmp_path):
    from s2ld_core.data.formats.imglab import MAX_PARTS, read_imglab_xml

    xml = _write(tmp_path / "a.xml", "<dataset><images><image file='a.png'>"
                 "<box top='1' left='1' width='0' height='4'/></image></images></dataset>")
    with pytest.raises(FormatError, match="width and height must be positive, got 0x4"):
        read_imglab_xml(xml, num_points=None)
    xml = _write(tmp_path / "b.xml", "<dataset><images><image file='a.png'><box top='1' left='1' width='3' "
                 f"height='4'><part name='{MAX_PARTS}' x='1' y='1'/></box></image></images></dataset>")
    with pytest.raises(FormatError, match=f"part name '{MAX_PARTS}' is beyond the {MAX_PARTS} points"):
        read_imglab_xml(xml, num_points=None)
