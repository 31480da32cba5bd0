"""The pixel conventions every part of s2ld shares, in one place: the paper's F, the networks' value
range, and resizing a face to a network's input.

* **Images** are uint8 RGB arrays ``(H, W, 3)`` (batches ``(N, H, W, 3)``); points are 0-based with
  pixel centres at integers, so a resize by ``s`` maps ``x → (x + 0.5)·s − 0.5``
  (:func:`~s2ld_core.geometry.resize_points`).
* **Network tensors** are float32 ``(N, 3, H, W)`` in ``[-1, 1]``: ``x / 127.5 − 1``
  (:func:`to_tensor`, :func:`to_input_array`, back with :func:`to_uint8`). G1 ends in ``tanh`` and
  every network reads this range.
* **F** (§3.1, eq. 4) is average pooling of the HR image down to the LR size: a ``factor × factor``
  box filter with stride ``factor``. :func:`subsample_F` is F on uint8 images (exact block means,
  rounded half up, with the points mapped), :func:`subsample_F_tensor` F on network tensors (the
  target of eq. 4's pixel loss and of the perceptual term).
* **Resizing a face to a network's input** (:func:`resize_face`): area averaging when the face is
  larger than the input (no aliasing), bicubic when it is smaller (a 16–25 px crop grown to 32²).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .geometry import resize_points

if TYPE_CHECKING:
    import torch

__all__ = [
    "subsample_F",
    "subsample_F_tensor",
    "to_tensor",
    "to_input_array",
    "to_uint8",
    "resize_face",
]


# ------------------------------------------------------------------------------------------------ F


def subsample_F(image: np.ndarray, points: np.ndarray | None = None,
                factor: int = 4) -> tuple[np.ndarray, np.ndarray | None]:
    """The paper's ``F`` on a uint8 image: exact ``factor x factor`` block mean (128 -> 32 for
    ``factor=4``).

    Means are rounded to nearest with ties up (``floor(m + 0.5)``), so a result is reproducible
    independently of OpenCV's INTER_AREA rounding. Points follow the resize rule with ``s = 1/factor``.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"subsample_F: expected a uint8 HxWx3 RGB image, "
                         f"got {img.dtype} of shape {img.shape}")
    pts = None
    if points is not None:
        pts = np.asarray(points, np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"subsample_F: expected points of shape (K, 2), got {pts.shape}")
    h, w = img.shape[:2]
    if factor < 1 or h % factor or w % factor:
        raise ValueError(f"subsample_F: image size {h}x{w} is not divisible by factor {factor}")
    blocks = img.reshape(h // factor, factor, w // factor, factor, 3).astype(np.float64)
    out = np.floor(blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)
    return out, None if pts is None else resize_points(pts, 1.0 / factor, 1.0 / factor)


def subsample_F_tensor(hr: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """The sub-sampling ``F`` of eq. 4 on a batch ``(B, C, H, W)``: average pooling down to the LR size.

    The paper says "passing I^HR through four average pooling layers" yet maps 128² to 32², a factor
    of 4 = two 2×2 halvings (four 2×2 pools would give 8²). We apply log2(factor) 2×2 average pools,
    which is exactly a ``factor``×``factor`` box filter with stride ``factor`` — the area average.
    """
    import torch.nn.functional as F

    if factor < 1 or factor & (factor - 1):
        raise ValueError(f"subsample_F factor must be a power of 2, got {factor}")
    if hr.dim() != 4 or hr.shape[2] % factor or hr.shape[3] % factor:
        raise ValueError(f"subsample_F expects (B, C, H, W) with H, W divisible by {factor}, "
                         f"got {tuple(hr.shape)}")
    for _ in range(int(math.log2(factor))):
        hr = F.avg_pool2d(hr, 2)
    return hr


# ---------------------------------------------------------------------------------- value range


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (B,H,W,3) RGB → float32 (B,3,H,W) in [-1, 1] on ``device`` (the networks' input)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_input_array(images: np.ndarray) -> np.ndarray:
    """uint8 (B,H,W,3) RGB → float32 (B,3,H,W) in [-1, 1] as a NumPy array, bit-identical to
    :func:`to_tensor` (ONNX Runtime's input)."""
    batch = np.asarray(images).astype(np.float32)
    batch /= np.float32(127.5)
    batch -= np.float32(1.0)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float (B,3,H,W) in [-1, 1] → uint8 (B,H,W,3) RGB."""
    x = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


# ------------------------------------------------------------------------------------ resizing


def resize_face(image: np.ndarray, size: int, grow: int = cv2.INTER_CUBIC) -> np.ndarray:
    """A face crop resized to ``size x size`` as given (no crop, no padding: face crops are
    near-square). ``INTER_AREA`` when the crop is larger than ``size`` along either side (it
    integrates the footprint: no aliasing), else ``grow`` (bicubic by default: sharper edges than
    bilinear for the 16–25 px crops of TinyFace-like data)."""
    h, w = image.shape[:2]
    if (w, h) == (size, size):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if size < max(h, w) else grow
    return cv2.resize(image, (size, size), interpolation=interp)


def crop_square(image: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, int, int]:
    """The square ``side`` px crop centred at ``(cx, cy)`` at native resolution, black outside the
    photo (as the training crops are); returns ``(crop, x0, y0)`` so that photo = crop + (x0, y0)."""
    s = max(4, int(round(side)))
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    h, w = image.shape[:2]
    out = np.zeros((s, s, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out, x0, y0
