"""Photo in, landmarks out: the top-level API, shipped-weights loading, face finders and the mapping
from detector crops back to photo pixels."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from checkpoint_files import write_g2

from s2ld_core.faces import FRAMINGS, FaceBox, FinderUnavailable, make_face_finder
from s2ld_core.geometry import resize_points
from s2ld_core.heatmaps import encode_heatmaps
from s2ld_core.inference import LandmarkDetector
from s2ld_core.photo import PhotoLandmarker, crop_square

KNOWN = np.array([[8.25, 10.5], [22.0, 10.75], [15.5, 17.0], [10.0, 24.0], [21.5, 23.5]], np.float32)


class FixedHeatmaps(torch.nn.Module):
    """Always the heatmaps of ``KNOWN`` at 32²: the tests see only the geometry."""

    def forward(self, x):
        return encode_heatmaps(torch.from_numpy(KNOWN), 32, 1.0).expand(len(x), -1, -1, -1)


def fixed_detector() -> LandmarkDetector:
    return LandmarkDetector(FixedHeatmaps(), "five", 32)


def tiny_checkpoint(path, schema="ibug68", k=68):
    """A untrained quick-profile G2 in the format of stage 2's final checkpoint."""
    write_g2(path, schema, seed=None, sigma=1.0, mean_shape=np.zeros((k, 2), np.float32).tolist())


def test_import_s2ld_core_stays_light_and_exports_lazily():
    code = ("import sys, s2ld_core; assert 'torch' not in sys.modules; "
            "from s2ld_core import LandmarkDetector, PhotoLandmarker; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pretrained_loads_the_shipped_layout_and_says_how_to_make_it(tmp_path):
    tiny_checkpoint(tmp_path / "ibug68" / "detector.pt")
    det = LandmarkDetector.pretrained("ibug68", weights_dir=tmp_path)
    assert det.schema.name == "ibug68" and det.input_size == 32
    with pytest.raises(ValueError) as err:
        LandmarkDetector.pretrained("aflw19", weights_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "aflw19" / "detector.pt") in msg and "scripts/train_weights.py" in msg
    assert "\n" not in msg


def test_given_boxes_come_back_in_photo_pixels():
    photo = np.zeros((120, 200, 3), np.uint8)
    box = FaceBox(60, 30, 40, 40)
    res = PhotoLandmarker(fixed_detector(), finder=None)(photo, faces=[(60, 30, 40, 40)])
    (face,) = res.faces
    _, x0, y0 = crop_square(photo, *FRAMINGS["boxes"].crop(box))
    side = face.crop[2]
    expected = resize_points(KNOWN, side / 32) + np.array([x0, y0], np.float32)
    np.testing.assert_allclose(face.points, expected, atol=1e-3)
    assert face.box == box and face.score == 1.0 and 0.7 < face.landmark_score <= 1.0


def test_whole_mode_is_the_plain_detector_and_inputs_of_every_kind(tmp_path):
    from PIL import Image

    det = fixed_detector()
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    lm = PhotoLandmarker(det, finder=None)
    expected = det.predict([img])[0][0]
    for photo in (img, Image.fromarray(img), tmp_path / "a.png", str(tmp_path / "a.png")):
        res = lm(photo, faces="whole")
        np.testing.assert_allclose(res.faces[0].points, expected, atol=1e-4)
    batch = lm([img, img[:, :32]], faces="whole")
    assert [len(r) for r in batch] == [1, 1] and batch[1].to_dict()["width"] == 32
    assert lm(img).finder == "whole"  # auto on a ≤ 64 px image: already a face crop
    with pytest.raises(ValueError, match="no such file"):
        lm(tmp_path / "missing.png", faces="whole")


def test_boxes_per_photo_must_match_the_photos():
    lm = PhotoLandmarker(fixed_detector(), finder=None)
    photos = [np.zeros((100, 100, 3), np.uint8)] * 2
    res = lm(photos, faces=[[(10, 10, 30, 30)], [(5, 5, 20, 20), (50, 50, 30, 30)]])
    assert [len(r) for r in res] == [1, 2]
    with pytest.raises(ValueError, match="one list of boxes per photo"):
        lm(photos, faces=[[(10, 10, 30, 30)]])


def test_low_landmark_confidence_drops_the_face():
    lm = PhotoLandmarker(fixed_detector(), finder=None, min_landmark_score=1.01)
    res = lm(np.zeros((100, 100, 3), np.uint8), faces=[(10, 10, 30, 30)])
    assert res.faces == [] and "landmark score" in res.notes[0]


def test_results_render_inline_and_align():
    res = PhotoLandmarker(fixed_detector(), finder=None)(np.zeros((100, 140, 3), np.uint8),
                                                          faces=[(40, 20, 50, 50)])
    png = res._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.aligned(32).images.shape == (1, 32, 32, 3)


def test_finders_find_the_astronaut_and_not_her_suit():
    from skimage.data import astronaut

    truth = FaceBox(175, 70, 95, 95)
    finder = make_face_finder("auto")
    boxes = finder.find(astronaut())
    assert boxes and boxes[0].iou(truth) > 0.5
    if finder.name != "lbp":  # the cascade also fires on her suit
        assert len(boxes) == 1


def test_a_missing_optional_finder_is_one_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(FinderUnavailable, match=r"pip install 's2ld\[faces\]'"):
        make_face_finder("dlib")
    auto = make_face_finder("auto")
    assert auto.name == "s2ld" and "fallback" in auto.note  # the small-face network needs only torch
    with pytest.raises(ValueError, match="unknown face finder"):
        make_face_finder("yolo")


def test_photo_api_on_a_real_checkpoint(tmp_path):
    """End to end with an (untrained) ibug68 checkpoint: shapes, JSON-ready output."""
    from skimage.data import astronaut

    tiny_checkpoint(tmp_path / "ibug68" / "detector.pt")
    lm = PhotoLandmarker(LandmarkDetector.pretrained("ibug68", weights_dir=tmp_path))
    res = lm(astronaut())
    assert res.faces and res.faces[0].points.shape == (68, 2)
    d = res.to_dict()
    assert d["width"] == 512 and len(d["faces"][0]["points"]) == 68


def test_cli_predict_on_photos_with_boxes_csv_overlays_and_bad_files(tmp_path, capsys):
    import csv
    import json

    from skimage.data import astronaut

    from s2ld_core.cli import main

    tiny_checkpoint(tmp_path / "w" / "ibug68" / "S4.pt")
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "astronaut.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    (photos / "broken.jpg").write_bytes(b"not an image")
    args = ["predict", "--checkpoint", str(tmp_path / "w" / "ibug68" / "S4.pt"), str(photos),
            "--out", str(tmp_path / "p.json"), "--csv", str(tmp_path / "p.csv"),
            "--overlay", str(tmp_path / "ov")]
    assert main(args) == 2  # one file failed: reported at the end, the others still written
    err = capsys.readouterr().err
    assert "broken.jpg" in err and err.strip().splitlines()[-1].startswith("s2ld: error: 1 of 2")
    doc = json.loads((tmp_path / "p.json").read_text())
    (pred,) = doc["predictions"]
    assert doc["finder"] and pred["faces"] and len(pred["faces"][0]["points"]) == 68
    assert FaceBox(*pred["faces"][0]["box"]).iou(FaceBox(175, 70, 95, 95)) > 0.5
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0][:8] == ["file", "face", "x", "y", "w", "h", "score", "landmark_score"]
    assert len(rows[1]) == 8 + 136
    assert (tmp_path / "ov" / "overlay_sheet.png").is_file() and (tmp_path / "ov" / "astronaut.png").is_file()

    # boxes from a WIDER FACE file: exactly the listed faces, no finder
    (photos / "broken.jpg").unlink()
    wider = "astronaut.png\n2\n175 70 95 95 0 0 0 0 0 0\n10 10 40 40 0 0 0 0 0 0\n"
    (tmp_path / "boxes_bbx_gt.txt").write_text(wider)
    args[args.index("--csv") : args.index("--csv") + 2] = ["--faces", str(tmp_path / "boxes_bbx_gt.txt")]
    assert main(args) == 0
    doc = json.loads((tmp_path / "p.json").read_text())
    assert [f["box"] for f in doc["predictions"][0]["faces"]] == [[175, 70, 95, 95], [10, 10, 40, 40]]


def test_readme_photo_snippet_runs_as_written(tmp_path, monkeypatch):
    """The README's photo snippet, executed; without the shipped weights, on a tiny untrained model."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Photo in, landmarks out", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shipped = Path(__file__).resolve().parents[1] / "s2ld_core" / "weights" / "ibug68" / "detector.pt"
    if not shipped.is_file():
        tiny_checkpoint(tmp_path / "ibug68" / "detector.pt")
        real = LandmarkDetector.pretrained.__func__
        tiny = classmethod(lambda cls, schema="ibug68", **kw: real(cls, schema, weights_dir=tmp_path))
        monkeypatch.setattr(LandmarkDetector, "pretrained", tiny)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].faces and scope["crops"].shape[1:] == (32, 32, 3)
    assert len(scope["mine"].faces) == 1


@pytest.mark.slow
def test_quickstart_notebook_runs_with_tiny_inputs(tmp_path):
    """notebooks/00_quickstart.ipynb: committed clean, one parameters cell, runs under papermill."""
    from pathlib import Path

    import nbformat
    import papermill

    from s2ld_core.study.notebooks import problems

    path = Path(__file__).resolve().parents[1] / "notebooks" / "00_quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert problems(nb) == []
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    tiny_checkpoint(tmp_path / "ibug68" / "detector.pt")
    photo = tmp_path / "photo.png"
    from skimage.data import astronaut

    cv2.imwrite(str(photo), cv2.cvtColor(cv2.resize(astronaut(), (256, 256)), cv2.COLOR_RGB2BGR))
    papermill.execute_notebook(
        str(path), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={
            "photo": str(photo), "checkpoint": str(tmp_path / "ibug68" / "detector.pt"), "align_size": 32
        },
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    pngs = [o for c in out.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2  # the overlay (_repr_png_) and the aligned crops
