"""Self-describing model checkpoints: loading one never needs the config file that made it.

A checkpoint is a dict with ``kind = "s2ld-checkpoint"``, its ``role`` (``G1`` or ``G2``), the network
configuration, schema and input size where relevant, the training configuration, the code version,
metrics and warnings, and the ``state_dict``.

**Loading never runs code from the file.** A ``.pt`` file is a pickle, and a plain (not weights-only)
``torch.load`` calls whatever the file names (``exec``, ``os.system`` …), so a checkpoint downloaded or
received from someone else could run anything under ``s2ld predict`` or ``s2ld demo``.
Every checkpoint the project reads (models and ``--resume`` files) therefore goes through
:func:`safe_torch_load`, i.e. ``torch.load(weights_only=True)``, which only rebuilds tensors and plain
containers. What the project writes is exactly that (dicts, lists, numbers, strings, tensors,
optimiser and scheduler state), so no project type needs allow-listing, and there is deliberately
no opt-in for "trusted" pickles: no file the project ever wrote needs one, and a switch that
re-enables code execution is one an attacker can ask a user to flip.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_KIND", "g1_checkpoint", "g2_checkpoint", "load_checkpoint", "safe_torch_load"]

CHECKPOINT_KIND = "s2ld-checkpoint"

_REFUSED_GLOBAL = re.compile(r"\bGLOBAL ([\w.]+)")  # torch words it two ways; both name it like this


def g2_checkpoint(network: torch.nn.Module, net_cfg, schema: str, *, setting: str, input_size: int = 32,
                  sigma: float = 1.0, profile: str | None = None, **fields: Any) -> dict[str, Any]:
    """The one layout of a G2 checkpoint — stage 2's final file, the tests' and benchmarks' random
    ones — that :meth:`~s2ld_core.inference.LandmarkDetector.from_checkpoint` reads: the network and
    its :class:`~s2ld_core.models.config.NetworkConfig` (``net_cfg``), schema, input size, heatmap σ,
    setting; ``fields`` adds the rest (``mean_shape``, ``shape_model``, ``train_config``, …)."""
    return {"kind": CHECKPOINT_KIND, "role": "G2", "setting": setting,
            "profile": profile if profile is not None else net_cfg.profile, "schema": schema,
            "input_size": int(input_size), "sigma": sigma, "network": net_cfg.to_dict(),
            "state_dict": network.state_dict(), **fields}


def g1_checkpoint(network: torch.nn.Module, net_cfg, *, profile: str | None = None,
                  **fields: Any) -> dict[str, Any]:
    """The layout of a G1 checkpoint (stage 1's final file), like :func:`g2_checkpoint`."""
    profile = profile if profile is not None else net_cfg.profile
    return {"kind": CHECKPOINT_KIND, "role": "G1", "profile": profile, "network": net_cfg.to_dict(),
            "state_dict": network.state_dict(), **fields}


def _one_line(err: Exception) -> str:
    """torch's load errors run over many lines; keep the line that says what is wrong."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else 'no details'}"


def safe_torch_load(path: str | Path, device: torch.device | str = "cpu", what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors that name ``path``.

    A file that asks the unpickler for a function or class (the way a malicious pickle runs its
    payload) is refused before anything is called, and the message names what it asked for.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: {what} not found")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what} file")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - every unreadable file gets one line naming it
        refused = isinstance(err, pickle.UnpicklingError) and _REFUSED_GLOBAL.search(str(err))
        if refused:
            raise ValueError(
                f"{path}: refused to load this {what}: it asks to call or build {refused.group(1)!r}, "
                "which a model file never needs (nothing from it was run)"
            ) from None
        if not zipfile.is_zipfile(path):  # torch would say e.g. "KeyError: 174812789"
            raise ValueError(f"{path}: not a PyTorch checkpoint file (cannot read this {what})") from None
        raise ValueError(f"{path}: cannot read this {what} ({_one_line(err)})") from None


def load_checkpoint(
    path: str | Path, device: torch.device | str = "cpu", role: str | None = None
) -> dict[str, Any]:
    """Read a model checkpoint, with one clear error for a missing, unreadable, unsafe or wrong file."""
    path = Path(path)
    blob = safe_torch_load(path, device)
    if not isinstance(blob, dict) or blob.get("kind") != "s2ld-checkpoint":
        raise ValueError(f"{path}: not an s2ld model checkpoint")
    if role is not None and blob.get("role") != role:
        raise ValueError(f"{path}: holds a {blob.get('role')} model, expected {role}")
    return blob
