"""One door to every inference backend of G2, and the check to run before switching between them.

Backends of :func:`load_detector` (all with ``.schema``, ``.input_size``, ``.predict(images)``):

* ``"torch"`` — :class:`~s2ld_core.inference.detector.LandmarkDetector` as is (the reference).
* ``"torch-fast"`` — the same detector with the network rewritten by
  :func:`~s2ld_core.inference.torch_fast.optimize_network` (Conv+BatchNorm folded, channels-last,
  frozen TorchScript), run under ``inference_mode``.
* ``"onnx"`` — :class:`~s2ld_core.inference.onnx_backend.OnnxLandmarkDetector` on the exported fp32 graph:
  same preprocessing (the detector's own resize) and the same
  :func:`~s2ld_core.heatmaps.decode_heatmaps`.
* ``"onnx-int8"`` — the same after ONNX Runtime's static int8 quantisation.

:func:`compare_backends` reports how far each backend's points are from the reference and, given
ground truth, the NME of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .detector import LandmarkDetector, as_image_list
from .onnx_backend import OnnxLandmarkDetector, export_onnx, quantize_onnx
from .torch_fast import InferenceModeDetector, TorchSpeedOptions, optimize_network

__all__ = ["BACKENDS", "load_detector", "pretrained", "fastest_backend", "compare_backends",
           "BackendAgreement"]

BACKENDS: tuple[str, ...] = ("torch", "torch-fast", "onnx", "onnx-int8")
PRETRAINED_BACKENDS: tuple[str, ...] = ("auto", "onnx", "torch")


def fastest_backend(device: str | torch.device = "cpu") -> str:
    """``"onnx"`` where ONNX Runtime is installed and the device is the CPU (1.7-1.9 ms per 32² face
    on one core against 7-13 ms for the PyTorch path: ``benchmarks/bench_inference.py``), else
    ``"torch"``."""
    import importlib.util

    cpu = str(device) == "cpu" or getattr(device, "type", None) == "cpu"
    return "onnx" if cpu and importlib.util.find_spec("onnxruntime") is not None else "torch"


def _shipped_onnx_problem(onnx_path: Path, checkpoint: Path) -> str | None:
    """Why the ONNX file shipped beside ``checkpoint`` cannot stand in for it (``None``: it can)."""
    import hashlib
    import json

    if not onnx_path.is_file():
        return f"{onnx_path}: not in this installation"
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = next((json.loads(p.value) for p in model.metadata_props if p.key == "s2ld"), {})
    want = hashlib.sha1(checkpoint.read_bytes()).hexdigest()
    if meta.get("source_sha1") != want:
        return (f"{onnx_path}: exported from another {checkpoint.name} (remake it: s2ld export "
                f"{checkpoint} --onnx {onnx_path})")
    return None


def pretrained(schema: str = "ibug68", backend: str = "auto", device: str | torch.device = "cpu",
               threads: int | None = None, weights_dir: str | Path | None = None):
    """The weights shipped for ``schema`` on the fastest backend installed (``backend="auto"``): ONNX
    Runtime on the CPU, from the ``detector.onnx`` exported beside ``detector.pt``; PyTorch where ONNX
    Runtime is missing, the device is not the CPU, or the ONNX file is absent or was exported from
    other weights. The detector's repr names the backend it runs on. ``backend="onnx"`` insists (one
    clear error instead of the fallback); ``"torch"`` is :meth:`LandmarkDetector.pretrained`.
    ``threads``: ONNX Runtime's intra-op threads (default: its own choice)."""
    from ..schemas import SCHEMAS
    from .detector import shipped_weights

    if backend not in PRETRAINED_BACKENDS:
        raise ValueError(f"pretrained(backend={backend!r}): choose one of {', '.join(PRETRAINED_BACKENDS)}")
    name = str(getattr(schema, "name", schema))
    checkpoint = shipped_weights(name, weights_dir) if name in SCHEMAS else None
    if backend == "torch" or checkpoint is None or not checkpoint.is_file():
        return LandmarkDetector.pretrained(schema, device, weights_dir)  # or its one-line error
    if fastest_backend(device) != "onnx":
        problem = f"ONNX Runtime is not installed or device={device!r} is not the CPU"
    else:
        problem = _shipped_onnx_problem(checkpoint.with_suffix(".onnx"), checkpoint)
    if problem is None:
        return OnnxLandmarkDetector(checkpoint.with_suffix(".onnx"), threads)
    if backend == "onnx":
        raise ValueError(f"pretrained(backend='onnx'): {problem}")
    return LandmarkDetector.pretrained(schema, device, weights_dir)


def load_detector(path: str | Path, backend: str = "torch", threads: int | None = None,
                  device: str | torch.device = "cpu", options: TorchSpeedOptions | None = None,
                  calibration: Sequence[np.ndarray] | np.ndarray | None = None):
    """A detector for ``path`` (a G2 ``.pt`` checkpoint or an ``.onnx`` export) on ``backend``.

    ``onnx`` / ``onnx-int8`` from a ``.pt`` export (and quantise) in memory — a few seconds; export
    once with ``s2ld export --onnx`` to skip that. ``threads`` sets ONNX Runtime's intra-op threads;
    for the torch backends use ``torch.set_num_threads`` (a process-wide setting).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(path)
    if path.suffix == ".onnx":
        if backend == "onnx":
            return OnnxLandmarkDetector(path, threads)
        if backend == "onnx-int8":
            return OnnxLandmarkDetector(quantize_onnx(path, None, calibration), threads)
        raise ValueError(f"{path}: an ONNX file needs backend 'onnx' or 'onnx-int8', not {backend!r}")
    det = LandmarkDetector.from_checkpoint(path, device)
    if backend == "torch":
        return det
    if backend == "torch-fast":
        net = optimize_network(det.network, det.input_size, options)
        out = InferenceModeDetector(net, det.schema, det.input_size, device, det.meta)
        out.name = f"{det.name} (torch-fast)"
        return out
    model = export_onnx(det, None)
    if backend == "onnx-int8":
        model = quantize_onnx(model, None, calibration)
    return OnnxLandmarkDetector(model, threads)


@dataclass
class BackendAgreement:
    """How far a backend's points are from the PyTorch reference on the same images."""

    backend: str
    mean_px: float
    max_px: float
    nme_vs_torch: float  # mean point distance / box size of the reference points, averaged per image
    nme: float | None = None  # against ground truth, when given
    nme_torch: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare_backends(path: str | Path, images,
                     backends: Sequence[str] = ("torch-fast", "onnx", "onnx-int8"),
                     ground_truth: np.ndarray | None = None, visible: np.ndarray | None = None,
                     ground_truth_schema: str | None = None) -> list[BackendAgreement]:
    """Predict ``images`` with the torch reference and each backend; report point differences and,
    with ``ground_truth`` (N,K,2, in ``ground_truth_schema`` — default the detector's — and in the
    images' pixels), the NME of both with the schema's normaliser. The check to run on a trained
    checkpoint before switching a deployment to a faster backend."""
    from ..metrics import nme
    from ..schemas import convert_points

    imgs = as_image_list(images)
    ref = load_detector(path, "torch")
    if ground_truth is not None and ground_truth_schema and ground_truth_schema != ref.schema.name:
        ground_truth, visible = convert_points(ground_truth, ground_truth_schema, ref.schema.name, visible)
    ref_pts, _ = ref.predict(imgs)
    box = np.sqrt(np.prod(ref_pts.max(1) - ref_pts.min(1), axis=-1)).clip(min=1e-6)
    nme_ref = None
    if ground_truth is not None:
        nme_ref = float(nme(ref_pts, ground_truth, normalizer=ref.schema.normalizer, schema=ref.schema,
                            visible=visible).mean())
    out = []
    for backend in backends:
        pts, _ = load_detector(path, backend).predict(imgs)
        dist = np.linalg.norm(pts - ref_pts, axis=-1)
        nme_b = None
        if ground_truth is not None:
            nme_b = float(nme(pts, ground_truth, normalizer=ref.schema.normalizer, schema=ref.schema,
                              visible=visible).mean())
        out.append(BackendAgreement(backend, float(dist.mean()), float(dist.max()),
                                    float((dist.mean(1) / box).mean()), nme_b, nme_ref))
    return out
