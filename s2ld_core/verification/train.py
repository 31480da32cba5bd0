"""Train LightCNN on aligned faces and measure identification — one L-setting of §4.3 per call.

:func:`evaluate_alignment_setting` is the whole experiment behind one column of Table 3a: align the
training and test faces with a landmark detector (or don't: the plain-resize baseline), train LightCNN
from scratch (L1–L4) or fine-tune published weights (L5), split the test identities in half
(:func:`~s2ld_core.verification.protocol.half_split`) and score 1:N identification. The paper gives
no LightCNN optimiser settings. The LightCNN authors' recipe (no normalisation; SGD, momentum 0.9,
weight decay 1e-4, learning rate 0.01) needs far more steps than a study affords: on 8 rendered
identities × 6 faces it fits only 60–75 % of them in 60 steps, and the quick study's 40 steps left it
at 6.6 % training accuracy on 40 identities. The defaults are therefore BatchNorm in every MFM
(``norm="batch"``) and Adam 1e-3 with a cosine decay, which fit the same faces perfectly in those 60
steps; ``norm="none", optimizer="sgd", lr=0.01`` is the authors' recipe, and what their published
weights need.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from s2ld_core.geometry import resize_image, to_rgb_uint8
from s2ld_core.schemas import Schema
from s2ld_core.verification.align import align_faces
from s2ld_core.verification.lightcnn import (
    LightCNN,
    LightCNNArch,
    build_lightcnn,
    images_to_tensor,
    load_pretrained,
)
from s2ld_core.verification.protocol import half_split, identification_scores, wilson_interval

__all__ = [
    "LightCNNConfig",
    "LandmarkDetectorLike",
    "train_lightcnn",
    "batches",
    "classification_accuracy",
    "extract_features",
    "prepare_faces",
    "evaluate_alignment_setting",
]


class LandmarkDetectorLike(Protocol):
    """What alignment needs from a detector: its schema and points in each input image's pixels."""

    schema: Schema

    def predict(self, images: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class LightCNNConfig:
    """One LightCNN training run. ``disabled_pools=None`` picks the pools so the last map is 8×8, as in
    the original at 128×128 — 2 at the paper's 32×32, 0 at 128×128. ``flip_features`` averages each
    test embedding with its mirror image's (a common test-time trick the paper does not mention; off)."""

    variant: str = "9"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam", or "sgd" (the LightCNN authors', with lr 0.01 and norm "none")
    momentum: float = 0.9
    weight_decay: float = 1e-4
    margin_head: bool = False  # ArcFace additive angular margin instead of softmax
    margin: float = 0.5
    margin_scale: float = 30.0
    in_channels: int = 1
    input_size: int = 32
    disabled_pools: int | None = None
    dropout: float = 0.5
    pixel_range: str = "signed"  # "unit" ([0, 1]) for the LightCNN authors' published weights (L5)
    norm: str = "batch"  # BatchNorm in every MFM; "none": the original (the authors' weights need it)
    flip_features: bool = False
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LightCNNConfig:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"LightCNNConfig: unknown keys {sorted(unknown)}")
        return cls(**data)

    def arch(self, num_classes: int) -> LightCNNArch:
        pools = self.disabled_pools
        if pools is None:
            pools = min(4, max(0, 4 - int(round(np.log2(self.input_size / 8)))))
        return LightCNNArch(
            variant=self.variant, num_classes=num_classes, in_channels=self.in_channels,
            input_size=self.input_size, disabled_pools=pools, dropout=self.dropout,
            head="arcface" if self.margin_head else "softmax",
            margin=self.margin, margin_scale=self.margin_scale, pixel_range=self.pixel_range,
            norm=self.norm,
        )


def _check_batch(images: np.ndarray, size: int, what: str) -> np.ndarray:
    imgs = np.asarray(images)
    if imgs.ndim != 4 or imgs.shape[1:] != (size, size, 3) or imgs.dtype != np.uint8:
        raise ValueError(
            f"{what}: expected uint8 images (N, {size}, {size}, 3), got {imgs.dtype} {imgs.shape}"
            " (align or resize them to config.input_size first)"
        )
    return imgs


def _make_optimizer(model: torch.nn.Module, cfg: LightCNNConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"LightCNNConfig.optimizer must be 'sgd' or 'adam', got {cfg.optimizer!r}")


def _train_step(
    model: LightCNN, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, int]:
    """One softmax cross-entropy step (over margin logits with the ArcFace head).

    A non-finite loss stops training at once: continuing would only hand NaN features to evaluation.
    """
    logits, _ = model(x, y)
    loss = F.cross_entropy(logits, y)
    if not torch.isfinite(loss):
        lr = opt.param_groups[0]["lr"]
        raise FloatingPointError(
            f"LightCNN training diverged (loss {float(loss.detach())}); lower LightCNNConfig.lr (now {lr:g})"
        )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach()), int((logits.detach().argmax(1) == y).sum())


def _random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch: faces are near-symmetric, so this doubles the data for free."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = x.clone()
    x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
    return x


def train_lightcnn(
    images: np.ndarray,
    identities: Sequence[Hashable],
    config: LightCNNConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    pretrained: str | Path | None = None,
) -> tuple[LightCNN, dict[str, Any]]:
    """Train LightCNN to classify ``identities`` from ``images`` (uint8 ``(N, S, S, 3)``, S = input_size).

    Softmax cross-entropy with random horizontal flips; ``pretrained`` initialises from a state dict
    (:func:`~s2ld_core.verification.lightcnn.load_pretrained`; the classifier always starts fresh). Returns
    the model in eval mode and ``history``: per-epoch ``loss`` and training ``accuracy`` (on the fly,
    through dropout and flips), ``eval_accuracy`` (the finished network on its training faces, eval
    mode), ``classes`` (class index → identity) and ``seconds``.
    """
    cfg = config or LightCNNConfig()
    imgs = _check_batch(images, cfg.input_size, "train_lightcnn images")
    if len(identities) != len(imgs):
        raise ValueError(f"train_lightcnn: {len(identities)} identities for {len(imgs)} images")
    classes = sorted(set(identities), key=str)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[i] for i in identities], dtype=torch.long)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_lightcnn(cfg.arch(len(classes)))
    if pretrained is not None:
        load_pretrained(model, pretrained)
    model.to(device).train()
    opt = _make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs))
    history: dict[str, Any] = {"loss": [], "accuracy": [], "classes": classes}
    start = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="LightCNN", disable=not progress)
    for _ in bar:
        order = torch.randperm(len(imgs), generator=gen)
        total_loss, correct = 0.0, 0
        for idx in batches(order, cfg.batch_size):
            x = _random_flip(images_to_tensor(imgs[idx.numpy()], model.arch, device), gen)
            loss, hits = _train_step(model, opt, x, labels[idx].to(device))
            total_loss, correct = total_loss + loss * len(idx), correct + hits
        sched.step()
        history["loss"].append(total_loss / len(imgs))
        history["accuracy"].append(correct / len(imgs))
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['accuracy'][-1]:.2f}")
    model.eval()
    history["eval_accuracy"] = classification_accuracy(model, imgs, labels, device=device)
    history["seconds"] = time.perf_counter() - start
    return model, history


def batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """``order`` cut into batches of ``batch_size``; a last batch of one joins the one before it, since
    BatchNorm cannot normalise a single face (and one face's step would be noise anyway)."""
    parts = list(torch.split(order, batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


@torch.no_grad()
def classification_accuracy(
    model: LightCNN, images: np.ndarray, labels: torch.Tensor, batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> float:
    """Share of ``images`` whose class ``model`` (in eval mode: no dropout, no flips, BatchNorm's
    running statistics) predicts as ``labels`` — the training accuracy of the finished network, where
    the per-epoch ``accuracy`` is measured on the fly through dropout and flips."""
    was_training = model.training
    model.eval()
    hits = 0
    for b in range(0, len(images), batch_size):
        logits, _ = model(images_to_tensor(images[b : b + batch_size], model.arch, device))
        hits += int((logits.argmax(1).cpu() == labels[b : b + batch_size]).sum())
    model.train(was_training)
    return hits / max(1, len(images))


@torch.no_grad()
def extract_features(
    model: LightCNN,
    images: np.ndarray,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    flip: bool = False,
) -> np.ndarray:
    """L2-normalised embeddings ``(N, D)`` float32; ``flip`` averages each with its mirror image's."""
    imgs = _check_batch(images, model.arch.input_size, "extract_features images")
    was_training = model.training
    model.eval().to(device)
    out = []
    for b in range(0, len(imgs), batch_size):
        x = images_to_tensor(imgs[b : b + batch_size], model.arch, device)
        emb = model.embed(x)
        if flip:
            emb = emb + model.embed(x.flip(-1))
        out.append(F.normalize(emb, dim=1).cpu())
    model.train(was_training)
    dim = model.arch.embedding_dim
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, dim), np.float32)


def _resize_all(images: Sequence[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
    """The no-alignment baseline: every crop resized to ``size``², aspect ignored (as TinyFace's are)."""
    out = []
    for im in images:
        im = to_rgb_uint8(im)
        interp = cv2.INTER_AREA if min(im.shape[:2]) >= size else cv2.INTER_LINEAR
        out.append(resize_image(im, size, interpolation=interp)[0])
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def prepare_faces(
    detector: LandmarkDetectorLike | None, images: Sequence[np.ndarray] | np.ndarray, size: int = 32,
    chunk: int = 512,
) -> tuple[np.ndarray, int]:
    """Aligned ``(N, size, size, 3)`` faces and how many were flagged (plain-resized) on the way.

    ``detector=None`` is the baseline: a plain resize, nothing flagged. Detection runs in chunks so a
    15k-face set never sits in the detector at once.
    """
    if detector is None:
        return _resize_all(images, size), 0
    faces, flagged = [], 0
    for b in range(0, len(images), chunk):
        part = list(images[b : b + chunk])
        points, _ = detector.predict(part)
        result = align_faces(part, points, detector.schema, size=size)
        faces.append(result.images)
        flagged += result.num_flagged
    return (np.concatenate(faces) if faces else np.zeros((0, size, size, 3), np.uint8)), flagged


def evaluate_alignment_setting(
    detector: LandmarkDetectorLike | None,
    train_images: Sequence[np.ndarray] | np.ndarray,
    train_ids: Sequence[Hashable],
    test_images: Sequence[np.ndarray] | np.ndarray,
    test_ids: Sequence[Hashable],
    config: LightCNNConfig | None = None,
    seed: int = 0,
    pretrained: str | Path | None = None,
    size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """One §4.3 setting: align with ``detector``, train LightCNN, score the half-split test set.

    ``seed`` fixes both the LightCNN initialisation/shuffling and the probe/gallery split, so two
    detectors compared with the same seed see the same split. Returns :func:`identification_scores`'s
    dict plus ``flagged`` (train + test faces the aligner fell back on), ``flagged_train``,
    ``flagged_test``, ``num_classes``, ``final_train_accuracy`` (the last epoch's, on the fly),
    ``train_accuracy`` (the finished network on its training faces, eval mode), ``top1_low`` and
    ``top1_high`` (the top-1's 95 % Wilson interval over probes, in %) and ``seconds`` (wall clock,
    all steps).
    """
    start = time.perf_counter()
    cfg = dataclasses.replace(config or LightCNNConfig(), input_size=size, seed=seed)
    train_faces, flagged_train = prepare_faces(detector, train_images, size)
    test_faces, flagged_test = prepare_faces(detector, test_images, size)
    model, history = train_lightcnn(train_faces, train_ids, cfg, device=device, progress=progress,
                                    pretrained=pretrained)
    probe_idx, gallery_idx = half_split(test_ids, np.random.default_rng(seed))
    feats = extract_features(model, test_faces, device=device, flip=cfg.flip_features)
    ids = list(test_ids)
    scores = identification_scores(feats[probe_idx], [ids[i] for i in probe_idx], feats[gallery_idx],
                                   [ids[i] for i in gallery_idx], metric="cosine")
    final_acc = history["accuracy"][-1] if history["accuracy"] else float("nan")
    lo, hi = wilson_interval(int(round(scores["top1"] / 100 * scores["num_probes"])), scores["num_probes"])
    scores.update(
        top1_low=100 * lo, top1_high=100 * hi,
        flagged=flagged_train + flagged_test, flagged_train=flagged_train, flagged_test=flagged_test,
        num_classes=len(history["classes"]), final_train_accuracy=final_acc,
        train_accuracy=history["eval_accuracy"],
        seconds=time.perf_counter() - start,
    )
    return scores
