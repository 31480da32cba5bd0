"""G2 rewritten for fast CPU inference in PyTorch: the ``torch-fast`` backend.

At 32×32 G2 is small (quick profile ≈ 43 M MACs), so eager PyTorch spends most of a single-face call
in per-operator dispatch, not arithmetic. :func:`optimize_network` folds Conv+BatchNorm (exact up to
float rounding), moves the weights to channels-last and freezes a TorchScript trace; run under
``inference_mode`` each of the three helped in interleaved single-thread runs, together ≈ 1.9× on the
quick profile at batch 1 (CPU time 4.3 → 2.3 ms) and ≈ 1.2× on the paper profile. ``torch.compile``
is available in :class:`TorchSpeedOptions` but off: it did not beat this and takes tens of seconds to
compile. ``benchmarks/bench_inference.py`` measures it beside the other backends.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .detector import LandmarkDetector

__all__ = ["TorchSpeedOptions", "fuse_conv_bn", "optimize_network", "InferenceModeDetector"]


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


class InferenceModeDetector(LandmarkDetector):
    """LandmarkDetector whose forward runs under ``inference_mode`` (no autograd bookkeeping at all,
    slightly cheaper than ``no_grad``), holding an optimised network."""

    def predict(self, images, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            return super().predict(images, batch_size)

    def heatmaps(self, images) -> torch.Tensor:
        with torch.inference_mode():
            return super().heatmaps(images)
