"""One configuration path: profiles resolve once into a TrainConfig that carries its networks, a run's
config.yaml rebuilds them with no profile lookup, and one generic ``--set KEY=VALUE`` reaches any field
(of a training run, of a study, and through ``train.*`` of every training run in a study)."""

from __future__ import annotations

import pytest

from s2ld_core.config_files import assignments, with_settings
from s2ld_core.train.config import TrainConfig, profile_config

SHIPPED_CONFIG = "s2ld_core/weights/ibug68/config.yaml"


def test_assignments_parse_dotted_keys_and_yaml_values():
    got = assignments(["stage2.c=0.01", "optim.lr=1e-3", "stage2.lr_augment=none", "augment=false",
                       "network.g2_widths=[8, 16]"])
    assert got == {"stage2": {"c": 0.01, "lr_augment": "none"}, "optim": {"lr": 0.001}, "augment": False,
                   "network": {"g2_widths": [8, 16]}}


@pytest.mark.parametrize("item", ["stage2.c", "=1", "stage2..c=1"])
def test_a_malformed_assignment_is_one_line_naming_it(item):
    with pytest.raises(ValueError, match=r"--set .*KEY=VALUE"):
        assignments([item])


def test_with_settings_sets_fields_and_refuses_unknown_ones():
    cfg = with_settings(profile_config("quick", "stage2", "S1"), ["stage2.c=0.01", "optim.batch_size=8"])
    assert (cfg.stage2.c, cfg.optim.batch_size, cfg.optim.lr) == (0.01, 8, 2e-3)
    with pytest.raises(ValueError, match=r"train\.stage2\.nope"):
        with_settings(cfg, ["stage2.nope=1"])


def _no_profiles(monkeypatch):
    def refuse(name):
        raise AssertionError(f"profile {name!r} looked up")

    for module in ("s2ld_core.profiles", "s2ld_core.models.config", "s2ld_core.train.config"):
        monkeypatch.setattr(f"{module}.get_profile", refuse)


def test_a_run_config_yaml_alone_rebuilds_its_networks(tmp_path, monkeypatch):
    from s2ld_core.models import HeatmapGenerator
    from s2ld_core.models.config import network_config

    cfg = profile_config("quick", "stage2", "S1")
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    expected = network_config("quick")
    _no_profiles(monkeypatch)
    loaded = TrainConfig.from_yaml(tmp_path / "config.yaml")
    assert loaded.network_config() == expected
    g2 = HeatmapGenerator(loaded.network_config(), 19, in_size=32)
    assert g2.net.stem[0].out_channels == expected.g2_widths[0]


def test_the_shipped_config_yaml_names_the_shipped_networks(monkeypatch):
    import torch

    blob = torch.load(SHIPPED_CONFIG.replace("config.yaml", "detector.pt"), map_location="cpu",
                      weights_only=True)
    _no_profiles(monkeypatch)
    assert TrainConfig.from_yaml(SHIPPED_CONFIG).network_config().to_dict() == blob["network"]


def test_the_cli_applies_set_last():
    from s2ld_core.cli import _train_config, build_parser

    args = build_parser().parse_args(["train", "stage2", "--setting", "S1", "--out", "x", "--lr", "0.1",
                                      "--set", "optim.lr=0.5", "--set", "stage2.lr_augment=none"])
    cfg, _ = _train_config(args, "stage2")
    assert (cfg.optim.lr, cfg.stage2.lr_augment) == (0.5, "none")


def test_a_study_sets_every_training_run_through_train():
    from s2ld_core.study.config import study_config

    study = study_config("quick", **assignments(["train.stage2.lr_augment=none", "verification.epochs=3"]))
    assert study.verification.epochs == 3
    assert study.train_config("stage2", "S1").stage2.lr_augment == "none"
    assert study_config("quick").train_config("stage2", "S1").stage2.lr_augment == "camera-family"
    with pytest.raises(ValueError, match="lr_augment"):
        study_config("quick", **assignments(["train.stage2.lr_augment=nope"]))
