"""Unlabelled LR sources: the embedded LFW faces, folders of crops, arrays, and their error messages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.data import lfw_subset

from s2ld_core.data.sources import (
    ArraySource,
    FolderSource,
    export_lfw_pngs,
    lfw_faces,
    read_rgb,
    resolve_lr_source,
)


def write_bgr(path: Path, image_bgr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image_bgr)
    return path


@pytest.fixture
def crops(tmp_path: Path) -> Path:
    """A folder with an RGB PNG, a grey JPG, an RGBA PNG in a subfolder, and a non-image file."""
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[..., 2] = 200  # BGR on disk: red
    write_bgr(tmp_path / "a_red.png", rgb)
    write_bgr(tmp_path / "b_grey.JPG", np.full((40, 40), 90, np.uint8))
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # blue
    rgba[..., 3] = 0  # fully transparent: alpha must be dropped, not composited
    write_bgr(tmp_path / "sub" / "c_blue.png", rgba)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_lfw_faces_are_the_first_100_of_lfw_subset():
    faces = lfw_faces()
    assert faces.shape == (100, 25, 25, 3) and faces.dtype == np.uint8
    raw = lfw_subset()
    np.testing.assert_array_equal(faces[..., 0], np.round(raw[:100] * 255).astype(np.uint8))
    np.testing.assert_array_equal(faces[..., 0], faces[..., 2])  # grey expanded
    faces[0] = 0  # a copy: mutating it does not touch the next call
    assert lfw_faces()[0].any()


def test_export_lfw_pngs_round_trips(tmp_path):
    paths = export_lfw_pngs(tmp_path / "lfw")
    assert len(paths) == 100 and paths[0].name == "lfw_000.png" and paths[-1].name == "lfw_099.png"
    np.testing.assert_array_equal(read_rgb(paths[7]), lfw_faces()[7])
    assert not list((tmp_path / "lfw").glob(".*.tmp"))


def test_folder_source_reads_converts_and_resizes(crops):
    src = FolderSource(crops, size=32)
    assert len(src) == 3 and src.names == ["a_red.png", "b_grey.JPG", "sub/c_blue.png"]
    red, grey, blue = src[0], src[1], src[-1]
    for img in (red, grey, blue):
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(red[5, 5], [200, 0, 0])  # BGR -> RGB
    assert np.all(grey == grey[..., :1]) and abs(int(grey[16, 16, 0]) - 90) <= 2
    np.testing.assert_array_equal(blue[3, 3], [0, 0, 255])
    allimgs = src.load_all()
    assert allimgs.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(allimgs[1], grey)
    with pytest.raises(IndexError):
        src[3]


def test_folder_source_non_recursive_and_extensions(crops):
    assert FolderSource(crops, recursive=False).names == ["a_red.png", "b_grey.JPG"]
    assert FolderSource(crops, extensions=("jpg",)).names == ["b_grey.JPG"]


def test_folder_source_interpolation_matches_direction(tmp_path):
    big = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    write_bgr(tmp_path / "big.png", big)
    shrunk = FolderSource(tmp_path, size=16)[0]
    expected = cv2.cvtColor(big, cv2.COLOR_BGR2RGB).reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert np.abs(shrunk.astype(float) - expected).max() <= 1  # INTER_AREA = block mean
    grown = FolderSource(tmp_path, size=128)[0]
    cubic = cv2.resize(cv2.cvtColor(big, cv2.COLOR_BGR2RGB), (128, 128), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(grown, cubic)


def test_corrupt_file_error_names_the_file(tmp_path):
    write_bgr(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    src = FolderSource(tmp_path)
    for i, name in enumerate(src.names):
        if name == "ok.png":
            assert src[i].shape == (32, 32, 3)
            continue
        with pytest.raises(ValueError, match=rf"{name}: cannot decode image") as err:
            src[i]
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="broken.jpg"):
        src.load_all()


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FolderSource(tmp_path / "nope")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no images with extensions \.png, \.jpg.* found under"):
        FolderSource(tmp_path)
    with pytest.raises(NotADirectoryError):
        FolderSource(tmp_path / "readme.txt")


def test_array_source_has_the_same_interface():
    grey_floats = np.linspace(0, 1, 3 * 10 * 10).reshape(3, 10, 10)
    src = ArraySource(grey_floats, size=20, name="toy")
    assert len(src) == 3 and src.names == ["toy_000", "toy_001", "toy_002"]
    assert src[2].shape == (20, 20, 3) and src[2].dtype == np.uint8
    assert src.load_all().shape == (3, 20, 20, 3)
    src[0][:] = 0  # indexing returns a copy
    assert src[0].any()
    rgba_list = [np.full((32, 32, 4), 7, np.uint8)]
    np.testing.assert_array_equal(ArraySource(rgba_list)[0], np.full((32, 32, 3), 7, np.uint8))
    with pytest.raises(ValueError, match="no images"):
        ArraySource(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"ArraySource\(bad\).*shape"):
        ArraySource([np.zeros((8, 8, 2), np.uint8)], name="bad")


def test_resolve_lr_source(crops, tmp_path):
    lfw = resolve_lr_source(" LFW ", size=32)
    assert isinstance(lfw, ArraySource) and len(lfw) == 100 and lfw[0].shape == (32, 32, 3)
    folder = resolve_lr_source(str(crops), size=24)
    assert isinstance(folder, FolderSource) and folder[0].shape == (24, 24, 3)
    with pytest.raises(ValueError, match="neither 'lfw' nor an existing directory"):
        resolve_lr_source(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="is a file"):
        resolve_lr_source(str(crops / "a_red.png"))
