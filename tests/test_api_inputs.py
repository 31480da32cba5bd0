"""The Python API's input contract, as property tests: every kind of image input gives the uint8
image's points or one clear ``ValueError``, on random faces; boxes likewise.

The table of input kinds (and what each must give) lives in ``benchmarks/fuzz_inputs.py`` so that the
benchmark, ``docs/robustness.md`` and these tests show the same thing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from benchmarks import fuzz_inputs
from s2ld_core.data.images import image_from, images_from
from s2ld_core.data.sources import lfw_faces
from s2ld_core.inference import LandmarkDetector, LargeInputWarning
from s2ld_core.photo import PhotoLandmarker, PhotoResult


@pytest.fixture(scope="module")
def detector():
    det = LandmarkDetector.pretrained()
    fuzz_inputs._State.detector = det
    fuzz_inputs._State.landmarker = PhotoLandmarker(det)
    return det


def test_every_input_kind_does_what_the_table_says(detector, tmp_path):
    rows = fuzz_inputs.api_table(tmp_path)
    print("\n" + fuzz_inputs.api_markdown(rows))
    assert [r["input"] for r in rows if not r["ok"]] == []
    assert len(rows) >= 40


@pytest.mark.parametrize("seed", range(6))
def test_random_faces_in_every_dtype_and_layout_give_the_uint8_points(detector, seed):
    rng = np.random.default_rng(seed)
    face = lfw_faces()[int(rng.integers(100))]
    if seed % 2:  # colour, and an odd size
        face = np.ascontiguousarray(np.stack([face[..., 0], np.roll(face[..., 1], 2, 0), face[..., 2]], -1))
        face = face[: 20 + seed, : 23]
    ref, _ = detector.predict(face)
    t = torch.from_numpy(face)
    same = [
        face.astype(np.uint16), face.astype(np.uint16) * 257, face.astype(np.int32), face.astype(np.int64),
        face.astype(np.float32) / 255, face.astype(np.float64), face / 255.0,
        np.ascontiguousarray(face.transpose(2, 0, 1)), t, t.permute(2, 0, 1),
        t.permute(2, 0, 1).float() / 255, t.double(), np.dstack([face, np.zeros(face.shape[:2], np.uint8)]),
    ]
    for i, x in enumerate(same):
        pts, _ = detector.predict(x)
        np.testing.assert_allclose(pts, ref, atol=1e-5, err_msg=f"input {i}: {type(x).__name__} {x.dtype}")
    batch, _ = detector.predict([face, t.permute(2, 0, 1), face.astype(np.float32)])
    np.testing.assert_allclose(batch, np.repeat(ref, 3, axis=0), atol=1e-5)
    nchw, _ = detector.predict(t.permute(2, 0, 1)[None].repeat(2, 1, 1, 1))
    np.testing.assert_allclose(nchw, np.repeat(ref, 2, axis=0), atol=1e-5)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty image"),
        (np.full((8, 8, 3), np.inf, np.float32), "NaN or infinite"),
        (np.full((8, 8, 3), -0.5, np.float32), "float values down to -0.5"),
        (np.full((8, 8, 3), 1000.0), "float values up to 1000"),
        (np.full((8, 8, 3), 70000, np.int64), "int64 values run 70000..70000"),
        (np.ones((8, 8, 3), bool), "a boolean array is a mask"),
        (np.zeros((7, 8, 8)), "shape (7, 8, 8) is neither"),
        ("no/such/file.png", "no/such/file.png: no such file"),
        ({"a": 1}, "a dict is not an image"),
    ],
)
def test_bad_inputs_are_one_value_error(detector, value, fragment):
    with pytest.raises(ValueError) as info:
        detector.predict(value)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_channels_first_and_batches_are_told_apart():
    face = lfw_faces()[0]
    t = torch.from_numpy(face)
    assert image_from(t.permute(2, 0, 1)).shape == (25, 25, 3)  # (3, 25, 25): one image, not three
    assert image_from(t).shape == (25, 25, 3)  # (25, 25, 3): one image, not twenty-five
    assert len(images_from(t.permute(2, 0, 1))) == 1
    assert len(images_from(torch.stack([t.permute(2, 0, 1)] * 4))) == 4
    assert len(images_from(np.stack([face] * 4))) == 4
    ambiguous = torch.zeros(3, 8, 3, dtype=torch.uint8)  # both ends could be channels: torch means CHW
    assert image_from(ambiguous).shape == (8, 3, 3)
    assert image_from(ambiguous.numpy()).shape == (3, 8, 3)  # NumPy means HWC


def test_a_whole_photo_warns_and_points_to_photolandmarker(detector):
    photo = np.zeros((480, 640, 3), np.uint8)
    with pytest.warns(LargeInputWarning, match=r"image 0 is 640x480 px.*PhotoLandmarker"):
        detector.predict(photo)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeInputWarning)
        detector.predict(np.zeros((256, 256, 3), np.uint8))  # 8x the input: a big face crop, no warning
        PhotoLandmarker(detector, finder=None)(photo, faces="whole")  # asked for: no warning


def test_reprs_are_short_and_say_what_matters(detector):
    text = repr(detector)
    assert text.startswith("LandmarkDetector('S²LD") and "schema=ibug68" in text and "input=32 px" in text
    assert "backend=torch (cpu)" in text and "decoding=pdm" in text and "detector.pt" in text
    assert detector.predict.__doc__ and "PhotoLandmarker" in detector.predict.__doc__
    faces = [(10 + 30 * i, 10, 24, 24) for i in range(6)]
    res = PhotoLandmarker(detector, finder=None)(np.zeros((60, 200, 3), np.uint8), faces=faces)
    assert isinstance(res, PhotoResult)
    short = repr(res)
    assert len(short) < 200 and "200x60" in short and "6 face(s)" in short and "… 3 more" in short
    one = repr(res.faces[0])
    assert one.startswith("Face(box=[10.0, 10.0, 24.0, 24.0]") and "68 points" in one


def test_device_errors_say_what_is_wrong(monkeypatch):
    from s2ld_core.inference import torch_device

    assert torch_device("cpu") == torch.device("cpu")
    assert torch_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device='gpu': not a device torch knows"):
        LandmarkDetector.pretrained(device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda': CUDA is not available here") as info:
        LandmarkDetector.pretrained(device="cuda")
    assert "checkpoint" not in str(info.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device='cuda:3': this machine has 1 CUDA device\(s\), cuda:0 to"):
        torch_device("cuda:3")


def test_pretrained_names_the_schemas_and_never_a_flag_that_does_not_exist(tmp_path):
    with pytest.raises(ValueError) as info:
        LandmarkDetector.pretrained("wflw")
    text = str(info.value)
    assert "unknown landmark schema" in text and "aflw19, five, ibug68" in text and "--schema" not in text
    with pytest.raises(ValueError, match="no shipped aflw19 weights.*--schema aflw19"):
        LandmarkDetector.pretrained("aflw19", weights_dir=tmp_path)


def test_boxes_far_outside_or_huge_never_allocate_a_huge_crop(detector):
    from s2ld_core.data.images import MAX_CROP_SIDE

    photo = np.zeros((1, 3000, 3), np.uint8)  # a one-row "photo": the widest box allowed is 9000 px
    lm = PhotoLandmarker(detector, finder=None)
    seen = []
    real = detector.predict

    def spy(crops, *a, **k):
        seen.extend(c.shape for c in crops)
        return real(crops, *a, **k)

    detector.predict = spy
    try:
        res = lm(photo, faces=[(-3000, 0, 9000, 2)])
    finally:
        del detector.predict
    assert max(max(s[:2]) for s in seen) <= MAX_CROP_SIDE
    assert np.isfinite(res.faces[0].points).all()
    x0, y0, side = res.faces[0].crop
    assert side == pytest.approx(9000 * 1.39, rel=0.01)  # the crop it stands for, in photo pixels
