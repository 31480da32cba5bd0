"""One repeatable code path for MKL's vector math, settled on import, before any real work.

PyTorch's CPU build computes ``tanh``, ``exp`` and their kin with MKL's vector math (VML). MKL picks
its CPU code path on the first such call in the process; when that first call is a large tensor
that torch splits over several threads (after MKL already served a matrix product, as G1's noise
projection does), the threads race that choice and some chunks may run another code path, whose
last bits differ. Only that one call is affected, but it was enough to make two identical study runs
differ: the first ``tanh`` of G1 in notebook 02's kernel gave S4 different inputs in about one run in
two (measured: 8 fresh processes, 3 distinct outputs of G1's first forward; every later forward
identical). One tiny call from this thread first — a handful of elements, never split — settles the
choice, and every later call in the process takes the one path.

Imported (for its effect) by the modules whose work starts with vector math: the networks
(:mod:`s2ld_core.models`), heatmap encoding (:mod:`s2ld_core.heatmaps`) and LightCNN.
"""

from __future__ import annotations

import torch


def settle() -> None:
    """Make the process's first vector-math call a single-threaded one (idempotent, microseconds)."""
    torch.exp(torch.zeros(8))
    torch.tanh(torch.zeros(8))


settle()
