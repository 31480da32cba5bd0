"""A realism meter for rendered faces: can a small classifier tell them from real LR faces?

The real class is every real LR face the project holds: scikit-image's 100 LFW faces (25² grey) and
the 43 PASCAL faces (``pascal-faces-68``, found by :mod:`s2ld_core.data.external`), both framed as LFW
frames its faces (the face fills the crop, the chin at the bottom edge) and brought to LFW's size and
colour: 25² grey, area-downscaled from their native resolution. The rendered class is renders framed
the same way from their own points and downscaled the same way. Only images reach the classifier,
never landmarks; the PASCAL points serve to frame the crop, as a face finder would.

:func:`realism_score` trains a small CNN to separate the two classes in stratified k-fold cross
validation and reports the held-out accuracy and ROC AUC of the pooled out-of-fold scores: 50 % and
0.5 mean the renders cannot be told from real faces. :func:`image_stats` gives simple statistics to
show side by side (intensity histogram, log power spectrum, edge density).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..geometry import similarity_matrix, warp_image
from .external import pascal_xml_files

__all__ = [
    "LFW_FRAMING",
    "METER_SIZE",
    "METER_ID_BASE",
    "frame_face",
    "real_faces",
    "rendered_faces",
    "realism_score",
    "roc_auc",
    "image_stats",
]

METER_SIZE = 25  # LFW's native size
METER_ID_BASE = 300_000  # renderer identities of the meter: apart from every data set's
LFW_FRAMING = (1.0, 0.18)  # landmark-box side / crop side, box centre below the crop centre (/ side)
ROOT = Path(__file__).resolve().parents[2]


def frame_face(image: np.ndarray, points: np.ndarray, size: int = METER_SIZE,
               framing: tuple[float, float] = LFW_FRAMING, grey: bool = True) -> np.ndarray:
    """Crop ``image`` around its landmark box at ``framing`` (fill, downward shift), area-resize to
    ``size`` (through a crop at least as large as the box, so nothing is upsampled), optionally grey."""
    fill, shift = framing
    pts = np.asarray(points, np.float64)
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()), 1.0) / fill
    centre = (lo + hi) / 2.0 - np.array([0.0, shift * side])
    work = max(size, int(np.ceil(side)))
    scale = work / side
    m = similarity_matrix(tuple(centre), 0.0, scale,
                          translate=(work / 2.0 - 0.5 - centre[0], work / 2.0 - 0.5 - centre[1]))
    crop = warp_image(image, m, work, border=cv2.BORDER_REPLICATE)
    if work != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    if grey:
        crop = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return crop


def _pascal_faces(size: int, framing, grey: bool) -> list[np.ndarray]:
    from .formats import read_imglab_xml
    from .images import read_rgb

    out, cache = [], {}
    for xml in pascal_xml_files():
        for face in read_imglab_xml(xml, num_points=68):
            path = face.image_path(xml)
            if path not in cache:
                cache[path] = read_rgb(path)
            out.append(frame_face(cache[path], face.points, size, framing, grey))
    return out


def real_faces(
    size: int = METER_SIZE, framing=LFW_FRAMING, grey: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The real class: LFW's 100 faces (resized to ``size`` if it is not 25) and the PASCAL faces,
    ``(N, size, size, 3) uint8`` with a source label per face (0 LFW, 1 PASCAL)."""
    from .sources import lfw_faces

    lfw = [f if f.shape[0] == size else cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
           for f in lfw_faces()]
    pascal = _pascal_faces(size, framing, grey)
    return np.stack(lfw + pascal), np.array([0] * len(lfw) + [1] * len(pascal))


def rendered_faces(n: int, config=None, seed: int = 0, size: int = METER_SIZE, framing=LFW_FRAMING,
                   grey: bool = True, first_id: int = METER_ID_BASE) -> np.ndarray:
    """``n`` renders (one per identity) framed like the real class."""
    from .render import render_dataset

    fs = render_dataset(range(first_id, first_id + n), 1, seed=seed, config=config)
    return np.stack([frame_face(im, p, size, framing, grey) for im, p in zip(fs.images, fs.points)])


# ----------------------------------------------------------------------------- the classifier


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def _net(size: int):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 1),
    )


def _to_input(images: np.ndarray):
    import torch

    grey = images[..., :3].astype(np.float32).mean(-1) if images.ndim == 4 else images.astype(np.float32)
    return torch.from_numpy(grey / 127.5 - 1.0)[:, None]


def _fit_predict(x_train, y_train, x_test, seed: int, epochs: int, batch: int = 32) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = _net(x_train.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    yt = torch.from_numpy(y_train.astype(np.float32))
    n = len(x_train)
    steps = epochs * max(1, n // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    pad = torch.nn.functional.pad
    net.train()
    for _ in range(steps):
        idx = torch.randint(n, (batch,), generator=g)
        xb = x_train[idx]
        flip = torch.rand(batch, generator=g) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        # a shift of up to 2 px: the classifier must not key on exact framing
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
        s = xb.shape[-1]
        xb = pad(xb, (2, 2, 2, 2), mode="replicate")[..., 2 + dy : 2 + dy + s, 2 + dx : 2 + dx + s]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb)[:, 0], yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        logits = (net(x_test)[:, 0] + net(x_test.flip(-1))[:, 0]) / 2
    return logits.numpy()


def realism_score(real: np.ndarray, rendered: np.ndarray, folds: int = 5, seed: int = 0,
                  epochs: int = 30) -> dict:
    """Held-out accuracy and AUC of a small CNN telling ``real`` (label 1) from ``rendered`` (0).

    Stratified ``folds``-fold cross validation; every image is scored once by a network that never saw
    it. Accuracy thresholds the logit at 0 and is balanced (the mean of the two classes' accuracies),
    so unequal class sizes do not move it."""
    x = _to_input(np.concatenate([real, rendered]))
    y = np.concatenate([np.ones(len(real), int), np.zeros(len(rendered), int)])
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    scores = np.zeros(len(y))
    per_fold = []
    for k in range(folds):
        test, train = fold == k, fold != k
        scores[test] = _fit_predict(x[train], y[train], x[test], seed * 100 + k, epochs)
        per_fold.append(_balanced_accuracy(scores[test], y[test]))
    return {
        "accuracy": _balanced_accuracy(scores, y),
        "auc": roc_auc(scores, y),
        "fold_accuracy": per_fold,
        "n_real": int(len(real)),
        "n_rendered": int(len(rendered)),
        "folds": folds,
        "epochs": epochs,
        "seed": seed,
    }


def _balanced_accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    pred = scores > 0
    return float(np.mean([np.mean(pred[y == c] == c) for c in (0, 1) if np.any(y == c)]))


# ----------------------------------------------------------------------------- statistics


@dataclass
class ImageStats:
    histogram: np.ndarray  # (32,) fraction of pixels per grey-level bin
    spectrum: np.ndarray  # (R,) radially averaged log10 power, mean over images
    edge_density: float  # fraction of pixels whose gradient magnitude exceeds a fixed threshold
    mean: float
    std: float  # mean per-image contrast (std of grey levels)
    saturation: float | None = None  # mean HSV saturation (colour images only)

    def to_dict(self) -> dict:
        return {
            "histogram": [round(float(v), 5) for v in self.histogram],
            "spectrum": [round(float(v), 4) for v in self.spectrum],
            "edge_density": self.edge_density,
            "mean": self.mean,
            "std": self.std,
            "saturation": self.saturation,
        }


def image_stats(images: np.ndarray, colour: bool = False, edge_threshold: float = 120.0) -> ImageStats:
    """Statistics of a set of ``(N, S, S, 3) uint8`` images (grey levels unless ``colour``)."""
    grey = images.astype(np.float32).mean(-1)
    hist = np.histogram(grey, bins=32, range=(0, 256))[0].astype(np.float64)
    hist /= hist.sum()
    s = grey.shape[-1]
    centred = grey - grey.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(s), np.hanning(s)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred * window), axes=(1, 2))) ** 2
    yy, xx = np.indices((s, s)) - s // 2
    r = np.sqrt(xx**2 + yy**2).astype(int)
    radial = np.array([power[:, r == k].mean() for k in range(1, s // 2 + 1)])
    gx = np.stack([cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) for g in grey])
    gy = np.stack([cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) for g in grey])
    edges = float((np.sqrt(gx**2 + gy**2) > edge_threshold)[:, 1:-1, 1:-1].mean())
    sat = None
    if colour:
        hsv = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2HSV) for im in images])
        sat = float(hsv[..., 1].mean() / 255.0)
    return ImageStats(hist, np.log10(radial + 1e-6), edges, float(grey.mean()),
                      float(grey.std(axis=(1, 2)).mean()), sat)
