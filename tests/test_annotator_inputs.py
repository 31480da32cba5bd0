"""The annotator and demo on hostile input: a folder box with a NUL byte or a 5000-character name, a
20000² header, a deleted annotation file, 4000×1 uploads, and a login that never shows in ``ps``."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

pytest.importorskip("gradio")

from annotator import demo  # noqa: E402
from annotator.actions import AppConfig, TabState  # noqa: E402
from annotator.actions import act as _act  # noqa: E402
from annotator.app import AUTH_ENV, _credentials, _view  # noqa: E402
from annotator.point_sets import point_set  # noqa: E402
from annotator.store import (  # noqa: E402
    AnnotationStore,
    StoreError,
    UnreadableImage,
    open_store,
    place_next,
)
from benchmarks.fuzz_inputs import png_claiming  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(root / name), np.full((20, 20, 3), 90, np.uint8))
    (root / "bomb.png").write_bytes(png_claiming(20000, 20000))
    return root


@pytest.mark.parametrize("text", ["faces\x00evil", "x" * 5000])
def test_a_nul_byte_or_an_overlong_folder_name_is_a_message(folder, text):
    cfg = AppConfig(point_set("five"), folder=folder, annotator="ann", root=folder)
    st = _act(cfg, TabState(), "open", text, "ann", "five", "file")
    assert st.message.startswith("⚠️ ") and "not a usable folder name" in st.message
    assert len(st.message) < 160


def test_a_header_bomb_is_reported_with_its_real_size(folder):
    store = AnnotationStore.open(folder, "five", "ann")
    with pytest.raises(UnreadableImage, match=r"bomb.png: 20000x20000 px is larger than the annotator takes"):
        store.image("bomb.png")


def test_a_deleted_annotation_file_is_not_silently_recreated(folder):
    cfg = AppConfig(point_set("five"), folder=folder, annotator="ann", root=folder)
    st = _act(cfg, TabState(), "open", str(folder), "ann", "five", "file")
    st = _act(cfg, st, "place", 3.0, 4.0)
    path = folder / "annotations" / "ann.json"
    assert path.is_file()
    path.unlink()
    st = _act(cfg, st, "place", 5.0, 6.0)
    assert "was deleted on disk while open" in st.message and not path.exists()
    *_, msg, st = _view(cfg, st)
    assert "deleted on disk" in msg and not path.exists()
    st = _act(cfg, TabState(), "open", str(folder), "ann", "five", "file")  # opening again: a new file
    st = _act(cfg, st, "place", 5.0, 6.0)
    assert not st.message.startswith("⚠️")
    images = json.loads(path.read_text())["images"]
    assert list(images) == ["a.png"] and images["a.png"]["points"][0] == [5.0, 6.0]


def test_the_store_itself_refuses_writes_after_a_deletion(folder):
    store = open_store(folder, "five", "del")
    store.modify("a.png", lambda a: place_next(a, 1.0, 1.0))
    store.path.unlink()
    with pytest.raises(StoreError, match="deleted on disk"):
        store.modify("a.png", lambda a: place_next(a, 2.0, 2.0))
    assert not store.path.exists()
    assert open_store(folder, "five", "del") is not store  # a fresh store, a fresh file


def _args(**kw):
    return argparse.Namespace(**{"auth": None, "auth_file": None, **kw})


def test_the_login_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(AUTH_ENV, raising=False)
    assert _credentials(_args()) is None
    monkeypatch.setenv(AUTH_ENV, "ann:s3cret")
    assert _credentials(_args()) == ("ann", "s3cret")
    secret = tmp_path / "login"
    secret.write_text("bob:pa:ss\n")
    assert _credentials(_args(auth_file=str(secret))) == ("bob", "pa:ss")
    assert _credentials(_args(auth="cli:pw")) == ("cli", "pw")
    with pytest.raises(ValueError, match=f"{tmp_path / 'none'}: cannot read the --auth-file"):
        _credentials(_args(auth_file=str(tmp_path / "none")))
    secret.write_text("nopassword\n")
    with pytest.raises(ValueError, match="the --auth-file's first line must look like user:password"):
        _credentials(_args(auth_file=str(secret)))
    monkeypatch.setenv(AUTH_ENV, "bad")
    with pytest.raises(ValueError, match=rf"\${AUTH_ENV} must look like user:password"):
        _credentials(_args())


@pytest.mark.parametrize("shape", [(1, 4000, 3), (4000, 1, 3), (2, 3000, 3), (1, 1, 3)])
def test_thin_uploads_are_shown_not_a_traceback(tmp_path, shape):
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), np.full(shape, 120, np.uint8))
    image = demo.load_upload({"path": str(path), "orig_name": "thin.png"})
    results, _ = demo.analyse(image, 24, demo.load_models(None, None), demo.make_face_finder())
    view = demo.overview(image, results)
    assert view.ndim == 3 and min(view.shape[:2]) >= 1


def test_an_upload_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(60000, 60000))
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ValueError, match="^up.png: 60000x60000 px is too large; at most 4096 px per side$"):
        demo.load_upload({"path": str(path), "orig_name": "up.png"})

