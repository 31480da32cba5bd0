"""What one study run is: data, schedules, the notebooks to run — a dataclass that round-trips YAML.

The study trains many networks (G1 twice, G2 in S1–S4 twice for S4, HR-LD, LightCNN six times), so
every stage has its own :class:`StageBudget`; the ``quick`` profile fills them with small, conservative
numbers chosen so that all five notebooks finish in about a quarter of an hour on a 2-core laptop,
and the ``paper`` profile leaves them empty so §4.1's schedule (:func:`~s2ld_core.train.config.
profile_config`) applies unchanged. Global ``epochs``/``max_steps`` sit on top of the budgets because
notebooks are parameterised by them (tests pass ``max_steps=2``).

Two real-LR domains, as in the paper. §4.1 trains G1 against WIDER FACE's small faces and §4.3 then
asks whether G2 transfers to TinyFace (L3) and what changes when G1 also sees TinyFace (L4). Our
stand-ins: ``g1_real_lr`` (``lfw``, scikit-image's real 25² faces, or ``target``: the target domain
itself, the quick and standard profiles' choice) for the main G1, and
``target_lr`` (default ``embedded``, the unlabelled target-LR pool) for D3 and for the L4 G1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..train.config import PROFILES, DataConfig, TrainConfig, profile_config

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
    """LightCNN for §4.3 (notebook 04). ``pretrained``: a LightCNN state dict for L5 — the paper
    initialises from CASIA-WebFace weights; without one, L5 is reported as not run.

    ``disabled_pools``: ``None`` is the paper's LightCNN at 32² (first two max-pools disabled, so the
    last map is 8×8 as in the original at 128²). That network costs ~2.4 GMAC per face, about 20 CPU
    seconds per epoch of the quick pool, six settings over; the ``quick`` profile keeps all four
    pools (~10× cheaper) — the same layers at lower resolution. L5 always uses the paper's layout,
    because published weights only fit its 8×8 ``fc1``.
    """

    epochs: int = 40
    batch_size: int = 64
    variant: str = "9"
    lr: float = 0.01
    disabled_pools: int | None = None
    pretrained: str | None = None


@dataclass
class StudyConfig:
    """One study run. Saved as ``<run_dir>/study.yaml``; every notebook rebuilds it from its parameters."""

    profile: str = "quick"
    run_dir: str = "reports/quick"
    hr_data: str = "embedded"
    target_lr: str = "embedded"  # D3's real LR (S4) and the L4 G1's: the target domain
    # The main G1's real LR. "lfw" (the paper's variant): another real domain, as WIDER FACE is to
    # TinyFace. "target" (quick and standard): the target domain itself, so that G1, D3 and the test
    # share one domain — LFW's sharp faces are 7x sharper than the embedded target camera's, too far
    # apart for G1's images to teach G2 anything about the target (measured in the README).
    g1_real_lr: str = "lfw"
    schema: str = "aflw19"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None  # every training run, over the budgets
    max_steps: int | None = None  # caps every training run (smoke tests)
    threads: int | None = None
    cache_dir: str | None = None  # rendered-face cache (default ~/.cache/s2ld)
    data: DataSizes = field(default_factory=DataSizes)
    stage1: StageBudget = field(default_factory=StageBudget)  # G1/D1, both G1 runs
    settings: StageBudget = field(default_factory=StageBudget)  # G2 in S1–S4
    hrld: StageBudget = field(default_factory=StageBudget)  # HR-LD at 128²
    verification: VerificationConfig = field(default_factory=VerificationConfig)
    lfw_faces: int = 100  # real LR faces shown/scored in notebook 02 (scikit-image ships 100)
    # How S1–S4 turn heatmaps into points in the tables: "pdm" (shape model fitted to the peaks) or
    # "raw" (the peaks); the other one is always reported beside S4 for comparison.
    decoding: str = "pdm"
    # Real faces every detector is also scored on (never trained on): an imglab folder, relative to
    # the project root; "" skips the check. The project ships dlib's 43 PASCAL VOC faces there.
    real_faces: str = "data/pascal-faces-68"

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
        if self.decoding not in ("raw", "pdm"):
            raise ValueError(f"decoding must be 'raw' or 'pdm', got {self.decoding!r}")
        if self.verification.epochs < 1:
            raise ValueError(f"verification.epochs must be >= 1, got {self.verification.epochs}")

    # ------------------------------------------------------------------ derived configurations

    def data_config(self, real_lr: str | None = None) -> DataConfig:
        """The :class:`DataConfig` of this study, with ``real_lr`` as the unlabelled domain."""
        d = DataConfig(
            hr_data=self.hr_data,
            target_lr=real_lr or self.target_lr,
            schema=self.schema,
            cache_dir=self.cache_dir,
        )
        sizes = {
            "train_identities": "embedded_train_identities",
            "images_per_identity": "embedded_images_per_identity",
            "pool_identities": "embedded_pool_identities",
            "pool_images_per_identity": "embedded_pool_images_per_identity",
            "test_identities": "embedded_test_identities",
            "test_images_per_identity": "embedded_test_images_per_identity",
        }
        for ours, theirs in sizes.items():
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
        cfg = profile_config(self.profile, stage)
        cfg.seed, cfg.device, cfg.threads = self.seed, self.device, self.threads
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
        return cfg

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        return _build(cls, data, "study")

    @classmethod
    def from_yaml(cls, path: str | Path) -> StudyConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read the study config: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a study config must be a mapping")
        return cls.from_dict(data)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Nested dataclass from a dict; unknown keys are an error that names the full key."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(f'{where}.{u}' for u in unknown)}")
    template = cls()
    kwargs = {}
    for name, value in data.items():
        default = getattr(template, name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides`` recursively (nested dicts merge, other values replace)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def study_config(profile: str = "quick", **overrides: Any) -> StudyConfig:
    """The study defaults of ``profile`` with ``overrides`` (top-level fields or nested dicts) applied.

    ``quick`` budgets (tune here), measured with the README's first command on 2 idle cores (default
    threads): wall seconds per run at 200 steps — G1 76 (80 steps), S1 47, S2 74, S3 148, S4 246,
    HR-LD 104 (80 steps at batch 16); notebook 04's six LightCNN runs ~190 s at 12 epochs. That came
    to 16.2 min, so the committed budgets are G1 4 epochs, each S-setting 8 epochs (160 steps; the
    same for all, a fair ablation), HR-LD 1 epoch, LightCNN 8 epochs: the README states the measured
    total. Learning rate 2e-3 on a one-cycle schedule with the camera family (``profile_config``):
    at the paper's 2e-4 an S1 is still at 57 % NME (box) after 600 steps, worse than the mean shape.
    ``standard`` trains the same networks to convergence (below); ``paper`` adds nothing: §4.1's
    200 epochs, batch 32, Adam 2e-4, β (0.5, 0.9), steps at epochs 80 and 160.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    cfg = StudyConfig(profile=profile, run_dir=f"reports/{profile}")
    if profile == "quick":
        cfg.data = DataSizes(
            train_identities=80,
            images_per_identity=8,
            pool_identities=40,
            pool_images_per_identity=8,
            test_identities=40,
            test_images_per_identity=5,
        )
        cfg.stage1 = StageBudget(epochs=4, lr=2e-3)
        cfg.settings = StageBudget(epochs=8, lr=2e-3)
        cfg.hrld = StageBudget(epochs=1, batch_size=16, lr=2e-3)
        cfg.verification = VerificationConfig(epochs=8, disabled_pools=0)
    if profile == "standard":
        # Converged on 2 CPU cores in about two hours (single thread, measured per step: G1 1.6 s,
        # S1 0.5, S2 0.6, S3 1.1, S4 2.0, HR-LD 1.5): 10,240 rendered faces, G1 1 epoch (320 steps),
        # each S-setting 4 epochs (1,280 steps), HR-LD 1 epoch at batch 16.
        cfg.data = DataSizes(train_identities=1280, images_per_identity=8)
        cfg.stage1 = StageBudget(epochs=1)
        cfg.settings = StageBudget(epochs=4)
        cfg.hrld = StageBudget(epochs=1, batch_size=16)
        cfg.verification = VerificationConfig(epochs=12, disabled_pools=0)
    if profile in ("quick", "standard"):
        cfg.g1_real_lr = "target"
    data = merge(cfg.to_dict(), overrides)
    out = StudyConfig.from_dict(data)
    if out.g1_real_lr == "target":
        out.g1_real_lr = out.target_lr
    out.validate()
    return out
