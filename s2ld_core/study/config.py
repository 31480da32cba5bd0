"""What one study run is: data, schedules, the notebooks to run — a dataclass that round-trips YAML.

The study trains many networks (G1 twice, G2 in S1–S4 twice for S4, HR-LD, LightCNN six times), so
every stage has its own :class:`StageBudget`, filled from the profile's row of
:mod:`s2ld_core.profiles` (the ``quick`` row: numbers chosen so that all five notebooks finish in
about a quarter of an hour on a 2-core laptop; the ``paper`` row is empty, so §4.1's schedule
applies unchanged) — the same numbers ``s2ld train`` uses. Global ``epochs``/``max_steps`` sit on top
of the budgets because notebooks are parameterised by them (tests pass ``max_steps=2``).

Two real-LR domains, as in the paper. §4.1 trains G1 against WIDER FACE's small faces and §4.3 then
asks whether G2 transfers to TinyFace (L3) and what changes when G1 also sees TinyFace (L4). Our
stand-ins: ``g1_real_lr`` (``lfw``, scikit-image's real 25² faces, or ``target``: the target domain
itself, the quick and standard profiles' choice) for the main G1, and
``target_lr`` (default ``embedded``, the unlabelled target-LR pool) for D3 and for the L4 G1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config_files import YamlConfig, merge
from ..data.config import DataConfig
from ..profiles import PROFILES, get_profile
from ..shape_model import DECODINGS
from ..train.config import TrainConfig, profile_config

HRLD_SOURCES: tuple[str, ...] = ("train", "shipped")

NOTEBOOKS: tuple[str, ...] = (
    "01_high_to_low",
    "02_semi_supervised_landmarks",
    "03_ablations",
    "04_face_verification",
    "05_hr_landmark_detector",
)


@dataclass
class StageBudget:
    """How long (and how fast) one kind of training run learns; ``None`` keeps the training profile's
    value. ``lr`` exists for short schedules: at the paper's 2e-4 a G2 needs thousands of steps before
    its heatmaps have peaks at all, far more than a laptop budget gives it."""

    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None


@dataclass
class DataSizes:
    """Sizes of the embedded default data (renderer identities × images each); ``None`` keeps
    :class:`~s2ld_core.train.config.DataConfig`'s default. Tests set a few dozen faces in all."""

    train_identities: int | None = None
    images_per_identity: int | None = None
    pool_identities: int | None = None
    pool_images_per_identity: int | None = None
    test_identities: int | None = None
    test_images_per_identity: int | None = None


@dataclass
class VerificationConfig:
    """LightCNN for §4.3 (notebook 04). ``pretrained``: the LightCNN L5 starts from — the paper
    initialises from CASIA-WebFace weights; ``"shipped"`` is the package's LightCNN-9 pretrained on
    rendered identities (the quick and standard profiles' default); empty: L5 is reported as not run.

    ``disabled_pools``: ``None`` is the paper's LightCNN at 32² (first two max-pools disabled, so the
    last map is 8×8 as in the original at 128²). That network costs ~2.4 GMAC per face, about 20 CPU
    seconds per epoch of the quick pool, six settings over; the ``quick`` profile keeps all four
    pools (~10× cheaper) — the same layers at lower resolution. L5 takes the layout its weights were
    trained in (the authors' published weights: the paper's 8×8 ``fc1``; the shipped ones: all four
    pools and BatchNorm).

    ``norm``/``optimizer``/``lr``: BatchNorm in every MFM with Adam 1e-3 learns a few hundred faces
    in a few hundred steps; the original LightCNN (``norm: none``, SGD 0.01) barely moves in that many
    (issue 27: 6.6 % training accuracy after the quick profile's 40 steps).
    """

    epochs: int = 40
    batch_size: int = 64
    variant: str = "9"
    lr: float = 1e-3
    optimizer: str = "adam"
    norm: str = "batch"
    disabled_pools: int | None = None
    pretrained: str | None = None


@dataclass
class StudyConfig(YamlConfig):
    """One study run. Saved as ``<run_dir>/study.yaml``; every notebook rebuilds it from its parameters."""

    config_name: ClassVar[str] = "study"
    config_what: ClassVar[str] = "study config"

    profile: str = "quick"
    run_dir: str = "reports/quick"
    hr_data: str = "embedded"
    target_lr: str = "embedded"  # D3's real LR (S4) and the L4 G1's: the target domain
    # The main G1's real LR. "lfw" (the paper's variant): another real domain, as WIDER FACE is to
    # TinyFace. "target" (quick and standard): the target domain itself, so that G1, D3 and the test
    # share one domain — LFW's sharp faces are 7x sharper than the embedded target camera's, too far
    # apart for G1's images to teach G2 anything about the target (measured: docs/design-choices.md).
    g1_real_lr: str = "lfw"
    schema: str = "aflw19"
    seed: int = 0
    # The seed of every G1/G2/HR-LD training run; None: ``seed``. ``s2ld study --runs K`` trains run r
    # with seed + r while ``seed`` keeps the data (test sets, cameras, probes) the same in every run.
    train_seed: int | None = None
    device: str = "auto"
    epochs: int | None = None  # every training run, over the budgets
    max_steps: int | None = None  # caps every training run (smoke tests)
    threads: int | None = None
    cache_dir: str | None = None  # rendered-face cache (default ~/.cache/s2ld)
    data: DataSizes = field(default_factory=DataSizes)
    # Fields of every training run's TrainConfig, set last (``--set train.stage2.lr_augment=none``:
    # the paper's arm, S1 on F(HR) alone), e.g. {"stage2": {"lr_augment": "none"}}.
    train: dict[str, Any] = field(default_factory=dict)
    stage1: StageBudget = field(default_factory=StageBudget)  # G1/D1, both G1 runs
    settings: StageBudget = field(default_factory=StageBudget)  # G2 in S1–S4
    hrld: StageBudget = field(default_factory=StageBudget)  # HR-LD at 128²
    # Where HR-LD (upscale + HR-LD in Table 1, Table 5) comes from: "train" it with the ``hrld``
    # budget, or "shipped": the package's s2ld_core/weights/ibug68/hrld.pt, for a budget too small
    # to converge (the quick profile's default); its rows say "pretrained, shipped".
    hrld_source: str = "train"
    verification: VerificationConfig = field(default_factory=VerificationConfig)
    lfw_faces: int = 100  # real LR faces shown/scored in notebook 02 (scikit-image ships 100)
    # How S1–S4 turn heatmaps into points in the tables: "pdm" (shape model fitted to the peaks) or
    # "raw" (the peaks); the other one is always reported beside S4 for comparison.
    decoding: str = "pdm"
    # Real faces every detector is also scored on (never trained on): an imglab folder (relative to
    # the project root or absolute); "auto" takes dlib's 43 PASCAL VOC faces from outside the
    # repository (s2ld_core.data.external: $S2LD_PASCAL_FACES or ../shared/data); "" skips the check.
    real_faces: str = "auto"

    def validate(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        for name in ("epochs", "max_steps"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for stage in ("stage1", "settings", "hrld"):
            for key, value in dataclasses.asdict(getattr(self, stage)).items():
                if value is not None and not value > (0 if key == "lr" else 0.5):
                    raise ValueError(f"{stage}.{key} must be {'> 0' if key == 'lr' else '>= 1'}, got {value}")
        for key, value in dataclasses.asdict(self.data).items():
            if value is not None and int(value) < 1:
                raise ValueError(f"data.{key} must be >= 1, got {value}")
        if self.hrld_source not in HRLD_SOURCES:
            choices = ", ".join(map(repr, HRLD_SOURCES))
            raise ValueError(f"hrld_source must be one of {choices}, got {self.hrld_source!r}")
        if self.decoding not in DECODINGS:
            choices = ", ".join(map(repr, DECODINGS))
            raise ValueError(f"decoding must be one of {choices}, got {self.decoding!r}")
        if self.train:  # unknown fields and bad values now, not when the first run starts
            self.train_config("stage2", "S1").validate()
        if self.verification.epochs < 1:
            raise ValueError(f"verification.epochs must be >= 1, got {self.verification.epochs}")
        if self.verification.optimizer not in ("adam", "sgd"):
            raise ValueError(
                f"verification.optimizer must be 'adam' or 'sgd', got {self.verification.optimizer!r}")
        if self.verification.norm not in ("batch", "none"):
            raise ValueError(f"verification.norm must be 'batch' or 'none', got {self.verification.norm!r}")

    # ------------------------------------------------------------------ derived configurations

    @property
    def training_seed(self) -> int:
        """The seed the study's training runs use (``train_seed``, else ``seed``)."""
        return self.seed if self.train_seed is None else int(self.train_seed)

    def data_config(self, real_lr: str | None = None) -> DataConfig:
        """The :class:`DataConfig` of this study, with ``real_lr`` as the unlabelled domain."""
        d = DataConfig(
            hr_data=self.hr_data,
            target_lr=real_lr or self.target_lr,
            schema=self.schema,
            cache_dir=self.cache_dir,
        )
        for ours, theirs in _DATA_SIZES.items():
            value = getattr(self.data, ours)
            if value is not None:
                setattr(d, theirs, int(value))
        return d

    def train_config(
        self,
        stage: str,
        setting: str | None = None,
        real_lr: str | None = None,
        g1_checkpoint: str | None = None,
    ) -> TrainConfig:
        """The :class:`TrainConfig` of one training run of the study.

        ``stage1`` trains G1 against ``real_lr`` (default ``g1_real_lr``); ``stage2`` trains G2 in
        ``setting`` with D3 seeing ``real_lr`` (default ``target_lr``). Epochs: global ``epochs`` >
        the stage's budget > the profile. Steps: the smaller of global ``max_steps`` and the budget's.
        """
        cfg = profile_config(self.profile, stage, None if stage == "stage1" else (setting or "S4"))
        cfg.seed, cfg.device, cfg.threads = self.training_seed, self.device, self.threads
        if stage == "stage1":
            budget = self.stage1
            cfg.data = self.data_config(real_lr or self.g1_real_lr)
        else:
            setting = setting or "S4"
            budget = self.hrld if setting == "hrld" else self.settings
            cfg.data = self.data_config(real_lr or self.target_lr)
            cfg.stage2.setting = setting
            cfg.stage2.g1_checkpoint = g1_checkpoint
        if budget.batch_size is not None:
            cfg.optim.batch_size = int(budget.batch_size)
        if budget.lr is not None:
            cfg.optim.lr = float(budget.lr)
        epochs = self.epochs if self.epochs is not None else budget.epochs
        if epochs is not None:
            cfg.optim.epochs = int(epochs)
        caps = [int(v) for v in (self.max_steps, budget.max_steps) if v is not None]
        cfg.max_steps = min(caps) if caps else None
        if self.train:
            cfg = TrainConfig.from_dict(merge(cfg.to_dict(), self.train))
        return cfg

    # ------------------------------------------------------------------ serialisation


# DataSizes field -> DataConfig field
_DATA_SIZES = {
    "train_identities": "embedded_train_identities",
    "images_per_identity": "embedded_images_per_identity",
    "pool_identities": "embedded_pool_identities",
    "pool_images_per_identity": "embedded_pool_images_per_identity",
    "test_identities": "embedded_test_identities",
    "test_images_per_identity": "embedded_test_images_per_identity",
}


def study_config(profile: str = "quick", **overrides: Any) -> StudyConfig:
    """The study defaults of ``profile`` — its row of :mod:`s2ld_core.profiles`: data sizes, each
    kind of run's budget, LightCNN's — with ``overrides`` (top-level fields or nested dicts) applied."""
    row = get_profile(profile)
    cfg = StudyConfig(profile=profile, run_dir=f"reports/{profile}")
    cfg.data = DataSizes(**{ours: row.data[key] for ours, key in _DATA_SIZES.items() if key in row.data})
    for stage in ("stage1", "settings", "hrld"):
        budget = getattr(row, stage)
        setattr(cfg, stage, StageBudget(epochs=budget.epochs, batch_size=budget.batch_size))
    cfg.verification = VerificationConfig(**row.verification)
    if row.g1_real_lr is not None:
        cfg.g1_real_lr = row.g1_real_lr
    if row.hrld_source is not None:
        cfg.hrld_source = row.hrld_source
    data = merge(cfg.to_dict(), overrides)
    out = StudyConfig.from_dict(data)
    if out.g1_real_lr == "target":
        out.g1_real_lr = out.target_lr
    out.validate()
    return out
