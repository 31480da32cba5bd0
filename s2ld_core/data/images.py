"""Every image the project reads comes through here: one extension list, one guarded file reader, and
one rule for what counts as an image at the Python API.

**Why a guard.** A PNG of 1 MB can declare 20000 × 20000 px: decoding it costs 1.2 GB, and everything
after (a face finder that up-samples it, a crop) costs ten times that. So :func:`read_rgb` reads the
width and height from the file's header first (Pillow parses headers without decoding pixels) and
refuses, in one line naming the file and its real size, any image above the pixel limit before a
single pixel is decoded.

**The limit** is :data:`DEFAULT_MAX_PIXELS` = 4096 × 3072 (12.6 MP: a 12-megapixel camera's photo,
4032 × 3024, passes). It is configurable: the environment variable ``S2LD_MAX_PIXELS`` (e.g.
``S2LD_MAX_PIXELS=50000000``) or the ``max_pixels=`` argument. Why this number: ``s2ld predict`` with
the default face finder (dlib, photo up-sampled ×2) needs about 50 bytes per pixel, so a photo at the
limit peaks at 0.78 GB (``docs/robustness.md``); raise it only with the memory to match.

**The API's input rule** (:func:`image_from`, :func:`images_from`; ``LandmarkDetector.predict`` and
``PhotoLandmarker`` take whatever these take):

* a path (``str`` / ``PathLike``): read with :func:`read_rgb`;
* a PIL image: converted to RGB;
* a NumPy array or a torch tensor, ``H×W`` (grey), ``H×W×C`` or ``C×H×W`` with C = 1, 3 or 4 (grey,
  RGB, RGBA: alpha dropped). Arrays are taken as H×W×C when the last axis could be channels, tensors
  as C×H×W when the first could (each library's own convention). A 4-D array or tensor is a batch.
  Values by dtype (:func:`s2ld_core.geometry.to_rgb_uint8`): ``uint8`` as is; other integers as
  0–255 values, except ``uint16`` holding values above 255, which is 16-bit and divided by 257;
  floats in [0, 1] when the largest value is at most 1.05, else in [0, 255] when at most 260
  (interpolation overshoot is clipped). NaN, infinity, negative values, ``bool``, empty arrays and
  other shapes are a :class:`ValueError` saying which rule failed.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from ..geometry import to_rgb_uint8

__all__ = [
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "MAX_CROP_SIDE",
    "MAX_PIXELS_ENV",
    "ImageError",
    "pixel_limit",
    "image_size",
    "check_size",
    "read_rgb",
    "decode_rgb",
    "image_from",
    "images_from",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 4096 * 3072
# A face crop is cut at native resolution only up to this side (12 MB); larger ones are cut smaller,
# since the detector sees a 32² or 128² version anyway. With it no box or point can size an array.
MAX_CROP_SIDE = 2048
MAX_PIXELS_ENV = "S2LD_MAX_PIXELS"
_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF")  # what IMAGE_EXTENSIONS name, as Pillow calls them
_BYTES_PER_PIXEL_MAX = 16  # an image file larger than this per allowed pixel is refused unread
_CHANNELS = (1, 3, 4)
_UNKNOWN = "cannot decode image (not a PNG, JPEG, BMP, WebP or TIFF file, or a damaged one)"


class ImageError(ValueError):
    """An image that cannot or may not be read; the message is one line naming the file."""


def pixel_limit() -> int:
    """The pixel limit in force: ``S2LD_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_PIXELS_ENV}={text!r}: expected a positive number of pixels, e.g. 50000000")
    return value


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.1f} MP"


def check_size(name: str | os.PathLike[str], width: int, height: int, limit: int | None = None) -> None:
    """:class:`ImageError` naming ``name`` and its real size if ``width × height`` exceeds the limit."""
    limit = pixel_limit() if limit is None else int(limit)
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the header says {width}x{height} px; an image needs at least 1x1")
    if width * height > limit:
        raise ImageError(
            f"{name}: {width}x{height} px ({_megapixels(width * height)}) is more than the "
            f"{_megapixels(limit)} limit; set {MAX_PIXELS_ENV} to raise it"
        )


def _size_past_bomb_check(data: bytes) -> tuple[int, int] | None:
    """The header size of an image Pillow refuses as a "decompression bomb" (more than 179 MP), read
    by the format's own header parser, which is what ``Image.open`` runs before that check."""
    from PIL import Image

    Image.preinit()
    for fmt in _FORMATS:
        if fmt not in Image.OPEN:
            continue
        factory, accept = Image.OPEN[fmt]
        if accept is not None and accept(data[:16]) is not True:
            continue
        try:
            with factory(io.BytesIO(data), "") as im:
                return im.size
        except Exception:  # noqa: BLE001 - a header this parser cannot read: try the next format
            continue
    return None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the header alone, or ``None`` if it is none of :data:`_FORMATS`."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning and Pillow's format hints
        try:
            with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
                return im.size
        except Image.DecompressionBombError:
            return _size_past_bomb_check(data)
        except Exception:  # noqa: BLE001 - unidentifiable or a broken header: not an image we read
            return None


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image file")
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        size = path.stat().st_size
        if size > _BYTES_PER_PIXEL_MAX * limit:
            raise ImageError(f"{path}: a {size / 2**20:.0f} MiB file is too large for an image under the "
                             f"{_megapixels(limit)} limit; set {MAX_PIXELS_ENV} to raise it")
        return path.read_bytes()
    except (OSError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImageError(f"{path}: cannot read file ({reason})") from None


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, without decoding it."""
    p = Path(path)
    size = _header_size(_read_bytes(p, pixel_limit()))
    if size is None:
        raise ImageError(f"{p}: {_UNKNOWN}")
    return size


def decode_rgb(data: bytes, name: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes to ``uint8 H×W×3`` RGB after checking the header size (see module doc);
    ``name`` labels the errors."""
    import cv2

    limit = pixel_limit() if max_pixels is None else int(max_pixels)
    if not data:
        raise ImageError(f"{name}: cannot decode image (an empty file)")
    size = _header_size(data)
    if size is None:
        raise ImageError(f"{name}: {_UNKNOWN}")
    check_size(name, *size, limit)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageError(f"{name}: cannot decode image ({' '.join(str(exc).split())[-120:]})") from None
    if image is None or image.ndim != 3 or image.size == 0:
        raise ImageError(f"{name}: cannot decode image (corrupt, truncated or an unsupported variant)")
    check_size(name, image.shape[1], image.shape[0], limit)  # what was decoded, should a header lie
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as ``uint8 H×W×3`` RGB (grey expanded, alpha dropped, 16-bit reduced).

    The header size is checked against the pixel limit before decoding (module docstring). Reads
    the bytes and decodes them (rather than ``cv2.imread``) so non-ASCII paths work everywhere; every
    failure is one :class:`ImageError` (a ``ValueError``) naming the file.
    """
    p = Path(path)
    limit = pixel_limit() if max_pixels is None else int(max_pixels)
    return decode_rgb(_read_bytes(p, limit), p, limit)


# ------------------------------------------------------------------------------------ API inputs


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _tensor_to_numpy(t) -> np.ndarray:
    t = t.detach()
    if t.dtype.is_floating_point and t.dtype.itemsize < 4:  # bfloat16 has no NumPy type
        t = t.float()
    return t.cpu().numpy()


def _hwc(array: np.ndarray, channels_first: bool, what: str) -> np.ndarray:
    """An ``H×W`` or ``H×W×C`` view of one image given as ``H×W``, ``H×W×C`` or ``C×H×W``."""
    if array.ndim == 2:
        return array
    if array.ndim != 3:
        raise ValueError(f"{what}: an array of shape {array.shape} is not an image (H×W, H×W×C or C×H×W)")
    first, last = array.shape[0] in _CHANNELS, array.shape[2] in _CHANNELS
    if first and (channels_first or not last):
        return np.moveaxis(array, 0, -1)
    if last:
        return array
    raise ValueError(
        f"{what}: shape {array.shape} is neither H×W×C nor C×H×W with C = 1, 3 or 4; "
        f"for {array.shape[0]} grey images pass a list, or add a channel axis"
    )


def _from_array(array: np.ndarray, channels_first: bool, what: str) -> np.ndarray:
    if array.size == 0:
        raise ValueError(f"{what}: empty image (shape {array.shape})")
    try:
        return to_rgb_uint8(_hwc(array, channels_first, what))
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(what) else f"{what}: {text}") from None


def image_from(image, what: str = "image") -> np.ndarray:
    """One image, of any kind the API takes (module docstring), as ``uint8 H×W×3`` RGB; ``what``
    names it in errors."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    if hasattr(image, "convert") and hasattr(image, "size") and hasattr(image, "mode"):  # PIL.Image
        try:
            return np.asarray(image.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{what}: cannot convert this PIL image to RGB ({exc})") from None
    if _is_tensor(image):
        return _from_array(_tensor_to_numpy(image), True, what)
    if isinstance(image, np.ndarray):
        return _from_array(image, False, what)
    if isinstance(image, (list, tuple)):
        try:
            array = np.asarray(image)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return _from_array(array, False, what)
    raise ValueError(f"{what}: a {type(image).__name__} is not an image; pass a path, a PIL image, "
                     "a NumPy array or a torch tensor")


def images_from(images) -> list[np.ndarray]:
    """A batch of images as a list of ``uint8 H×W×3`` arrays: a list or tuple of images, a 4-D array
    or tensor (``N×H×W×C``, or ``N×C×H×W`` for tensors), or one image of any kind (a list of one)."""
    if _is_tensor(images) or isinstance(images, np.ndarray):
        if images.ndim == 4:
            tensor = _is_tensor(images)
            array = _tensor_to_numpy(images) if tensor else images
            return [_from_array(im, tensor, f"image {i}") for i, im in enumerate(array)]
        return [image_from(images)]
    if isinstance(images, (list, tuple)):
        return [image_from(im, f"image {i}") for i, im in enumerate(images)]
    return [image_from(images)]
