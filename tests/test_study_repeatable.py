"""One study run is repeatable: the study's stage 1 (G1/D1) gives the same losses and the same
weights whether its data come from a cold cache (rendered now) or a warm one, and whatever ran
before it in the process (random draws, another thread count, a data source that draws from torch's
global generator while it loads)."""

from __future__ import annotations

import json

import torch
from study_params import TINY_STUDY

from s2ld_core.study import steps
from s2ld_core.train import launch

STEPS = 3


def _stage1(tmp_path, name: str, c: str):
    """The study's G1 (``ensure_g1``, as notebook 01 trains it) at the tests' tiny budget; returns
    its logged losses and its weights."""
    study = steps.open_study(
        "quick",
        str(tmp_path / name),
        max_steps=STEPS,
        overrides={**TINY_STUDY, "stage1": {"batch_size": 8, "epochs": 2}, "cache_dir": str(tmp_path / c)},
        interactive=False,
    )
    g1 = steps.ensure_g1(study)
    assert not g1.reused and g1.steps == STEPS
    losses = [json.loads(line) for line in (g1.run / "stats.jsonl").read_text().splitlines()]
    weights = torch.load(g1.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return [{k: v for k, v in r.items() if k != "lr"} for r in losses], weights


def _same(a, b) -> None:
    (losses_a, weights_a), (losses_b, weights_b) = a, b
    assert losses_a == losses_b  # exactly: every loss of every step
    assert weights_a.keys() == weights_b.keys()
    for k in weights_a:
        assert torch.equal(weights_a[k], weights_b[k]), k


def test_study_stage1_repeats_with_a_cold_or_warm_cache_whatever_ran_before(tmp_path, monkeypatch):
    threads = torch.get_num_threads()
    try:
        _check_repeats(tmp_path, monkeypatch)
    finally:
        torch.set_num_threads(threads)


def _check_repeats(tmp_path, monkeypatch) -> None:
    cold = _stage1(tmp_path, "cold", "cache")  # renders every face into an empty cache
    assert len(cold[0]) == STEPS

    # warm cache, after a kernel's worth of other work: random draws and another thread count
    torch.manual_seed(1234)
    torch.rand(1000)
    torch.set_num_threads(max(1, torch.get_num_threads() + 1))
    warm = _stage1(tmp_path, "warm", "cache")
    _same(cold, warm)

    # a cold cache again, with data that draw from torch's global generator while they load: the
    # networks are seeded after the data, so their initial weights cannot depend on how they arrive
    load = launch.load_hr_faces

    def drawing_loader(*args, **kwargs):
        torch.rand(4096)
        return load(*args, **kwargs)

    monkeypatch.setattr(launch, "load_hr_faces", drawing_loader)
    _same(cold, _stage1(tmp_path, "cold-drawing", "cache-2"))


def test_a_run_sets_its_thread_count_whatever_the_process_had(monkeypatch):
    from s2ld_core.train.config import profile_config

    cfg = profile_config("quick", "stage1")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(launch.DEFAULT_THREADS + 1)
        assert launch.run_threads(cfg) == launch.DEFAULT_THREADS
        launch._prepare(cfg)
        assert torch.get_num_threads() == launch.DEFAULT_THREADS
        cfg.threads = 1
        launch._prepare(cfg)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(old)
