"""Face finders: the small-face network's geometry by hand, scale consistency (a photo's boxes shrink
with the photo, so its crops are the same), dlib's up-sampling rule, matching, and each finder's
one-line message when it cannot run."""

from __future__ import annotations

import math
import sys

import cv2
import numpy as np
import pytest
import torch

from s2ld_core import faces as F
from s2ld_core.faces import FaceBox, FinderUnavailable, make_face_finder, match_boxes
from s2ld_core.small_faces import REF_SIDE, SmallFaceNet, decode, find_small_faces, pyramid_scales

ASTRONAUT_FACE = FaceBox(175, 70, 95, 95)


def _astronaut():
    from skimage.data import astronaut

    return astronaut()


def test_decode_places_a_peak_by_hand():
    out = np.full((4, 8, 10), -9.0, np.float32)  # logits: nothing anywhere …
    out[0, 3, 5] = 3.0  # … but cell (row 3, column 5): pixels 20-23 × 12-15, centre (22, 14)
    out[1, 3, 5], out[2, 3, 5] = 0.25, -0.5  # centre moved by (+1, -2) px (in cells of 4 px)
    out[3, 3, 5] = math.log(30 / REF_SIDE)  # a 30 px face
    ((cx, cy, side, score),) = decode(out, 0.5)
    assert (cx, cy) == pytest.approx((23.0, 12.0)) and side == pytest.approx(30.0)
    assert score == pytest.approx(1 / (1 + math.exp(-3.0)))
    # on a level of half the photo's size everything doubles (pixel-corner coordinates scale exactly)
    ((cx, cy, side, _),) = decode(out, 0.5, scale=0.5)
    assert (cx, cy, side) == pytest.approx((46.0, 24.0, 60.0))
    out[0, 3, 6] = 2.0  # a weaker neighbour is not a second peak
    assert len(decode(out, 0.5)) == 1


def test_octave_pyramid_reaches_the_largest_face():
    # a level is kept while its short side still holds a 40 px face with some context (30 px)
    assert pyramid_scales(480, 640) == [1.0, 0.5, 0.25, 0.125, 0.0625]
    assert pyramid_scales(20, 20) == [1.0]
    assert pyramid_scales(100, 100, top=2.0) == [2.0, 1.0, 0.5]


def test_network_output_is_stride_4():
    net = SmallFaceNet(8).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 48, 64)).shape == (1, 4, 12, 16)
    assert find_small_faces(net, np.zeros((48, 64, 3), np.uint8), threshold=0.99) == []


def test_dlib_upsampling_rule():
    img = np.zeros((100, 200, 3), np.uint8)
    assert F._dlib_scale(img, 2.0, None, None) == 2.0
    assert F._dlib_scale(img, 2.0, 16, None) == 5.0  # a 16 px face becomes dlib's 80 px window
    # capped at 0.08 MP: sqrt(80,000 / 20,000) = 2
    assert F._dlib_scale(img, 2.0, 16, 0.08) == pytest.approx(2.0)
    assert F._dlib_scale(img, 2.0, 200, None) == 1.0  # never below the photo's own size


def test_match_boxes_is_greedy_and_one_to_one():
    truth = [FaceBox(0, 0, 10, 10), FaceBox(20, 0, 10, 10)]
    found = [FaceBox(1, 0, 10, 10, 0.5), FaceBox(0, 0, 10, 10, 0.9), FaceBox(21, 1, 10, 10, 0.1)]
    assert match_boxes(found, truth) == [(1, 0), (2, 1)]  # the best-scored box takes the first face
    assert match_boxes([FaceBox(50, 50, 10, 10)], truth) == []


@pytest.mark.parametrize("name", ["s2ld", "s2ld+dlib", "dlib"])
def test_finders_find_the_astronaut_once(name):
    try:
        finder = make_face_finder(name)
    except FinderUnavailable as err:
        pytest.skip(str(err))
    boxes = finder.find(_astronaut())
    assert len(boxes) == 1 and boxes[0].iou(ASTRONAUT_FACE) > 0.5, boxes


@pytest.mark.parametrize("name", ["s2ld", "s2ld+dlib"])
def test_a_smaller_photo_gives_the_same_crop(name):
    """The astronaut at 95 px and shrunk to a 24 px face: the box (and so the crop) shrinks with it.
    One face agrees within 15 % of the crop side (dlib's boxes come in pyramid steps of 6/5, the
    network's size is an estimate); the medians over the PASCAL faces agree within 3 % at 16, 24,
    32 px and native (``bench_face_finders.py``)."""
    try:
        finder = make_face_finder(name)
    except FinderUnavailable as err:
        pytest.skip(str(err))
    big = _astronaut()
    s = 0.25
    small = cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA)
    (b,) = finder.find(big)
    (q,) = finder.find(small)
    grown = FaceBox(q.x / s, q.y / s, q.w / s, q.h / s)
    assert grown.iou(b) > 0.7, (b, grown)
    cb, cq = finder.framing.crop(b), finder.framing.crop(q)
    assert np.allclose(np.array(cq) / s, cb, atol=0.15 * cb[2]), (cb, cq)


def test_the_small_face_finder_sees_faces_that_dlib_at_x2_cannot():
    """A 20 px face: below what dlib's 80 px window sees at ×2, inside the network's range."""
    try:
        dlib_x2 = make_face_finder("dlib")
    except FinderUnavailable as err:
        pytest.skip(str(err))
    big = _astronaut()
    tiny = cv2.resize(big, (108, 108), interpolation=cv2.INTER_AREA)  # face ≈ 20 px
    canvas = np.full((240, 320, 3), 128, np.uint8)
    canvas[60:168, 100:208] = tiny
    assert dlib_x2.find(canvas) == []
    (box,) = make_face_finder("s2ld").find(canvas)
    truth = FaceBox(100 + 175 * 108 / 512, 60 + 70 * 108 / 512, 95 * 108 / 512, 95 * 108 / 512)
    assert box.iou(truth) > 0.4, box


def test_finders_that_cannot_run_say_why_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dlib", None)
    for name in ("dlib", "s2ld+dlib", "mmod"):
        with pytest.raises(FinderUnavailable, match=r"pip install 's2ld\[faces\]'"):
            make_face_finder(name)
    auto = make_face_finder("auto")
    assert auto.name == "s2ld" and "fallback" in auto.note  # the network needs only torch
    monkeypatch.setattr(F, "mmod_model_file", lambda: None)
    monkeypatch.delitem(sys.modules, "dlib")
    pytest.importorskip("dlib")
    with pytest.raises(FinderUnavailable, match="face-recognition-models"):
        make_face_finder("mmod")


def test_the_finder_weights_load_safely(tmp_path):
    from s2ld_core.small_faces import WEIGHTS, load_small_face_net

    net, meta = load_small_face_net(WEIGHTS)
    assert 0 < meta["proposal_threshold"] <= meta["alone_threshold"] < 1
    assert "scripts/train_face_finder.py" in meta["recipe"]
    torch.save({"kind": "something-else"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not an s2ld face finder file"):
        load_small_face_net(tmp_path / "x.pt")


def test_the_benchmark_shrinks_and_packs_photos_with_their_faces():
    from benchmarks.bench_face_finders import GAP, pack, scaled_photo

    img = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    pts = np.array([[60.0, 50.0], [80.0, 70.0]])
    faces = [(FaceBox(50, 40, 40, 40), pts), (FaceBox(150, 40, 40, 40), pts + 100)]
    small, moved = scaled_photo(img, faces, "20")  # median face 40 px → 20 px: half size
    assert small.shape == (100, 150, 3)
    assert moved[0][0] == FaceBox(25, 20, 20, 20) and np.allclose(moved[0][1], pts / 2)
    ((canvas, placed),) = pack([(small, moved)] * 3)  # three 150 px photos side by side on one canvas
    assert canvas.shape == (480, 640, 3) and len(placed) == 6
    x = 2 * (150 + GAP)
    assert placed[4][0] == FaceBox(25 + x, 20, 20, 20)
    assert np.array_equal(canvas[0:100, x : x + 150], small) and canvas[200, 600, 0] == 128
