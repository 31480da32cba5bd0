"""Self-describing model checkpoints: loading one never needs the config file that made it.

A checkpoint is a dict with ``kind = "s2ld-checkpoint"``, its ``role`` (``G1`` or ``G2``), the network
configuration, schema and input size where relevant, the training configuration, the code version,
metrics and warnings, and the ``state_dict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_checkpoint(
    path: str | Path, device: torch.device | str = "cpu", role: str | None = None
) -> dict[str, Any]:
    """Read a model checkpoint, with one clear error for a missing, unreadable or wrong file."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: checkpoint not found")
    try:
        blob = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - every unreadable file gets the same one-line message
        raise ValueError(f"{path}: cannot read this checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(blob, dict) or blob.get("kind") != "s2ld-checkpoint":
        raise ValueError(f"{path}: not an s2ld model checkpoint")
    if role is not None and blob.get("role") != role:
        raise ValueError(f"{path}: holds a {blob.get('role')} model, expected {role}")
    return blob
