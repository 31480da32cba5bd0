"""The annotator app served for real on localhost and driven through gradio_client, plus its pictures."""

from __future__ import annotations

import argparse
import json
import socket

import cv2
import numpy as np
import pytest
import torch

from annotator import demo as demo_lib
from annotator.app import add_annotate_arguments, add_demo_arguments, build_app, launch
from annotator.pictures import (
    canonical_points,
    draw_grid,
    magnify,
    point_colors,
    reference_diagram,
    render_annotation_view,
)
from annotator.store import open_store
from s2ld_core.schemas import get_schema

gradio_client = pytest.importorskip("gradio_client")
# gradio's queue calls deprecated pandas options; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _faces_folder(root, n=3):
    from s2ld_core.data.sources import lfw_faces

    faces = lfw_faces()
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / f"face_{i}.png"), cv2.cvtColor(faces[i], cv2.COLOR_RGB2BGR))
    return root


def _untrained_checkpoint(path, schema="five", size=32):
    """A real G2 (quick profile, random weights) saved in the project's checkpoint format.

    Its predictions are meaningless but real: it exercises the model-assisted path end to end.
    """
    from s2ld_core.models import HeatmapGenerator
    from s2ld_core.models.config import network_config

    cfg = network_config("quick")
    torch.manual_seed(0)
    net = HeatmapGenerator(cfg, get_schema(schema).num_points, in_size=size)
    torch.save({"kind": "s2ld-checkpoint", "role": "G2", "setting": "S4", "schema": schema,
                "input_size": size, "network": cfg.to_dict(), "state_dict": net.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    folder = _faces_folder(tmp / "faces")
    app = build_app(folder, annotator="bob", zoom=8, examples_dir=tmp / "examples")
    launch(app, port=_free_port(), block=False, quiet=True)
    client = gradio_client.Client(app.local_url, verbose=False)
    yield client, folder, tmp
    app.close()


def _disk(folder, name="bob"):
    return json.loads((folder / "annotations" / f"{name}.json").read_text())["images"]


# ---- the served app --------------------------------------------------------------------------------


def _open(client, folder, annotator="bob", schema="five", order="file"):
    return client.predict(str(folder), annotator, schema, order, 8, True, False, api_name="/open_folder")


def test_open_place_occlude_undo_through_the_api(served):
    client, folder, _ = served
    out = _open(client, folder)
    picture, _ref, _points, info, progress, msg, *_ = out
    assert "3 images" in msg and "face_0.png" in info and "0 of 3 annotated" in progress
    assert cv2.imread(picture).shape[:2] == (25 * 8, 25 * 8)  # magnified server-side, PNG

    # A zoom-8 click at display (100, 37) is original (12.0625, 4.1875); the API takes the latter.
    out = client.predict(12.0625, 4.1875, 8, True, False, api_name="/place_point")
    assert "Placed 1. eye left" in out[5]
    assert _disk(folder)["face_0.png"]["points"][0] == [12.0625, 4.1875]

    client.predict(3.5, 9.25, 8, True, False, api_name="/place_point")
    client.predict(8, True, False, api_name="/toggle_occluded")  # acts on the last placed point
    assert _disk(folder)["face_0.png"]["visible"][:2] == [True, False]
    client.predict(8, True, False, api_name="/undo")
    assert _disk(folder)["face_0.png"]["visible"][:2] == [True, True]

    client.predict(0, 8, True, False, api_name="/select_point")
    client.predict(1.0, 2.0, 8, True, False, api_name="/place_point")  # moves the selected point
    assert _disk(folder)["face_0.png"]["points"][:3] == [[1.0, 2.0], [3.5, 9.25], None]

    out = client.predict(8, True, False, api_name="/skip")
    assert "face_1.png" in out[3]
    assert _disk(folder)["face_0.png"]["status"] == "skipped"


def test_reopen_resumes_at_first_unfinished(served):
    client, folder, _ = served
    _open(client, folder, annotator="dana")
    client.predict(8, True, False, api_name="/flag")  # face_0 flagged -> face_1
    client.predict(8, True, False, api_name="/skip")  # face_1 skipped -> face_2
    fresh = gradio_client.Client(client.src, verbose=False)  # a new tab: state only from disk
    out = _open(fresh, folder, annotator="dana")
    assert "face_2.png" in out[3]
    assert "0 of 3 annotated" in out[4] and "1 skipped" in out[4] and "1 flagged" in out[4]


def test_folders_outside_root_are_refused(served, tmp_path):
    client, _, _ = served
    other = _faces_folder(tmp_path / "elsewhere", n=1)
    out = _open(client, other)
    assert "outside the folders this server may open" in out[5]
    assert not (other / "annotations").exists()


def test_demo_uses_the_shipped_detector_without_checkpoint_and_rejects_non_images(served, tmp_path):
    client, _, tmp = served
    lfw = demo_lib.example_images(tmp / "examples")[-1]
    overview, gallery, table = client.predict(gradio_client.handle_file(str(lfw)), 16, False,
                                              api_name="/demo")
    assert len(gallery) == 1 and "16 px" in table
    assert "S²LD conf" in table and "s2ld study" not in table  # the shipped detector answered
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(Exception, match="not an image"):
        client.predict(gradio_client.handle_file(str(text)), 16, False, api_name="/demo")


def test_model_assisted_prefill_and_demo_columns(tmp_path):
    folder = _faces_folder(tmp_path / "faces")
    ckpt = _untrained_checkpoint(tmp_path / "S4.pt")
    _untrained_checkpoint(tmp_path / "hrld.pt", size=128)
    app = build_app(folder, annotator="eve", checkpoint=ckpt, order="confidence",
                    examples_dir=tmp_path / "examples")
    launch(app, port=_free_port(), block=False, quiet=True)
    try:
        client = gradio_client.Client(app.local_url, verbose=False)
        out = _open(client, folder, annotator="eve", order="confidence")
        assert "pre-placed points on 3" in out[5] and "model confidence" in out[3]
        disk = _disk(folder, "eve")
        assert all(e["prefilled"] and all(p is not None for p in e["points"]) for e in disk.values())
        assert all(e["status"] == "todo" for e in disk.values())  # pre-placed is not reviewed
        shown = out[3].split("`")[1]
        conf = open_store(folder, "five", "eve").confidence  # the server's shared store (same process)
        assert len(conf) == 3 and shown == min(conf, key=conf.get)  # queue: least confident first
        client.predict(8, True, False, api_name="/done")  # the annotator accepts the prefill
        assert [k for k, e in _disk(folder, "eve").items() if e["status"] == "done"] == [shown]

        _, gallery, table = client.predict(gradio_client.handle_file(str(folder / "face_0.png")), 24, False,
                                           api_name="/demo")
        row = table.strip().splitlines()[-1].split("|")
        assert float(row[4]) > 0 and float(row[6]) > 0  # S²LD ms and baseline ms were measured
    finally:
        app.close()


# ---- pictures (no server) ------------------------------------------------------------------------


def test_magnify_is_exact_blocks_and_grid_marks_pixel_edges():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    big = magnify(img, 4)
    assert big.shape == (8, 12, 3)
    assert (big[4:8, 8:12] == img[1, 2]).all()
    grid = draw_grid(np.full((8, 8, 3), 200, np.uint8), 4)
    assert grid[0, 1, 0] < 200 and grid[4, 2, 0] < 200 and grid[1, 1, 0] == 200 and grid[5, 6, 0] == 200


def test_marker_is_drawn_where_the_point_maps():
    img = np.full((10, 10, 3), 128, np.uint8)
    view = render_annotation_view(img, [[2.0, 7.0], None], [True, True], 8, grid=False, labels=False)
    u, v = (2.0 + 0.5) * 8 - 0.5, (7.0 + 0.5) * 8 - 0.5  # 19.5, 59.5
    centre = view[int(v) : int(v) + 2, int(u) : int(u) + 2].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - np.array(point_colors(2)[0])).max() < 40
    assert (view[5, 5] == 128).all()  # far from the marker: untouched


def test_reference_diagram_follows_the_schema():
    for name in ("five", "aflw19", "ibug68"):
        s = get_schema(name)
        pts = canonical_points(name)
        flipped = pts.copy()
        flipped[:, 0] = 1 - flipped[:, 0]
        np.testing.assert_allclose(flipped[list(s.flip_permutation)], pts, atol=1e-6)  # symmetric face
    left_eye, right_eye = canonical_points("five")[:2]
    assert left_eye[0] < right_eye[0]  # image-left eye is drawn on the left
    ref = reference_diagram("five", 2)
    assert ref.shape == (344, 300, 3) and ref.dtype == np.uint8


# ---- demo helpers --------------------------------------------------------------------------------


def test_demo_crops_faces_at_the_chosen_size():
    from skimage.data import astronaut

    photo = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    finder = demo_lib.make_face_finder()
    results, note = demo_lib.analyse(photo, 20, demo_lib.Models(), finder)
    assert results and all(r.crop.shape == (20, 20, 3) for r in results)
    if finder.method != "whole image":
        b = results[0].box  # the astronaut's face: roughly x 87-137, y 33-83 at this size
        assert 80 < b.x + b.w / 2 < 145 and 25 < b.y + b.h / 2 < 90, note
    tiny, note = demo_lib.analyse(np.zeros((25, 25, 3), np.uint8), None, demo_lib.Models(), finder)
    assert len(tiny) == 1 and tiny[0].crop.shape == (25, 25, 3) and "one face" in note
    with pytest.raises(ValueError, match="at most"):
        demo_lib.analyse(np.zeros((10, 5000, 3), np.uint8), 24, demo_lib.Models(), finder)


def test_crop_near_the_border_is_padded_not_shifted():
    img = np.zeros((50, 50, 3), np.uint8)
    img[0:10, 0:10] = 255
    crop = demo_lib._crop(img, -10, -10, 30)
    assert crop.shape == (30, 30, 3)
    assert (crop[10:20, 10:20] == 255).all()  # the bright corner stays at its place in the crop


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_arguments_and_export_without_server(tmp_path, capsys):
    from annotator.app import _parse_auth, main_annotate

    args = add_annotate_arguments(argparse.ArgumentParser()).parse_args(
        ["faces", "--schema", "aflw19", "--annotator", "ann", "--auth", "u:p", "--port", "7999"])
    assert (args.folder, args.schema, args.annotator, args.host, args.port) == (
        "faces", "aflw19", "ann", "127.0.0.1", 7999)
    assert _parse_auth(args.auth) == ("u", "p")
    with pytest.raises(ValueError, match="user:password"):
        _parse_auth("nocolon")
    demo_args = add_demo_arguments(argparse.ArgumentParser()).parse_args(["--checkpoint", "x.pt"])
    assert demo_args.checkpoint == "x.pt" and demo_args.host == "127.0.0.1"

    folder = _faces_folder(tmp_path / "faces", n=1)
    out = tmp_path / "c.json"
    args = add_annotate_arguments(argparse.ArgumentParser()).parse_args(
        [str(folder), "--annotator", "zed", "--export-coco", str(out)])
    assert main_annotate(args) == 0
    assert json.loads(out.read_text())["images"] == []  # nothing done yet, but a valid document


def test_demo_without_any_model_says_which_command_makes_one(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_lib, "_shipped", lambda: tmp_path / "no-weights" / "detector.pt")
    models = demo_lib.load_models(None)
    assert models.s2ld is None and any("s2ld study" in m for m in models.messages)
