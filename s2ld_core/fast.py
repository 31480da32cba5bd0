"""Fast CPU inference for G2: ONNX Runtime (fp32 and int8) and a tuned PyTorch path, one interface.

Why this exists: at 32×32 G2 is small (quick profile ≈ 43 M MACs), so eager PyTorch spends most of
a single-face call in per-operator dispatch, not arithmetic. ONNX Runtime runs the same graph with
BatchNorm folded into the convolutions and with less overhead per operator, and with static int8
quantisation (QLinearConv, VNNI where the CPU has it) it also cuts the arithmetic. ``benchmarks/
bench_inference.py`` measures every backend side by side; see ``benchmarks/README.md`` for the
numbers and for what did *not* help.

Backends of :func:`load_detector` (all with ``.schema``, ``.input_size``, ``.predict(images)``):

* ``"torch"`` — :class:`~s2ld_core.inference.LandmarkDetector` as is (the reference).
* ``"torch-fast"`` — the same detector with Conv+BatchNorm folded (exact up to float rounding),
  channels-last weights and a frozen TorchScript trace, run under ``inference_mode``: each of the
  three helped in interleaved single-thread runs, together ≈ 1.9× on the quick profile at batch 1
  (CPU time 4.3 → 2.3 ms) and ≈ 1.2× on the paper profile. ``torch.compile`` is available in
  :class:`TorchSpeedOptions` but off: it did not beat this and takes tens of seconds to compile.
* ``"onnx"`` — :class:`OnnxLandmarkDetector` on the exported fp32 graph: same preprocessing (the
  detector's own resize) and the same :func:`~s2ld_core.heatmaps.decode_heatmaps`.
* ``"onnx-int8"`` — the same after ONNX Runtime's *static* quantisation (QDQ, per-channel int8
  weights, uint8 activations calibrated on the 100 real LFW LR faces shipped by scikit-image, or on
  images you pass). Dynamic quantisation is not offered: for convolutions it makes ConvInteger
  nodes that were slower than fp32 here. Check accuracy on a trained checkpoint before using it:
  :func:`compare_backends` reports the point differences and, given ground truth, the NME change.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from .export_arguments import add_export_arguments  # noqa: F401 - the CLI's entry, re-exported
from .inference import HeatmapDetector, LandmarkDetector, as_image_list, resize_face
from .schemas import get_schema

__all__ = [
    "BACKENDS",
    "TorchSpeedOptions",
    "fuse_conv_bn",
    "optimize_network",
    "export_onnx",
    "quantize_onnx",
    "calibration_images",
    "OnnxLandmarkDetector",
    "load_detector",
    "compare_backends",
    "BackendAgreement",
    "add_export_arguments",
    "main_export",
]

BACKENDS: tuple[str, ...] = ("torch", "torch-fast", "onnx", "onnx-int8")
INPUT_NAME, OUTPUT_NAME = "image", "heatmaps"
_META_KEY = "s2ld"
_META_FIELDS = ("kind", "role", "setting", "profile", "schema", "input_size", "sigma", "network",
                "mean_shape", "shape_model")


# ----------------------------------------------------------------------------- PyTorch speed options


@dataclass(frozen=True)
class TorchSpeedOptions:
    """How :func:`optimize_network` rewrites G2 for inference.

    ``fuse_bn``: fold every BatchNorm into the conv before it (one op instead of two, exact).
    ``channels_last``: NHWC weights/activations, oneDNN's native layout: no reorder around each conv
    (and ``LandmarkDetector.preprocess`` already yields NHWC-strided batches). ``jit``:
    ``torch.jit.trace`` + ``freeze`` — constant-folds the weights and fuses conv+ReLU/add; TorchScript is
    deprecated upstream, so a failed trace falls back to the eager module. ``compile``:
    ``torch.compile`` (Inductor; needs a C++ compiler, tens of seconds on first call, no gain here).
    """

    fuse_bn: bool = True
    channels_last: bool = True
    jit: bool = True
    compile: bool = False


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (in eval mode) where each ``Conv2d`` directly followed by a ``BatchNorm2d``
    inside an ``nn.Sequential`` absorbs it; the BatchNorm becomes ``Identity``.

    Exact in eval mode (BatchNorm is then an affine map per channel); G2's blocks are all built as
    Sequentials (``conv_bn_relu``, ``ResidualBlock.body``), so every BN of G2 is folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(module).eval()
    for seq in fused.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return fused


def optimize_network(network: nn.Module, input_size: int,
                     options: TorchSpeedOptions | None = None) -> nn.Module:
    """``network`` rewritten for inference per ``options`` (default: BN folded, channels-last, frozen
    TorchScript). The result computes the same function up to float rounding."""
    opts = options or TorchSpeedOptions()
    net = fuse_conv_bn(network) if opts.fuse_bn else copy.deepcopy(network).eval()
    device = next(net.parameters()).device
    example = torch.zeros(1, 3, input_size, input_size, device=device)
    if opts.channels_last:
        net = net.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    if opts.jit:
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarning for G2's input check; deprecation notices
                net = torch.jit.freeze(torch.jit.trace(net, example).eval())
        except Exception as err:  # noqa: BLE001 - any tracing failure: the eager module still works
            warnings.warn(f"TorchScript trace failed ({type(err).__name__}: {err}); using the eager network",
                          RuntimeWarning, stacklevel=2)
    if opts.compile:
        net = torch.compile(net, dynamic=False)
    return net


class _InferenceModeDetector(LandmarkDetector):
    """LandmarkDetector whose forward runs under ``inference_mode`` (no autograd bookkeeping at all,
    slightly cheaper than ``no_grad``), holding an optimised network."""

    def predict(self, images, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            return super().predict(images, batch_size)

    def heatmaps(self, images) -> torch.Tensor:
        with torch.inference_mode():
            return super().heatmaps(images)


# ----------------------------------------------------------------------------- ONNX export


def _checkpoint_meta(blob: dict[str, Any]) -> dict[str, Any]:
    return {k: blob[k] for k in _META_FIELDS if k in blob}


def _source_detector(source: LandmarkDetector | str | Path) -> tuple[LandmarkDetector, dict[str, Any]]:
    if isinstance(source, LandmarkDetector):
        meta = dict(source.meta)
        meta.setdefault("schema", source.schema.name)
        meta.setdefault("input_size", source.input_size)
        return source, _checkpoint_meta(meta)
    det = LandmarkDetector.from_checkpoint(source, "cpu")
    return det, _checkpoint_meta(det.meta)


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
        from .data.sources import lfw_faces

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
    batch = np.stack([resize_face(im, size, grow) for im in images]).astype(np.float32)
    batch /= np.float32(127.5)
    batch -= np.float32(1.0)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


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

    def preprocess(self, images: list[np.ndarray]) -> np.ndarray:
        return _to_input(images, self.input_size, self.grow_interpolation)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw network: float32 (N,3,S,S) in [-1,1] → heatmaps (N,K+1,S,S)."""
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    def heatmaps(self, images) -> torch.Tensor:
        return torch.from_numpy(self.run(self.preprocess(as_image_list(images))))

    def heatmaps_of(self, chunk: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(self.run(self.preprocess(chunk)))


# ----------------------------------------------------------------------------- choosing a backend


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
        out = _InferenceModeDetector(net, det.schema, det.input_size, device, det.meta)
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
    from .metrics import nme
    from .schemas import convert_points

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


# ----------------------------------------------------------------------------- `s2ld export --onnx`


def main_export(args: argparse.Namespace) -> Path:
    """Write the ONNX file, then check it against PyTorch on the calibration faces and print both."""
    from .data.sources import resolve_lr_source

    det = LandmarkDetector.from_checkpoint(args.checkpoint, "cpu")
    faces = resolve_lr_source(args.calibration, det.input_size).load_all()
    data = export_onnx(det, None, dynamic_batch=not args.static_batch, opset=args.opset)
    if args.int8:
        data = quantize_onnx(data, None, faces)
    out = Path(args.onnx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    onnx_det = OnnxLandmarkDetector(out)
    check = faces if not args.static_batch else faces[:1]
    ref, _ = det.predict(check)
    got, _ = onnx_det.predict(check, batch_size=1 if args.static_batch else 256)
    dist = np.linalg.norm(got - ref, axis=-1)
    kind = "int8" if args.int8 else "fp32"
    print(f"wrote {out} ({kind}, {out.stat().st_size / 1e6:.2f} MB); on {len(check)} faces vs PyTorch: "
          f"mean {dist.mean():.4f} px, max {dist.max():.4f} px")
    return out
