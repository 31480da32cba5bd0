"""Schemas and the coordinate convention: flips, conversions, resize mapping, by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s2ld_core.geometry import apply_affine, compose_affine, invert_affine, resize_points, to_rgb_uint8
from s2ld_core.schemas import SCHEMAS, convert_points, get_schema


@pytest.mark.parametrize("name,k", [("ibug68", 68), ("aflw19", 19), ("five", 5)])
def test_schema_sizes_and_involutive_flips(name, k):
    s = get_schema(name)
    assert s.num_points == k == len(s.flip_permutation)
    perm = np.array(s.flip_permutation)
    assert (perm[perm] == np.arange(k)).all()


def test_ibug_flip_pairs_by_hand():
    perm = get_schema("ibug68").flip_permutation
    assert perm[0] == 16 and perm[8] == 8 and perm[36] == 45 and perm[39] == 42
    assert perm[48] == 54 and perm[51] == 51 and perm[60] == 64 and perm[66] == 66 and perm[30] == 30


def test_flipping_a_symmetric_face_maps_it_onto_itself():
    """Mirror the 68->5 points of a face, reorder with the permutation: left eye stays image-left."""
    five = np.array([[10, 12], [22, 12], [16, 18], [12, 24], [20, 24]], np.float32)
    w = 33
    flipped = five.copy()
    flipped[:, 0] = w - 1 - flipped[:, 0]
    flipped = flipped[list(get_schema("five").flip_permutation)]
    np.testing.assert_allclose(flipped, five)


def test_conversion_68_to_5_and_19_by_hand():
    pts = np.zeros((68, 2), np.float32)
    pts[36:42] = [[0, 0], [1, 0], [2, 0], [3, 0], [2, 2], [1, 2]]  # mean (1.5, 0.667)
    pts[30] = [5, 6]
    pts[48], pts[54] = [1, 9], [8, 9]
    pts[51], pts[57] = [4, 8], [4, 10]
    five, vis = convert_points(pts, "ibug68", "five")
    np.testing.assert_allclose(five[0], [1.5, 4 / 6], atol=1e-6)
    np.testing.assert_allclose(five[2:], [[5, 6], [1, 9], [8, 9]])
    nineteen, _ = convert_points(pts, "ibug68", "aflw19")
    np.testing.assert_allclose(nineteen[16], [4, 9])  # mouth centre = mean of 51 and 57
    assert vis.all()


def test_conversion_visibility_needs_every_source_point():
    vis = np.ones(68, bool)
    vis[40] = False
    _, v5 = convert_points(np.zeros((68, 2)), "ibug68", "five", vis)
    assert v5.tolist() == [False, True, True, True, True]


def test_unknown_schema_and_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="unknown landmark schema 'dlib'"):
        get_schema("dlib")
    with pytest.raises(ValueError, match=r"\(\.\.\., 68, 2\)"):
        convert_points(np.zeros((67, 2)), "ibug68", "five")
    with pytest.raises(ValueError, match="no conversion from five to ibug68"):
        convert_points(np.zeros((5, 2)), "five", "ibug68")
    assert set(SCHEMAS) == {"ibug68", "aflw19", "five"}


def test_resize_convention_by_hand():
    # 128 -> 32 (s = 1/4): x = 0 -> (0.5)/4 - 0.5 = -0.375; x = 127 -> 127.5/4 - 0.5 = 31.375
    np.testing.assert_allclose(resize_points(np.array([[0.0, 127.0]]), 0.25), [[-0.375, 31.375]])
    # and back again
    np.testing.assert_allclose(resize_points(np.array([[-0.375, 31.375]]), 4.0), [[0.0, 127.0]])


def test_resize_convention_matches_opencv_area_resampling():
    """A bright 4x4 block at HR becomes one pixel at LR exactly where the mapping says."""
    img = np.zeros((128, 128), np.float32)
    img[40:44, 84:88] = 1.0  # block centre (85.5, 41.5)
    small = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)
    y, x = np.unravel_index(small.argmax(), small.shape)
    np.testing.assert_allclose(resize_points(np.array([[85.5, 41.5]]), 0.25)[0], [x, y])


def test_affine_composition_and_inverse():
    a = np.array([[2.0, 0, 1], [0, 2, -3]])
    b = np.array([[0.0, -1, 5], [1, 0, 0]])
    p = np.array([[1.0, 2.0]])
    np.testing.assert_allclose(apply_affine(compose_affine(a, b), p), apply_affine(a, apply_affine(b, p)))
    np.testing.assert_allclose(apply_affine(invert_affine(a), apply_affine(a, p)), p, atol=1e-6)


def test_to_rgb_uint8_expands_gray_and_drops_alpha():
    assert to_rgb_uint8(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 3] = 255
    assert to_rgb_uint8(rgba).shape == (4, 5, 3) and to_rgb_uint8(rgba).max() == 0
    assert to_rgb_uint8(np.ones((2, 2))).max() == 255
    with pytest.raises(ValueError, match="cannot interpret"):
        to_rgb_uint8(np.zeros((2, 2, 2)))
