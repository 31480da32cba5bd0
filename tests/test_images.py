"""The one guarded image reader: header size checked before decoding, one line naming the file and its
real size, a configurable limit, and one extension list that every reader shares."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.fuzz_inputs import png_claiming
from s2ld_core.data import images
from s2ld_core.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    MAX_PIXELS_ENV,
    ImageError,
    image_size,
    pixel_limit,
    read_rgb,
)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel is decoded."""
    def refuse(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(cv2, "imdecode", refuse)


@pytest.mark.parametrize(("w", "h"), [(20000, 20000), (60000, 60000), (4097, 3072)])
def test_a_header_above_the_limit_is_refused_with_its_real_size_before_decoding(tmp_path, no_decoding, w, h):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(w, h))
    assert path.stat().st_size < 300
    with pytest.raises(ImageError) as info:
        read_rgb(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {w}x{h} px (") and "12.6 MP limit" in text and MAX_PIXELS_ENV in text
    assert "\n" not in text
    assert image_size(path) == (w, h)  # beyond Pillow's own "bomb" limit, still the real size


def test_the_limit_is_configurable_and_checked(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.full((30, 40, 3), 7, np.uint8))
    assert pixel_limit() == DEFAULT_MAX_PIXELS == 4096 * 3072
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(ImageError, match=r"a.png: 40x30 px \(0.0 MP\) is more than the 0.0 MP limit"):
        read_rgb(path)
    assert read_rgb(path, max_pixels=1200).shape == (30, 40, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_ENV}='lots': expected a positive number"):
        read_rgb(path)


def test_what_is_read_is_uint8_rgb_whatever_the_file(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    bgr = rgb[..., ::-1]
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    cv2.imwrite(str(tmp_path / "b.bmp"), bgr)
    cv2.imwrite(str(tmp_path / "c.tif"), bgr)
    cv2.imwrite(str(tmp_path / "d16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "e.png"), np.dstack([bgr, np.full((12, 10), 9, np.uint8)]))
    cv2.imwrite(str(tmp_path / "f.png"), rgb[..., 0])
    for name in ("a.png", "b.bmp", "c.tif", "d16.png", "e.png"):
        np.testing.assert_array_equal(read_rgb(tmp_path / name), rgb, err_msg=name)
    np.testing.assert_array_equal(read_rgb(tmp_path / "f.png"), np.repeat(rgb[..., :1], 3, axis=2))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "cannot decode image (an empty file)"),
        (b"hello, not an image\n", "cannot decode image (not a PNG, JPEG, BMP, WebP or TIFF file"),
        (png_claiming(0, 0), "cannot decode image (not a PNG"),
        (png_claiming(30, 30)[:40], "cannot decode image"),
    ],
)
def test_broken_files_are_one_line_naming_them(tmp_path, content, fragment):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        read_rgb(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(ImageError, match=f"^{tmp_path / 'no.png'}: no such file$"):
        read_rgb(tmp_path / "no.png")
    with pytest.raises(ImageError, match="is a folder, not an image file"):
        read_rgb(tmp_path)


def test_a_huge_file_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * 20_000)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")  # 16 bytes per allowed pixel: 16 kB
    with pytest.raises(ImageError, match="too large for an image under the 0.0 MP limit"):
        read_rgb(path)


def test_one_extension_list_everywhere():
    from annotator.store import IMAGE_SUFFIXES as annotator_suffixes
    from s2ld_core.data import datasets, sources
    from s2ld_core.data.formats import IMAGE_SUFFIXES
    from s2ld_core.predict_photos import IMAGE_EXTENSIONS as predict_extensions

    assert sources.IMAGE_EXTENSIONS is datasets.IMAGE_EXTENSIONS is predict_extensions is IMAGE_EXTENSIONS
    assert IMAGE_SUFFIXES == annotator_suffixes == frozenset(IMAGE_EXTENSIONS)
    assert sources.read_rgb is images.read_rgb


def test_no_other_module_decodes_image_files_itself():
    """grep: every file read goes through data/images.py (degrade.py decodes JPEG bytes it made)."""
    import re
    from pathlib import Path

    root = Path(images.__file__).resolve().parents[2]
    allowed = {"s2ld_core/data/images.py", "s2ld_core/data/degrade.py"}
    offenders = []
    for path in [*root.glob("s2ld_core/**/*.py"), *root.glob("annotator/*.py")]:
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel not in allowed and re.search(r"cv2\.imread\(|cv2\.imdecode\(|Image\.open\(", text):
            offenders.append(rel)
    assert offenders == []
