"""Baselines with the detectors' ``predict`` interface: what S²LD is measured against.

* :class:`UpscaleHRLDBaseline` — "upscale, then HR-LD" (the paper's Fig. 1c: bilinear upsampling).
* :class:`BicubicSRBaseline` — "super-resolve, then HR-LD" with the super-resolver that needs no
  weights: bicubic up-sampling followed by an unsharp mask. SRGAN/ESRGAN weights cannot be shipped;
  this is the classical stand-in and is labelled so wherever it is reported.
* :class:`MeanShapeBaseline` — the training mean shape, whatever the image: the floor any detector
  must beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..geometry import resize_points
from ..pixels import resize_face
from ..schemas import Schema, get_schema
from .detector import LandmarkDetector, as_image_list


class UpscaleHRLDBaseline(LandmarkDetector):
    """Upscale the LR face to HR-LD's 128² (bilinear, as in the paper's Fig. 1c), then run HR-LD."""

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> UpscaleHRLDBaseline:
        det = LandmarkDetector.from_checkpoint(path, device)
        if det.input_size < 64:
            raise ValueError(f"{path}: expected an HR-LD checkpoint (128² input), got {det.input_size}²")
        out = cls(
            det.network, det.schema, det.input_size, device, det.meta, grow_interpolation=cv2.INTER_LINEAR
        )
        out.name = "upscale + HR-LD"
        return out


class BicubicSRBaseline(LandmarkDetector):
    """Bicubic super-resolution with an unsharp mask, then HR-LD (the weight-free SR stand-in)."""

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> BicubicSRBaseline:
        det = UpscaleHRLDBaseline.from_checkpoint(path, device)
        out = cls(det.network, det.schema, det.input_size, device, det.meta)
        out.name = "bicubic SR + HR-LD"
        return out

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        sharpened = []
        for im in images:
            up = resize_face(im, self.input_size, cv2.INTER_CUBIC).astype(np.float32)
            blur = cv2.GaussianBlur(up, (0, 0), sigmaX=2.0)
            sharpened.append(np.clip(up + 0.8 * (up - blur), 0, 255).astype(np.uint8))
        return super().preprocess(sharpened)


class MeanShapeBaseline:
    """Predicts the training mean shape (at ``input_size``), scaled to each image."""

    name = "mean shape"

    def __init__(self, mean_shape: np.ndarray, schema: str | Schema, input_size: int):
        self.mean_shape = np.asarray(mean_shape, np.float32)
        self.schema = get_schema(schema)
        self.input_size = int(input_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> MeanShapeBaseline:
        blob = load_checkpoint(path, "cpu", role="G2")
        return cls(np.asarray(blob["mean_shape"]), blob["schema"], blob["input_size"])

    def predict(self, images: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        imgs = as_image_list(images)
        pts = [
            resize_points(self.mean_shape, im.shape[1] / self.input_size, im.shape[0] / self.input_size)
            for im in imgs
        ]
        k = self.schema.num_points
        return (
            np.stack(pts).astype(np.float32) if pts else np.zeros((0, k, 2), np.float32),
            np.zeros((len(imgs), k), np.float32),
        )
