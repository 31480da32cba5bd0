"""Inter-annotator agreement: how far apart do two people put the same landmark on a tiny face?

On 16-32 px faces the annotators' own disagreement is the floor any detector's NME is measured
against, so ALRF-style data sets should report it. For every pair of annotator files and every image
both marked (status ``done`` or ``todo`` with points; ``skipped``/``flagged`` images are left out), we
take the points *both* placed -- face by face in an image of several faces (entries ``key#2`` …; an
image where the two marked different numbers of faces is left out) -- and compute

    NME = mean_i ||p_a,i - p_b,i|| / sqrt(w * h)

where ``w x h`` is the landmark box of the two annotators' *mean* points (the ``box`` normaliser of
``docs/architecture.md``, made symmetric because neither annotator is the ground truth). Per image we
average over pairs, per point over pairs and images; the data-set figure is the mean over images.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from s2ld_core.atomic import atomic_write_json, atomic_write_text
from s2ld_core.data.formats import AnnotationSet, FormatError, read_annotations

__all__ = ["pair_nme", "agreement_report", "add_agreement_arguments", "main_agreement"]

NORMALIZER_NOTE = "box: sqrt(w*h) of the landmark box of the two annotators' mean points"
_EXCLUDED_STATUSES = ("skipped", "flagged")


def pair_nme(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, float] | None:
    """NME between two ``(K, 2)`` point sets (NaN = not placed).

    Returns ``(nme, per-point normalised distances (K,) with NaN where either is missing,
    normaliser)`` or ``None`` if fewer than two points are shared or their box has no area.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    both = ~(np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1))
    if both.sum() < 2:
        return None
    mean = (a[both] + b[both]) / 2.0
    w, h = mean.max(axis=0) - mean.min(axis=0)
    norm = math.sqrt(w * h)
    if not norm > 0:
        return None
    dist = np.full(len(a), np.nan)
    dist[both] = np.linalg.norm(a[both] - b[both], axis=1) / norm
    return float(np.nanmean(dist)), dist, norm


def _load(paths: Sequence[str | os.PathLike[str]]) -> list[AnnotationSet]:
    if len(paths) < 2:
        raise ValueError("agreement needs at least two annotation files")
    sets = []
    for p in paths:
        try:
            sets.append(read_annotations(p))
        except FileNotFoundError:
            raise ValueError(f"{p}: no such annotation file") from None
        except FormatError as exc:
            raise ValueError(str(exc)) from None
    first = sets[0].schema
    for p, s in zip(paths[1:], sets[1:]):
        if s.schema != first:
            raise ValueError(
                f"{p}: holds {s.schema} points but {paths[0]} holds {first}; compare files of one schema"
            )
    return sets


def _names(sets: list[AnnotationSet], paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Annotator names, made unique with the file stem if two files carry the same name."""
    names = [s.annotator or Path(p).stem for s, p in zip(sets, paths)]
    if len(set(names)) < len(names):
        names = [f"{n} ({Path(p).name})" for n, p in zip(names, paths)]
    return names


def _usable(aset: AnnotationSet, key: str):
    ann = aset.images.get(key)
    if ann is None or ann.status in _EXCLUDED_STATUSES:
        return None
    return ann


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def agreement_report(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> dict:
    """Compare annotator files pairwise; write ``agreement.json`` and ``agreement.md`` to ``out_dir``.

    Returns the report dict (what the JSON holds). Raises ``ValueError`` naming the bad file when a
    file is missing, malformed, or of another schema.
    """
    sets = _load(paths)
    names = _names(sets, paths)
    schema = sets[0].landmarks
    k = schema.num_points
    keys = sorted(set().union(*(s.images for s in sets)))

    per_image: dict[str, dict] = {}
    point_sums = [[] for _ in range(k)]
    pairs_out = []
    excluded: dict[str, str] = {}
    pixel_errors_all: list[float] = []
    for (ia, a), (ib, b) in itertools.combinations(enumerate(sets), 2):
        nmes, pix = [], []
        for key in keys:
            ann_a, ann_b = _usable(a, key), _usable(b, key)
            if ann_a is None or ann_b is None:
                continue
            if (ann_a.width, ann_a.height) != (ann_b.width, ann_b.height):
                excluded[key] = "annotators saw different image sizes"
                continue
            if len(ann_a.faces) != len(ann_b.faces):
                excluded[key] = "annotators marked different numbers of faces"
                continue
            for f, (face_a, face_b) in enumerate(zip(ann_a.faces, ann_b.faces)):
                name = key if len(ann_a.faces) == 1 else f"{key}#{f + 1}"  # faces pair up in order
                res = pair_nme(face_a.points_array(), face_b.points_array())
                if res is None:
                    excluded.setdefault(name, "fewer than two points placed by both annotators")
                    continue
                nme, dist, norm = res
                nmes.append(nme)
                pix.append(float(np.nanmean(dist)) * norm)
                size = {"width": ann_a.width, "height": ann_a.height}
                entry = per_image.setdefault(name, {"pairs": {}, **size})
                entry["pairs"][f"{names[ia]} vs {names[ib]}"] = nme
                for i in range(k):
                    if not np.isnan(dist[i]):
                        point_sums[i].append(float(dist[i]))
        pixel_errors_all += pix
        pairs_out.append({
            "a": names[ia], "b": names[ib], "images": len(nmes),
            "mean_nme": _mean(nmes), "mean_pixel_error": _mean(pix),
        })
    for key, entry in per_image.items():
        entry["mean_nme"] = float(np.mean(list(entry["pairs"].values())))
        excluded.pop(key, None)

    image_nmes = [e["mean_nme"] for e in per_image.values()]
    summary = {
        "mean_nme": _mean(image_nmes),
        "median_nme": float(np.median(image_nmes)) if image_nmes else None,
        "mean_pixel_error": _mean(pixel_errors_all),
        "num_images": len(per_image),
        "annotators": names,
        "normalizer": NORMALIZER_NOTE,
    }
    report = {
        "summary": summary,  # the headline numbers, repeated below for flat access
        "schema": schema.name,
        "normalizer": NORMALIZER_NOTE,
        "annotators": names,
        "files": [str(Path(p)) for p in paths],
        "num_images": len(per_image),
        "mean_nme": _mean(image_nmes),
        "median_nme": float(np.median(image_nmes)) if image_nmes else None,
        "mean_pixel_error": _mean(pixel_errors_all),
        "pairs": pairs_out,
        "per_point": [
            {"index": i, "name": schema.point_names[i], "mean_nme": _mean(point_sums[i]),
             "count": len(point_sums[i])}
            for i in range(k)
        ],
        "per_image": dict(sorted(per_image.items())),
        "excluded": dict(sorted(excluded.items())),
    }
    out = Path(out_dir)
    atomic_write_json(out / "agreement.json", report)
    atomic_write_text(out / "agreement.md", _markdown(report))
    return report


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f}%" if pct else f"{value:.3f}"


def _markdown(r: dict) -> str:
    lines = [
        "# Inter-annotator agreement",
        "",
        f"Schema `{r['schema']}`; annotators: {', '.join(r['annotators'])}.",
        f"Normaliser: {r['normalizer']}.",
        "",
        f"**Mean NME {_fmt(r['mean_nme'])}** (median {_fmt(r['median_nme'])}) over {r['num_images']} images; "
        f"mean distance {_fmt(r['mean_pixel_error'], pct=False)} px.",
        "",
        "## Pairs",
        "",
        "| annotator A | annotator B | images | mean NME | mean px |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {p['a']} | {p['b']} | {p['images']} | {_fmt(p['mean_nme'])} | "
              f"{_fmt(p['mean_pixel_error'], pct=False)} |" for p in r["pairs"]]
    lines += ["", "## Per point", "", "| # | point | NME | n |", "| ---: | --- | ---: | ---: |"]
    lines += [f"| {p['index'] + 1} | {p['name']} | {_fmt(p['mean_nme'])} | {p['count']} |"
              for p in r["per_point"]]
    worst = sorted(r["per_image"].items(), key=lambda kv: -kv[1]["mean_nme"])[:10]
    if worst:
        lines += ["", "## Least agreement (top 10 images)", "", "| image | mean NME |", "| --- | ---: |"]
        lines += [f"| `{key}` | {_fmt(e['mean_nme'])} |" for key, e in worst]
    if r["excluded"]:
        lines += ["", f"{len(r['excluded'])} image(s) excluded (see `excluded` in agreement.json)."]
    return "\n".join(lines) + "\n"


def add_agreement_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``s2ld agreement``: annotator files and an output folder."""
    parser.add_argument("files", nargs="+", help="annotation JSON files, one per annotator")
    parser.add_argument("--out", default="reports/agreement", help="folder for agreement.json/.md")
    return parser


def main_agreement(args: argparse.Namespace) -> int:
    report = agreement_report(args.files, args.out)
    print(f"mean NME {_fmt(report['mean_nme'])} over {report['num_images']} images "
          f"-> {Path(args.out) / 'agreement.md'}")
    return 0
