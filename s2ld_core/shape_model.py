"""A point-distribution model (PDM): the face shapes the detector was trained on, as a Gaussian prior.

When a heatmap is weak its arg-max lands anywhere, and a raw decoding scatters the face. Fitting a
PDM (Cootes et al.'s active shape model: mean shape + principal modes, placed by a similarity
transform) to the heatmap peaks, each weighted by its confidence, returns the most plausible face
shape that agrees with the confident peaks; the per-point confidence still says which points were
seen. The fit is a maximum-a-posteriori estimate (a ridge on the mode coefficients, scaled by their
variances), with robust re-weighting so that one wild peak cannot drag the shape.

Robust re-weighting has a blind spot: started from the mean (frontal) shape, a turned face's true
peaks sit far from the model and lose their votes, so the fit can stay frontal. The detector
therefore fits from several starts along the first mode — the head's yaw in the shipped ibug68
model (62 % of the shape variance) — and keeps, per face, the fit with the lowest robust cost
(:data:`POSE_STARTS`; measured on the validation set in docs/experiments/shape-model-starts.md).

Two decodings are offered by :class:`~s2ld_core.inference.LandmarkDetector` and measured in the
study: ``raw`` (the heatmap peaks) and ``pdm`` (this fit).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PointDistributionModel", "DECODINGS", "POSE_STARTS"]

DECODINGS = ("raw", "pdm")

#: The detector's starts of the first mode's coefficient, in its standard deviations (the mean
#: shape and ±2σ of yaw); ``(0.0,)`` is the single fit from the mean shape.
POSE_STARTS: tuple[float, ...] = (0.0, -2.0, 2.0)


def _normalise(shapes: np.ndarray) -> np.ndarray:
    """Centre each shape at the origin and scale it to unit RMS radius."""
    centred = shapes - shapes.mean(axis=-2, keepdims=True)
    scale = np.sqrt((centred**2).sum(axis=(-1, -2), keepdims=True) / shapes.shape[-2])
    return centred / np.maximum(scale, 1e-12)


def _similarity_fit(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares similarity ``dst ≈ src @ A.T + t`` for batches ``(B, K, 2)``, ``w (B, K)``.

    Returns ``A (B, 2, 2)`` (a scaled rotation) and ``t (B, 2)``. Closed form: with weighted centroids
    removed, ``a = Σw(x·x') / Σw|x|²`` and ``b = Σw(x×x') / Σw|x|²`` give ``A = [[a, -b], [b, a]]``.
    """
    wsum = np.maximum(w.sum(-1, keepdims=True), 1e-12)
    mu_s = (w[..., None] * src).sum(-2) / wsum
    mu_d = (w[..., None] * dst).sum(-2) / wsum
    s, d = src - mu_s[:, None], dst - mu_d[:, None]
    norm = np.maximum((w * (s**2).sum(-1)).sum(-1), 1e-12)
    a = (w * (s * d).sum(-1)).sum(-1) / norm
    b = (w * (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0])).sum(-1) / norm
    A = np.stack([np.stack([a, -b], -1), np.stack([b, a], -1)], -2)
    t = mu_d - np.einsum("bij,bj->bi", A, mu_s)
    return A, t


def _complex(points: np.ndarray) -> np.ndarray:
    """``(..., 2)`` points as ``(...)`` complex numbers ``x + iy``."""
    return points[..., 0] + 1j * points[..., 1]


def _complex_similarity(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_similarity_fit` for complex points ``(B, K)``: ``dst ≈ α·src + τ``, α = ``a + ib``."""
    wsum = np.maximum(w.sum(-1), 1e-12)
    mu_s = (w * src).sum(-1) / wsum
    mu_d = (w * dst).sum(-1) / wsum
    s = src - mu_s[:, None]
    alpha = (w * s.conj() * (dst - mu_d[:, None])).sum(-1) / np.maximum((w * np.abs(s) ** 2).sum(-1), 1e-12)
    return alpha, mu_d - alpha * mu_s


@dataclass
class PointDistributionModel:
    """Mean shape ``(K, 2)`` in a unit frame, ``modes (M, 2K)`` orthonormal, ``variances (M,)``."""

    mean: np.ndarray
    modes: np.ndarray
    variances: np.ndarray

    @classmethod
    def fit(cls, shapes: np.ndarray, variance_kept: float = 0.98, max_modes: int = 24,
            iterations: int = 5) -> PointDistributionModel:
        """Learn a PDM from training shapes ``(N, K, 2)`` (generalised Procrustes, then PCA)."""
        shapes = np.asarray(shapes, np.float64)
        if shapes.ndim != 3 or shapes.shape[-1] != 2 or len(shapes) < 3:
            raise ValueError(f"PointDistributionModel.fit needs (N >= 3, K, 2) shapes, got {shapes.shape}")
        shapes = shapes[np.all(np.isfinite(shapes), axis=(1, 2))]
        x = _normalise(shapes)
        mean = x[0]
        ones = np.ones(x.shape[:2])
        for _ in range(iterations):
            A, t = _similarity_fit(x, np.broadcast_to(mean, x.shape), ones)
            x = np.einsum("bij,bkj->bki", A, x) + t[:, None]
            mean = _normalise(x.mean(0))
        flat = (x - mean).reshape(len(x), -1)
        _, sing, vt = np.linalg.svd(flat, full_matrices=False)
        var = sing**2 / max(1, len(x) - 1)
        keep = int(np.searchsorted(np.cumsum(var) / var.sum(), variance_kept) + 1)
        keep = max(1, min(keep, max_modes, len(var)))
        return cls(mean.astype(np.float32), vt[:keep].astype(np.float32), var[:keep].astype(np.float32))

    @property
    def num_points(self) -> int:
        return int(self.mean.shape[0])

    def shape(self, coefficients: np.ndarray) -> np.ndarray:
        """Shapes ``(B, K, 2)`` in the model frame for coefficients ``(B, M)``."""
        return self.mean + (coefficients @ self.modes).reshape(len(coefficients), -1, 2)

    def fit_points(self, points: np.ndarray, weights: np.ndarray, iterations: int = 6,
                   prior: float = 1.0, robust_px: float | None = 1.5, limit: float = 3.0,
                   starts: Sequence[float] = (0.0,)) -> np.ndarray:
        """The PDM shape that best explains ``points (B, K, 2)`` with ``weights (B, K)`` ≥ 0.

        Alternates a weighted similarity fit and a MAP update of the mode coefficients
        ``b = (PᵀWP + prior·σ²·Λ⁻¹)⁻¹ PᵀW(y − mean)``, where σ² is the weighted residual variance
        in the model frame; coefficients are clamped to ±``limit`` standard deviations. With
        ``robust_px``, each point's weight is multiplied by a Cauchy factor ``1 / (1 + (r/robust_px)²)``
        of its residual ``r`` (in the points' pixels), so outlying peaks lose their pull.

        It sits on the inference hot path, where one face's fit is dominated by per-call overhead,
        so points are complex numbers ``x + iy``: a similarity is then one complex factor α and an
        offset τ (``z' = αz + τ``), its inverse a division, and the 2-D sums of the normal equations
        are real parts of complex products — half the array operations of the (x, y) form.

        ``starts`` are first-mode coefficients (in its standard deviations) to start from. Every face
        is fitted from each start, all in one batch, and keeps the fit with the lowest robust data
        cost ``Σ w·log(1 + (r/robust_px)²)`` (Cauchy's ρ, whose re-weighting the fit iterates; the
        weighted squared residual without ``robust_px``).
        """
        pts = np.asarray(points, np.float64)
        w0 = np.asarray(weights, np.float64)
        w0 = np.where(w0 > 0, w0, 0.0)  # negative and NaN weights count as 0
        if pts.ndim == 2:
            return self.fit_points(pts[None], w0[None], iterations, prior, robust_px, limit, starts)[0]
        if pts.shape[1:] != self.mean.shape:
            raise ValueError(f"fit_points: expected (B, {self.num_points}, 2) points, got {pts.shape}")
        if not len(starts):
            raise ValueError("fit_points: starts must hold at least one first-mode coefficient")
        faces, n_starts = len(pts), len(starts)
        z = np.tile(_complex(np.where(np.isfinite(pts), pts, 0.0)), (n_starts, 1))  # (S·B, K)
        w0 = np.tile(w0, (n_starts, 1)) + 1e-3  # every point keeps a whisper of a vote
        mean, modes, ridge, std = self._complex_form
        bound = limit * std
        coef = np.zeros((len(z), len(bound)))
        coef[:, 0] = np.repeat(np.asarray(starts, np.float64), faces) * std[0]
        w = w0
        inv_r2 = 0.0 if not robust_px else 1.0 / robust_px**2
        for _ in range(iterations):
            model = mean + coef @ modes  # (B, K)
            alpha, tau = _complex_similarity(model, z, w)
            if inv_r2:
                w = w0 / (1.0 + np.abs(alpha[:, None] * model + tau[:, None] - z) ** 2 * inv_r2)
            alpha = np.where(np.abs(alpha) > 1e-12, alpha, 1e-12)  # all peaks on one spot: no zero scale
            y = (z - tau[:, None]) / alpha[:, None]  # the points in the model frame
            wsum = np.maximum(w.sum(-1), 1e-9)
            sigma2 = np.maximum((w * np.abs(y - model) ** 2).sum(-1) / wsum,
                                0.25 / np.maximum(np.abs(alpha) ** 2, 1e-12))  # ≥ (0.5 px)² of noise
            weighted = modes[None] * w[:, None, :]  # (B, M, K)
            lhs = (weighted @ modes.conj().T).real + prior * sigma2[:, None, None] * ridge
            rhs = (weighted.conj() @ (y - mean)[..., None]).real
            coef = np.clip(np.linalg.solve(lhs, rhs)[..., 0], -bound, bound)
        model = mean + coef @ modes
        alpha, tau = _complex_similarity(model, z, w)
        fitted = alpha[:, None] * model + tau[:, None]
        if n_starts > 1:
            r2 = np.abs(fitted - z) ** 2
            cost = (w0 * (np.log1p(r2 * inv_r2) if inv_r2 else r2)).sum(-1).reshape(n_starts, faces)
            fitted = fitted.reshape(n_starts, faces, -1)[cost.argmin(0), np.arange(faces)]
        return np.stack([fitted.real, fitted.imag], -1).astype(np.float32)

    @functools.cached_property
    def _complex_form(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean ``(K,)`` and modes ``(M, K)`` as complex points, the MAP ridge Λ⁻¹ and the mode σs
        (computed once per model: the arrays never change after construction)."""
        variances = self.variances.astype(np.float64)
        mean = _complex(self.mean.astype(np.float64))
        modes = _complex(self.modes.astype(np.float64).reshape(len(variances), -1, 2))
        return mean, modes, np.diag(1.0 / variances), np.sqrt(variances)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (a checkpoint stores it beside the weights)."""
        return {name: getattr(self, name).tolist() for name in ("mean", "modes", "variances")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointDistributionModel:
        return cls(
            np.asarray(data["mean"], np.float32),
            np.asarray(data["modes"], np.float32),
            np.asarray(data["variances"], np.float32),
        )
