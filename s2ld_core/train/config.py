"""Training configurations as dataclasses that round-trip through YAML.

The defaults are §4.1 verbatim (the ``paper`` profile): Adam 2e-4, β = (0.5, 0.9), batch 32, 200
epochs, learning rate × 0.5 at epochs 80 and 160. The other profiles' numbers (``quick``: every
mechanism, smaller networks and schedules for a 2-core laptop) are in :mod:`s2ld_core.profiles`;
:func:`profile_config` applies them. The ``data`` section is
:class:`~s2ld_core.data.config.DataConfig`. Where the paper gives no number (loss weights,
gradient-penalty weight, BEGAN γ and λ_k, heatmap σ) the choice and its reason sit next to the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..config_files import YamlConfig
from ..data.config import DataConfig
from ..profiles import PROFILES, get_profile

if TYPE_CHECKING:  # models/ imports torch; the CLI reads configs before it needs torch
    from ..models.config import NetworkConfig

SETTINGS = ("S1", "S2", "S3", "S4", "hrld")
LR_AUGMENTS = ("none", "camera-family")
D3_INPUTS = ("heatmaps", "peaks")
EQ15_WEIGHTS = ("fixed", "ordered")
REAL_LR_NORMS = ("running", "batch")
SCHEDULES = ("steps", "onecycle")


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
    # schedules on a CPU need to converge (measured: docs/design-choices.md).
    schedule: str = "steps"

    def milestone_epochs(self) -> list[int]:
        return sorted({max(1, round(f * self.epochs)) for f in self.lr_milestones})


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

    The paper sets a, b, c "empirically obeying a·l_MSE > b·l_kp > c·l_conf"; every run counts the
    steps on which the ordering held (``summary.json``). With the losses' reductions of
    :mod:`s2ld_core.losses` the standard S4 run starts at l_MSE ≈ 0.32, l_kp ≈ 0.003, l_conf ≈ 0.9 and
    ends near 0.13, 0.03 and 1.0 (D3 wins), so no constant c keeps the ordering without switching D3
    off: the constants a = 1, b = 0.1, c = 0.05 held it on 30 of 1,200 steps. ``eq15_weights =
    "ordered"`` keeps it on every step by lowering b and c where needed.
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
    # predicted blobs are: the paper's D3 separates the two sets by blob shape alone (l_D3 → 0.0003 by
    # step ~400 in the shipped S4 run). Measured in the quick study's set-up with adv_warmup 0.3: better
    # on validation, worse on the target-LR test, so no profile turns it on
    # (docs/experiments/tried-not-adopted.md).
    d3_input: str = "heatmaps"
    # Not in the paper: b and c ramp linearly from 0 over this fraction of the run, the paper's
    # "more emphasis on l_MSE … in initial iterations" made explicit. 0 is eq. 15 from the first step.
    adv_warmup: float = 0.0
    # "fixed": eq. 15 with the constants a, b, c. "ordered": b and c are lowered on each step where
    # needed so that the paper's ordering a·l_MSE > b·l_kp > c·l_conf holds, each term at most
    # ``eq15_ratio`` times the one before (:func:`~s2ld_core.losses.eq15_ordered_weights`).
    eq15_weights: str = "fixed"
    eq15_ratio: float = 0.5
    # Not in the paper: self-training on the unlabelled real LR pool (``data.target_lr``). This G2
    # checkpoint (the teacher) labels each real LR face once, with the flip test and shape-model
    # decoding, on the face as it is; then with probability ``real_teacher_prob`` a face of G2's batch
    # is replaced by a real LR face, augmented like the HR faces and sent through a random chain of
    # the camera family. G2 so learns to find on degraded *real* faces what the teacher finds on the
    # clean ones (the same real pool D3 sees in S4). No labelled real face is used. None: off.
    real_teacher: str | None = None
    real_teacher_prob: float = 0.25
    # Not in the paper: G2 starts from this G2 checkpoint (same schema, size and network) instead of
    # from scratch; D2 and D3 still start fresh. With an S2 run here, S3/S4 are the paper's "more
    # emphasis on l_MSE … in initial iterations" taken to its end: eq. 12 alone until it has converged,
    # then eq. 15. None: from scratch (the paper).
    init_g2: str | None = None
    # The paper is silent on normalisation. How G2 sees S4's unlabelled real LR faces: "running", as at
    # inference (BatchNorm on the running statistics of G2's labelled batches, which the real faces
    # leave unchanged), or "batch", in train mode (each real batch normalised by its own statistics,
    # which also pull the running ones toward the real pool: PyTorch's default, how S4 ran before).
    # Measured on the S4 started from S2: recomputing its running statistics on its labelled inputs
    # alone took validation from 5.16 to 4.90 % and the target-LR test from 5.91 to 5.40 %
    # (docs/experiments/s4-batchnorm.md).
    # In the quick study (same G1 and S1–S3) "running" scored 7.63 % on validation against 8.63 %.
    real_lr_norm: str = "running"


@dataclass
class TrainConfig(YamlConfig):
    """Everything a run needs; saved as ``config.yaml`` in the run folder."""

    config_name: ClassVar[str] = "train"
    config_what: ClassVar[str] = "training config"

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
    # The networks' sizes. :func:`profile_config` writes the profile's here, so a run's config.yaml
    # rebuilds its networks by itself; ``None`` (a config.yaml written before this field, or a
    # TrainConfig made by hand) means the networks of ``profile``.
    network: NetworkConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):  # from YAML
            from ..models.config import NetworkConfig

            self.network = NetworkConfig.from_dict(self.network)

    def network_config(self) -> NetworkConfig:
        """The sizes this run's networks are built with: :attr:`network`, else ``profile``'s."""
        from ..models.config import network_config

        return self.network if self.network is not None else network_config(self.profile)

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
        if not 0.0 <= self.stage2.real_teacher_prob <= 1.0:
            raise ValueError(f"real_teacher_prob must be in [0, 1], got {self.stage2.real_teacher_prob}")
        if not 0.0 <= self.stage2.lr_augment_prob <= 1.0:
            raise ValueError(f"lr_augment_prob must be in [0, 1], got {self.stage2.lr_augment_prob}")
        if self.stage2.d3_input not in D3_INPUTS:
            raise ValueError(f"unknown d3_input {self.stage2.d3_input!r}; choose one of {D3_INPUTS}")
        if self.stage2.real_lr_norm not in REAL_LR_NORMS:
            raise ValueError(
                f"unknown real_lr_norm {self.stage2.real_lr_norm!r}; choose one of {REAL_LR_NORMS}"
            )
        if self.stage2.eq15_weights not in EQ15_WEIGHTS:
            raise ValueError(
                f"unknown eq15_weights {self.stage2.eq15_weights!r}; choose one of {EQ15_WEIGHTS}"
            )
        if not 0.0 < self.stage2.eq15_ratio <= 1.0:
            raise ValueError(f"eq15_ratio must be in (0, 1], got {self.stage2.eq15_ratio}")
        if not 0.0 <= self.stage2.adv_warmup <= 1.0:
            raise ValueError(f"adv_warmup must be in [0, 1], got {self.stage2.adv_warmup}")
        if self.optim.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.optim.schedule!r}; choose one of {SCHEDULES}")


def profile_config(
    profile: str, stage: str = "stage2", setting: str | None = None, **overrides: Any
) -> TrainConfig:
    """The configuration of one training run in ``profile``: its row of :mod:`s2ld_core.profiles`
    (learning rate, schedule, data sizes) on the paper's defaults, with the budget of ``stage`` — for
    stage 2 that of ``setting`` (S1–S4 share one; HR-LD has its own; default: the configuration's S4).
    ``overrides`` set top-level fields."""
    from ..models.config import network_config

    row = get_profile(profile)
    cfg = TrainConfig(stage=stage, profile=profile, network=network_config(profile))
    if setting is not None:
        cfg.stage2.setting = setting
    if row.lr is not None:
        cfg.optim.lr = row.lr
    if row.schedule is not None:
        cfg.optim.schedule = row.schedule
    if row.lr_augment is not None:
        cfg.stage2.lr_augment = row.lr_augment
    if row.eq15_weights is not None:
        cfg.stage2.eq15_weights = row.eq15_weights
    if row.eq15_ratio is not None:
        cfg.stage2.eq15_ratio = row.eq15_ratio
    if row.checkpoint_every_steps is not None:
        cfg.checkpoint_every_steps = row.checkpoint_every_steps
    for key, value in row.data.items():
        setattr(cfg.data, key, value)
    budget = row.budget(stage, cfg.stage2.setting)
    if budget.epochs is not None:
        cfg.optim.epochs = budget.epochs
    if budget.batch_size is not None:
        cfg.optim.batch_size = budget.batch_size
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"TrainConfig has no field {key!r}")
        setattr(cfg, key, value)
    return cfg
