"""G2 on ONNX Runtime: export with the checkpoint's description, static int8 quantisation, and the
detector that runs the exported graph (the ``onnx`` and ``onnx-int8`` backends), plus the body of
``s2ld export --onnx``.

ONNX Runtime runs the same graph as PyTorch with BatchNorm folded into the convolutions and with less
overhead per operator; with static int8 quantisation (QLinearConv, VNNI where the CPU has it) it also
cuts the arithmetic. ``onnx-int8`` uses ONNX Runtime's *static* quantisation (QDQ, per-channel int8
weights, uint8 activations calibrated on the 100 real LFW LR faces shipped by scikit-image, or on
images you pass). Dynamic quantisation is not offered: for convolutions it makes ConvInteger nodes
that were slower than fp32 here. Check accuracy on a trained checkpoint before using it:
:func:`~s2ld_core.inference.backends.compare_backends` reports the point differences and, given
ground truth, the NME change. ``benchmarks/README.md`` has the numbers and what did *not* help.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ..pixels import resize_face, to_input_array
from ..schemas import get_schema
from .detector import HeatmapDetector, LandmarkDetector, as_image_list

__all__ = [
    "export_onnx",
    "quantize_onnx",
    "calibration_images",
    "OnnxLandmarkDetector",
    "export_checked",
]

INPUT_NAME, OUTPUT_NAME = "image", "heatmaps"
_META_KEY = "s2ld"
_META_FIELDS = ("kind", "role", "setting", "profile", "schema", "input_size", "sigma", "network",
                "mean_shape", "shape_model", "source_sha1")


def _checkpoint_meta(blob: dict[str, Any]) -> dict[str, Any]:
    return {k: blob[k] for k in _META_FIELDS if k in blob}


def _source_detector(source: LandmarkDetector | str | Path) -> tuple[LandmarkDetector, dict[str, Any]]:
    """The detector to export and the metadata to store, with ``source_sha1``: the checkpoint file the
    weights came from (``s2ld_core.pretrained`` uses a shipped ``.onnx`` only beside those weights)."""
    import hashlib

    if isinstance(source, LandmarkDetector):
        det, meta = source, dict(source.meta)
        meta.setdefault("schema", source.schema.name)
        meta.setdefault("input_size", source.input_size)
    else:
        det = LandmarkDetector.from_checkpoint(source, "cpu")
        meta = dict(det.meta)
    path = meta.get("path")
    if path and Path(path).is_file():
        meta["source_sha1"] = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    return det, _checkpoint_meta(meta)


def _export_bytes(network: nn.Module, input_size: int, dynamic_batch: bool, opset: int) -> bytes:
    net = copy.deepcopy(network).float().cpu().eval()
    example = torch.zeros(1, 3, input_size, input_size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of the torch.export one, which needs
        # onnxscript; this one needs nothing beyond onnx. The tracer also warns about G2's input check.
        warnings.simplefilter("ignore")
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
        torch.onnx.export(net, (example,), buf, dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, do_constant_folding=True,
                          dynamic_axes=axes)
    return buf.getvalue()


def _with_metadata(model_bytes: bytes, meta: dict[str, Any]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = _META_KEY, json.dumps(meta, default=str)
    model.producer_name = "s2ld"
    return model.SerializeToString()


def export_onnx(detector_or_checkpoint: LandmarkDetector | str | Path, path: str | Path | None,
                dynamic_batch: bool = True, opset: int = 17) -> Path | bytes:
    """Export G2 to ONNX with the checkpoint's description (schema, input size, σ, setting, network
    config, mean shape) stored in the model's metadata, so that :class:`OnnxLandmarkDetector` needs
    nothing else. ``path=None`` returns the serialised model instead of writing a file.

    ``dynamic_batch`` makes the batch dimension symbolic (one file serves batch 1 and batch 256).
    """
    det, meta = _source_detector(detector_or_checkpoint)
    data = _with_metadata(_export_bytes(det.network, det.input_size, dynamic_batch, opset), meta)
    if path is None:
        return data
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def calibration_images(input_size: int,
                       images: Sequence[np.ndarray] | np.ndarray | None = None) -> np.ndarray:
    """Float32 NCHW network inputs for int8 calibration: ``images`` (any sizes, uint8 RGB) or, by
    default, the 100 real LR faces of scikit-image's ``lfw_subset`` — real LR faces are what the
    activations' ranges should be calibrated on, not noise."""
    if images is None:
        from ..data.sources import lfw_faces

        images = lfw_faces()
    return _to_input(as_image_list(images), input_size, cv2.INTER_CUBIC)


def quantize_onnx(model: str | Path | bytes, path: str | Path | None,
                  calibration: Sequence[np.ndarray] | np.ndarray | None = None,
                  per_channel: bool = True) -> Path | bytes:
    """Static int8 quantisation of an exported G2 with ONNX Runtime (QDQ format, per-channel int8
    weights, uint8 activations, MinMax calibration). Metadata is carried over. ``path=None`` returns
    bytes."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else model
    meta = _read_meta(onnx.load_from_string(data))
    inputs = calibration_images(int(meta["input_size"]), calibration)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._chunks = iter([{INPUT_NAME: inputs[i:i + 16]} for i in range(0, len(inputs), 16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._chunks, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(data)
        # Symbolic shape inference cannot finish on the symbolic-batch Resize; ONNX's own inference does.
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        out = _with_metadata(dst.read_bytes(), {**meta, "quantization": "int8-static-qdq"})
    if path is None:
        return out
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(out)
    return Path(path)


def _read_meta(model) -> dict[str, Any]:
    for prop in model.metadata_props:
        if prop.key == _META_KEY:
            return json.loads(prop.value)
    raise ValueError("not an s2ld ONNX export (no 's2ld' metadata); export it with `s2ld export --onnx`")


# ----------------------------------------------------------------------------- ONNX Runtime detector


def _to_input(images: list[np.ndarray], size: int, grow: int) -> np.ndarray:
    """uint8 RGB crops → float32 (N,3,S,S) in [-1,1], bit-identical to ``LandmarkDetector.preprocess``."""
    return to_input_array(np.stack([resize_face(im, size, grow) for im in images]))


def _session_options(threads: int | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads:
        so.intra_op_num_threads = int(threads)
    # Busy-waiting worker threads steal the CPU from everything else on a shared machine (and from
    # each other when cores are oversubscribed); the latency cost of sleeping is small at this size.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


class OnnxLandmarkDetector(HeatmapDetector):
    """G2 on ONNX Runtime (CPU) with :class:`~s2ld_core.inference.LandmarkDetector`'s interface.

    ``model`` is a ``.onnx`` file written by :func:`export_onnx` / :func:`quantize_onnx` or its bytes.
    ``threads``: ONNX Runtime intra-op threads (default: its own choice, the physical cores).
    """

    def __init__(self, model: str | Path | bytes, threads: int | None = None,
                 grow_interpolation: int = cv2.INTER_CUBIC) -> None:
        import onnx
        import onnxruntime as ort

        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.meta = _read_meta(onnx.load_from_string(data))
        if not isinstance(model, bytes):
            self.meta["path"] = str(model)
        self.schema = get_schema(self.meta["schema"])
        self.input_size = int(self.meta["input_size"])
        self.init_decoding(self.meta)
        self.grow_interpolation = grow_interpolation
        self.threads = threads
        self.session = ort.InferenceSession(data, _session_options(threads),
                                            providers=["CPUExecutionProvider"])
        quant = " int8" if self.meta.get("quantization") else ""
        self.name = f"S²LD {self.meta.get('setting', '')} (ONNX{quant})".replace("  ", " ")

    @property
    def backend(self) -> str:
        return f"ONNX Runtime (cpu, {self.threads or 'default'} threads)"

    def preprocess(self, images: list[np.ndarray]) -> np.ndarray:
        return _to_input(images, self.input_size, self.grow_interpolation)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw network: float32 (N,3,S,S) in [-1,1] → heatmaps (N,K+1,S,S)."""
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    def heatmaps(self, images) -> torch.Tensor:
        return torch.from_numpy(self.run(self.preprocess(as_image_list(images))))

    def heatmaps_of(self, chunk: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(self.run(self.preprocess(chunk)))


# ----------------------------------------------------------------------------- `s2ld export --onnx`


def export_checked(checkpoint: str | Path, onnx: str | Path, int8: bool = False, calibration: str = "lfw",
                   static_batch: bool = False, opset: int = 17) -> tuple[Path, dict[str, Any]]:
    """``s2ld export``: write the ONNX file (int8: quantised, calibrated on ``calibration``'s faces),
    then check it against PyTorch on those faces. Returns the file and ``{"kind", "faces", "mean_px",
    "max_px"}``: how far its points are from PyTorch's."""
    from ..data.sources import resolve_lr_source

    det = LandmarkDetector.from_checkpoint(checkpoint, "cpu")
    faces = resolve_lr_source(calibration, det.input_size).load_all()
    data = export_onnx(det, None, dynamic_batch=not static_batch, opset=opset)
    if int8:
        data = quantize_onnx(data, None, faces)
    out = Path(onnx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    onnx_det = OnnxLandmarkDetector(out)
    check = faces if not static_batch else faces[:1]
    ref, _ = det.predict(check)
    got, _ = onnx_det.predict(check, batch_size=1 if static_batch else 256)
    dist = np.linalg.norm(got - ref, axis=-1)
    return out, {"kind": "int8" if int8 else "fp32", "faces": len(check), "mean_px": float(dist.mean()),
                 "max_px": float(dist.max())}
