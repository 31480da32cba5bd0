"""The annotator's storage: edits, undo/redo, persistence, resume, exports, agreement (no server)."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from annotator.agreement import agreement_report, pair_nme
from annotator.pictures import original_to_display
from annotator.store import (
    AnnotationStore,
    History,
    StoreError,
    delete_point,
    display_to_original,
    list_images,
    move_point,
    order_keys,
    place_next,
    resolve_inside,
    set_occluded,
    set_status,
)
from s2ld_core.data.formats import read_annotations, read_pts

SIZES = {"a.png": (24, 20), "b.png": (16, 16), "sub/c.png": (32, 30)}  # key -> (width, height)


def _write_image(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    for i, (key, (w, h)) in enumerate(SIZES.items()):
        _write_image(root / key, w, h, seed=i)
    (root / "notes.txt").write_text("not an image")
    _write_image(root / ".hidden.png", 8, 8)
    _write_image(root / "annotations" / "stray.png", 8, 8)  # inside the annotations folder: ignored
    _write_image(tmp_path / "outside.png", 8, 8)
    try:
        os.symlink(tmp_path / "outside.png", root / "link.png")
    except OSError:
        pass
    return root


def _disk(store: AnnotationStore) -> dict:
    return json.loads(store.path.read_text())["images"]


def test_display_click_maps_to_subpixel_original():
    assert display_to_original(100, 37, 8) == (12.0625, 4.1875)
    x, y = original_to_display(*display_to_original(100, 37, 8), 8)
    assert (x, y) == pytest.approx((100, 37))
    assert display_to_original(0, 0, 16) == (-0.46875, -0.46875)  # first display pixel: left edge


def test_listing_is_the_allow_list(folder):
    assert list_images(folder) == ["a.png", "b.png", "sub/c.png"]
    bad = ["../outside.png", "/etc/passwd", "sub/../../outside.png"]
    if (folder / "link.png").is_symlink():
        bad.append("link.png")  # a symlink leading out of the folder
    for key in bad:
        with pytest.raises(StoreError, match="outside|relative"):
            resolve_inside(folder, key)
    assert resolve_inside(folder, "sub/c.png") == (folder / "sub" / "c.png").resolve()


def test_place_move_undo_redo_saved_exactly(folder):
    store = AnnotationStore.open(folder, "five", "alice")
    hist = History()
    x, y = display_to_original(100, 37, 8)
    edit, idx = store.modify("a.png", lambda a: place_next(a, x, y))
    hist.push(edit)
    assert idx == 0
    assert store.path == folder / "annotations" / "alice.json"
    assert _disk(store)["a.png"]["points"][0] == [12.0625, 4.1875]

    edit, idx = store.modify("a.png", lambda a: place_next(a, 3.0, 5.5))
    hist.push(edit)
    assert idx == 1
    hist.push(store.modify("a.png", lambda a: move_point(a, 0, 10.25, 11.75))[0])
    assert _disk(store)["a.png"]["points"][:2] == [[10.25, 11.75], [3.0, 5.5]]

    assert store.undo(hist) == "a.png"
    assert _disk(store)["a.png"]["points"][:2] == [[12.0625, 4.1875], [3.0, 5.5]]
    assert store.undo(hist) == "a.png"
    assert _disk(store)["a.png"]["points"][:2] == [[12.0625, 4.1875], None]
    assert store.redo(hist) == "a.png"
    assert _disk(store)["a.png"]["points"][1] == [3.0, 5.5]
    hist.push(store.modify("a.png", lambda a: move_point(a, 1, 1.0, 1.0))[0])
    assert store.redo(hist) is None  # a new edit clears the redo stack
    assert store.undo(hist) == "a.png" and store.undo(hist) == "a.png" and store.undo(hist) == "a.png"
    assert "a.png" not in _disk(store)  # back to "never annotated"
    assert store.undo(hist) is None


def test_occlude_delete_and_done_status(folder):
    store = AnnotationStore.open(folder, "five", "alice")
    for i in range(5):
        store.modify("b.png", lambda a, i=i: place_next(a, i + 0.5, 2.0))
    ann = store.get("b.png")
    assert ann.status == "done"  # every point placed
    assert store.modify("b.png", lambda a: place_next(a, 1, 1))[1] is None  # nothing left to place

    store.modify("b.png", lambda a: set_occluded(a, 2, True))
    disk = _disk(store)["b.png"]
    assert disk["visible"] == [True, True, False, True, True]
    assert store.get("b.png").coco_visibility().tolist() == [2, 2, 1, 2, 2]

    store.modify("b.png", lambda a: delete_point(a, 3))
    disk = _disk(store)["b.png"]
    assert disk["points"][3] is None and disk["status"] == "todo"
    with pytest.raises(StoreError, match="not placed"):
        set_occluded(store.get("b.png"), 3, True)
    assert store.modify("b.png", lambda a: place_next(a, 7.0, 8.0))[1] == 3  # the hole is refilled first
    assert _disk(store)["b.png"]["status"] == "done"


def test_points_outside_the_image_are_refused(folder):
    store = AnnotationStore.open(folder, "five", "alice")
    ann = store.get("b.png")  # 16 x 16: coordinates -0.5 .. 15.5
    place_next(ann, 15.5, -0.5)
    with pytest.raises(StoreError, match="outside"):
        place_next(ann, 15.6, 3)
    with pytest.raises(StoreError):
        move_point(ann, 0, float("nan"), 3)


def test_skip_flag_and_resume_at_first_unfinished(folder):
    store = AnnotationStore.open(folder, "five", "alice")
    for i in range(5):
        store.modify("a.png", lambda a, i=i: place_next(a, i, i))
    store.modify("b.png", lambda a: set_status(a, "skipped"), seconds=4.5)
    with pytest.raises(StoreError, match="missing"):
        set_status(store.get("sub/c.png"), "done")

    reopened = AnnotationStore.open(folder, "five", "alice")  # a fresh process / page reload
    assert reopened.first_unfinished() == 2
    assert reopened.progress() == {"todo": 1, "done": 1, "skipped": 1, "flagged": 0, "unreadable": 0,
                                   "total": 3}
    assert reopened.get("b.png").seconds == pytest.approx(4.5)

    reopened.modify("sub/c.png", lambda a: set_status(a, "flagged"))
    assert reopened.first_unfinished() == 0  # nothing left: start from the beginning
    with pytest.raises(StoreError, match="schema"):
        AnnotationStore.open(folder, "aflw19", "alice")


def test_second_tab_loses_nothing(folder):
    tab1 = AnnotationStore.open(folder, "five", "alice")
    tab2 = AnnotationStore.open(folder, "five", "alice")  # separate objects, same file
    h1 = History()
    h1.push(tab1.modify("a.png", lambda a: place_next(a, 1, 2))[0])
    tab2.modify("b.png", lambda a: place_next(a, 3, 4))  # tab2 re-reads before writing
    disk = _disk(tab1)
    assert disk["a.png"]["points"][0] == [1.0, 2.0] and disk["b.png"]["points"][0] == [3.0, 4.0]

    tab2.modify("a.png", lambda a: move_point(a, 0, 5, 5))
    with pytest.raises(StoreError, match="another tab"):
        tab1.undo(h1)  # refusing beats silently rewinding tab2's move
    assert _disk(tab1)["a.png"]["points"][0] == [5.0, 5.0]


def test_exports_hold_exact_coordinates(folder, tmp_path):
    store = AnnotationStore.open(folder, "five", "alice")
    x, y = display_to_original(100, 37, 8)
    pts = [(x, y), (18.0, 4.25), (11.5, 10.0), (7.0, 15.0), (17.0, 15.5)]
    for px, py in pts:
        store.modify("a.png", lambda a, px=px, py=py: place_next(a, px, py))
    store.modify("a.png", lambda a: set_occluded(a, 4, True))
    store.modify("b.png", lambda a: place_next(a, 1, 1))  # not done: not exported

    coco = json.loads(store.export_coco(tmp_path / "coco.json").read_text())
    assert [im["file_name"].rsplit("/", 1)[-1] for im in coco["images"]] == ["a.png"]
    kps = coco["annotations"][0]["keypoints"]
    assert kps[:3] == [12.062, 4.188, 2]  # COCO holds 1/1000 px (12.0625 is a tie: to even); .pts is exact
    assert kps[12:15] == [17.0, 15.5, 1]  # occluded -> COCO v=1
    assert coco["categories"][0]["keypoints"] == ["eye_left", "eye_right", "nose_tip", "mouth_left",
                                                  "mouth_right"]

    out = store.export_pts(tmp_path / "pts")
    text = (out / "a.pts").read_text()
    assert "13.0625 5.1875" in text  # .pts is 1-based
    np.testing.assert_allclose(read_pts(out / "a.pts"), np.array(pts, np.float32))
    assert not (out / "b.pts").exists()


def test_prefill_only_untouched_images_and_confidence_order(folder):
    store = AnnotationStore.open(folder, "five", "alice")
    store.modify("a.png", lambda a: place_next(a, 1, 1))  # human work: must survive
    k = 5
    preds = {
        "a.png": (np.full((k, 2), 3.0), np.full(k, 0.9)),
        "b.png": (np.full((k, 2), 99.0), np.full(k, 0.2)),  # outside 16x16: clipped to the border
        "sub/c.png": (np.full((k, 2), 4.0), np.full(k, 0.5)),
    }
    assert store.prefill(preds) == 2
    disk = _disk(store)
    assert disk["a.png"]["points"][0] == [1.0, 1.0] and not disk["a.png"]["prefilled"]
    assert disk["b.png"]["prefilled"] and disk["b.png"]["points"][0] == [15.5, 15.5]
    assert disk["sub/c.png"]["status"] == "todo"  # pre-placed is not reviewed
    assert order_keys(store, "confidence") == ["b.png", "sub/c.png", "a.png"]
    assert order_keys(store, "file") == ["a.png", "b.png", "sub/c.png"]
    assert store.prefill(preds) == 0  # reopening never overwrites


def test_bad_names_and_files_give_one_line_errors(folder, tmp_path):
    with pytest.raises(StoreError, match="annotator name"):
        AnnotationStore.open(folder, "five", "../evil")
    with pytest.raises(StoreError, match="not a folder"):
        AnnotationStore.open(tmp_path / "missing", "five", "alice")
    bad = folder / "annotations" / "bob.json"
    bad.write_text("{not json")
    with pytest.raises(StoreError, match="bob.json"):
        AnnotationStore.open(folder, "five", "bob")


def test_agreement_nme_by_hand(folder, tmp_path):
    a = AnnotationStore.open(folder, "five", "alice")
    b = AnnotationStore.open(folder, "five", "bob")
    base = np.array([[4, 4], [12, 4], [8, 8], [5, 12], [11, 12]], float)  # box 8 x 8 -> normaliser 8
    for px, py in base:
        a.modify("a.png", lambda ann, px=px, py=py: place_next(ann, px, py))
        b.modify("a.png", lambda ann, px=px, py=py: place_next(ann, px + 0.4, py - 0.3))  # 0.5 px apart
    b.modify("b.png", lambda ann: set_status(ann, "skipped"))
    a.modify("b.png", lambda ann: place_next(ann, 1, 1))

    nme, per_point, norm = pair_nme(base, base + [0.4, -0.3])
    assert norm == pytest.approx(8.0) and nme == pytest.approx(0.5 / 8)

    report = agreement_report([a.path, b.path], tmp_path / "agree")
    assert report["num_images"] == 1 and report["annotators"] == ["alice", "bob"]
    assert report["mean_nme"] == pytest.approx(0.0625) == report["summary"]["mean_nme"]
    assert report["mean_pixel_error"] == pytest.approx(0.5)
    assert [p["mean_nme"] for p in report["per_point"]] == pytest.approx([0.0625] * 5)
    saved = json.loads((tmp_path / "agree" / "agreement.json").read_text())
    assert saved["mean_nme"] == pytest.approx(0.0625)
    assert "6.25%" in (tmp_path / "agree" / "agreement.md").read_text()
    with pytest.raises(ValueError, match="at least two"):
        agreement_report([a.path], tmp_path / "x")


def test_annotation_file_is_the_shared_format(folder):
    store = AnnotationStore.open(folder, "aflw19", "carol")
    store.modify("sub/c.png", lambda a: place_next(a, 2.25, 3.75), seconds=2.0)
    aset = read_annotations(store.path)  # the project's strict reader accepts what we wrote
    ann = aset.images["sub/c.png"]
    assert (aset.schema, aset.annotator, ann.width, ann.height) == ("aflw19", "carol", 32, 30)
    assert ann.points[0] == [2.25, 3.75] and len(ann.points) == 19 and ann.seconds == 2.0
