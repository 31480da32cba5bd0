"""Closed-set 1:N face identification, the protocol of §4.3 and of TinyFace (Cheng et al., 2018).

Each probe ranks the whole gallery by similarity. Rank-k accuracy (the CMC curve) is the fraction of
probes with a true match among the first k; mAP averages, over probes, the average precision of the
probe's ranked list. The paper's split — "for each test class, half of the face images are randomly
assigned to the probe set, and the remaining to the gallery set" — is :func:`half_split`; TinyFace's
own split (Probe / Gallery_Match / Gallery_Distractor) is :func:`tinyface_protocol`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["similarity_matrix", "identification_scores", "tinyface_protocol", "half_split", "wilson_interval"]

_CHUNK = 512  # probes scored at a time: bounds memory at CHUNK × gallery floats (TinyFace: ~150k)


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def similarity_matrix(probe: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """``(P, G)`` similarities, larger = more alike: cosine, or the negated Euclidean distance."""
    p = np.asarray(probe, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    if metric == "cosine":
        return _l2_normalise(p) @ _l2_normalise(g).T
    if metric == "euclidean":
        d2 = (p**2).sum(1)[:, None] + (g**2).sum(1)[None, :] - 2.0 * p @ g.T
        return -np.sqrt(np.maximum(d2, 0.0))
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def _encode_ids(
    probe_ids: Sequence[Hashable | None], gallery_ids: Sequence[Hashable | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes: gallery identities 0..n-1, distractors (``None``) -2, probes absent from the
    gallery -1 — so a distractor can never equal a probe's code."""
    table: dict[Hashable, int] = {}
    for g in gallery_ids:
        if g is not None:
            table.setdefault(g, len(table))
    gal = np.array([-2 if g is None else table[g] for g in gallery_ids], dtype=np.int64)
    prb = np.array([-1 if p is None else table.get(p, -1) for p in probe_ids], dtype=np.int64)
    return prb, gal


def _match_ranks(scores: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """1-based ranks of the true matches in the list sorted by descending score.

    Equal scores keep gallery order (a stable sort); counting instead of sorting keeps a probe against
    a 150k gallery cheap.
    """
    idx = np.flatnonzero(matches)
    s = scores[idx][:, None]
    earlier = np.arange(len(scores))[None, :] < idx[:, None]
    ahead = (scores[None, :] > s) | ((scores[None, :] == s) & earlier)
    return np.sort(ahead.sum(axis=1) + 1)


def _average_precision(ranks: np.ndarray) -> float:
    """Mean over the true matches of precision at each one's rank: ``mean_j (j / r_j)``."""
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def identification_scores(
    probe_feats: np.ndarray,
    probe_ids: Sequence[Hashable | None],
    gallery_feats: np.ndarray,
    gallery_ids: Sequence[Hashable | None],
    metric: str = "cosine",
    ks: Sequence[int] = (1, 5, 10, 20),
) -> dict:
    """Closed-set 1:N identification scores.

    For each probe the gallery is ranked by similarity (``metric``; ties keep gallery order). Its
    first true match at rank ``r0`` counts towards every CMC rank ``>= r0``; ``top{k}`` is the CMC at
    rank ``k`` in percent (``k`` beyond the gallery size reads the last rank). A probe's *average
    precision* is, over its ranked gallery list, the mean of precision@r taken at each rank r that
    holds a true match (precision@r = true matches among the first r / r); ``mAP`` (0–1) is its mean
    over probes. Gallery entries whose id is ``None`` are distractors and never match. Probes whose
    identity has no gallery image cannot be scored in a closed-set protocol: they are excluded and
    counted in ``excluded_probes``.

    Returns ``{"top1": …, "top5": …, "mAP", "cmc" (ranks 1..G, fractions), "num_probes" (scored),
    "excluded_probes", "gallery_size", "metric"}``.
    """
    pf, gf = np.asarray(probe_feats), np.asarray(gallery_feats)
    if pf.ndim != 2 or gf.ndim != 2 or pf.shape[1] != gf.shape[1]:
        raise ValueError(f"features must be (P, D) and (G, D), got {pf.shape} and {gf.shape}")
    if len(probe_ids) != len(pf) or len(gallery_ids) != len(gf):
        raise ValueError(f"{len(probe_ids)} probe ids for {len(pf)} probes or {len(gallery_ids)} gallery "
                         f"ids for {len(gf)} gallery features")
    if not (np.isfinite(pf).all() and np.isfinite(gf).all()):
        raise ValueError("identification_scores: features contain NaN or inf (did training diverge?)")
    prb, gal = _encode_ids(probe_ids, gallery_ids)
    keep = np.flatnonzero(prb >= 0)
    if len(keep) == 0:
        raise ValueError("no probe identity occurs in the gallery; nothing to score")
    first = np.empty(len(keep), np.int64)
    aps = np.empty(len(keep), np.float64)
    for start in range(0, len(keep), _CHUNK):
        rows = keep[start : start + _CHUNK]
        sims = similarity_matrix(pf[rows], gf, metric)
        for j, (row_scores, code) in enumerate(zip(sims, prb[rows])):
            ranks = _match_ranks(row_scores, gal == code)
            first[start + j], aps[start + j] = ranks[0], _average_precision(ranks)
    cmc = np.bincount(first - 1, minlength=len(gf)).cumsum() / len(keep)
    out: dict = {f"top{k}": 100.0 * float(cmc[min(k, len(gf)) - 1]) for k in ks}
    out.update(mAP=float(aps.mean()), cmc=cmc, num_probes=len(keep), excluded_probes=int(len(pf) - len(keep)),
               gallery_size=len(gf), metric=metric)
    return out


def tinyface_protocol(
    probe: tuple[np.ndarray, Sequence[Hashable]],
    gallery_match: tuple[np.ndarray, Sequence[Hashable]],
    distractors: np.ndarray,
    metric: str = "cosine",
    ks: Sequence[int] = (1, 5, 10, 20),
) -> dict:
    """TinyFace's own evaluation: ``Probe`` against ``Gallery_Match`` ∪ ``Gallery_Distractor``.

    ``probe`` and ``gallery_match`` are ``(features, identities)``; ``distractors`` are features of the
    ~150k identity-less distractor faces, appended to the gallery with id ``None``.
    """
    p_feats, p_ids = probe
    g_feats, g_ids = gallery_match
    d = np.asarray(distractors).reshape(-1, np.asarray(g_feats).shape[1])
    gallery = np.concatenate([np.asarray(g_feats), d.astype(np.asarray(g_feats).dtype)])
    return identification_scores(p_feats, p_ids, gallery, list(g_ids) + [None] * len(d), metric, ks)


def half_split(
    ids: Sequence[Hashable | None], rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's probe/gallery split: per identity, a random half of its images become probes.

    An identity with ``n`` images gives ``floor(n / 2)`` probes and the rest to the gallery, so an odd
    count puts the extra image in the gallery and a single-image identity goes to the gallery only
    (where it acts as a distractor for everyone else's probes). ``None`` ids (no identity) go to the
    gallery. Returns sorted index arrays ``(probe_idx, gallery_idx)``.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    groups: dict[Hashable, list[int]] = {}
    probes: list[int] = []
    gallery: list[int] = []
    for i, identity in enumerate(ids):
        if identity is None:
            gallery.append(i)
        else:
            groups.setdefault(identity, []).append(i)
    for members in groups.values():
        order = gen.permutation(members)
        half = len(order) // 2
        probes.extend(order[:half].tolist())
        gallery.extend(order[half:].tolist())
    return np.sort(np.array(probes, dtype=np.int64)), np.sort(np.array(gallery, dtype=np.int64))


def wilson_interval(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a proportion ``hits / n``, as fractions in [0, 1].

    Unlike the normal approximation it stays inside [0, 1] and is sound near 0 % and 100 %, where a
    top-1 rate on a few hundred probes often lies.
    """
    if n <= 0:
        raise ValueError(f"wilson_interval needs n >= 1, got {n}")
    if not 0 <= hits <= n:
        raise ValueError(f"wilson_interval: hits must be in 0..{n}, got {hits}")
    p = hits / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))
