"""The S²LD losses, one function per equation of §3 (named ``eqN_...``), all to be *minimised*.

Reductions: image losses average over every element; heatmap losses (eq. 7, 8, 12, 13) *sum* over
the N+1 heatmap channels, as the equations do, and average over pixels and batch, so that their
scale — and therefore BEGAN's γ and λ_k (eq. 10) and the weights a, b, c (eq. 15) — does not depend
on the heatmap size or the batch size. Discriminator scores are per-image tensors of shape (B,).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .pixels import subsample_F_tensor

__all__ = [
    "eq2_g1_loss",
    "eq3_g1_adversarial",
    "eq4_pixel",
    "perceptual_loss",
    "eq5_d1_loss",
    "eq6_d1_hinge",
    "gradient_penalty",
    "heatmap_sq_error",
    "eq7_d2_real",
    "eq8_d2_fake",
    "eq9_d2_loss",
    "eq10_update_k",
    "began_convergence",
    "eq11_d3_loss",
    "eq12_g2_mse",
    "eq13_g2_kp",
    "eq14_g2_conf",
    "eq15_g2_loss",
    "eq15_ordered_weights",
]

G1_ADVERSARIAL_VARIANTS = ("paper", "sagan")
GRADIENT_PENALTIES = ("wgan-gp", "r1")


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")


# --- Stage 1: G1 and D1 (§3.1) -------------------------------------------------------------------


def eq3_g1_adversarial(d_fake: torch.Tensor, variant: str = "paper") -> torch.Tensor:
    """G1's hinge adversarial term, eq. 3: ``l_GAN^G = E_{x̂∼P_g}[min(0, −1 + D1(x̂))]``.

    Reading: eq. 3 uses eq. 6's sign convention, where ``E[min(0, −1 + D(x))]`` is a value its player
    *maximises* (it is ≤ 0 and reaches 0 once D(x) ≥ 1). G1 maximising it pushes D1(x̂) up to the margin
    1, so as a loss to minimise:

    - ``"paper"``: ``−E[min(0, −1 + D1(x̂))] = E[relu(1 − D1(x̂))]`` (eq. 3 as written, negated);
    - ``"sagan"``: ``−E[D1(x̂)]``, the hinge-GAN generator loss of SAGAN/BigGAN, which keeps a gradient
      after D1(x̂) passes 1.
    """
    if variant == "paper":
        return F.relu(1.0 - d_fake).mean()
    if variant == "sagan":
        return -d_fake.mean()
    choices = ", ".join(G1_ADVERSARIAL_VARIANTS)
    raise ValueError(f"unknown G1 adversarial variant {variant!r}; choose one of {choices}")


def _lr_factor(generated_lr: torch.Tensor, hr: torch.Tensor) -> int:
    if generated_lr.dim() != 4 or hr.dim() != 4 or generated_lr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"expected (B, C, h, w) LR and (B, C, H, W) HR batches, "
                         f"got {tuple(generated_lr.shape)} and {tuple(hr.shape)}")
    factor = hr.shape[2] // generated_lr.shape[2]
    if factor * generated_lr.shape[2] != hr.shape[2] or factor * generated_lr.shape[3] != hr.shape[3]:
        raise ValueError(f"HR size {tuple(hr.shape[2:])} is not an integer multiple of LR size "
                         f"{tuple(generated_lr.shape[2:])}")
    return factor


def eq4_pixel(generated_lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L2 pixel loss, eq. 4: ``l_pixel = 1/(H·W) Σ_i Σ_j (F(I^HR) − I_G^LR)²``.

    The mean over H×W of the equation, also averaged over channels and batch. It keeps G1's output
    close to the area-downsampled HR image "to encourage convergence in initial training iterations"
    and so that "content is not lost during the generation process" (§3.1).
    """
    target = subsample_F_tensor(hr, _lr_factor(generated_lr, hr))
    return (target - generated_lr).square().mean()


def perceptual_loss(vgg: Callable[[torch.Tensor], list[torch.Tensor]] | None, generated_lr: torch.Tensor,
                    hr: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Perceptual term of eq. 2 (Johnson et al. [12]): mean over the VGG layers of the MSE between
    the features of ``I_G^LR`` and of ``F(I^HR)``.

    Both images are compared at the LR size, against ``F(I^HR)`` as in eq. 4: this is eq. 4 moved to
    feature space, so content and structure must survive while the pixel-level degradation D1 asks for
    (blur, noise, colour) is left free. Comparing ``I_G^LR`` up-sampled to 128² with ``VGG(I^HR)``
    instead would ask a 32² image to carry 128² detail, against G1's purpose. ``size``, if given,
    bilinearly resizes both to size² first (more spatial room for deep VGG layers).

    ``vgg=None`` (no pretrained weights available offline) gives 0: the γ term of eq. 2 is off.
    """
    if vgg is None:
        return generated_lr.new_zeros(())
    target = subsample_F_tensor(hr, _lr_factor(generated_lr, hr)).detach()
    if size is not None:
        generated_lr = F.interpolate(generated_lr, size=(size, size), mode="bilinear", align_corners=False)
        target = F.interpolate(target, size=(size, size), mode="bilinear", align_corners=False)
    with torch.no_grad():
        target_feats = vgg(target)
    feats = vgg(generated_lr)
    return torch.stack([F.mse_loss(f, t) for f, t in zip(feats, target_feats, strict=True)]).mean()


def eq2_g1_loss(l_gan: torch.Tensor, l_pixel: torch.Tensor, l_perceptual: torch.Tensor, alpha: float,
                beta: float, gamma: float) -> torch.Tensor:
    """G1's objective, eq. 2: ``l_G1 = α l_GAN^G + β l_pixel + γ l_perceptual``."""
    return alpha * l_gan + beta * l_pixel + gamma * l_perceptual


def eq6_d1_hinge(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D1's hinge loss, eq. 6, negated to be minimised.

    eq. 6: ``l_GAN^D = E_{x∼P_r}[min(0, −1 + D1(x))] + E_{x̂∼P_g}[min(0, −1 − D1(x̂))]`` (to maximise);
    as a loss: ``E[relu(1 − D1(x))] + E[relu(1 + D1(x̂))]`` — real LR faces above +1, generated below −1.
    """
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def gradient_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, kind: str = "wgan-gp") -> torch.Tensor:
    """The "GP" of eq. 5, unweighted (the weight is applied in :func:`eq5_d1_loss`).

    The paper names no variant, so:

    - ``"wgan-gp"`` (default, Gulrajani et al. 2017): ``E[(‖∇D(x̃)‖₂ − 1)²]`` at random interpolates
      ``x̃ = εx + (1 − ε)x̂``, ε ∼ U(0, 1) per sample;
    - ``"r1"`` (Mescheder et al. 2018): ``E[‖∇D(x)‖₂²]`` on real samples.

    The graph is kept (``create_graph``) so the penalty trains D. ``fake`` is detached: this is D's loss.
    """
    if kind not in GRADIENT_PENALTIES:
        raise ValueError(f"unknown gradient penalty {kind!r}; choose one of {', '.join(GRADIENT_PENALTIES)}")
    _check_same_shape(real, fake, "gradient_penalty real/fake")
    if kind == "wgan-gp":
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    else:
        x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    sq_norm = grad.flatten(1).square().sum(dim=1)
    if kind == "r1":
        return sq_norm.mean()
    return ((sq_norm + 1e-12).sqrt() - 1.0).square().mean()


def eq5_d1_loss(l_gan_d: torch.Tensor, gp: torch.Tensor, gp_weight: float = 10.0) -> torch.Tensor:
    """D1's objective, eq. 5: ``l_D1 = l_GAN^D + GP``, with GP = ``gp_weight`` × :func:`gradient_penalty`
    (10 is WGAN-GP's customary weight; the paper gives none)."""
    return l_gan_d + gp_weight * gp


# --- Stage 2: G2, D2 (BEGAN) and D3 (LSGAN), §3.3 -----------------------------------------------


def heatmap_sq_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_{i=1}^{N+1} (a_i − b_i)²`` for heatmaps (B, N+1, H, W): summed over the N+1 channels as in
    eq. 7, 8, 12, 13, averaged over pixels and batch (so γ, λ_k and a, b, c hold across sizes)."""
    _check_same_shape(a, b, "heatmap_sq_error")
    if a.dim() != 4:
        raise ValueError(f"heatmap_sq_error expects (B, N+1, H, W) heatmaps, got {tuple(a.shape)}")
    return (a - b).square().sum(dim=1).mean()


def eq7_d2_real(H: torch.Tensor, D2_of_H: torch.Tensor) -> torch.Tensor:
    """eq. 7: ``l_D^real = Σ_i (H_i − D2(H_i, I_G^LR))²``, D2's reconstruction error on ground-truth
    heatmaps H of generated LR images (D2 should make it small)."""
    return heatmap_sq_error(H, D2_of_H)


def eq8_d2_fake(H_hat: torch.Tensor, D2_of_H_hat: torch.Tensor) -> torch.Tensor:
    """eq. 8: ``l_D^fake = Σ_i (Ĥ_i − D2(Ĥ_i, I_G^LR))²``, D2's reconstruction error on G2's predicted
    heatmaps Ĥ (D2 should make it large). For D2's step pass a detached Ĥ."""
    return heatmap_sq_error(H_hat, D2_of_H_hat)


def eq9_d2_loss(l_real: torch.Tensor, l_fake: torch.Tensor, k_t: float) -> torch.Tensor:
    """D2's objective, eq. 9: ``l_D^kp = l_D^real − k_t l_D^fake`` (BEGAN's discriminator loss)."""
    return l_real - k_t * l_fake


def eq10_update_k(k_t: float, l_real: float, l_fake: float, lambda_k: float, gamma: float) -> float:
    """BEGAN's balance update, eq. 10: ``k_{t+1} = k_t + λ_k (γ l_D^real − l_D^fake)``, clipped to [0, 1].

    When G2 fools D2, l_fake falls below γ l_real and k grows, putting more weight on l_fake in eq. 9;
    when D2 is ahead, k shrinks. Takes plain numbers (0-d tensors are converted) and returns a float,
    since k_t is state of the training loop, not part of any graph.
    """
    k_t, l_real, l_fake, lambda_k, gamma = (float(v) for v in (k_t, l_real, l_fake, lambda_k, gamma))
    if not (math.isfinite(l_real) and math.isfinite(l_fake) and math.isfinite(k_t)):
        raise ValueError(f"eq10_update_k got non-finite values k_t={k_t}, l_real={l_real}, l_fake={l_fake}")
    if lambda_k < 0 or gamma < 0:
        raise ValueError(f"eq10_update_k needs lambda_k >= 0 and gamma >= 0, got {lambda_k}, {gamma}")
    return min(1.0, max(0.0, k_t + lambda_k * (gamma * l_real - l_fake)))


def began_convergence(l_real: float, l_fake: float, gamma: float) -> float:
    """BEGAN's convergence measure ``M = l_real + |γ l_real − l_fake|`` (Berthelot et al. [3], §3.4.1):
    one number that falls as D2 and G2 reach equilibrium — handy to log next to k_t."""
    l_real, l_fake = float(l_real), float(l_fake)
    return l_real + abs(float(gamma) * l_real - l_fake)


def eq11_d3_loss(d_gt_generated: torch.Tensor, d_pred_generated: torch.Tensor,
                 d_pred_real: torch.Tensor | None = None) -> torch.Tensor:
    """D3's least-squares loss, eq. 11:
    ``l_D^conf = E_{x∼P_r}[(D3(x) − 1)²] + E_{x̂∼P_g}[D3(x̂)²] + E_{ŷ∼P_g}[D3(ŷ)²]``.

    x: generated LR image ⊕ ground-truth heatmaps (target 1); x̂: generated LR image ⊕ G2's heatmaps;
    ŷ: real LR image ⊕ G2's heatmaps (both target 0). ``d_pred_real`` may be omitted for runs without
    real LR images (an S3-like D3 on generated images only).
    """
    loss = (d_gt_generated - 1.0).square().mean() + d_pred_generated.square().mean()
    if d_pred_real is not None:
        loss = loss + d_pred_real.square().mean()
    return loss


def eq12_g2_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """eq. 12: ``l_G^MSE = Σ_i (H_i − G2(I_G^LR))²``, the supervised heatmap loss (settings S1, S2, HR-LD)."""
    return heatmap_sq_error(pred, target)


def eq13_g2_kp(pred_hm: torch.Tensor, d2_reconstruction: torch.Tensor) -> torch.Tensor:
    """eq. 13: ``l_G^kp = Σ_i (Ĥ_i − D2(Ĥ_i, I_G^LR))²`` — G2 wants D2 to reconstruct its heatmaps
    as well as it reconstructs ground truth (the BEGAN generator loss)."""
    return heatmap_sq_error(pred_hm, d2_reconstruction)


def eq14_g2_conf(*d3_outputs_on_predictions: torch.Tensor) -> torch.Tensor:
    """eq. 14: ``l_G^conf = E_{x∼P_g}[(D3(x) − 1)²]``, G2 asking D3 to score its heatmaps as ground truth.

    P_g covers G2's predictions on generated *and* on real LR images (§3.3); pass D3's scores on each
    set. The result is the mean over the sets of each set's mean, which equals the expectation over
    their union when the sets are equally large.
    """
    if not d3_outputs_on_predictions:
        raise ValueError("eq14_g2_conf needs D3's scores on at least one set of predicted heatmaps")
    return torch.stack([(d - 1.0).square().mean() for d in d3_outputs_on_predictions]).mean()


def eq15_g2_loss(l_mse: torch.Tensor, l_kp: torch.Tensor, l_conf: torch.Tensor, a: float, b: float,
                 c: float) -> torch.Tensor:
    """G2's objective, eq. 15: ``l_G = a l_G^MSE + b l_G^kp + c l_G^conf``; the paper sets the weights so
    that ``a l_MSE > b l_kp > c l_conf``, favouring the supervised term early in training."""
    return a * l_mse + b * l_kp + c * l_conf


def eq15_ordered_weights(a: float, b: float, c: float, l_mse: float, l_kp: float, l_conf: float,
                         ratio: float = 0.5) -> tuple[float, float]:
    """eq. 15's b and c for one step, lowered (never raised) so that the paper's ordering
    ``a l_MSE > b l_kp > c l_conf`` holds, each weighted term at most ``ratio`` times the one before.

    The paper picks constant weights "empirically obeying" the ordering. Constants cannot keep it
    here: l_kp starts near 0.003 and ends near 0.03 while l_conf sits near 1 once D3 wins, so the
    constant c that held it at step 1 would switch D3 off for good, and the default c let the D3 term
    outweigh the D2 term on almost every step (the standard S4 run held the ordering on 30 of 1,200).
    The losses are detached values: the caps scale the terms, they add no gradient of their own.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"eq15_ordered_weights needs 0 < ratio <= 1, got {ratio}")
    if l_kp > 0:
        b = min(b, ratio * a * l_mse / l_kp)
    if l_conf > 0:
        c = min(c, ratio * b * l_kp / l_conf)
    return b, c
