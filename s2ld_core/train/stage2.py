"""Stage 2 (§3.2–3.3): the heatmap generator G2 with D2 (BEGAN) and D3 (least squares), eq. 7–15.

The settings of §4.1 differ only in where G2's images come from and which discriminators join:

====== ============================== =====================
S1     F(HR): average-pooled HR        eq. 12
S2     G1(HR): generated LR            eq. 12
S3     G1(HR)                          eq. 7–10, 12, 13 (+D2)
S4     G1(HR) and real target LR       eq. 7–15 (+D2, +D3)
hrld   HR at 128² (HR-LD, §4.4)        eq. 12
====== ============================== =====================

One S4 step (:meth:`Stage2.step` on a :class:`Stage2Batch`): D2 update (eq. 9) and the k_t update
(eq. 10); D3 update (eq. 11); G2 update (eq. 15), with D2 and D3 frozen. BEGAN's M and eq. 15's
ordering are reported by :meth:`Stage2.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import losses
from ..augment import AugmentConfig, augment
from ..checkpoints import g2_checkpoint, load_checkpoint
from ..data.datasets import LabelledFaces
from ..data.degrade import random_camera
from ..geometry import resize_points
from ..heatmaps import encode_heatmaps, soft_argmax
from ..inference.g1 import load_g1
from ..models import (
    ConfidenceDiscriminator,
    HeatmapDiscriminator,
    HeatmapGenerator,
    HighToLowGenerator,
)
from ..pixels import resize_face, subsample_F_tensor, to_tensor, to_uint8
from ..schemas import get_schema
from ..shape_model import PointDistributionModel
from .batches import AugmentedFaces, draw_real_lr
from .config import TrainConfig
from .runner import DistContext, RunState, Stage, frozen, running_batchnorm


@dataclass
class Stage2Batch:
    """One stage-2 step's inputs: G2's labelled images with their target heatmaps and, when D3 takes
    part (S4), a draw of unlabelled real LR faces."""

    lr: torch.Tensor  # (B, 3, S, S) in [-1, 1]: F(HR), G1(HR) or HR, per the setting
    target: torch.Tensor  # (B, K+1, S, S) ground-truth heatmaps
    real: torch.Tensor | None = None  # (B, 3, S, S) real LR faces, S4 only


class Stage2(Stage):
    def __init__(
        self,
        cfg: TrainConfig,
        hr: LabelledFaces,
        real_lr: np.ndarray | None,
        device: torch.device,
        ctx: DistContext,
        g1: HighToLowGenerator | None = None,
    ):
        """``g1``: the frozen G1 of S2–S4 (default: loaded from ``cfg.stage2.g1_checkpoint``)."""
        self.cfg, self.device, self.ctx = cfg, device, ctx
        self.s2 = cfg.stage2
        self.setting = self.s2.setting
        self.name = f"stage2-{self.setting}"
        self.schema = get_schema(hr.schema)
        k = self.schema.num_points
        self.size = cfg.data.hr_size if self.setting == "hrld" else cfg.data.lr_size
        self.sigma = self.s2.sigma_hr if self.setting == "hrld" else self.s2.sigma_lr
        self.net_cfg = cfg.network_config()
        self.g2 = HeatmapGenerator(self.net_cfg, k, in_size=self.size).to(device)
        if self.s2.init_g2:
            self.load_init_g2(self.s2.init_g2)
        self.networks: dict[str, torch.nn.Module] = {"G2": self.g2}
        if self.setting in ("S3", "S4"):
            self.d2 = HeatmapDiscriminator(self.net_cfg, k, in_size=self.size).to(device)
            self.networks["D2"] = self.d2
        if self.setting == "S4" or self.s2.real_teacher:
            if real_lr is None or len(real_lr) == 0:
                raise ValueError(f"{'setting S4' if self.setting == 'S4' else 'real_teacher'} needs "
                                 "unlabelled target LR images (--target-lr)")
        if self.setting == "S4":
            self.d3 = ConfidenceDiscriminator(self.net_cfg, k, in_size=self.size).to(device)
            self.networks["D3"] = self.d3
        opt = cfg.optim
        self.optimizers = {
            name: torch.optim.Adam(net.parameters(), lr=opt.lr, betas=tuple(opt.betas))
            for name, net in self.networks.items()
        }
        if self.setting not in ("S2", "S3", "S4"):
            g1 = None
        elif g1 is None:
            g1 = load_g1(self.s2.g1_checkpoint, device)
        self.g1 = g1.to(device).eval().requires_grad_(False) if g1 is not None else None
        self.hr = AugmentedFaces(hr, cfg.seed, AugmentConfig(enabled=cfg.augment))
        self.real_lr = real_lr
        self.pseudo_points = self.teacher_points(real_lr) if self.s2.real_teacher else None
        self.num_samples = len(hr)
        self.mean_shape = resize_points(hr.points.mean(0), self.size / hr.size).tolist()
        # The shape prior of constrained decoding, from the training shapes (augmentation adds pose).
        self.shape_model = PointDistributionModel.fit(resize_points(hr.points, self.size / hr.size))
        fixed = np.arange(min(8, len(hr)))
        self.fixed = (hr.images[fixed], hr.points[fixed], hr.visible[fixed])
        self.fixed_noise = None
        if self.g1 is not None:
            self.fixed_noise = torch.randn(
                len(fixed), self.g1.cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed)
            ).to(device)

    def load_init_g2(self, path: str) -> None:
        """``init_g2``: G2's weights from another run's G2, refused unless it is the same model."""
        blob = load_checkpoint(path, self.device, role="G2")
        found = (blob.get("schema"), blob.get("input_size"), blob.get("network"))
        wanted = (self.schema.name, self.size, self.net_cfg.to_dict())
        if found != wanted:
            raise ValueError(
                f"{path}: init_g2 holds G2 for {found[0]} at {found[1]}² with network {found[2]}; this "
                f"run trains G2 for {wanted[0]} at {wanted[1]}² with network {wanted[2]}"
            )
        self.g2.load_state_dict(blob["state_dict"])

    # ------------------------------------------------------------------ inputs

    @torch.no_grad()
    def lr_inputs(self, hr: torch.Tensor, points_hr: np.ndarray, noise: torch.Tensor | None = None):
        """G2's input images and their points for this setting (S1: F(HR); S2–S4: G1(HR); hrld: HR)."""
        if self.setting == "hrld":
            return hr, points_hr
        pts = resize_points(points_hr, self.size / hr.shape[-1])
        if self.setting == "S1":
            return subsample_F_tensor(hr, factor=hr.shape[-1] // self.size), pts
        return self.g1(hr, noise), pts

    def camera_family_mix(
        self, lr: torch.Tensor, pts: np.ndarray, hr_images: np.ndarray, points_hr: np.ndarray,
        gen: torch.Generator,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``lr_augment = camera-family``: each face of the batch is, with probability
        ``lr_augment_prob``, replaced by its HR original through a random chain of the broad camera
        family (never the held-out target camera). Draws come from the step's generator (exact resume)."""
        if self.s2.lr_augment == "none" or self.setting == "hrld":
            return lr, pts
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
        chosen = np.flatnonzero(rng.random(len(hr_images)) < self.s2.lr_augment_prob)
        if len(chosen) == 0:
            return lr, pts
        lr, pts = lr.clone(), pts.copy()
        views = [random_camera(hr_images[i], points_hr[i], rng) for i in chosen]
        lr[chosen] = to_tensor(np.stack([v[0] for v in views]), self.device)
        pts[chosen] = np.stack([v[1] for v in views])
        return lr, pts

    def teacher_points(self, real_lr: np.ndarray) -> np.ndarray:
        """``real_teacher``'s points on each real LR face (flip test, shape model where it has one)."""
        from ..inference import LandmarkDetector

        if self.setting == "hrld":
            raise ValueError("real_teacher: HR-LD trains at 128², the real LR pool is 32²; use S1–S4")
        teacher = LandmarkDetector.from_checkpoint(self.s2.real_teacher, self.device).set_flip_test()
        if teacher.schema.name != self.schema.name:
            raise ValueError(f"{self.s2.real_teacher}: the teacher finds {teacher.schema.name} points, "
                             f"this run trains {self.schema.name}")
        points, _ = teacher.predict(real_lr)
        return resize_points(points, self.size / real_lr.shape[1])

    def real_teacher_mix(
        self, lr: torch.Tensor, pts: np.ndarray, visible: np.ndarray, gen: torch.Generator
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """``real_teacher``: each face of the batch is, with probability ``real_teacher_prob``,
        replaced by a real LR face with the teacher's points, augmented (§4.1's ranges and flip) and
        sent through a random chain of the camera family. Draws come from the step's generator."""
        if self.pseudo_points is None:
            return lr, pts, visible
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
        chosen = np.flatnonzero(rng.random(len(lr)) < self.s2.real_teacher_prob)
        if len(chosen) == 0:
            return lr, pts, visible
        lr, pts, visible = lr.clone(), pts.copy(), visible.copy()
        faces = []
        for row, i in zip(chosen, rng.integers(len(self.real_lr), size=len(chosen))):
            image = resize_face(self.real_lr[i], self.size)
            image, p, v = augment(image, self.pseudo_points[i], np.ones(len(pts[row]), bool),
                                  self.schema, rng, self.hr.config)
            image, p = random_camera(image, p, rng)
            faces.append(image)
            pts[row], visible[row] = p, v
        lr[chosen] = to_tensor(np.stack(faces), self.device)
        return lr, pts, visible

    def heatmaps(self, points: np.ndarray, visible: np.ndarray) -> torch.Tensor:
        return encode_heatmaps(
            torch.from_numpy(points), self.size, self.sigma, visible=torch.from_numpy(visible)
        ).to(self.device)

    def d3_view(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """What D3 sees of a heatmap set: the heatmaps (the paper), or with ``d3_input = "peaks"`` the
        ground-truth Gaussians redrawn at their soft-argmax points (differentiable in the points)."""
        if self.s2.d3_input == "heatmaps":
            return heatmaps
        points = soft_argmax(heatmaps, self.schema.num_points)
        return encode_heatmaps(points, self.size, self.sigma)

    def adversarial_ramp(self, state: RunState) -> float:
        """The factor on eq. 15's b and c: 1, or a linear ramp over the first ``adv_warmup`` of the run."""
        span = self.s2.adv_warmup * (self.total_steps or 0)
        return 1.0 if span <= 0 else min(1.0, state.step / span)

    # ------------------------------------------------------------------ one step

    def batch(self, index: np.ndarray, epoch: int, gen: torch.Generator) -> Stage2Batch:
        images, points, visible = self.hr.batch(index, epoch)
        lr, pts = self.lr_inputs(to_tensor(images, self.device), points)
        lr, pts = self.camera_family_mix(lr, pts, images, points, gen)
        lr, pts, visible = self.real_teacher_mix(lr, pts, visible, gen)
        real = None
        if "D3" in self.networks:
            real = to_tensor(draw_real_lr(self.real_lr, len(index), gen), self.device)
        return Stage2Batch(lr, self.heatmaps(pts, visible), real)

    def step(self, batch: Stage2Batch, state: RunState) -> dict[str, float]:
        lr, target, real = batch.lr, batch.target, batch.real
        pred = self.g2(lr)
        out: dict[str, float] = {}
        k_t = float(state.extra.get("k_t", self.s2.k0))

        if "D2" in self.networks:
            l_real = losses.eq7_d2_real(target, self.d2(lr, target))
            fake = pred.detach()
            l_fake = losses.eq8_d2_fake(fake, self.d2(lr, fake))
            l_d2 = losses.eq9_d2_loss(l_real, l_fake, k_t)
            self.update("D2", l_d2)
            lr_real, lf = self.ctx.mean(l_real.item()), self.ctx.mean(l_fake.item())
            out.update(l_D2=l_d2.item(), l_D_real=l_real.item(), l_D_fake=l_fake.item(), k_t=k_t)
            state.extra["k_t"] = losses.eq10_update_k(k_t, lr_real, lf, self.s2.lambda_k, self.s2.began_gamma)

        if "D3" in self.networks:
            pred_real = self.g2_on_real(real)
            view = self.d3_view
            l_d3 = losses.eq11_d3_loss(
                self.d3(lr, view(target)),
                self.d3(lr, view(pred.detach())),
                self.d3(real, view(pred_real.detach())),
            )
            self.update("D3", l_d3)
            out["l_D3"] = l_d3.item()

        # eq. 13 and 14 pass through D2 and D3; only G2 learns from them
        with frozen(*(self.networks[n] for n in ("D2", "D3") if n in self.networks)):
            l_mse = losses.eq12_g2_mse(pred, target)
            zero = torch.zeros((), device=self.device)
            l_kp = losses.eq13_g2_kp(pred, self.d2(lr, pred)) if "D2" in self.networks else zero
            l_conf = (
                losses.eq14_g2_conf(self.d3(lr, self.d3_view(pred)), self.d3(real, self.d3_view(pred_real)))
                if "D3" in self.networks
                else zero
            )
            values = {"l_MSE": l_mse.item(), "l_kp": float(l_kp.item()), "l_conf": float(l_conf.item())}
            b, c = self.eq15_weights(state, values["l_MSE"], values["l_kp"], values["l_conf"])
            l_g2 = losses.eq15_g2_loss(l_mse, l_kp, l_conf, self.s2.a, b, c)
            self.update("G2", l_g2)
        out.update(l_G2=l_g2.item(), **values)
        if "D2" in self.networks:
            out.update(b=b, c=c)
        return out

    def g2_on_real(self, real: torch.Tensor) -> torch.Tensor:
        """G2's heatmaps on unlabelled real LR faces, normalised as ``real_lr_norm`` says: with
        "running" the real faces are judged by D3 as G2 will see them at inference, and they cannot
        move the normalisation that G2's labelled faces set."""
        if self.s2.real_lr_norm == "batch":
            return self.g2(real)
        with running_batchnorm(self.g2):
            return self.g2(real)

    def eq15_weights(self, state: RunState, l_mse: float, l_kp: float, l_conf: float) -> tuple[float, float]:
        """This step's b and c: the configured ones times the warm-up ramp, then, with
        ``eq15_weights = "ordered"``, lowered where the paper's ordering needs it."""
        ramp = self.adversarial_ramp(state)
        b, c = self.s2.b * ramp, self.s2.c * ramp
        if self.s2.eq15_weights == "ordered":
            b, c = losses.eq15_ordered_weights(self.s2.a, b, c, l_mse, l_kp, l_conf, self.s2.eq15_ratio)
        return b, c

    def report(self, step_losses: dict[str, float], state: RunState) -> dict[str, float]:
        """BEGAN's convergence measure M (eq. 10's companion) and, while eq. 15's adversarial terms
        are on, whether its ordering a·l_MSE > b·l_kp > c·l_conf held (counted in ``state.extra``)."""
        if "D2" not in self.networks:
            return {}
        stats = {
            "M_global": losses.began_convergence(
                step_losses["l_D_real"], step_losses["l_D_fake"], self.s2.began_gamma
            )
        }
        if self.adversarial_ramp(state) > 0:
            weighted = (
                self.s2.a * step_losses["l_MSE"],
                step_losses["b"] * step_losses["l_kp"],
                step_losses["c"] * step_losses["l_conf"],
            )
            state.extra["eq15_order_held"] = state.extra.get("eq15_order_held", 0) + int(
                weighted[0] > weighted[1] > weighted[2]
            )
            state.extra["eq15_steps"] = state.extra.get("eq15_steps", 0) + 1
        return stats


    # ------------------------------------------------------------------ samples and checkpoint

    def write_samples(self, path: Path) -> None:
        from ..heatmaps import decode_heatmaps
        from ..plotting import contact_sheet, draw_points

        images, points, visible = self.fixed
        was = self.g2.training
        self.g2.eval()
        with torch.no_grad():
            lr, pts = self.lr_inputs(to_tensor(images, self.device), points, self.fixed_noise)
            pred, _ = decode_heatmaps(self.g2(lr).float().cpu())
            rows = {
                "ground truth": [
                    draw_points(im, p, v, zoom=2) for im, p, v in zip(to_uint8(lr), pts, visible)
                ],
                "G2": [
                    draw_points(im, p, zoom=2, color=(255, 64, 64))
                    for im, p in zip(to_uint8(lr), pred.numpy())
                ],
            }
            if self.real_lr is not None:
                real = self.real_lr[: len(images)]
                rp, _ = decode_heatmaps(self.g2(to_tensor(real, self.device)).float().cpu())
                rows["G2 on real LR"] = [
                    draw_points(im, p, zoom=2, color=(255, 64, 64)) for im, p in zip(real, rp.numpy())
                ]
        self.g2.train(was)
        contact_sheet(rows, cell=96, path=path)

    def final_name(self) -> str:
        return f"{self.setting}.pt"

    def final_checkpoint(self, state: RunState) -> dict[str, Any]:
        return g2_checkpoint(
            self.g2, self.net_cfg, self.schema.name, setting=self.setting, input_size=self.size,
            sigma=self.sigma, profile=self.cfg.profile,
            mean_shape=self.mean_shape,
            shape_model=self.shape_model.to_dict(),
            g1_checkpoint=self.s2.g1_checkpoint,
            target_lr=self.cfg.data.target_lr if self.real_lr is not None else None,
            real_teacher=self.s2.real_teacher,
            init_g2=self.s2.init_g2,
            hr_data=self.cfg.data.hr_data,
            train_config=self.cfg.to_dict(),
            k_t=state.extra.get("k_t"),
            warnings=[],
        )
