"""Real faces in training: the real-faces reader, its split, the labelled-set mix, the real check sets,
and dlib's 68-point predictor as HR teacher and baseline (skipped where dlib or its file is absent)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2ld_core.data.datasets import LabelledFaces, load_300w_check, load_300w_folder, mix_real_hr
from s2ld_core.data.external import pascal_xml_files
from s2ld_core.data.formats.pts import write_pts
from s2ld_core.data.real_faces import (
    RealFacesSource,
    faces_of,
    parse_real_faces_spec,
    read_boxes,
    split_of,
)
from s2ld_core.data.sources import resolve_lr_source
from s2ld_core.faces import FRAMINGS, FaceBox

ROOT = Path(__file__).resolve().parents[1]


def _teacher_available() -> bool:
    try:
        from s2ld_core.inference.dlib68 import predictor_path

        predictor_path()
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


needs_teacher = pytest.mark.skipif(not _teacher_available(), reason="dlib's 68-point predictor not installed")
needs_pascal = pytest.mark.skipif(not pascal_xml_files(), reason="no pascal-faces-68 here")


def _folder(tmp_path: Path, entries: list) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "boxes.json").write_text(json.dumps(entries))
    return tmp_path


def _photo_with_square(tmp_path: Path, name: str, box: tuple[int, int, int, int], size=(120, 160)) -> None:
    (tmp_path / "images").mkdir(exist_ok=True)
    img = np.zeros((*size, 3), np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = 255
    cv2.imwrite(str(tmp_path / "images" / name), img)


# ----------------------------------------------------------------------------- boxes.json and the split


@pytest.mark.parametrize(
    "entry, field",
    [
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": [{"box": [1, 2, 3]}]}, "'box'"),
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": [{"box": [1, 2, "x", 4]}]}, "box"),
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": [{"box": [1, 2, 1e300 * 10, 4]}]}, "box"),
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": [{"box": [1, 2, 1e7, 4]}]}, "out of range"),
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": [{"box": [50, 2, 3, 4]}]}, "outside"),
        ({"file": "../a.jpg", "width": 10, "height": 10, "faces": []}, "'file'"),
        ({"file": "a.jpg", "width": -1, "height": 10, "faces": []}, "image size"),
        ({"file": "a.jpg", "width": 10, "height": 10, "faces": 5}, "'faces'"),
        (7, "expected an object"),
    ],
)
def test_a_bad_boxes_json_entry_is_one_line_naming_file_and_field(tmp_path, entry, field):
    root = _folder(tmp_path, [entry])
    with pytest.raises(ValueError) as err:
        read_boxes(root)
    message = str(err.value)
    assert "boxes.json" in message and field in message and "\n" not in message


def test_a_folder_without_boxes_json_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no boxes.json"):
        read_boxes(tmp_path)


def test_split_is_by_photo_name_hash():
    for name in ("a.jpg", "b.jpg", "crowd.jpg", "x__y.png"):
        first = hashlib.sha1(name.encode()).digest()[0]
        assert split_of(name) == ("val" if first < 51 else "train")
    names = [f"photo_{i}.jpg" for i in range(2000)]
    share = sum(split_of(n) == "val" for n in names) / len(names)
    assert 0.17 < share < 0.23  # one in five in expectation


def test_small_faces_are_cut_with_dlib_framing_and_split_by_photo(tmp_path):
    train = next(f"t{i}.png" for i in range(100) if split_of(f"t{i}.png") == "train")
    val = next(f"v{i}.png" for i in range(100) if split_of(f"v{i}.png") == "val")
    box = (60, 40, 20, 20)
    for name in (train, val):
        _photo_with_square(tmp_path, name, box)
    face = {"box": list(box), "score": 1.0}
    big = {"box": [0, 0, 100, 100], "score": 1.0}  # too large for the LR domain
    root = _folder(tmp_path, [{"file": n, "width": 160, "height": 120, "faces": [face, big]}
                              for n in (train, val)])
    src = RealFacesSource(root, "train", size=32)
    assert len(src) == 1 and src.names == [Path(train).stem + "__f0"] and src.photos == [train]
    crop = src[0]
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    # the white box fills 1 / 1.36 of the crop's side, shifted up by dy (dlib framing)
    side = FRAMINGS["dlib"].scale * 20
    white = (crop[..., 0] > 127).sum(axis=1)
    assert abs(white.max() - 32 * 20 / side) <= 1.5
    assert len(RealFacesSource(root, "val")) == 1 and len(faces_of(root, "all", max_px=32)) == 2
    assert resolve_lr_source(f"{root}:val").names == [Path(val).stem + "__f0"]
    assert parse_real_faces_spec(str(root)) == (root, "train")


def test_no_small_faces_in_a_split_is_a_clear_error(tmp_path):
    root = _folder(tmp_path, [])
    with pytest.raises(ValueError, match="no faces of 0-32 px"):
        RealFacesSource(root, "train")


# ----------------------------------------------------------------------------- mixing and real check sets


def _faces(n: int, value: int, k: int = 68) -> LabelledFaces:
    return LabelledFaces(np.full((n, 8, 8, 3), value, np.uint8), np.full((n, k, 2), value, np.float32),
                         np.ones((n, k), bool), np.arange(n), "ibug68")


def test_real_faces_make_up_the_share_by_tiling():
    rendered, real = _faces(6, 1), _faces(2, 9)
    mixed = mix_real_hr(rendered, real, 0.25)  # 6 · 0.25 / 0.75 = 2 real faces
    assert len(mixed) == 8 and (mixed.images[:6] == 1).all() and (mixed.images[6:] == 9).all()
    assert list(mixed.identity[6:]) == [-1, -1]
    half = mix_real_hr(rendered, real, 0.5)  # 6 real: each of the two three times
    assert len(half) == 12 and (half.images[6:] == 9).all()
    assert mix_real_hr(rendered, real, 0.0) is rendered
    with pytest.raises(ValueError, match="real_hr_share"):
        mix_real_hr(rendered, real, 1.0)


def test_a_300w_check_set_maps_points_with_the_crop(tmp_path):
    img = np.zeros((200, 200, 3), np.uint8)
    pts = np.stack([np.linspace(50, 150, 68), np.linspace(60, 140, 68)], 1).astype(np.float32)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    write_pts(tmp_path / "a.pts", pts)
    check = load_300w_check(tmp_path, size=32)
    assert check.images.shape == (1, 32, 32, 3)
    p = check.points[0]
    # the landmark box spans 0.68 of the crop (crop_face), so 68 % of 32 px
    assert abs((p.max(0) - p.min(0)).max() - 0.68 * 32) < 0.3
    hr = load_300w_folder(tmp_path, 128)
    assert np.allclose(hr.points[0] * 32 / 128 + (32 / 128 - 1) / 2, p, atol=0.2)


# ----------------------------------------------------------------------------- dlib's 68-point predictor


def test_the_baseline_box_is_the_inverse_of_dlib_framing():
    from s2ld_core.inference.dlib68 import Dlib68Baseline

    side = 128.0
    cx, cy, crop_side = FRAMINGS["dlib"].crop(Dlib68Baseline.box_in_crop(side))
    assert (cx, cy) == pytest.approx((side / 2, side / 2)) and crop_side == pytest.approx(side)


def test_the_teacher_mirrors_the_box_and_maps_mirrored_points_back():
    from s2ld_core.inference.dlib68 import teacher_points
    from s2ld_core.schemas import get_schema

    perm = np.array(get_schema("ibug68").flip_permutation)
    template = np.random.default_rng(0).uniform(0, 1, (68, 2)).astype(np.float32)
    boxes = []

    def model(image, box):
        """A mirror-symmetric face: the template in the box (its edges at pixel x − ½ and x + w − ½),
        seen mirrored and permuted in the mirror image (the second call)."""
        boxes.append(box)
        t = template.copy()
        if len(boxes) == 2:
            t = t[perm]
            t[:, 0] = 1 - t[:, 0]
        return np.stack([box.x - 0.5 + t[:, 0] * box.w, box.y - 0.5 + t[:, 1] * box.h], 1)

    points, disagreement = teacher_points(model, np.zeros((50, 100, 3), np.uint8), (10, 5, 30, 30))
    assert boxes[1] == FaceBox(100 - 10 - 30, 5, 30, 30)
    assert disagreement == pytest.approx(0.0, abs=1e-5)
    assert np.allclose(points, np.stack([9.5 + template[:, 0] * 30, 4.5 + template[:, 1] * 30], 1), atol=1e-4)


@needs_teacher
@needs_pascal
def test_the_teacher_and_the_baseline_find_the_pascal_points():
    from s2ld_core.data.datasets import load_imglab_faces
    from s2ld_core.evaluation import evaluate_detector
    from s2ld_core.inference.dlib68 import Dlib68Baseline

    faces = load_imglab_faces(pascal_xml_files(), size=32).subset(slice(0, 10))
    nme = evaluate_detector(Dlib68Baseline(), faces, normalizer="box").summary["nme"]
    assert nme < 0.06  # the mean shape scores ~11.5 % here


@needs_teacher
@needs_pascal
def test_pseudo_labels_written_in_300w_layout_match_the_pascal_labels(tmp_path):
    from s2ld_core.data.formats import read_imglab_xml

    spec = importlib.util.spec_from_file_location("pseudo_label", ROOT / "scripts" / "pseudo_label.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    xml = pascal_xml_files()[0]
    face = read_imglab_xml(xml)[0]
    photo = face.image_path(xml)
    img = cv2.imread(str(photo))
    root = tmp_path / "real"
    (root / "images").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / photo.name), img)
    x, y, w, h = face.box
    _folder(root, [{"file": photo.name, "width": img.shape[1], "height": img.shape[0],
                    "faces": [{"box": [x, y, w, h], "score": 1.0}]}])
    summary = script.pseudo_label(root, tmp_path / "out", min_px=0, progress=False)
    assert summary["faces_considered"] == 1 and sum(summary["kept"].values()) == 1
    from s2ld_core.data.formats.pts import read_pts

    written = read_pts(next((tmp_path / "out" / split_of(photo.name)).glob("*.pts")))
    # the crop is native resolution, so the labels differ from dlib's XML by a shift alone
    truth = face.points
    side = float(np.sqrt(np.prod(np.ptp(truth, 0))))
    error = np.linalg.norm((written - written.mean(0)) - (truth - truth.mean(0)), axis=1).mean() / side
    assert error < 0.05
