"""Stage 1 (§3.1): the high→low generator G1 against the real-LR discriminator D1, eq. 2–6.

One step = one D1 update on (real LR, G1(HR)) with hinge + gradient penalty (eq. 5–6), then one G1
update with GAN + pixel + perceptual losses (eq. 2–4), both on the same generated batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import losses
from ..augment import AugmentConfig
from ..checkpoints import g1_checkpoint
from ..data.datasets import LabelledFaces
from ..models import HighToLowDiscriminator, HighToLowGenerator
from ..models.vgg import load_perceptual
from ..pixels import subsample_F_tensor, to_tensor, to_uint8
from .batches import AugmentedFaces, draw_real_lr
from .config import TrainConfig
from .runner import DistContext, RunState, Stage, frozen

log = logging.getLogger(__name__)


@dataclass
class Stage1Batch:
    """One stage-1 step's inputs: augmented HR faces and a draw of unlabelled real LR faces."""

    hr: torch.Tensor  # (B, 3, 128, 128) in [-1, 1]
    real: torch.Tensor  # (B, 3, 32, 32) in [-1, 1]


class Stage1(Stage):
    name = "stage1"

    def __init__(
        self, cfg: TrainConfig, hr: LabelledFaces, real_lr: np.ndarray, device: torch.device, ctx: DistContext
    ):
        self.cfg, self.device, self.ctx = cfg, device, ctx
        self.s1 = cfg.stage1
        self.net_cfg = cfg.network_config()
        self.g1 = HighToLowGenerator(self.net_cfg).to(device)
        self.d1 = HighToLowDiscriminator(self.net_cfg).to(device)
        self.networks = {"G1": self.g1, "D1": self.d1}
        opt = cfg.optim
        self.optimizers = {
            "G1": torch.optim.Adam(self.g1.parameters(), lr=opt.lr, betas=tuple(opt.betas)),
            "D1": torch.optim.Adam(self.d1.parameters(), lr=opt.lr, betas=tuple(opt.betas)),
        }
        self.hr = AugmentedFaces(hr, cfg.seed, AugmentConfig(enabled=cfg.augment))
        self.real_lr = real_lr
        self.num_samples = len(hr)
        self.warnings: list[str] = []
        self.vgg = load_perceptual(self.s1.vgg_weights)
        self.gamma = self.s1.gamma
        if self.vgg is None and self.gamma > 0:
            self.gamma = 0.0
            msg = (
                "perceptual loss disabled (eq. 2's γ set to 0): no VGG-19 weights given "
                "(--vgg-weights FILE); the paper's G1 uses them"
            )
            log.warning(msg)
            self.warnings.append(msg)
        if self.vgg is not None:
            self.vgg.to(device)
        fixed = np.arange(min(8, len(hr)))
        self.fixed_hr = to_tensor(hr.images[fixed], device)
        self.fixed_noise = torch.randn(
            len(fixed), self.net_cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed)
        ).to(device)
        self.fixed_real = real_lr[: len(fixed)]

    def batch(self, index: np.ndarray, epoch: int, gen: torch.Generator) -> Stage1Batch:
        images, _, _ = self.hr.batch(index, epoch)
        hr = to_tensor(images, self.device)
        real = to_tensor(draw_real_lr(self.real_lr, len(index), gen), self.device)
        return Stage1Batch(hr, real)

    def step(self, batch: Stage1Batch, state: RunState) -> dict[str, float]:
        hr, real = batch.hr, batch.real
        fake = self.g1(hr)

        d_real, d_fake = self.d1(real), self.d1(fake.detach())
        l_gan_d = losses.eq6_d1_hinge(d_real, d_fake)
        gp = losses.gradient_penalty(self.d1, real, fake.detach(), kind=self.s1.gp_kind)
        l_d1 = losses.eq5_d1_loss(l_gan_d, gp, gp_weight=self.s1.gp_weight)
        self.update("D1", l_d1)

        with frozen(self.d1):  # eq. 3 passes through D1; only G1 learns from it
            l_gan_g = losses.eq3_g1_adversarial(self.d1(fake), variant=self.s1.g1_gan_variant)
            l_pixel = losses.eq4_pixel(fake, hr)
            l_perc = (
                losses.perceptual_loss(self.vgg, fake, hr)
                if self.gamma > 0
                else torch.zeros((), device=hr.device)
            )
            l_g1 = losses.eq2_g1_loss(l_gan_g, l_pixel, l_perc, self.s1.alpha, self.s1.beta, self.gamma)
            self.update("G1", l_g1)
        return {
            "l_G1": l_g1.item(),
            "l_GAN_G": l_gan_g.item(),
            "l_pixel": l_pixel.item(),
            "l_perceptual": float(l_perc.item()),
            "l_D1": l_d1.item(),
            "l_GAN_D": l_gan_d.item(),
            "GP": gp.item(),
            "D1_real": d_real.mean().item(),
            "D1_fake": d_fake.mean().item(),
        }


    @torch.no_grad()
    def generate(self, hr: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        was = self.g1.training
        self.g1.eval()
        out = self.g1(hr, noise)
        self.g1.train(was)
        return out

    def write_samples(self, path: Path) -> None:
        from ..plotting import contact_sheet

        generated = to_uint8(self.generate(self.fixed_hr, self.fixed_noise))
        subsampled = to_uint8(subsample_F_tensor(self.fixed_hr))
        contact_sheet(
            {
                "HR": list(to_uint8(self.fixed_hr)),
                "F(HR)": list(subsampled),
                "G1(HR)": list(generated),
                "real LR": list(self.fixed_real),
            },
            cell=64,
            path=path,
        )

    def final_name(self) -> str:
        return "G1.pt"

    def final_checkpoint(self, state: RunState) -> dict[str, Any]:
        return g1_checkpoint(
            self.g1, self.net_cfg, profile=self.cfg.profile, hr_size=self.cfg.data.hr_size,
            lr_size=self.cfg.data.lr_size, target_lr=self.cfg.data.target_lr, hr_data=self.cfg.data.hr_data,
            train_config=self.cfg.to_dict(), warnings=self.warnings,
        )
