"""Inputs are read-only and small files stay small: the reproductions of issue 30 as tests.

Each command runs in-process; every input's bytes are hashed before and after.
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from benchmarks.fuzz_inputs import annotation_doc, png_claiming
from s2ld_core.cli import main
from s2ld_core.data.sources import export_lfw_pngs


def _hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(capsys, argv) -> str:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, (argv, captured.out, err)
    assert err.startswith("s2ld: error: ") and "\n" not in err and "Traceback" not in err, err
    return err[len("s2ld: error: "):]



@pytest.fixture
def faces(tmp_path):
    paths = export_lfw_pngs(tmp_path / "lfw")
    folder = tmp_path / "ov"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(paths[1].read_bytes())
    (folder / "sub" / "a.png").write_bytes(paths[2].read_bytes())
    cv2.imwrite(str(folder / "a.jpg"), cv2.imread(str(paths[3])))
    return folder


def test_overlay_on_the_input_folder_is_refused_and_nothing_changes(faces, tmp_path, capsys):
    before = _hashes(faces)
    err = _error(capsys, ["predict", faces, "--out", tmp_path / "ov.json", "--overlay", faces])
    assert err == (f"--overlay {faces}: this folder holds input images ({faces / 'a.jpg'}); overlays are "
                   "never written among the inputs, choose another folder")
    err = _error(capsys, ["predict", faces / "a.png", "--out", tmp_path / "o.json", "--overlay", tmp_path])
    assert "holds input images" in err
    assert _hashes(faces) == before and not (tmp_path / "ov.json").exists()


def test_overlays_keep_the_relative_path_so_nothing_collides(faces, tmp_path, capsys):
    before = _hashes(faces)
    assert main(["predict", str(faces), "--out", str(tmp_path / "p.json"), "--overlay", str(tmp_path / "o"),
                 "--faces", "whole"]) == 0
    written = sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*.png"))
    assert written == ["a.jpg.png", "a.png", "overlay_sheet.png", "sub/a.png"]
    assert len(json.loads((tmp_path / "p.json").read_text())["predictions"]) == 3
    assert _hashes(faces) == before


def test_outputs_that_would_overwrite_an_input_are_refused(faces, tmp_path, capsys):
    before = _hashes(faces)
    image = faces / "a.png"
    assert _error(capsys, ["predict", image, "--out", image]).startswith(f"--out {image}: is an input")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("a.png\n1\n2 2 20 20 0 0 0 0 0 0\n")
    err = _error(capsys, ["predict", image, "--out", tmp_path / "p.json", "--faces", boxes, "--csv", boxes])
    assert err.startswith(f"--csv {boxes}: is an input ({boxes})")
    assert _hashes(faces) == before and boxes.read_text().startswith("a.png")


def test_predict_writes_json_to_standard_output(faces, capsys):
    assert main(["predict", str(faces / "a.png"), "--out", "-"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["schema"] == "ibug68" and len(doc["predictions"]) == 1
    assert "written to standard output" in captured.err


def test_no_command_creates_folders_above_its_output(tmp_path, capsys):
    deep = tmp_path / "nonexistent" / "dir" / "x.png"
    err = _error(capsys, ["data", "preview", "--out", deep])
    assert err == (f"{deep}: cannot write here: folder {tmp_path / 'nonexistent'} does not exist (s2ld "
                   "creates the output's own folder, not the folders above it)")
    assert not (tmp_path / "nonexistent").exists()
    err = _error(capsys, ["evaluate", "--out", tmp_path / "a" / "b"])
    assert "folder" in err and not (tmp_path / "a").exists()


@pytest.mark.parametrize(("w", "h"), [(20000, 20000), (60000, 60000)])
def test_a_small_file_claiming_a_huge_image_is_one_line_in_predict_and_evaluate(tmp_path, capsys, w, h):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(w, h))
    for faces in ("auto", "whole"):
        err = _error(capsys, ["predict", bomb, "--out", tmp_path / "p.json", "--faces", faces])
        assert err.startswith(f"{bomb}: {w}x{h} px (") and "limit" in err
    ann = tmp_path / "annotations" / "a.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(annotation_doc("bomb.png", "ibug68", [[10.0, 10.0]] * 68)))
    err = _error(capsys, ["evaluate", "--annotations", ann])
    assert err.startswith(f"{bomb}: is {w}x{h} px but {ann} says 25x25")
    parts = "".join(f"<part name='{i:02d}' x='{5 + i % 10}' y='{5 + i // 10}'/>" for i in range(68))
    xml = tmp_path / "f.xml"
    xml.write_text(f"<dataset><images><image file='bomb.png'><box top='1' left='1' width='9' height='9'>"
                   f"{parts}</box></image></images></dataset>")
    assert _error(capsys, ["evaluate", "--imglab", xml]).startswith(f"{bomb}: {w}x{h} px")


def test_an_image_of_another_size_than_its_annotation_says_is_refused(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((30, 30, 3), np.uint8))
    doc = annotation_doc("f.png", "ibug68", [[10.0, 10.0]] * 68)
    entry = doc["images"]["f.png"]
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps(doc))
    assert _error(capsys, ["evaluate", "--annotations", ann]) == (
        f"{tmp_path / 'f.png'}: is 30x30 px but {ann} says 25x25; its points would not match this image")
    entry["points"][0] = [1e308, 4.0]
    ann.write_text(json.dumps(doc))
    err = _error(capsys, ["evaluate", "--annotations", ann])
    assert err == f"{ann}: image 'f.png': points[0] is not finite or beyond ±16777216: [1e+308, 4.0]"
    entry["points"][0] = [-30.0, 4.0]
    ann.write_text(json.dumps(doc))
    err = _error(capsys, ["evaluate", "--annotations", ann])
    assert err.startswith(f"{ann}: image 'f.png': points[0] (-30, 4) lies more than one image size outside")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("part.xml", "<part name='300000000' x='1' y='1'/>", "part name '300000000' is beyond"),
        ("far.xml", "<part name='00' x='-20000' y='5'/>", "(-20000, 5) lies more than one image size"),
        ("huge.xml", "<part name='00' x='1e300' y='5'/>", "'x': '1e300' is beyond ±16777216"),
    ],
)
def test_imglab_coordinates_and_part_numbers_are_bounded(tmp_path, capsys, name, content, fragment):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((25, 25, 3), np.uint8))
    parts = "".join(f"<part name='{i:02d}' x='{5 + i % 10}' y='{5 + i // 10}'/>" for i in range(1, 68))
    if "300000000" in content:
        parts = "<part name='00' x='5' y='5'/>" + parts
    xml = tmp_path / name
    xml.write_text(f"<dataset><images><image file='f.png'><box top='1' left='1' width='9' height='9'>"
                   f"{content}{parts}</box></image></images></dataset>")
    err = _error(capsys, ["evaluate", "--imglab", xml])
    assert err.startswith(f"{xml}: ") and fragment in err


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"images": [{"id": 1}], "annotations": []}, "images[0]: file_name must be a non-empty string"),
        ({"images": [{"file_name": "f.png"}], "annotations": []}, "images[0]: id must be a number or string"),
        ({"images": [{"id": 1, "file_name": "f.png"}], "annotations": [{"image_id": 1, "bbox": None}]},
         "annotations[0]: bbox must be [x, y, w, h] (four numbers), got null"),
        ({"images": [{"id": [1], "file_name": "f.png"}], "annotations": []}, "id must be a number or string"),
        ({"images": [1, 2], "annotations": []}, "images[0] must be an object"),
        ({"images": [], "annotations": 5}, "a COCO file needs a list 'annotations'"),
        ({"images": [{"id": 1, "file_name": "f.png"}],
          "annotations": [{"image_id": 1, "bbox": [1, 1, 1e300, 2]}]}, "is not finite or beyond ±16777216"),
        ({"images": [{"id": 1, "file_name": "f.png"}],
          "annotations": [{"image_id": 7, "bbox": [1, 1, 2, 2]}]}, "image_id 7 names no listed image"),
    ],
)
def test_malformed_coco_box_files_are_one_line(tmp_path, capsys, doc, fragment):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((25, 25, 3), np.uint8))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps(doc))
    err = _error(capsys, ["predict", tmp_path / "f.png", "--out", tmp_path / "p.json", "--faces", boxes])
    assert err.startswith(f"{boxes}: ") and fragment in err


def test_deep_and_infinite_coco_files(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((25, 25, 3), np.uint8))
    deep = tmp_path / "deep.json"
    deep.write_text('{"images": ' + "[" * 100000 + "]" * 100000 + "}")
    args = ["predict", tmp_path / "f.png", "--out", tmp_path / "p.json", "--faces"]
    assert "nested too deeply" in _error(capsys, [*args, deep])
    inf = tmp_path / "inf.json"
    inf.write_text('{"images": [{"id": 1, "file_name": "f.png"}], '
                   '"annotations": [{"image_id": 1, "bbox": [1, 1, Infinity, 2]}]}')
    assert "bbox [1, 1, Infinity, 2] is not finite" in _error(capsys, [*args, inf])


@pytest.mark.parametrize("box", ["1 1 10000000 10000000", "1 1 1e300 20"])
def test_huge_wider_boxes_are_refused_before_any_crop(tmp_path, capsys, box):
    cv2.imwrite(str(tmp_path / "f.png"), np.zeros((25, 25, 3), np.uint8))
    gt = tmp_path / "gt.txt"
    gt.write_text(f"f.png\n1\n{box} 0 0 0 0 0 0\n")
    err = _error(capsys, ["predict", tmp_path / "f.png", "--out", tmp_path / "p.json", "--faces", gt])
    assert "lies more than one photo size outside the 25x25 photo" in err or "is beyond ±16777216" in err
