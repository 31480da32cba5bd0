"""Multiply–accumulate counts of a network, measured by running it once with forward hooks.

Why hooks rather than a formula per architecture: the benchmarks compare S²LD's G2 with peers of
very different shapes (U-Net, stacked hourglasses, HRNet), and a hook on every convolution and
linear layer counts what *actually runs* at a given input size, skips included, with no extra
dependency. Only conv/linear layers are counted: they are > 98 % of the arithmetic of all these
networks; BatchNorm, activations, pooling and up-sampling are memory-bound and left out (and a
BatchNorm after a conv folds into it at inference anyway).

Conventions: one MAC = one multiply + one add, so FLOPs = 2 × MACs (the convention of the GPU and
BLAS peak figures we compare against). Counts are *per sample* (divided by the batch size).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["MacReport", "count_macs", "layer_macs"]

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
            nn.Linear)


@dataclass
class MacReport:
    """Per-sample MACs of one forward pass, in total and by layer type, plus the parameter count."""

    macs: int
    params: int
    by_type: dict[str, int] = field(default_factory=dict)
    layers: int = 0

    @property
    def gflops(self) -> float:
        """Giga floating-point operations per sample (2 per MAC)."""
        return 2.0 * self.macs / 1e9

    def to_dict(self) -> dict:
        return {"macs": self.macs, "gflops": self.gflops, "params": self.params, "layers": self.layers,
                "by_type": dict(self.by_type)}


def layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """MACs of one call of a conv or linear layer over the *whole batch*.

    Convolution: every output element is a dot product of length ``in_channels / groups × kernel``;
    a transposed convolution does the same work scattered from every *input* element, so its count
    uses the input size instead. Linear: ``in_features`` per output element. Biases are ignored.
    """
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        kernel = math.prod(module.kernel_size)
        return inputs[0].numel() * (module.out_channels // module.groups) * kernel
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        kernel = math.prod(module.kernel_size)
        return output.numel() * (module.in_channels // module.groups) * kernel
    raise TypeError(f"layer_macs does not know {type(module).__name__}")


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> MacReport:
    """Run ``model(*inputs)`` once under ``no_grad`` and count conv/linear MACs per sample.

    The model's train/eval mode is left as it was (BatchNorm in train mode would update its running
    statistics, so callers usually pass an ``eval()`` model). The batch size is taken from the first
    input's first dimension.
    """
    if not inputs:
        raise ValueError("count_macs needs at least one example input")
    batch = int(inputs[0].shape[0])
    if batch < 1:
        raise ValueError("count_macs needs a non-empty batch")
    totals: Counter[str] = Counter()
    calls = [0]

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        totals[type(module).__name__] += layer_macs(module, args, output)
        calls[0] += 1

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _COUNTED)]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    by_type = {k: v // batch for k, v in sorted(totals.items())}
    params = sum(p.numel() for p in model.parameters())
    return MacReport(macs=sum(by_type.values()), params=params, by_type=by_type, layers=calls[0])
