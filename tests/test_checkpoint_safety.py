"""A checkpoint file never runs code: model checkpoints and --resume files load weights-only.

The malicious files below unpickle into a call that writes a marker file. Loading must refuse them
with one line naming the file, and the marker must not exist afterwards. The project's own files
(model checkpoints and resume files with optimiser and scheduler state) must still load.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from s2ld_core.atomic import atomic_torch_save
from s2ld_core.checkpoints import load_checkpoint, safe_torch_load
from s2ld_core.cli import main
from s2ld_core.models import HeatmapGenerator, network_config
from s2ld_core.train.config import profile_config
from s2ld_core.train.runner import RunState, _load_resume, _resume_blob


class _WritesMarker:
    """Unpickling this calls ``exec`` (or another callable) with code that writes ``marker``."""

    def __init__(self, marker: Path, how: str = "exec"):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch {self.marker}",))
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _evil_checkpoint(path: Path, marker: Path, how: str = "exec", kind: str = "s2ld-checkpoint") -> Path:
    torch.save({"kind": kind, "role": "G2", "payload": _WritesMarker(marker, how)}, path)
    return path


@pytest.mark.parametrize("how", ["exec", "system"])
def test_malicious_checkpoint_runs_nothing_and_is_one_line(tmp_path, how):
    marker = tmp_path / "marker"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker, how)
    with pytest.raises(ValueError) as info:
        load_checkpoint(evil, role="G2")
    message = str(info.value)
    assert not marker.exists()
    assert message.startswith(f"{evil}: refused to load") and "\n" not in message
    assert ("exec" if how == "exec" else "system") in message


def test_malicious_checkpoint_under_predict_writes_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    faces = tmp_path / "faces"
    faces.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(faces / "a.png"), np.zeros((16, 16, 3), np.uint8))
    rc = main(["predict", "--checkpoint", str(evil), str(faces), "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not marker.exists() and not (tmp_path / "p.json").exists()
    assert err.startswith("s2ld: error:") and str(evil) in err and "\n" not in err


def test_malicious_resume_file_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    evil = _evil_checkpoint(tmp_path / "last.pt", marker, kind="s2ld-resume")
    with pytest.raises(ValueError, match="refused to load this resume checkpoint"):
        _load_resume(evil, _TinyStage(), {}, torch.device("cpu"))
    assert not marker.exists()


def test_garbage_checkpoint_is_one_line(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02not really a pickle" * 3)
    with pytest.raises(ValueError) as info:
        safe_torch_load(junk)
    assert str(info.value) == f"{junk}: not a PyTorch checkpoint file (cannot read this checkpoint)"
    with pytest.raises(ValueError, match="is a folder"):
        safe_torch_load(tmp_path)
    truncated = tmp_path / "truncated.pt"
    torch.save({"w": torch.zeros(100)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:-200])
    with pytest.raises(ValueError) as info:
        safe_torch_load(truncated)
    assert str(info.value).startswith(f"{truncated}: ") and "\n" not in str(info.value)


def test_project_model_checkpoint_loads_weights_only(tmp_path):
    cfg = network_config("quick")
    net = HeatmapGenerator(cfg, 5, in_size=32)
    blob = {"kind": "s2ld-checkpoint", "role": "G2", "network": cfg.to_dict(), "state_dict": net.state_dict(),
            "train_config": profile_config("quick", "stage2").to_dict(), "mean_shape": [[1.0, 2.0]] * 5,
            "k_t": 0.25, "warnings": ["w"], "target_lr": None}
    atomic_torch_save(blob, tmp_path / "g2.pt")
    back = load_checkpoint(tmp_path / "g2.pt", role="G2")
    assert back["train_config"] == blob["train_config"] and back["network"] == blob["network"]


class _TinyStage:
    """Just enough of a training stage for the resume blob: one network, Adam, a step scheduler."""

    def __init__(self):
        torch.manual_seed(0)
        self.networks = {"g": torch.nn.Linear(3, 2)}
        self.optimizers = {"g": torch.optim.Adam(self.networks["g"].parameters(), lr=1e-3)}


def test_project_resume_file_loads_weights_only(tmp_path):
    stage = _TinyStage()
    loss = stage.networks["g"](torch.ones(4, 3)).sum()
    loss.backward()
    stage.optimizers["g"].step()
    scheds = {"g": torch.optim.lr_scheduler.MultiStepLR(stage.optimizers["g"], [2, 4], gamma=0.5)}
    state = RunState(epoch=2, batch=1, step=7, extra={"k_t": 0.125, "eq15_steps": 3}, seconds=1.5)
    cfg = profile_config("quick", "stage2")
    atomic_torch_save(_resume_blob(stage, scheds, state, cfg), tmp_path / "last.pt")

    fresh = _TinyStage()
    fresh_scheds = {"g": torch.optim.lr_scheduler.MultiStepLR(fresh.optimizers["g"], [9], gamma=0.1)}
    back = _load_resume(tmp_path / "last.pt", fresh, fresh_scheds, torch.device("cpu"))
    assert back == state
    assert torch.equal(fresh.networks["g"].weight, stage.networks["g"].weight)
    assert fresh_scheds["g"].state_dict()["milestones"] == scheds["g"].state_dict()["milestones"]


def test_no_weights_only_false_left_in_the_package():
    """Every ``torch.load`` of the package goes through the weights-only loader."""
    root = Path(__file__).resolve().parents[1]
    offenders = [
        str(p.relative_to(root))
        for folder in ("s2ld_core", "annotator")
        for p in (root / folder).rglob("*.py")
        if "weights_only=False" in p.read_text(encoding="utf-8")
    ]
    assert offenders == [], offenders


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_malicious_vgg_weights_run_nothing_and_give_no_unsafe_hint(tmp_path):
    """``--vgg-weights`` goes through the same guard: one line, nothing run, and none of torch's
    advice to retry with ``weights_only=False``."""
    from s2ld_core.models.vgg import load_perceptual

    marker = tmp_path / "ran"
    evil = _evil_checkpoint(tmp_path / "vgg19.pth", marker)
    with pytest.raises(ValueError) as info:
        load_perceptual(evil)
    text = str(info.value)
    assert "\n" not in text and str(evil) in text and "refused" in text
    assert "weights_only" not in text and "likely succeed" not in text
    assert not marker.exists()
