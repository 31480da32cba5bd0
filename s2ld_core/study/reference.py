"""The committed reference answer: Table 1 and the paper's ordering over several training runs, in both
arms (the paper's recipe, ``lr_augment: none``, and ours, the camera family), stored in the checkout's
``results/standard/<arm>.json`` by ``scripts/reference_runs.py``. A quick study prints it beside its own
single-run table, so a reader sees at once what a run of one seed can and cannot say.

Only read, never written, by the study; absent (an installed package without the checkout's
``results/``), the report says so in one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .over_runs import markdown

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "results" / "standard"
ARMS: dict[str, str] = {"camera-family": "camera-family", "none": "paper-arm"}  # lr_augment → file


def arm_of(study: Mapping[str, Any]) -> str:
    """The arm a study ran (its ``study.yaml`` as a dict): ``paper-arm`` when every G2 learns from
    F(HR) alone (``train.stage2.lr_augment: none``), else ``camera-family`` (the profiles' default)."""
    lr_augment = (study.get("train") or {}).get("stage2", {}).get("lr_augment", "camera-family")
    return ARMS.get(str(lr_augment), "camera-family")


def load_reference(arm: str, folder: Path = REFERENCE_DIR) -> dict[str, Any] | None:
    """The committed over-runs result of ``arm``, or ``None`` where there is none."""
    path = folder / f"{arm}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def reference_markdown(arm: str, folder: Path = REFERENCE_DIR) -> str | None:
    """What the report shows: where the reference comes from (budget, runs, time) and its tables."""
    ref = load_reference(arm, folder)
    if ref is None:
        return None
    about = ref.get("about", {})
    head = (f"**Reference: {arm}, {len(ref.get('runs', []))} training runs** (committed in "
            f"`results/standard/{arm}.json`; {about.get('budget', 'budget not recorded')}; "
            f"{about.get('time', '')}). The quick profile's data at data seed 0.")
    return head + "\n\n" + markdown(ref)
