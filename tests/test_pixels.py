"""The pixel conventions (s2ld_core.pixels): one range, one F, one resize, whichever array type."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from s2ld_core.pixels import resize_face, subsample_F, subsample_F_tensor, to_input_array, to_tensor, to_uint8


def _images(n: int = 3, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_network_range_is_the_same_for_torch_and_numpy_and_round_trips():
    images = _images()
    t = to_tensor(images)
    assert t.shape == (3, 3, 32, 32) and t.dtype == torch.float32
    assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0
    np.testing.assert_array_equal(to_input_array(images), t.numpy())  # ONNX Runtime sees the same input
    np.testing.assert_array_equal(to_uint8(t), images)


def test_F_on_images_and_on_tensors_agree():
    hr = np.random.default_rng(1).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    on_images = np.stack([subsample_F(im)[0] for im in hr])
    on_tensors = to_uint8(subsample_F_tensor(to_tensor(hr)))
    assert on_images.shape == on_tensors.shape == (2, 32, 32, 3)
    assert np.abs(on_images.astype(int) - on_tensors.astype(int)).max() <= 1  # rounding of the mean only


def test_resize_face_shrinks_by_area_grows_bicubic_and_keeps_the_size():
    def cv(image, interpolation):
        return cv2.resize(image, (32, 32), interpolation=interpolation)

    big, small = _images(1, 64)[0], _images(1, 20)[0]
    np.testing.assert_array_equal(resize_face(big, 32), cv(big, cv2.INTER_AREA))
    np.testing.assert_array_equal(resize_face(small, 32), cv(small, cv2.INTER_CUBIC))
    np.testing.assert_array_equal(resize_face(small, 32, cv2.INTER_LINEAR), cv(small, cv2.INTER_LINEAR))
    same = _images(1, 32)[0]
    assert resize_face(same, 32) is same
    tall = np.zeros((40, 20, 3), np.uint8)  # larger than the input along one side: area
    np.testing.assert_array_equal(resize_face(tall, 32), cv(tall, cv2.INTER_AREA))
