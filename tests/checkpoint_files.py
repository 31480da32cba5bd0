"""Random-weight checkpoints for tests, in the one layout stage 2 writes
(:func:`s2ld_core.checkpoints.g2_checkpoint`): real networks whose predictions mean nothing, so that
loading, backends, the CLI and the apps run end to end without training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from s2ld_core.atomic import atomic_torch_save
from s2ld_core.checkpoints import g2_checkpoint
from s2ld_core.models import HeatmapGenerator
from s2ld_core.models.config import network_config
from s2ld_core.schemas import get_schema


def write_g2(path: str | Path, schema: str = "aflw19", *, network: torch.nn.Module | None = None,
             setting: str = "S4", seed: int | None = 0, input_size: int = 32,
             **fields: Any) -> torch.nn.Module:
    """Save a quick-profile G2 (``network``, else a new one with random weights drawn from ``seed``;
    ``None`` keeps torch's current random state) at ``path`` and return it. ``fields`` join the
    checkpoint (``mean_shape``, ``sigma``, ``train_config`` …)."""
    if network is None:
        if seed is not None:
            torch.manual_seed(seed)
        network = HeatmapGenerator(network_config("quick"), get_schema(schema).num_points, in_size=input_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(g2_checkpoint(network, network.cfg, schema, setting=setting, input_size=input_size,
                                    **fields), path)
    return network
