"""The project's small-face finder: a fully convolutional network that marks face centres at stride 4.

Why it exists: dlib's HOG detector looks through an 80 px window, so a 16 px face needs the photo
up-sampled ×5 — 25 times the pixels, about 0.75 s for a 640×480 photo on one core. This network
sees faces of :data:`FACE_RANGE` (12–40 px box side) directly, and an octave pyramid (the photo,
½, ¼ …) brings larger faces into that range, so a 640×480 photo costs about 1.33 passes at native
size (tens of milliseconds). It was trained by ``scripts/train_face_finder.py`` (recorded recipe) to
reproduce dlib's HOG boxes on the ``real-faces`` photos, seen at every scale that puts their faces in
range; it ships in ``s2ld_core/weights/faces/`` and needs nothing but torch.

Outputs per stride-4 cell ``(i, j)`` (cell centre at pixel corner coordinates ``(4j + 2, 4i + 2)``,
i.e. pixels ``4j … 4j + 3``): a face-centre logit, the centre's offset from the cell centre in cells
``(dx, dy)``, and ``log(side / REF_SIDE)``. Boxes are square, in pixel-corner coordinates (pixel
``i`` spans ``[i, i + 1]``), the convention of :class:`s2ld_core.faces.FaceBox`, so resizing a photo
by ``s`` multiplies its boxes by ``s``.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

__all__ = [
    "FACE_RANGE",
    "STRIDE",
    "REF_SIDE",
    "WEIGHTS",
    "SmallFaceNet",
    "decode",
    "pyramid_scales",
    "find_small_faces",
    "load_small_face_net",
]

FACE_RANGE = (12.0, 40.0)  # box sides (px) one pyramid level is trained to find
STRIDE = 4
REF_SIDE = 20.0
WEIGHTS = Path(__file__).resolve().parent / "weights" / "faces" / "small_faces.pt"


class SmallFaceNet(nn.Module):
    """Two stride-2 convolutions to stride 4, then three 3×3 convolutions with dilation 1, 2, 4
    (receptive field 63 px: a 40 px face with context) and a 1×1 head of four outputs per cell."""

    def __init__(self, width: int = 32):
        super().__init__()
        w1 = width // 2

        def conv(cin, cout, stride=1, dilation=1):
            return [nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.width = width
        self.body = nn.Sequential(
            *conv(3, w1, 2), *conv(w1, width, 2), *conv(width, width), *conv(width, width, dilation=2),
            *conv(width, width, dilation=4),
        )
        self.head = nn.Conv2d(width, 4, 1)
        nn.init.constant_(self.head.bias[0], -4.0)  # start by saying "no face" (most cells are background)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, 3, H, W)`` in ``[-1, 1]`` → ``(N, 4, ⌈H/4⌉, ⌈W/4⌉)``."""
        return self.head(self.body(x))


def decode(out: np.ndarray, threshold: float, scale: float = 1.0) -> list[tuple[float, float, float, float]]:
    """Boxes ``(cx, cy, side, score)`` in the photo's pixel-corner coordinates from one level's
    output ``(4, h, w)`` (logits, dx, dy, log side), at cells that are a 3×3 local maximum of the
    score with ``sigmoid ≥ threshold``; ``scale`` is the level's size over the photo's."""
    score = 1.0 / (1.0 + np.exp(-out[0]))
    peak = cv2.dilate(score, np.ones((3, 3), np.uint8))
    ii, jj = np.nonzero((score >= threshold) & (score >= peak))
    boxes = []
    for i, j in zip(ii, jj):
        cx = (STRIDE * j + STRIDE / 2 + STRIDE * out[1, i, j]) / scale
        cy = (STRIDE * i + STRIDE / 2 + STRIDE * out[2, i, j]) / scale
        side = REF_SIDE * math.exp(float(np.clip(out[3, i, j], -3, 3))) / scale
        boxes.append((float(cx), float(cy), float(side), float(score[i, j])))
    return boxes


def pyramid_scales(height: int, width: int, top: float = 1.0) -> list[float]:
    """Octave scales ``top, top/2, …`` while the level still holds a face of ``FACE_RANGE[1]``;
    ``top > 1`` up-samples first, to reach faces smaller than ``FACE_RANGE[0]`` (down to
    ``FACE_RANGE[0] / top``)."""
    scales, s = [], top
    while min(height, width) * s >= FACE_RANGE[1] * 0.75 or not scales:
        scales.append(s)
        s /= 2
    return scales


def _level(image: np.ndarray, s: float) -> np.ndarray:
    if s == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


@torch.inference_mode()
def find_small_faces(
    net: SmallFaceNet, image: np.ndarray, threshold: float = 0.3, top: float = 1.0
) -> list[tuple[float, float, float, float]]:
    """``(cx, cy, side, score)`` of every face centre over an octave pyramid of the uint8 RGB
    ``image`` (not yet suppressed across levels)."""
    h, w = image.shape[:2]
    boxes = []
    for s in pyramid_scales(h, w, top=top):
        level = _level(image, s)
        x = torch.from_numpy(np.ascontiguousarray(level)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        out = net(x)[0].numpy()
        # the level's actual size over the photo's, per axis (sizes are rounded to whole pixels)
        sx, sy = level.shape[1] / w, level.shape[0] / h
        for cx, cy, side, score in decode(out, threshold, 1.0):
            boxes.append((cx / sx, cy / sy, side / math.sqrt(sx * sy), score))
    return boxes


def load_small_face_net(path: str | Path = WEIGHTS) -> tuple[SmallFaceNet, dict]:
    """The shipped network (eval mode, one thread is enough) and its metadata (training recipe,
    thresholds chosen on held-out ``real-faces`` photos)."""
    from .checkpoints import safe_torch_load

    blob = safe_torch_load(path, what="face finder")
    if not isinstance(blob, dict) or blob.get("kind") != "s2ld-face-finder":
        raise ValueError(f"{path}: not an s2ld face finder file")
    net = SmallFaceNet(int(blob["width"]))
    net.load_state_dict(blob["state_dict"])
    return net.eval(), {k: v for k, v in blob.items() if k != "state_dict"}
