"""G2 as a landmark detector: faces of any size in, points in each face's own pixels out.

Every detector (this one, the baselines of :mod:`.baselines`, the ONNX one of :mod:`.onnx_backend`) takes a
list of uint8 RGB crops (or an (N,H,W,3) array) and returns points in *each input image's own
pixels* (0-based, pixel centres at integers) plus a per-point confidence:
``predict(images) -> (points (N,K,2) float32, confidence (N,K) float32)``.

* :class:`HeatmapDetector` — the shared ``predict``: heatmaps of each chunk, decoded (raw peaks or
  the shape model), points mapped back to each input's pixels.
* :class:`LandmarkDetector` — G2 at its training resolution (32² for S1–S4, 128² for HR-LD); inputs
  are resized to it (:func:`~s2ld_core.pixels.resize_face`) and points mapped back.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..geometry import resize_points, to_rgb_uint8
from ..heatmaps import decode_heatmaps, mirror_heatmaps
from ..pixels import resize_face, to_tensor
from ..schemas import Schema, get_schema
from ..shape_model import DECODINGS, POSE_STARTS, PointDistributionModel

CONVENTION = "0-based pixel coordinates, pixel centres at integers"


def default_checkpoint_hint() -> str:
    """The one command that makes a usable checkpoint on a laptop."""
    return (
        "s2ld study --profile quick   (writes reports/<run>/checkpoints/S4.pt, about 10 minutes on 2 cores)"
    )


def shipped_weights(schema: str = "ibug68", weights_dir: str | Path | None = None) -> Path:
    """Where the detector shipped inside the package for ``schema`` lives (it may be absent): the
    setting that won on the validation set (its ``evaluation.json`` beside it says which and why)."""
    root = Path(weights_dir) if weights_dir else Path(__file__).resolve().parents[1] / "weights"
    return root / str(schema) / "detector.pt"


def as_image_list(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [to_rgb_uint8(im) for im in images]
    if isinstance(images, np.ndarray):
        return [to_rgb_uint8(images)]
    return [to_rgb_uint8(im) for im in images]


class HeatmapDetector:
    """The shared ``predict``: heatmaps of each chunk of faces, decoded, points mapped back to each
    input's own pixels. Subclasses give ``schema``, ``input_size`` and ``heatmaps_of(chunk)``."""

    schema: Schema
    input_size: int
    shape_model: PointDistributionModel | None = None
    decoding: str = "raw"
    flip_test: bool = False
    pdm_starts: tuple[float, ...] = POSE_STARTS  # (0.0,): the single fit from the mean shape

    def init_decoding(self, meta: dict) -> None:
        """The checkpoint's shape model, if it has one, and the default decoding: ``pdm`` where a
        shape model exists (measured better on held-out rendered faces; README), else ``raw``."""
        shape = meta.get("shape_model")
        self.shape_model = PointDistributionModel.from_dict(shape) if shape else None
        self.decoding = "pdm" if self.shape_model is not None else "raw"

    def set_decoding(self, decoding: str) -> HeatmapDetector:
        """``raw`` (heatmap peaks) or ``pdm`` (the shape model fitted to the peaks, weighted by their
        confidence; see :mod:`s2ld_core.shape_model`). Returns ``self`` for chaining."""
        if decoding not in DECODINGS:
            raise ValueError(f"unknown decoding {decoding!r}; choose one of {', '.join(DECODINGS)}")
        if decoding == "pdm" and self.shape_model is None:
            raise ValueError(f"{self.meta.get('path', 'this model')}: the checkpoint has no shape model "
                             "(made before constrained decoding existed); use decoding 'raw'")
        self.decoding = decoding
        return self

    def set_flip_test(self, on: bool = True) -> HeatmapDetector:
        """Flip test: each face and its mirror image go through the network in one batch and the
        mirrored face's heatmaps, mirrored back, are averaged with the face's before decoding.
        Predictions become exactly mirror-consistent; the network's cost doubles (README: measured
        accuracy and latency of both). Returns ``self`` for chaining."""
        self.flip_test = bool(on)
        return self

    def heatmaps_tested(self, chunk: list[np.ndarray]) -> torch.Tensor:
        """``heatmaps_of(chunk)``, averaged with the mirror images' under :meth:`set_flip_test`."""
        if not self.flip_test:
            return self.heatmaps_of(chunk)
        both = self.heatmaps_of(chunk + [np.ascontiguousarray(im[:, ::-1]) for im in chunk])
        n = len(chunk)
        return 0.5 * (both[:n] + mirror_heatmaps(both[n:], self.schema.flip_permutation))

    def decode(self, heatmaps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Points ``(B, K, 2)`` at the network's input size and confidence ``(B, K)``."""
        if heatmaps.device.type == "cpu":  # numpy decodes one face ~3x faster than small torch ops
            p, c = decode_heatmaps(heatmaps.detach().float().numpy())
        else:
            p, c = (t.cpu().numpy() for t in decode_heatmaps(heatmaps))
        if self.decoding == "pdm":
            p = self.shape_model.fit_points(p, c, robust_px=1.5 * self.input_size / 32,
                                            starts=self.pdm_starts)
        return p, c

    def heatmaps_of(self, chunk: list[np.ndarray]) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, images, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        imgs = as_image_list(images)
        k = self.schema.num_points
        if not imgs:
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        points, conf = [], []
        for start in range(0, len(imgs), batch_size):
            chunk = imgs[start : start + batch_size]
            p, c = self.decode(self.heatmaps_tested(chunk))
            for i, im in enumerate(chunk):
                h, w = im.shape[:2]
                p[i] = resize_points(p[i], w / self.input_size, h / self.input_size)
            points.append(p)
            conf.append(c)
        return np.concatenate(points).astype(np.float32), np.concatenate(conf).astype(np.float32)

    def timed_predict(self, images) -> tuple[np.ndarray, np.ndarray, float]:
        """``predict`` plus the wall time per face in milliseconds."""
        imgs = as_image_list(images)
        t0 = time.perf_counter()
        p, c = self.predict(imgs)
        return p, c, 1000.0 * (time.perf_counter() - t0) / max(1, len(imgs))


class LandmarkDetector(HeatmapDetector):
    """G2 from a stage-2 checkpoint (S1–S4 or HR-LD)."""

    def __init__(
        self,
        network: torch.nn.Module,
        schema: str | Schema,
        input_size: int,
        device: str | torch.device = "cpu",
        meta: dict | None = None,
        grow_interpolation: int = cv2.INTER_CUBIC,
    ):
        self.network = network.to(device).eval()
        self.schema = get_schema(schema)
        self.input_size = int(input_size)
        self.device = torch.device(device)
        self.meta = meta or {}
        self.grow_interpolation = grow_interpolation
        self.name = f"S²LD {self.meta.get('setting', '')}".strip()
        self.init_decoding(self.meta)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> LandmarkDetector:
        from ..models import HeatmapGenerator
        from ..models.config import NetworkConfig

        blob = load_checkpoint(path, device, role="G2")
        schema = get_schema(blob["schema"])
        net = HeatmapGenerator(
            NetworkConfig.from_dict(blob["network"]), schema.num_points, in_size=blob["input_size"]
        )
        net.load_state_dict(blob["state_dict"])
        meta = {k: v for k, v in blob.items() if k not in ("state_dict", "train_config")}
        meta["path"] = str(path)
        return cls(net, schema, blob["input_size"], device, meta)

    @classmethod
    def pretrained(
        cls, schema: str = "ibug68", device: str | torch.device = "cpu", weights_dir: str | Path | None = None
    ) -> LandmarkDetector:
        """The weights shipped inside the package for ``schema``: ``s2ld_core/weights/<schema>/detector.pt``
        (so that one line gives a working detector, as face-alignment and dlib do)."""
        path = shipped_weights(schema, weights_dir)
        if not path.is_file():
            raise ValueError(
                f"{path}: no shipped {schema} weights in this installation; make them with `python "
                f"scripts/train_weights.py --schema {schema}` or use LandmarkDetector.from_checkpoint(path)"
            )
        return cls.from_checkpoint(path, device)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        batch = np.stack([resize_face(im, self.input_size, self.grow_interpolation) for im in images])
        return to_tensor(batch, self.device)

    @torch.no_grad()
    def heatmaps(self, images) -> torch.Tensor:
        return self.network(self.preprocess(as_image_list(images)))

    @torch.no_grad()
    def heatmaps_of(self, chunk: list[np.ndarray]) -> torch.Tensor:
        return self.network(self.preprocess(chunk)).float().cpu()
