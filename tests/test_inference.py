"""Inference maps points back to each input's pixels; the CLI's predict/evaluate round trip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from checkpoint_files import write_g2

from s2ld_core.cli import main
from s2ld_core.geometry import resize_points
from s2ld_core.heatmaps import encode_heatmaps
from s2ld_core.inference import LandmarkDetector, MeanShapeBaseline

KNOWN = np.array([[8.25, 10.5], [22.0, 10.75], [15.5, 17.0], [10.0, 24.0], [21.5, 23.5]], np.float32)


class FixedHeatmaps(torch.nn.Module):
    """Always answers the heatmaps of ``KNOWN`` at 32² — so the test sees only the mapping."""

    def forward(self, x):
        return encode_heatmaps(torch.from_numpy(KNOWN), 32, 1.0).expand(len(x), -1, -1, -1)


@pytest.mark.parametrize("w,h", [(32, 32), (64, 48), (17, 23), (128, 128)])
def test_points_come_back_in_each_images_own_pixels(w, h):
    det = LandmarkDetector(FixedHeatmaps(), "five", 32)
    pts, conf = det.predict([np.zeros((h, w, 3), np.uint8)])
    np.testing.assert_allclose(pts[0], resize_points(KNOWN, w / 32, h / 32), atol=1e-4)
    assert conf.shape == (1, 5) and np.all(conf > 0.75)  # peak sample of a σ=1 Gaussian ≤ ½ px away


def test_mixed_sizes_in_one_call_and_empty_input():
    det = LandmarkDetector(FixedHeatmaps(), "five", 32)
    pts, _ = det.predict([np.zeros((16, 16, 3), np.uint8), np.zeros((64, 64), np.uint8)])
    np.testing.assert_allclose(pts[0], resize_points(KNOWN, 0.5), atol=1e-4)
    np.testing.assert_allclose(pts[1], resize_points(KNOWN, 2.0), atol=1e-4)
    assert det.predict([])[0].shape == (0, 5, 2)


def _checkpoint(path, schema="five", k=5):
    return write_g2(path, schema, seed=None, sigma=1.0, mean_shape=KNOWN.tolist())


def test_checkpoint_round_trip_gives_the_same_heatmaps(tmp_path):
    net = _checkpoint(tmp_path / "g2.pt").eval()
    det = LandmarkDetector.from_checkpoint(tmp_path / "g2.pt")
    img = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = net(torch.from_numpy(img).permute(0, 3, 1, 2).float() / 127.5 - 1)
    torch.testing.assert_close(det.heatmaps(img), expected)
    assert det.schema.name == "five" and det.input_size == 32 and det.meta["setting"] == "S4"


def test_mean_shape_baseline_scales_to_the_image(tmp_path):
    _checkpoint(tmp_path / "g2.pt")
    base = MeanShapeBaseline.from_checkpoint(tmp_path / "g2.pt")
    pts, _ = base.predict([np.zeros((64, 64, 3), np.uint8)])
    np.testing.assert_allclose(pts[0], resize_points(KNOWN, 2.0), atol=1e-5)


def test_wrong_or_missing_checkpoint_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cv2.imwrite(str(tmp_path / "face.png"), np.zeros((24, 24, 3), np.uint8))  # inputs are checked first
    assert main(["predict", "--checkpoint", str(tmp_path / "junk.pt"), str(tmp_path), "--out", "x.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s2ld: error:") and "junk.pt" in err and "\n" not in err
    assert main(["predict", "--checkpoint", str(tmp_path / "none.pt"), str(tmp_path), "--out", "x.json"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_cli_predict_and_evaluate_round_trip(tmp_path, capsys):
    """Predict writes the documented JSON; annotating the predictions as ground truth scores NME 0."""
    from s2ld_core.data.formats import AnnotationSet, ImageAnnotation, write_annotations

    _checkpoint(tmp_path / "g2.pt")
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(1)
    for i, size in enumerate((20, 32, 48)):
        cv2.imwrite(str(faces / f"f{i}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(tmp_path / "g2.pt"),
                str(faces),
                "--out",
                str(tmp_path / "p.json"),
                "--overlay",
                str(tmp_path / "ov"),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["schema"] == "five" and "pixel centres" in doc["convention"]
    assert [p["width"] for p in doc["predictions"]] == [20, 32, 48]
    found = [p["faces"] for p in doc["predictions"]]  # crops ≤ 64 px: each image is one face
    assert all(len(f) == 1 and len(f[0]["points"]) == 5 and len(f[0]["confidence"]) == 5 for f in found)
    assert (tmp_path / "ov" / "overlay_sheet.png").exists()

    aset = AnnotationSet.new("five", "tester")
    for p in doc["predictions"]:
        name = p["file"].split("/")[-1]
        aset.images[name] = ImageAnnotation.from_arrays(
            p["width"], p["height"], np.array(p["faces"][0]["points"]), status="done"
        )
    write_annotations(faces / "annotations" / "tester.json", aset)
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(tmp_path / "g2.pt"),
                "--annotations",
                str(faces / "annotations" / "tester.json"),
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n"] == 3 and metrics["nme"] < 1e-3 and metrics["normalizer"] == "box"
    assert (tmp_path / "ev" / "ced.png").exists() and metrics["flip_test"] is False
    # the flip test reaches the detector: a random G2 is not mirror-symmetric, so the points move
    args = ["evaluate", "--checkpoint", str(tmp_path / "g2.pt"), "--annotations",
            str(faces / "annotations" / "tester.json"), "--out", str(tmp_path / "ev2"), "--flip-test"]
    assert main(args) == 0
    flipped = json.loads((tmp_path / "ev2" / "metrics.json").read_text())
    assert flipped["flip_test"] is True and flipped["nme"] > 1e-3
    assert "flip test" in capsys.readouterr().out


def test_cli_evaluates_on_imglab_faces_natively_and_through_a_camera(tmp_path, capsys):

    from s2ld_core.data.external import pascal_faces_dir

    pascal = pascal_faces_dir()
    if pascal is None:
        pytest.skip("pascal-faces-68 not found ($S2LD_PASCAL_FACES or ../shared/data)")
    ck = tmp_path / "m.pt"
    _checkpoint(ck, schema="ibug68", k=68)
    for extra in ([], ["--camera", "target-camera"]):
        out = tmp_path / f"eval{len(extra)}"
        args = ["evaluate", "--checkpoint", str(ck), "--imglab", str(pascal), "--out", str(out), *extra]
        assert main(args) == 0
        assert json.loads((out / "metrics.json").read_text())["n"] == 43
    printed = capsys.readouterr().out
    assert "native resolution" in printed and "target-camera" in printed
    assert main(["evaluate", "--checkpoint", str(ck), "--imglab", str(tmp_path / "nope")]) == 2
    assert "nope: no such file or folder" in capsys.readouterr().err


def test_shape_model_decoding_is_selectable_and_refused_without_a_model():
    det = LandmarkDetector(FixedHeatmaps(), "five", 32)
    assert det.decoding == "raw"
    with pytest.raises(ValueError, match="no shape model"):
        det.set_decoding("pdm")
    with pytest.raises(ValueError, match="unknown decoding"):
        det.set_decoding("magic")


def test_mirror_heatmaps_is_the_heatmaps_of_the_mirrored_points():
    from s2ld_core.heatmaps import mirror_heatmaps
    from s2ld_core.schemas import get_schema

    perm = get_schema("five").flip_permutation
    mirrored = KNOWN.copy()
    mirrored[:, 0] = 31 - mirrored[:, 0]
    hm = encode_heatmaps(torch.from_numpy(KNOWN), 32, 1.0)[None]
    expected = encode_heatmaps(torch.from_numpy(mirrored[list(perm)]), 32, 1.0)[None]
    torch.testing.assert_close(mirror_heatmaps(hm, perm), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(mirror_heatmaps(mirror_heatmaps(hm, perm), perm), hm)


def test_flip_test_makes_predictions_exactly_mirror_consistent(tmp_path):
    torch.manual_seed(0)
    ck = tmp_path / "m.pt"
    _checkpoint(ck)
    det = LandmarkDetector.from_checkpoint(ck)
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 40, 36, 3), dtype=np.uint8)
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    perm = list(det.schema.flip_permutation)

    def mirror_points(p):
        q = p[:, perm].copy()
        q[..., 0] = 36 - 1 - q[..., 0]
        return q

    plain, _ = det.predict(faces)
    assert np.abs(mirror_points(det.predict(mirrored)[0]) - plain).max() > 0.1  # random G2: not symmetric
    det.set_flip_test()
    tested, conf = det.predict(faces)
    np.testing.assert_allclose(mirror_points(det.predict(mirrored)[0]), tested, atol=1e-3)
    assert conf.shape == (3, 5)
    assert not det.set_flip_test(False).flip_test
