"""The annotator and demo on hostile input: a folder box with a NUL byte or a 5000-character name, a
20000² header, a deleted annotation file, 4000×1 uploads, and a login that never shows in ``ps``."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

pytest.importorskip("gradio")

from annotator import demo  # noqa: E402
from annotator.actions import AppConfig, TabState  # noqa: E402
from annotator.actions import act as _act  # noqa: E402
from annotator.app import AUTH_ENV, _credentials, _view  # noqa: E402
from annotator.point_sets import point_set  # noqa: E402
from annotator.store import (  # noqa: E402
    AnnotationStore,
    StoreError,
    UnreadableImage,
    open_store,
    place_next,
)
from benchmarks.fuzz_inputs import png_claiming  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(root / name), np.full((20, 20, 3), 90, np.uint8))
    (root / "bomb.png").write_bytes(png_claiming(20000, 20000))
    return root


@pytest.mark.parametrize("text", ["faces\x00evil", "x" * 5000])
def test_a_nul_byte_or_an_overlong_folder_name_is_a_message(folder, text):
    cfg = AppConfig(point_set("five"), folder=folder, annotator="ann", root=folder)
    st = _act(cfg, TabState(), "open", text, "ann", "five", "file")
    assert st.message.startswith("⚠️ ") and "not a usable folder name" in st.message
    assert len(st.message) < 160


def test_a_header_bomb_is_reported_with_its_real_size(folder):
    store = AnnotationStore.open(folder, "five", "ann")
    with pytest.raises(UnreadableImage, match=r"bomb.png: 20000x20000 px is larger than the annotator takes"):
        store.image("bomb.png")


def test_a_deleted_annotation_file_is_not_silently_recreated(folder):
    cfg = AppConfig(point_set("five"), folder=folder, annotator="ann", root=folder)
    st = _act(cfg, TabState(), "open", str(folder), "ann", "five", "file")
    st = _act(cfg, st, "place", 3.0, 4.0)
    path = folder / "annotations" / "ann.json"
    assert path.is_file()
    path.unlink()
    st = _act(cfg, st, "place", 5.0, 6.0)
    assert "was deleted on disk while open" in st.message and not path.exists()
    *_, msg, st = _view(cfg, st)
    assert "deleted on disk" in msg and not path.exists()
    st = _act(cfg, TabState(), "open", str(folder), "ann", "five", "file")  # opening again: a new file
    st = _act(cfg, st, "place", 5.0, 6.0)
    assert not st.message.startswith("⚠️")
    images = json.loads(path.read_text())["images"]
    assert list(images) == ["a.png"] and images["a.png"]["points"][0] == [5.0, 6.0]


def test_the_store_itself_refuses_writes_after_a_deletion(folder):
    store = open_store(folder, "five", "del")
    store.modify("a.png", lambda a: place_next(a, 1.0, 1.0))
    store.path.unlink()
    with pytest.raises(StoreError, match="deleted on disk"):
        store.modify("a.png", lambda a: place_next(a, 2.0, 2.0))
    assert not store.path.exists()
    assert open_store(folder, "five", "del") is not store  # a fresh store, a fresh file


def _args(**kw):
    return argparse.Namespace(**{"auth": None, "auth_file": None, **kw})


def test_the_login_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(AUTH_ENV, raising=False)
    assert _credentials(_args()) is None
    monkeypatch.setenv(AUTH_ENV, "ann:s3cret")
    assert _credentials(_args()) == ("ann", "s3cret")
    secret = tmp_path / "login"
    secret.write_text("bob:pa:ss\n")
    assert _credentials(_args(auth_file=str(secret))) == ("bob", "pa:ss")
    assert _credentials(_args(auth="cli:pw")) == ("cli", "pw")
    with pytest.raises(ValueError, match=f"{tmp_path / 'none'}: cannot read the --auth-file"):
        _credentials(_args(auth_file=str(tmp_path / "none")))
    secret.write_text("nopassword\n")
    with pytest.raises(ValueError, match="the --auth-file's first line must look like user:password"):
        _credentials(_args(auth_file=str(secret)))
    monkeypatch.setenv(AUTH_ENV, "bad")
    with pytest.raises(ValueError, match=rf"\${AUTH_ENV} must look like user:password"):
        _credentials(_args())


@pytest.mark.parametrize("shape", [(1, 4000, 3), (4000, 1, 3), (2, 3000, 3), (1, 1, 3)])
def test_thin_uploads_are_shown_not_a_traceback(tmp_path, shape):
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), np.full(shape, 120, np.uint8))
    image = demo.load_upload({"path": str(path), "orig_name": "thin.png"})
    results, _ = demo.analyse(image, 24, demo.load_models(None, None), demo.make_face_finder())
    view = demo.overview(image, results)
    assert view.ndim == 3 and min(view.shape[:2]) >= 1


def test_an_upload_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(60000, 60000))
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ValueError, match="^up.png: 60000x60000 px is too large; at most 4096 px per side$"):
        demo.load_upload({"path": str(path), "orig_name": "up.png"})


# ---- the multi-face annotator's own inputs: version-2 files, imports, canvas edits -----------------

HUGE = 10**400  # float() of it is an OverflowError; json writes it as 401 digits


def _v2_doc():
    from s2ld_core.data.formats import AnnotationSet, FaceAnnotation, ImageAnnotation

    five = [[3.0, 4.0], [9.0, 4.0], [6.0, 7.0], [4.0, 10.0], [8.0, 10.0]]
    a = FaceAnnotation([list(p) for p in five], [True] * 5, [0.5, 1.5, 11.0, 12.0])
    b = FaceAnnotation([[x + 20, y] for x, y in five], [True] * 5, [20.5, 1.5, 11.0, 12.0])
    aset = AnnotationSet.new("five", "ann")
    aset.images["group.png"] = ImageAnnotation(40, 20, [a, b], status="done")
    return aset.to_dict()


def _face_edit(field, index, value):
    def edit(doc):
        doc["images"]["group.png"]["faces"][1][field][index] = value
    return edit


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_face_edit("box", 0, HUGE), "face 2 box needs finite numbers within ±16777216"),
        (_face_edit("box", 2, float("inf")), "face 2 box needs finite numbers"),
        (_face_edit("box", 1, -1e9), "face 2 box needs finite numbers"),
        (_face_edit("box", 0, 5000.0), "face 2 box corner (5000, 1.5) lies more than one image size outside"),
        (_face_edit("points", 2, [HUGE, 3]), "face 2 points[2] is not finite or beyond ±16777216"),
        (_face_edit("points", 0, [float("nan"), 3]), "face 2 points[0] is not finite"),
        (_face_edit("points", 0, [-900.0, 3]), "face 2 points[0] (-900, 3) lies more than one image size"),
        (lambda d: d["images"]["group.png"].update(width=HUGE), "width and height must be positive"),
        (lambda d: d["images"]["group.png"].update(seconds=HUGE), "seconds must be a non-negative number"),
    ],
)
def test_hostile_numbers_in_a_version_2_file_are_one_line_naming_it(tmp_path, edit, fragment):
    from s2ld_core.data.formats import FormatError, read_annotations

    doc = _v2_doc()
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError) as info:
        read_annotations(path)
    text = str(info.value)
    assert text.startswith(f"{path}: image 'group.png': ") and fragment in text
    assert "\n" not in text and len(text) < len(str(path)) + 300


def _coco(bbox, keypoints=None):
    kp = keypoints or [v for x, y in ([3, 4], [9, 4], [6, 7], [4, 10], [8, 10]) for v in (x, y, 2)]
    return {"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 20}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "keypoints": kp, "bbox": bbox}],
            "categories": [{"id": 1, "name": "face", "keypoints": list("abcde")}]}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (_coco([HUGE, 1, 10, 10]), "annotation id 7: bbox [1000"),
        (_coco([1, 1, float("inf"), 10]), "is not finite or beyond ±16777216"),
        (_coco([1, 1, 10, -3]), "needs a positive width and height"),
        (_coco([900, 1, 10, 10]), "annotation id 7: bbox corner (899.5, 0.5) lies more than one image size"),
        (_coco([1, 1, 10, 10], [HUGE] + [1] * 14), "keypoints must be finite numbers within ±16777216"),
        (_coco("everywhere"), "bbox must be [x, y, w, h] (four numbers)"),
    ],
)
def test_hostile_coco_boxes_and_keypoints_are_one_line_naming_the_upload(tmp_path, folder, doc, fragment):
    from annotator.imports import read_import
    from s2ld_core.data.formats import FormatError, read_coco_keypoints

    path = tmp_path / "upload_1a2b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="annotation id 7") as info:
        read_coco_keypoints(path, "five")
    assert fragment in str(info.value) and "\n" not in str(info.value)
    store = AnnotationStore.open(folder, "five", "ann")
    with pytest.raises(ValueError) as info:  # the import names the file as the person chose it
        read_import([path], store.keys, store.size, store.schema, names=["theirs.json"])
    text = str(info.value)
    assert text.startswith("theirs.json: ") and fragment in text and "upload_1a2b" not in text


def test_imports_leave_out_boxes_the_store_could_not_keep(tmp_path, folder):
    from annotator.imports import read_import

    store = AnnotationStore.open(folder, "five", "ann")
    five = [(3, 4), (9, 4), (6, 7), (4, 10), (8, 10)]
    parts = "".join(f"<part name='{i:02d}' x='{x}' y='{y}'/>" for i, (x, y) in enumerate(five))
    xml = tmp_path / "faces.xml"
    boxes = {"a.png": "top='1' left='1' width='18' height='1e-300'",  # thinner than a pixel
             "b.png": "top='1' left='1' width='18' height='18'"}
    images = "".join(f"<image file='{k}'><box {b}>{parts}</box></image>" for k, b in boxes.items())
    xml.write_text(f"<dataset><images>{images}</images></dataset>")
    result = read_import([xml], store.keys, store.size, store.schema)
    assert list(result.faces) == ["b.png"]
    assert any(n.startswith("a.png: its box") and "covers less than a pixel" in n for n in result.notes)
    assert store.preplace(result.faces) == 1  # and what was kept is written without a complaint
    pts = tmp_path / "a.pts"
    pts.write_text("version: 1\nn_points: 5\n{\n" + "1e400 2\n" * 5 + "}\n")
    with pytest.raises(ValueError, match=r"^a\.pts:\d+: .*'1e400' is not a finite number"):
        read_import([pts], store.keys, store.size, store.schema)


@pytest.mark.parametrize(
    ("op", "fragment"),
    [
        ({"op": "place", "index": 0, "x": HUGE, "y": 3}, "x must be a number"),
        ({"op": "place", "index": 0, "x": 1e308, "y": 3}, "x must be finite and within ±16777216"),
        ({"op": "place", "index": float("nan"), "x": 1, "y": 3}, "point must be a whole number, got nan"),
        ({"op": "add_face", "box": [HUGE, 0, 5, 5]}, "box must be a number"),
        ({"op": "add_face", "box": [0, 0, float("inf"), 5]}, "box must be finite"),
        ({"op": "face", "face": HUGE}, "face must be a whole number"),
        ('{"op": "place", "x": ' + "9" * 5000 + "}", "edit: not JSON this editor takes"),
        ("[" * 100000, "edit: not JSON"),
    ],
)
def test_canvas_edits_with_hostile_numbers_are_a_message(folder, op, fragment):
    from annotator.actions import apply_op

    cfg = AppConfig(point_set("five"), folder=folder, annotator="ann", root=folder)
    st = _act(cfg, TabState(), "open", str(folder), "ann", "five", "file")
    if isinstance(op, dict):
        op = {"key": st.key, **op}
    st = apply_op(cfg, st, op)
    assert st.message.startswith("⚠️ ") and fragment in st.message, st.message
    assert "\n" not in st.message and len(st.message) < 200
