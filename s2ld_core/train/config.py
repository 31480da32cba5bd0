"""Training configurations as dataclasses that round-trip through YAML.

The ``paper`` profile is §4.1 verbatim: Adam 2e-4, β = (0.5, 0.9), batch 32, 200 epochs, learning rate
× 0.5 at epochs 80 and 160. The ``quick`` profile keeps every mechanism but shrinks the networks and
the schedule so the whole study runs on a 2-core laptop. Where the paper gives no number (loss weights,
gradient-penalty weight, BEGAN γ and λ_k, heatmap σ) the choice and its reason sit next to the field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SETTINGS = ("S1", "S2", "S3", "S4", "hrld")
LR_AUGMENTS = ("none", "camera-family")
D3_INPUTS = ("heatmaps", "peaks")
SCHEDULES = ("steps", "onecycle")
PROFILES = ("quick", "standard", "paper")


@dataclass
class OptimConfig:
    """§4.1: "Adam … initial learning rate of 2e-4 and β1, β2 values of 0.5, 0.9 … batch size of 32 for
    200 epochs, while dropping the learning rates by 0.5 after 80 and 160 epochs"."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 32
    epochs: int = 200
    lr_milestones: tuple[float, ...] = (0.4, 0.8)  # fractions of the epochs: 80/200 and 160/200
    lr_decay: float = 0.5
    # "steps": the paper's ×lr_decay at the milestones. "onecycle": warm up to ``lr`` over the first
    # 15 % of the steps, then cosine down to ~0 (Smith's one-cycle; no momentum cycling) — what short
    # schedules on a CPU need to converge (measured in the README).
    schedule: str = "steps"

    def milestone_epochs(self) -> list[int]:
        return sorted({max(1, round(f * self.epochs)) for f in self.lr_milestones})


@dataclass
class DataConfig:
    """Where the labelled HR faces and the unlabelled target LR faces come from.

    ``hr_data``: ``embedded`` (the face renderer) or a path (a folder of 300W ``.pts`` + images, or an
    AFLW-19 CSV). ``target_lr``: ``embedded`` (the unlabelled target-LR pool: renderer identities
    disjoint from training and test, degraded by the target camera, landmarks withheld — our stand-in
    for TinyFace's training split), ``lfw`` (scikit-image's 100 real faces) or a folder of LR crops.
    """

    hr_data: str = "embedded"
    target_lr: str = "embedded"
    schema: str = "aflw19"
    hr_size: int = 128
    lr_size: int = 32
    embedded_train_identities: int = 150
    embedded_images_per_identity: int = 8
    embedded_pool_identities: int = 60
    embedded_pool_images_per_identity: int = 8
    embedded_test_identities: int = 40
    embedded_test_images_per_identity: int = 5
    cache_dir: str | None = None  # default: ~/.cache/s2ld


@dataclass
class Stage1Config:
    """G1/D1 (eq. 2–6). α, β, γ are "empirically set" in the paper; ours weight the pixel loss so that
    its early gradient matches the GAN term's (l_pixel ≈ 0.05 on [-1, 1] images), because stage 2
    assumes "key-point locations in a generated LR image stay relatively the same" (§3.3)."""

    alpha: float = 1.0  # eq. 2: GAN
    beta: float = 20.0  # eq. 2: pixel (eq. 4)
    gamma: float = 1.0  # eq. 2: perceptual; forced to 0 (with a warning in the run) without VGG weights
    g1_gan_variant: str = "paper"  # eq. 3 as written ("paper") or SAGAN's -E[D(x̂)] ("sagan")
    gp_kind: str = "wgan-gp"  # eq. 5's "GP": WGAN-GP on interpolates, or "r1"
    gp_weight: float = 10.0
    vgg_weights: str | None = None


@dataclass
class Stage2Config:
    """G2 with D2 (BEGAN, eq. 7–10) and D3 (least squares, eq. 11), G2's loss eq. 12–15.

    The paper sets a, b, c "empirically obeying a·l_MSE > b·l_kp > c·l_conf". At the start of S4 on
    the embedded default l_MSE ≈ 15, l_kp ≈ 24, l_conf ≈ 0.85, so a = 1, b = 0.1, c = 0.05 obeys it
    with room to spare; every run counts the steps on which the ordering held (``summary.json``).
    γ and λ_k take BEGAN's published values (γ = 0.5, λ_k = 0.001), k_0 = 0 as in BEGAN.
    """

    setting: str = "S4"
    g1_checkpoint: str | None = None  # required by S2–S4
    a: float = 1.0
    b: float = 0.1
    c: float = 0.05
    began_gamma: float = 0.5
    lambda_k: float = 1e-3
    k0: float = 0.0
    sigma_lr: float = 1.0  # heatmap σ at 32×32, in heatmap pixels
    # Not in the paper: with probability ``lr_augment_prob`` a face of G2's batch is replaced by the
    # same HR face through a random chain of the broad camera family (``data.degrade.CAMERA_FAMILY``,
    # which never draws the held-out target camera). "none" is the paper's S1–S4 exactly.
    lr_augment: str = "none"  # "none" | "camera-family"
    lr_augment_prob: float = 0.5
    sigma_hr: float = 2.0  # HR-LD at 128×128
    # Not in the paper (its D3 sees the heatmaps, "heatmaps"). With "peaks" every heatmap set D3 sees
    # — ground truth, predictions on generated and on real LR — is first reduced to its soft-argmax
    # points and redrawn as the same Gaussians as the ground truth, so D3 can only judge *where* the
    # points are for this image (the face structure §3.2.3 asks for), not how sharp or tall the
    # predicted blobs are: measured, the paper's D3 separates the two sets by blob shape alone
    # (l_D3 → 0.0003 by step ~400) and its gradient then harms G2 (README, "Choices").
    d3_input: str = "heatmaps"
    # Not in the paper: b and c ramp linearly from 0 over this fraction of the run, the paper's
    # "more emphasis on l_MSE … in initial iterations" made explicit. 0 is eq. 15 from the first step.
    adv_warmup: float = 0.0


@dataclass
class TrainConfig:
    """Everything a run needs; saved as ``config.yaml`` in the run folder."""

    stage: str = "stage2"  # "stage1" | "stage2"
    profile: str = "quick"
    seed: int = 0
    device: str = "auto"
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    augment: bool = True  # §4.1's scale/rotation/translation (+ flip) augmentation of the HR faces
    checkpoint_every_steps: int = 200
    samples_every_epochs: int = 1
    # Stop early (tests, smoke runs). The "steps" schedule still follows the epochs; a "onecycle"
    # schedule spans the steps actually run, min(epochs × steps per epoch, max_steps).
    max_steps: int | None = None
    threads: int | None = None

    def validate(self) -> None:
        if self.stage not in ("stage1", "stage2"):
            raise ValueError(f"stage must be 'stage1' or 'stage2', got {self.stage!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {PROFILES}")
        if self.stage == "stage2" and self.stage2.setting not in SETTINGS:
            raise ValueError(f"unknown setting {self.stage2.setting!r}; choose one of {SETTINGS}")
        if (
            self.stage == "stage2"
            and self.stage2.setting in ("S2", "S3", "S4")
            and not self.stage2.g1_checkpoint
        ):
            raise ValueError(f"setting {self.stage2.setting} trains on G1's images: pass --g1 CHECKPOINT")
        if min(self.stage2.a, self.stage2.b, self.stage2.c) < 0:
            raise ValueError("eq. 15's weights a, b, c must be ≥ 0 (the ordering is asked of the weighted "
                             "losses, a·l_MSE > b·l_kp > c·l_conf, and each run counts the steps it held)")
        if self.stage2.lr_augment not in LR_AUGMENTS:
            raise ValueError(f"unknown lr_augment {self.stage2.lr_augment!r}; choose one of {LR_AUGMENTS}")
        if not 0.0 <= self.stage2.lr_augment_prob <= 1.0:
            raise ValueError(f"lr_augment_prob must be in [0, 1], got {self.stage2.lr_augment_prob}")
        if self.stage2.d3_input not in D3_INPUTS:
            raise ValueError(f"unknown d3_input {self.stage2.d3_input!r}; choose one of {D3_INPUTS}")
        if not 0.0 <= self.stage2.adv_warmup <= 1.0:
            raise ValueError(f"adv_warmup must be in [0, 1], got {self.stage2.adv_warmup}")
        if self.optim.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.optim.schedule!r}; choose one of {SCHEDULES}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read the training config: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training config must be a mapping")
        return cls.from_dict(data)


def profile_config(profile: str, stage: str = "stage2", **overrides: Any) -> TrainConfig:
    """The paper's schedule, or the laptop-sized one. ``overrides`` set top-level fields."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    cfg = TrainConfig(stage=stage, profile=profile)
    if profile in ("quick", "standard"):
        # Far fewer steps than the paper's schedule, so a 10x larger Adam step on a one-cycle
        # schedule (measured: S1 reaches NME 0.035 on F(HR) in 300 steps at 1e-3; at 2e-4 it has
        # barely left the mean shape), and G2 sees the broad camera family beside F/G1 (without it a
        # G2 learns the renderer's sharp look and nothing of a camera: README, "Choices").
        cfg.optim.lr = 2e-3
        cfg.optim.schedule = "onecycle"
        cfg.stage2.lr_augment = "camera-family"
    if profile == "quick":
        cfg.optim.epochs = 6 if stage == "stage2" else 4
        cfg.checkpoint_every_steps = 100
    if profile == "standard":
        # Trains to convergence on 2 CPU cores (times in the README): ≥ 10k rendered faces,
        # ~1,000 G1 steps and ~2,500 G2 steps at batch 32.
        cfg.data.embedded_train_identities = 1280
        cfg.optim.epochs = 8 if stage == "stage2" else 3
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"TrainConfig has no field {key!r}")
        setattr(cfg, key, value)
    return cfg


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _build(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name) if name in known else None
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
