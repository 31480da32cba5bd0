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
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..data.images import images_from
from ..geometry import resize_points
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


LARGE_INPUT_FACTOR = 8  # an input this many times the network's side is a photo, not a face crop


class LargeInputWarning(UserWarning):
    """``predict`` was given an image far larger than a face crop (probably a whole photo)."""


def shipped_schemas(weights_dir: str | Path | None = None) -> list[str]:
    """The schemas whose detector ships in this installation."""
    root = shipped_weights("x", weights_dir).parents[1]
    return sorted(p.parent.name for p in root.glob("*/detector.pt")) if root.is_dir() else []


def as_image_list(images) -> list[np.ndarray]:
    """The images ``predict`` takes, as uint8 RGB arrays: one image or a batch, of any kind
    :func:`s2ld_core.data.images.images_from` takes (paths, PIL images, arrays, tensors)."""
    return images_from(images)


def torch_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` that exists here, or a ``ValueError`` that says what is wrong
    (a CPU-only torch, a GPU index past the last one, a name torch does not know). ``"auto"``: the
    first CUDA device if there is one, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r}: not a device torch knows; use 'cpu', 'cuda', 'cuda:N', "
                         "'mps' or 'auto'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is a CPU-only build" if torch.version.cuda is None
                   else "no CUDA GPU is visible (driver, or CUDA_VISIBLE_DEVICES)")
            raise ValueError(f"device={device!r}: CUDA is not available here ({why}); use device='cpu'")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device={device!r}: this machine has {n} CUDA device(s), "
                             f"cuda:0 to cuda:{n - 1}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r}: Apple's MPS is not available here; use device='cpu'")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: s2ld runs on 'cpu', 'cuda' or 'mps'")
    return dev


def _warn_if_photo(images: list[np.ndarray], input_size: int) -> None:
    limit = LARGE_INPUT_FACTOR * input_size
    big = [(i, im.shape) for i, im in enumerate(images) if max(im.shape[:2]) > limit]
    if big:
        i, (h, w, _) = big[0]
        warnings.warn(
            f"predict: image {i} is {w}x{h} px, more than {LARGE_INPUT_FACTOR}x the {input_size} px the "
            "network sees; predict expects one face crop per image and returns one face for it. For "
            "photos use s2ld_core.photo.PhotoLandmarker(detector)(photo), which finds the faces first.",
            LargeInputWarning, stacklevel=3)


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

    @property
    def backend(self) -> str:
        """What runs the network (shown in the repr)."""
        return type(self).__name__

    def __repr__(self) -> str:
        path = self.meta.get("path") if isinstance(getattr(self, "meta", None), dict) else None
        return (f"{type(self).__name__}({getattr(self, 'name', '')!r}, schema={self.schema.name}, "
                f"input={self.input_size} px, backend={self.backend}, decoding={self.decoding}, "
                f"flip_test={self.flip_test}" + (f", checkpoint={path!r})" if path else ")"))

    def predict(self, images, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of face crops: ``(points (N, K, 2) float32, confidence (N, K) float32)``, points in
        each input's own pixels (0-based, pixel centres at integers).

        ``images``: one face crop or a batch -- a path, a PIL image, a NumPy array or a torch tensor
        (``H×W``, ``H×W×C``, ``C×H×W``; 4-D for a batch), or a list of any of them; the dtype rules
        are those of :func:`s2ld_core.data.images.image_from` (uint8 as is; floats in [0, 1] or
        [0, 255] by a stated rule; anything ambiguous is a ``ValueError``). Each image is taken as
        one face framed like the training crops (landmark box ≈ 68 % of the side) and resized to
        the network's input; an image more than 8× that size warns (:class:`LargeInputWarning`):
        for whole photos use :class:`s2ld_core.photo.PhotoLandmarker`, which finds faces first.
        """
        imgs = as_image_list(images)
        _warn_if_photo(imgs, self.input_size)
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
        device = torch_device(device)
        self.network = network.to(device).eval()
        self.schema = get_schema(schema)
        self.input_size = int(input_size)
        self.device = device
        self.meta = meta or {}
        self.grow_interpolation = grow_interpolation
        self.name = f"S²LD {self.meta.get('setting', '')}".strip()
        self.init_decoding(self.meta)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> LandmarkDetector:
        from ..models import HeatmapGenerator
        from ..models.config import NetworkConfig

        device = torch_device(device)  # before reading: a wrong device is not an unreadable file
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
        from ..schemas import SCHEMAS

        schema = getattr(schema, "name", schema)
        if str(schema) not in SCHEMAS:
            shipped = ", ".join(shipped_schemas(weights_dir)) or "none"
            raise ValueError(f"pretrained({schema!r}): unknown landmark schema; s2ld knows "
                             f"{', '.join(sorted(SCHEMAS))} (weights shipped for: {shipped})")
        path = shipped_weights(schema, weights_dir)
        if not path.is_file():
            raise ValueError(
                f"{path}: no shipped {schema} weights in this installation (shipped: "
                f"{', '.join(shipped_schemas(weights_dir)) or 'none'}); make them with `python "
                f"scripts/train_weights.py --schema {schema}` or use LandmarkDetector.from_checkpoint(path)"
            )
        return cls.from_checkpoint(path, device)

    @property
    def backend(self) -> str:
        return f"torch ({self.device})"

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        batch = np.stack([resize_face(im, self.input_size, self.grow_interpolation) for im in images])
        return to_tensor(batch, self.device)

    @torch.no_grad()
    def heatmaps(self, images) -> torch.Tensor:
        return self.network(self.preprocess(as_image_list(images)))

    @torch.no_grad()
    def heatmaps_of(self, chunk: list[np.ndarray]) -> torch.Tensor:
        return self.network(self.preprocess(chunk)).float().cpu()
