"""Landmarks from trained networks: one ``predict`` interface over G2, the baselines and every backend.

* :mod:`.detector` — :class:`LandmarkDetector` (G2 from a checkpoint, or the shipped weights) and
  the shared :class:`HeatmapDetector`;
* :mod:`.baselines` — upscale + HR-LD, bicubic SR + HR-LD, the mean shape;
* :mod:`.torch_fast`, :mod:`.onnx_backend`, :mod:`.backends` — faster CPU backends
  (:func:`load_detector`) and :func:`compare_backends`, the check before switching to one;
* :mod:`.g1` — G1's generated LR faces (:func:`generate_lr`).
"""

from .backends import BACKENDS, BackendAgreement, compare_backends, fastest_backend, load_detector, pretrained
from .baselines import BicubicSRBaseline, MeanShapeBaseline, UpscaleHRLDBaseline
from .detector import (
    CONVENTION,
    HeatmapDetector,
    LandmarkDetector,
    LargeInputWarning,
    as_image_list,
    default_checkpoint_hint,
    shipped_schemas,
    shipped_weights,
    torch_device,
)
from .g1 import generate_lr, load_g1
from .onnx_backend import OnnxLandmarkDetector, calibration_images, export_onnx, quantize_onnx
from .torch_fast import TorchSpeedOptions, fuse_conv_bn, optimize_network

__all__ = [
    "BACKENDS",
    "BackendAgreement",
    "BicubicSRBaseline",
    "CONVENTION",
    "HeatmapDetector",
    "LandmarkDetector",
    "LargeInputWarning",
    "MeanShapeBaseline",
    "OnnxLandmarkDetector",
    "TorchSpeedOptions",
    "UpscaleHRLDBaseline",
    "as_image_list",
    "calibration_images",
    "compare_backends",
    "fastest_backend",
    "pretrained",
    "default_checkpoint_hint",
    "export_onnx",
    "fuse_conv_bn",
    "generate_lr",
    "load_g1",
    "load_detector",
    "optimize_network",
    "quantize_onnx",
    "shipped_schemas",
    "shipped_weights",
    "torch_device",
]
