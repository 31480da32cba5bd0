"""The annotator survives what a real folder holds: corrupt, empty, mislabelled and huge images, and
two annotator processes writing one annotation file at the same time (no server needed here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.store import MAX_IMAGE_SIDE, AnnotationStore, StoreError, UnreadableImage, place_next

ROOT = Path(__file__).resolve().parents[1]
GOOD = ("a_good.png", "f_good.png")
BAD = ("b_random.png", "c_empty.png", "d_text.png", "e_huge.png")


def _write_image(path: Path, w: int, h: int, seed: int = 0) -> None:
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def messy(tmp_path):
    """Two good faces around a random-bytes file, a zero-byte file, text named .png and a 4000² PNG."""
    root = tmp_path / "faces"
    root.mkdir()
    _write_image(root / GOOD[0], 20, 20, 1)
    (root / BAD[0]).write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (root / BAD[1]).write_bytes(b"")
    (root / BAD[2]).write_text("these are not the pixels you are looking for\n")
    assert cv2.imwrite(str(root / BAD[3]), np.zeros((4000, 4000, 3), np.uint8))  # tiny file, huge image
    _write_image(root / GOOD[1], 18, 22, 2)
    return root


# ---- the store -------------------------------------------------------------------------------------


def test_unreadable_images_are_a_queue_status_not_a_trap(messy):
    store = AnnotationStore.open(messy, "five", "ann")
    for key in BAD:
        with pytest.raises(UnreadableImage) as info:
            store.image(key)
        assert key in str(info.value) and "\n" not in str(info.value)
        assert store.status(key) == "unreadable"
    assert "4000x4000 px is larger than the annotator takes" in store.unreadable["e_huge.png"]
    counts = store.progress()
    assert counts["unreadable"] == 4 and counts["todo"] == 2 and counts["total"] == 6
    assert not (store.path.exists() and json.loads(store.path.read_text())["images"])  # nothing written


def test_huge_image_is_refused_from_its_header_before_decoding(messy, monkeypatch):
    import annotator.store as store_mod

    def no_decoding(path):
        raise AssertionError(f"{path} was decoded")

    monkeypatch.setattr(store_mod, "read_rgb", no_decoding)
    store = AnnotationStore.open(messy, "five", "ann")
    with pytest.raises(UnreadableImage, match=f"{MAX_IMAGE_SIDE} px per side"):
        store.image("e_huge.png")


def test_resume_point_is_never_an_unreadable_image(messy):
    store = AnnotationStore.open(messy, "five", "ann")
    for i in range(5):
        store.modify(GOOD[0], lambda a, i=i: place_next(a, 2.0 + i, 3.0))
    assert store.status(GOOD[0]) == "done"
    # b..e are todo in the file's eyes, but cannot be shown: resume on f_good.png, found by trying them
    fresh = AnnotationStore.open(messy, "five", "ann")
    assert fresh.keys[fresh.first_unfinished()] == GOOD[1]
    assert fresh.progress()["unreadable"] == 4


# ---- the app's actions, without a server -------------------------------------------------------------


def test_navigation_leaves_unreadable_images(messy):
    pytest.importorskip("gradio")
    from annotator.actions import AppConfig, TabState
    from annotator.actions import act as _act
    from annotator.app import _view
    from annotator.point_sets import point_set

    cfg = AppConfig(point_set("five"), folder=messy, annotator="ann", root=messy)
    st = _act(cfg, TabState(), "open", str(messy), "ann", "five", "file")
    assert st.key == GOOD[0]
    seen = []
    for _ in range(5):
        st = _act(cfg, st, "move", 1)
        canvas, _ref, _pts, info, progress, msg, st = _view(cfg, st)
        seen.append(st.key)
        if st.key in BAD:
            assert canvas["empty"] and "status **unreadable**" in info and "move on" in msg
    assert seen == [*BAD, GOOD[1]]
    for _ in range(4):  # and back again, one by one
        st = _act(cfg, st, "move", -1)
        assert not st.message.startswith("⚠️"), st.message
    assert st.key == BAD[0]
    for action, arg in (("status", "skipped"), ("status", "flagged"), ("status", "done")):
        before = st.index
        st = _act(cfg, st, action, arg)
        assert st.index == before + 1 and "unreadable" in st.message
    st = _act(cfg, st, "unfinished")
    assert st.key == GOOD[0]  # the first readable todo image
    _, _, _, _, progress, _, st = _view(cfg, st)
    assert "4 unreadable" in progress
    # a reload (the page opens the folder again) resumes on a readable image
    assert _act(cfg, TabState(), "open", str(messy), "ann", "five", "file").key == GOOD[0]


def test_clicks_on_an_unreadable_image_say_why(messy):
    pytest.importorskip("gradio")
    from annotator.actions import AppConfig, TabState
    from annotator.actions import act as _act
    from annotator.point_sets import point_set

    cfg = AppConfig(point_set("five"), folder=messy, annotator="ann", root=messy)
    st = _act(cfg, TabState(), "open", str(messy), "ann", "five", "file")
    st = _act(cfg, st, "move", 1)
    st = _act(cfg, st, "place", 1.0, 1.0)
    assert st.message.startswith("⚠️") and BAD[0] in st.message and st.key == BAD[0]


# ---- two processes, one file -------------------------------------------------------------------------

_WORKER = r"""
import json, sys, time
from pathlib import Path
from annotator.store import AnnotationStore, place_next

folder, who, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
store = AnnotationStore.open(folder, "ibug68", "shared")
while not go.exists():
    time.sleep(0.001)
acked = []
for j in range(n):
    key = store.keys[j % len(store.keys)]
    x, y = round(0.5 + (j * 0.37) % 14.0, 4), 0.5 + 7.5 * who + (j % 7) * 0.5  # rows differ per process
    _, index = store.modify(key, lambda a: place_next(a, x, y))
    if index is not None:
        acked.append([key, index, x, y])  # modify returned: the point is acknowledged as saved
print(json.dumps(acked))
"""


def test_two_processes_hammering_one_file_lose_nothing(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(8):  # 8 x 68 = 544 slots for 400 clicks: every click places a point
        _write_image(folder / f"face_{i}.png", 16, 16, i)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(folder), str(who), "200", str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for who in (0, 1)
    ]
    time.sleep(0.5)
    go.touch()
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in results]
    acked = [tuple(a) for out, _ in results for a in json.loads(out)]
    saved = json.loads((folder / "annotations" / "shared.json").read_text())["images"]
    lost = [a for a in acked if saved[a[0]]["points"][a[1]] != [a[2], a[3]]]
    placed = sum(p is not None for entry in saved.values() for p in entry["points"])
    print(f"two processes: {len(acked)} acknowledged, {placed} saved, {len(lost)} lost")
    assert len(acked) == 400 and lost == [] and placed == 400


def test_lock_file_sits_beside_the_annotations_and_is_hidden(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    _write_image(folder / "a.png", 16, 16)
    store = AnnotationStore.open(folder, "five", "ann")
    store.modify("a.png", lambda a: place_next(a, 1.0, 1.0))
    assert (folder / "annotations" / ".ann.json.lock").exists()
    assert AnnotationStore.open(folder, "five", "ann").keys == ["a.png"]
    with pytest.raises(StoreError):
        store.modify("../x.png", lambda a: None)


# ---- the demo keeps the terminal quiet for user errors ----------------------------------------------


def test_demo_refusals_print_no_traceback(tmp_path, capfd):
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    from annotator.app import build_app, launch
    from annotator.screenshots import free_port

    app = build_app(examples_dir=tmp_path / "examples", tabs=("demo",))
    launch(app, port=free_port(), block=False, quiet=True)
    try:
        client = gradio_client.Client(app.local_url, verbose=False)
        text = tmp_path / "notes.png"
        text.write_text("this is not a picture")
        with pytest.raises(Exception, match="not an image"):
            client.predict(gradio_client.handle_file(str(text)), 16, False, 12, api_name="/demo")
        huge = tmp_path / "huge.png"
        assert cv2.imwrite(str(huge), np.zeros((5000, 300, 3), np.uint8))
        with pytest.raises(Exception, match="too large"):
            client.predict(gradio_client.handle_file(str(huge)), 16, False, 12, api_name="/demo")
    finally:
        app.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-3000:]
