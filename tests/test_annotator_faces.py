"""Several faces per image, face boxes, and custom point sets: the annotation file, its COCO and .pts
exports and the store's edits, with numbers worked out by hand."""

from __future__ import annotations

import json
import zipfile

import cv2
import numpy as np
import pytest

from annotator.point_sets import group_of, load_point_set, point_set
from annotator.store import (
    AnnotationStore,
    StoreError,
    add_face,
    delete_face,
    move_point,
    place_next,
    set_box,
    set_status,
)
from s2ld_core.data.formats import (
    AnnotationSet,
    FaceAnnotation,
    FormatError,
    ImageAnnotation,
    export_pts_dir,
    read_annotations,
    read_coco_keypoints,
    read_pts,
    write_annotations,
    write_coco_keypoints,
)

FIVE = [[3.0, 4.0], [9.0, 4.0], [6.0, 7.0], [4.0, 10.0], [8.0, 10.0]]


def _two_faces() -> ImageAnnotation:
    a = FaceAnnotation([list(p) for p in FIVE], [True, True, False, True, True], [0.5, 1.5, 11.0, 12.0])
    b = FaceAnnotation([[x + 20, y] for x, y in FIVE], [True] * 5, [20.5, 1.5, 11.0, 12.0], prefilled=True)
    return ImageAnnotation(40, 20, [a, b], status="done")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    for name, (w, h) in {"crop.png": (16, 16), "group.png": (40, 20)}.items():
        assert cv2.imwrite(str(root / name), np.full((h, w, 3), 100, np.uint8))
    return root


# ---- the file ------------------------------------------------------------------------------------


def test_one_face_files_stay_version_1_and_several_faces_write_version_2(tmp_path):
    aset = AnnotationSet.new("five", "ann")
    aset.images["crop.png"] = ImageAnnotation.from_arrays(16, 16, np.array(FIVE), status="done")
    doc = json.loads(write_annotations(tmp_path / "a.json", aset).read_text())
    assert doc["version"] == 1 and "faces" not in doc["images"]["crop.png"]  # older readers still read it

    aset.images["group.png"] = _two_faces()
    path = write_annotations(tmp_path / "b.json", aset)
    doc = json.loads(path.read_text())
    assert doc["version"] == 2 and list(doc["images"]["crop.png"]) == [
        "width", "height", "faces", "status", "seconds", "updated"]
    assert doc["images"]["group.png"]["faces"][1]["box"] == [20.5, 1.5, 11.0, 12.0]
    back = read_annotations(path)
    assert back.images == aset.images
    assert back.images["crop.png"].face_box() == [-0.5, -0.5, 16.0, 16.0]  # a crop's face is the image
    keys, pts, _ = back.labelled_arrays()
    assert keys == ["crop.png"] and pts.shape == (1, 5, 2)  # a group photo has no one set of points


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d["images"]["group.png"]["faces"].clear(), "faces is empty"),
        (lambda d: d["images"]["group.png"]["faces"][1].update(box=[1, 2, 0, 3]), "face 2 box needs finite"),
        (lambda d: d["images"]["group.png"]["faces"][0].update(points=[None] * 4), "face 1 points has 4"),
        (lambda d: d["images"]["group.png"]["faces"][0].update(colour=1), "faces[0] has unknown key(s)"),
        (lambda d: d.update(point_names=["a"]), "point_names is only for custom point sets"),
        (lambda d: d.update(schema="mine"), "unknown schema 'mine'"),
    ],
)
def test_malformed_version_2_names_file_image_and_face(tmp_path, edit, fragment):
    aset = AnnotationSet.new("five", "ann")
    aset.images["group.png"] = _two_faces()
    doc = aset.to_dict()
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError) as info:
        read_annotations(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_coco_bbox_is_the_face_box_and_each_face_is_one_annotation(tmp_path):
    aset = AnnotationSet.new("five", "ann")
    aset.images["group.png"] = _two_faces()
    aset.images["crop.png"] = ImageAnnotation.from_arrays(16, 12, np.array(FIVE), status="done")
    doc = json.loads(write_coco_keypoints(tmp_path / "c.json", aset).read_text())
    boxes = [(a["image_id"], a["bbox"], a["area"]) for a in doc["annotations"]]
    # our box [0.5, 1.5, 11, 12] has its left edge at x = 0.5, i.e. COCO x = 1.0 (pixel i spans [i, i+1])
    assert boxes == [(1, [1.0, 2.0, 11.0, 12.0], 132.0), (1, [21.0, 2.0, 11.0, 12.0], 132.0),
                     (2, [0.0, 0.0, 16.0, 12.0], 192.0)]  # no box drawn: the crop is the face
    assert doc["annotations"][0]["keypoints"][6:9] == [6.0, 7.0, 1]  # nose occluded: v = 1
    back = read_coco_keypoints(tmp_path / "c.json", "five")
    assert back.images["group.png"].faces == [
        FaceAnnotation(f.points, f.visible, f.box) for f in aset.images["group.png"].faces]
    assert back.images["crop.png"].faces[0].box is None


def test_pts_export_names_each_face(tmp_path):
    aset = AnnotationSet.new("five", "ann")
    aset.images["sub/group.png"] = _two_faces()
    aset.images["crop.png"] = ImageAnnotation.from_arrays(16, 16, np.array(FIVE), status="done")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in export_pts_dir(aset, tmp_path))
    assert written == ["crop.pts", "sub/group_1.pts", "sub/group_2.pts"]
    np.testing.assert_array_equal(read_pts(tmp_path / "sub" / "group_2.pts")[:, 0], [23, 29, 26, 24, 28])


def test_custom_point_set_file_round_trip(tmp_path, folder):
    schema = tmp_path / "mine.yaml"
    schema.write_text("name: mine\npoints:\n  - {name: eye_left, at: [0.3, 0.4]}\n  - eye_right\n"
                      "  - {name: chin, group: jaw}\npairs: [[eye_left, eye_right]]\n")
    ps = load_point_set(schema)
    assert ps.schema.flip_permutation == (1, 0, 2) and ps.groups == ("eyes", "eyes", "jaw")
    assert ps.grouped() == [("jaw", [2]), ("eyes", [0, 1])] and np.isnan(ps.template[1]).all()
    store = AnnotationStore.open(folder, schema, "ann")
    store.modify("crop.png", lambda a: place_next(a, 2.0, 3.0))
    doc = json.loads(store.path.read_text())
    assert doc["version"] == 2 and doc["point_names"] == ["eye_left", "eye_right", "chin"]
    assert read_annotations(store.path).landmarks.point_names == ("eye_left", "eye_right", "chin")
    with pytest.raises(StoreError, match="differ from the schema file"):
        other = tmp_path / "mine2.yaml"
        other.write_text("name: mine\npoints: [a, b, c]\n")
        AnnotationStore.open(folder, other, "ann")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: five\npoints: [a]\n", "'five' is a built-in schema"),
        ("name: x\npoints: [a, a]\n", "point name(s) a appear more than once"),
        ("name: x\npoints: [{name: a, at: [2, 0]}]\n", "'at' must be [x, y] in the unit square"),
        ("name: x\npoints: [a, b]\npairs: [[a, c]]\n", "each pair is two point names"),
        ("name: x\npoints: [{name: a, group: ears}]\n", "group 'ears' is not one of"),
        ("name: x\npoints: [a\n", "not valid YAML"),
        ("name: x\n", "'points' must be a non-empty list"),
    ],
)
def test_bad_schema_files_are_one_line_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_point_set(path)
    text = str(info.value)
    assert text.startswith(str(path)) and fragment in text and "\n" not in text


def test_built_in_groups_follow_the_names():
    ibug = point_set("ibug68")
    assert [(g, len(i)) for g, i in ibug.grouped()] == [
        ("jaw", 17), ("brows", 10), ("nose", 9), ("eyes", 12), ("mouth", 20)]
    assert [g for g, _ in point_set("five").grouped()] == ["nose", "eyes", "mouth"]
    assert group_of("lip_inner_left") == "mouth" and group_of("ear") == "other"
    with pytest.raises(ValueError, match="unknown schema 'seven'"):
        point_set("seven")


# ---- the store -----------------------------------------------------------------------------------


def test_a_box_then_its_points_and_done_needs_every_face_boxed(folder):
    store = AnnotationStore.open(folder, "five", "ann")
    # the first box of an untouched image is face 1's box, the second adds face 2
    assert store.modify("group.png", lambda a: add_face(a, [0.5, 1.5, 11, 12]))[1] == 0
    assert store.modify("group.png", lambda a: add_face(a, [20.5, 1.5, 30, 30]))[1] == 1
    ann = store.get("group.png")
    assert ann.faces[1].box == [20.5, 1.5, 19.0, 18.0]  # clipped to the 40x20 image (edge at 39.5, 19.5)
    for face in (0, 1):
        for x, y in FIVE:
            store.modify("group.png", lambda a, x=x, y=y, f=face: place_next(a, x + 20 * f, y, face=f))
    assert store.get("group.png").status == "done"
    edit, _ = store.modify("group.png", lambda a: delete_face(a, 0))
    assert store.get("group.png").faces[0].box == [20.5, 1.5, 19.0, 18.0] and edit is not None

    store.modify("crop.png", lambda a: move_point(a, 0, 1.0, 1.0))
    store.modify("crop.png", lambda a: add_face(a, [5, 5, 6, 6]))  # face 1 has a point but no box
    with pytest.raises(StoreError, match="face 1 points 2, 3, 4, 5 are missing"):
        store.modify("crop.png", lambda a: set_status(a, "done"))
    for x, y in FIVE[1:]:
        store.modify("crop.png", lambda a, x=x, y=y: place_next(a, x, y))
    for x, y in FIVE:
        store.modify("crop.png", lambda a, x=x, y=y: place_next(a, x, y, face=1))
    with pytest.raises(StoreError, match="face 1 has no box"):
        store.modify("crop.png", lambda a: set_status(a, "done"))
    store.modify("crop.png", lambda a: set_box(a, 0, [-3, -3, 12, 12]))
    crop = store.get("crop.png")
    assert crop.status == "done" and crop.faces[0].box == [-0.5, -0.5, 9.5, 9.5]
    with pytest.raises(StoreError, match="covers less than a pixel"):
        store.modify("crop.png", lambda a: add_face(a, [50, 50, 4, 4]))
    with pytest.raises(StoreError, match="face 3 does not exist"):
        store.modify("crop.png", lambda a: place_next(a, 1, 1, face=2))


def test_undo_rewinds_a_face_and_preplace_never_overwrites(folder):
    from annotator.store import History

    store = AnnotationStore.open(folder, "five", "ann")
    history = History()
    history.push(store.modify("group.png", lambda a: add_face(a, [0.5, 1.5, 11, 12]))[0])
    history.push(store.modify("group.png", lambda a: add_face(a, [20.5, 1.5, 11, 12]))[0])
    assert len(store.get("group.png").faces) == 2
    store.undo(history)
    assert len(store.get("group.png").faces) == 1
    store.redo(history)
    assert len(store.get("group.png").faces) == 2

    faces = [FaceAnnotation([list(p) for p in FIVE], [True] * 5, [0, 0, 14, 14])]
    far = [FaceAnnotation([[100.0, 3.0]] + [list(p) for p in FIVE[1:]], [True] * 5)]
    assert store.preplace({"group.png": faces, "crop.png": far}) == 1  # group.png holds boxes already
    crop = store.get("crop.png")
    assert crop.prefilled and crop.points[0] == [15.5, 3.0]  # onto the border, not outside the image
    assert store.preplace({"crop.png": faces}) == 0
    store.modify("crop.png", lambda a: move_point(a, 0, 14.0, 3.0))  # correcting one point ...
    assert store.get("crop.png").status == "todo"  # ... is not a review of all: that is Done
    store.modify("crop.png", lambda a: set_status(a, "done"))
    assert store.get("crop.png").status == "done"


def test_pts_zip_for_download(folder):
    store = AnnotationStore.open(folder, "five", "ann")
    for x, y in FIVE:
        store.modify("crop.png", lambda a, x=x, y=y: place_next(a, x, y))
    path = store.export_pts_zip()
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["crop.pts"]
        assert zf.read("crop.pts").decode().splitlines()[3] == "4 5"  # 1-based on disk


def test_agreement_pairs_faces_in_order(folder, tmp_path):
    from annotator.agreement import agreement_report

    paths = []
    for name, dx in (("ann", 0.0), ("bob", 0.5)):
        store = AnnotationStore.open(folder, "five", name)
        store.modify("group.png", lambda a: add_face(a, [0.5, 1.5, 11, 12]))
        store.modify("group.png", lambda a: add_face(a, [20.5, 1.5, 11, 12]))
        for face in (0, 1):
            for x, y in FIVE:
                u = x + 20 * face + dx * face
                store.modify("group.png", lambda a, u=u, y=y, f=face: place_next(a, u, y, face=f))
        paths.append(store.path)
    report = agreement_report(paths, tmp_path / "agree")
    # face 1 identical; face 2 shifted 0.5 px in x: NME = 0.5 / sqrt(6 * 6) (the mean points' box is 6x6)
    assert report["per_image"]["group.png#1"]["mean_nme"] == 0.0
    assert report["per_image"]["group.png#2"]["mean_nme"] == pytest.approx(0.5 / 6)
