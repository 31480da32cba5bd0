"""Landmark error metrics: NME with a named normaliser, per-point errors, CED, AUC and failure rate.

Definitions follow ``docs/architecture.md``: an image's NME is the mean point-to-point distance over
its visible points divided by a normaliser, and a data set's NME is the mean over images. Normalisers:

* ``box``: ``sqrt(w * h)`` of the bounding box of the visible ground-truth points (AFLW, LR sets);
* ``interocular``: distance between the schema's ``interocular`` points (300W outer eye corners
  36/45). Visibility is ignored here because an occluded corner still has an annotated position.

AUC is computed exactly rather than by integrating a sampled CED: the CED is a step function, so
``int_0^T F(t) dt / T = mean_i max(0, 1 - e_i / T)``; a trapezoid on a fine grid converges to this.
Errors are fractions (0.05 = 5 %), as reported in the paper's tables divided by 100.
"""

from __future__ import annotations

import numpy as np

from s2ld_core.schemas import Schema, get_schema

__all__ = [
    "NORMALIZERS",
    "normalizer_values",
    "point_distances",
    "nme",
    "per_point_error",
    "ced_curve",
    "auc",
    "failure_rate",
    "summarize",
]

NORMALIZERS = ("box", "interocular")


def _as_batch(points: np.ndarray, name: str) -> np.ndarray:
    """``(K, 2)`` -> ``(1, K, 2)``; anything but ``(N, K, 2)`` is an error."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (N, K, 2) or (K, 2), got {np.shape(points)}")
    return arr


def _visibility(visible: np.ndarray | None, shape: tuple[int, int], gt: np.ndarray) -> np.ndarray:
    """``(N, K)`` mask; ``None`` means every finite ground-truth point; ``(K,)`` broadcasts over images."""
    finite = np.isfinite(gt).all(axis=-1)
    if visible is None:
        return finite
    vis = np.asarray(visible, dtype=bool)
    try:
        vis = np.broadcast_to(vis, shape)
    except ValueError:
        raise ValueError(f"visible must have shape {shape} or ({shape[1]},), got {vis.shape}") from None
    return vis & finite


def _check_normalizer(kind: str) -> None:
    if kind not in NORMALIZERS:
        raise ValueError(f"unknown normaliser {kind!r}; choose one of {list(NORMALIZERS)}")


def normalizer_values(
    gt: np.ndarray,
    kind: str,
    schema: str | Schema | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image normaliser ``(N,)`` for ground truth ``(N, K, 2)``; ``kind`` is ``box`` or ``interocular``.

    Raises if any image's normaliser is zero or undefined, since its NME would be meaningless.
    """
    _check_normalizer(kind)
    g = _as_batch(gt, "gt")
    if kind == "box":
        vis = _visibility(visible, g.shape[:2], g)
        lo = np.where(vis[..., None], g, np.inf).min(axis=1)
        hi = np.where(vis[..., None], g, -np.inf).max(axis=1)
        with np.errstate(invalid="ignore"):
            wh = hi - lo
            values = np.sqrt(wh[:, 0] * wh[:, 1])
    else:
        if schema is None:
            raise ValueError("the 'interocular' normaliser needs a schema (which points are the eyes)")
        sch = get_schema(schema)
        if sch.interocular is None:
            raise ValueError(f"schema {sch.name} defines no interocular points")
        if g.shape[1] != sch.num_points:
            raise ValueError(f"schema {sch.name} has {sch.num_points} points, gt has {g.shape[1]}")
        a, b = sch.interocular
        values = np.linalg.norm(g[:, a] - g[:, b], axis=-1)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        which = np.flatnonzero(bad)[:10].tolist()
        raise ValueError(f"{kind} normaliser is zero or undefined for image(s) {which}")
    return values


def point_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance per point, ``(N, K)``."""
    p, g = _as_batch(pred, "pred"), _as_batch(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} must have the same shape")
    return np.linalg.norm(p - g, axis=-1)


def _normalised_distances(pred, gt, normalizer, schema, visible) -> tuple[np.ndarray, np.ndarray]:
    """Distances divided by each image's normaliser ``(N, K)`` and the visibility mask ``(N, K)``."""
    dist = point_distances(pred, gt)
    g = _as_batch(gt, "gt")
    vis = _visibility(visible, dist.shape, g)
    if isinstance(normalizer, str):
        norm = normalizer_values(g, normalizer, schema, vis)
    else:  # precomputed per-image values, e.g. face-box sizes from a detector
        norm = np.broadcast_to(np.asarray(normalizer, dtype=np.float64), dist.shape[:1])
        if not (np.isfinite(norm) & (norm > 0)).all():
            raise ValueError("precomputed normaliser values must be finite and > 0")
    return dist / norm[:, None], vis


def nme(
    pred: np.ndarray,
    gt: np.ndarray,
    normalizer: str | np.ndarray = "box",
    schema: str | Schema | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image NME ``(N,)``: mean distance over visible points / normaliser (a name or ``(N,)`` values)."""
    err, vis = _normalised_distances(pred, gt, normalizer, schema, visible)
    counts = vis.sum(axis=1)
    if (counts == 0).any():
        raise ValueError(f"image(s) {np.flatnonzero(counts == 0)[:10].tolist()} have no visible points")
    return np.where(vis, err, 0.0).sum(axis=1) / counts


def per_point_error(
    pred: np.ndarray,
    gt: np.ndarray,
    normalizer: str | np.ndarray = "box",
    schema: str | Schema | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Mean normalised error of each landmark ``(K,)`` over the images where it is visible (NaN if none)."""
    err, vis = _normalised_distances(pred, gt, normalizer, schema, visible)
    counts = vis.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.where(vis, err, 0.0).sum(axis=0) / counts, np.nan)


def _errors(errors: np.ndarray) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("no errors given")
    if not np.isfinite(e).all() or (e < 0).any():
        raise ValueError("errors must be finite and non-negative")
    return e


def _check_threshold(threshold: float) -> float:
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return float(threshold)


def ced_curve(
    errors: np.ndarray, max_threshold: float = 0.10, steps: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: ``steps`` thresholds in ``[0, max_threshold]`` and the fraction
    of images with NME <= each threshold (``steps >= 2``)."""
    e = np.sort(_errors(errors))
    if int(steps) < 2:
        raise ValueError(f"ced_curve needs steps >= 2, got {steps}")
    thresholds = np.linspace(0.0, _check_threshold(max_threshold), int(steps))
    fraction = np.searchsorted(e, thresholds, side="right") / e.size
    return thresholds, fraction


def auc(errors: np.ndarray, threshold: float) -> float:
    """Area under the CED from 0 to ``threshold``, divided by ``threshold`` (so 1.0 = every error is 0)."""
    t = _check_threshold(threshold)
    return float(np.mean(np.clip(1.0 - _errors(errors) / t, 0.0, 1.0)))


def failure_rate(errors: np.ndarray, threshold: float) -> float:
    """Fraction of images whose NME is strictly above ``threshold``."""
    return float(np.mean(_errors(errors) > _check_threshold(threshold)))


def summarize(errors: np.ndarray, normalizer: str) -> dict[str, float | int | str]:
    """The figures every report carries, with the normaliser named (it changes every number)."""
    _check_normalizer(normalizer)
    e = _errors(errors)
    return {
        "nme": float(e.mean()),
        "auc@0.08": auc(e, 0.08),
        "auc@0.10": auc(e, 0.10),
        "fr@0.08": failure_rate(e, 0.08),
        "fr@0.10": failure_rate(e, 0.10),
        "normalizer": normalizer,
        "n": int(e.size),
    }
