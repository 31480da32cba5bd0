"""The annotator app served for real on localhost and driven through gradio_client, plus its pictures."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from checkpoint_files import write_g2

from annotator import demo as demo_lib
from annotator.app import add_annotate_arguments, add_demo_arguments, build_app, launch
from annotator.canvas import canvas_value, list_value
from annotator.pictures import canonical_points, reference_diagram
from annotator.point_sets import point_set
from annotator.store import open_store
from s2ld_core.data.formats import FaceAnnotation, ImageAnnotation
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


def _untrained_checkpoint(path, schema="five", size=32, **extra):
    """A real G2 (quick profile, random weights) saved in the project's checkpoint format.

    Its predictions are meaningless but real: it exercises the model-assisted path end to end.
    """
    write_g2(path, schema, input_size=size, **extra)
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
    return client.predict(str(folder), annotator, schema, order, api_name="/open_folder")


def _image_of(canvas: dict) -> np.ndarray:
    import base64

    data = base64.b64decode(canvas["image"].split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_open_place_occlude_undo_through_the_api(served):
    client, folder, _ = served
    out = _open(client, folder)
    canvas, _ref, _points, info, progress, msg, *_ = out
    assert "3 images" in msg and "face_0.png" in info and "0 of 3 annotated" in progress
    assert _image_of(canvas).shape[:2] == (25, 25) and canvas["key"] == "face_0.png"  # the original pixels

    # A zoom-8 click at display (100, 37) is original (12.0625, 4.1875); the API takes the latter.
    out = client.predict(12.0625, 4.1875, api_name="/place_point")
    assert "Placed 1. eye left" in out[5]
    assert _disk(folder)["face_0.png"]["points"][0] == [12.0625, 4.1875]
    assert out[0]["faces"][0]["points"][0] == [12.0625, 4.1875] and out[0]["next"] == 1

    client.predict(3.5, 9.25, api_name="/place_point")
    client.predict(api_name="/toggle_occluded")  # acts on the last placed point
    assert _disk(folder)["face_0.png"]["visible"][:2] == [True, False]
    client.predict(api_name="/undo")
    assert _disk(folder)["face_0.png"]["visible"][:2] == [True, True]

    client.predict(0, api_name="/select_point")
    client.predict(1.0, 2.0, api_name="/place_point")  # moves the selected point
    assert _disk(folder)["face_0.png"]["points"][:3] == [[1.0, 2.0], [3.5, 9.25], None]

    out = client.predict(api_name="/skip")
    assert "face_1.png" in out[3]
    assert _disk(folder)["face_0.png"]["status"] == "skipped"


def test_canvas_operations_drag_and_faces_through_the_api(served):
    client, folder, _ = served
    _open(client, folder, annotator="cy")
    edit = lambda **op: client.predict(json.dumps(op), api_name="/edit")  # noqa: E731
    out = edit(key="face_0.png", op="place", face=0, index=0, x=5.25, y=6.5)
    assert "Placed 1. eye left at (5.25, 6.50)" in out[5]
    out = edit(key="face_0.png", op="move", face=0, index=0, x=7.125, y=6.5)  # a drag ends in a move
    assert "Moved 1. eye left" in out[5] and _disk(folder, "cy")["face_0.png"]["points"][0] == [7.125, 6.5]
    out = edit(key="face_1.png", op="place", face=0, index=1, x=1, y=1)  # made on another image
    assert "was not applied" in out[5] and _disk(folder, "cy")["face_0.png"]["points"][1] is None
    out = edit(key="face_0.png", op="add_face", box=[12.5, 0, 12, 12])
    assert out[0]["active"] == 1 and len(out[0]["faces"]) == 2 and out[2]["faces"][1]["box"]
    entry = _disk(folder, "cy")["face_0.png"]
    assert [f["box"] for f in entry["faces"]] == [None, [12.5, 0.0, 12.0, 12.0]]
    out = edit(key="face_0.png", op="place", face=1, index=0, x=15, y=4)
    assert "(face 2)" in out[5] and _disk(folder, "cy")["face_0.png"]["faces"][1]["points"][0] == [15.0, 4.0]
    out = edit(key="face_0.png", op="face", face=0)
    assert out[0]["active"] == 0 and out[2]["guide"] == "Next: 2. eye right"
    out = client.predict(api_name="/undo")
    assert _disk(folder, "cy")["face_0.png"]["faces"][1]["points"][0] is None
    out = edit(key="face_0.png", op="teleport")
    assert "unknown operation 'teleport'" in out[5]
    out = client.predict("{not json", api_name="/edit")
    assert "not JSON" in out[5]


def test_reopen_resumes_at_first_unfinished(served):
    client, folder, _ = served
    _open(client, folder, annotator="dana")
    client.predict(api_name="/flag")  # face_0 flagged -> face_1
    client.predict(api_name="/skip")  # face_1 skipped -> face_2
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


def test_import_and_every_export_download_through_the_api(served, tmp_path):
    client, folder, _ = served
    _open(client, folder, annotator="ida")
    pts = tmp_path / "face_1.pts"
    pts.write_text("version: 1\nn_points: 5\n{\n9 10\n17 10\n13 14\n10 19\n16 19\n}\n")
    out = client.predict([gradio_client.handle_file(str(pts))], api_name="/import_annotations")
    assert "Imported 1 face(s) on 1 image(s): pre-placed on 1" in out[5]
    face = _disk(folder, "ida")["face_1.png"]
    assert face["prefilled"] and face["points"][0] == [8.0, 9.0]  # .pts is 1-based
    client.predict(api_name="/next_image")
    client.predict(api_name="/done")  # accept the imported points of face_1
    for kind, name in (("coco", "ida.coco.json"), ("pts", "ida_pts.zip"), ("json", "ida.json")):
        *out, download = client.predict(api_name=f"/export_{kind}")
        download = download["value"] if isinstance(download, dict) else download  # a visibility update
        assert Path(download).name == name and "the download is below" in out[5], out[5]
    doc = json.loads((folder / "annotations" / "ida.coco.json").read_text())
    assert [a["bbox"] for a in doc["annotations"]] == [[0.0, 0.0, 25.0, 25.0]]  # the face crop's box


def test_demo_names_the_shipped_model_truthfully_and_rejects_non_images(served, tmp_path):
    client, _, tmp = served
    lfw = demo_lib.example_images(tmp / "examples")[-1]
    overview, sheet, table = client.predict(gradio_client.handle_file(str(lfw)), 16, False, 12,
                                            api_name="/demo")
    assert cv2.imread(sheet).shape[0] > 200 and "16 px" in table  # one face: one panel on the sheet
    assert "S1 baseline, camera-family" in table and "S²LD (S4)" not in table  # what detector.pt is
    assert "s2ld study" not in table  # the shipped detector answered
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(Exception, match="not an image"):
        client.predict(gradio_client.handle_file(str(text)), 16, False, 12, api_name="/demo")


def test_model_assisted_prefill_and_demo_columns(tmp_path):
    folder = _faces_folder(tmp_path / "faces")
    ckpt = _untrained_checkpoint(tmp_path / "S4.pt")
    _untrained_checkpoint(tmp_path / "hrld.pt", size=128, setting="hrld", epochs_done=3, steps=900)
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
        client.predict(api_name="/done")  # the annotator accepts the prefill
        assert [k for k, e in _disk(folder, "eve").items() if e["status"] == "done"] == [shown]

        _, sheet, table = client.predict(gradio_client.handle_file(str(folder / "face_0.png")), 24, False,
                                           12, api_name="/demo")
        row = table.strip().splitlines()[-1].split("|")
        assert float(row[4]) > 0 and float(row[6]) > 0  # model ms and baseline ms were measured
        assert "upscale + HR-LD (hrld.pt)" in table and "S²LD (S4)" in table
    finally:
        app.close()


def test_demo_tab_alone_unless_a_folder_is_named(tmp_path):
    demo_only = build_app(examples_dir=tmp_path / "ex", tabs=("demo",), models=demo_lib.Models())
    names = {getattr(b, "label", None) for b in demo_only.blocks.values()}
    assert "Demo" in names and "Annotate" not in names
    both = build_app(_faces_folder(tmp_path / "f", 1), examples_dir=tmp_path / "ex",
                     tabs=("demo", "annotate"), models=demo_lib.Models())
    assert "Annotate" in {getattr(b, "label", None) for b in both.blocks.values()}


# ---- what the canvas and the list are given (no server) ----------------------------------------


def test_canvas_value_carries_original_pixels_faces_and_next_point():
    img = np.zeros((20, 30, 3), np.uint8)
    img[3, 4] = (255, 0, 0)
    ann = ImageAnnotation(30, 20, [
        FaceAnnotation([[4.0, 3.0], None, None, None, None], [True] * 5, [0.5, 0.5, 12, 12]),
        FaceAnnotation([None] * 5, [True] * 5, [15.5, 0.5, 12, 12])])
    v = canvas_value("a.png", img, ann, point_set("five"), active=1, rev=7)
    assert (v["w"], v["h"], v["active"], v["next"], v["rev"]) == (30, 20, 1, 0, 7)
    assert v["faces"][0]["points"][0] == [4.0, 3.0] and v["faces"][1]["box"] == [15.5, 0.5, 12, 12]
    assert v["colors"][0] == v["colors"][1] != v["colors"][2]  # eyes share a colour, the nose has its own
    import base64

    png = cv2.imdecode(np.frombuffer(base64.b64decode(v["image"].split(",")[1]), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape == (20, 30, 3) and tuple(png[3, 4]) == (0, 0, 255)  # exact pixels (BGR on decode)
    lv = list_value(ann, point_set("five"), active=0, selected=None)
    assert lv["guide"] == "Next: 2. eye right" and [f["placed"] for f in lv["faces"]] == [1, 0]
    states = {it["n"]: it["state"] for g in lv["groups"] for it in g["items"]}
    assert states == {1: "placed", 2: "missing", 3: "missing", 4: "missing", 5: "missing"}


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


def test_demo_shrinks_faces_to_the_chosen_width():
    from skimage.data import astronaut

    photo = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    finder = demo_lib.demo_finder()
    results, note = demo_lib.analyse(photo, 20, demo_lib.Models(), finder)
    side = round(finder.framing.scale * 20)  # a 20 px face in a crop framed as the training faces
    assert results and all(r.crop.shape == (side, side, 3) for r in results), note
    b = results[0].box  # the astronaut's face: roughly x 87-137, y 33-83 at this size
    assert 80 < b.x + b.w / 2 < 145 and 25 < b.y + b.h / 2 < 90, note
    tiny, note = demo_lib.analyse(np.zeros((25, 25, 3), np.uint8), None, demo_lib.Models(), finder)
    assert len(tiny) == 1 and tiny[0].crop.shape == (25, 25, 3) and "one face" in note
    with pytest.raises(ValueError, match="at most"):
        demo_lib.analyse(np.zeros((10, 5000, 3), np.uint8), 24, demo_lib.Models(), finder)


class _Finder:
    """Stands in for a face finder: fixed boxes, the 'boxes' framing."""

    name, note, max_faces = "fixed", "fixed boxes", 64

    def __init__(self, boxes):
        from s2ld_core.faces import FRAMINGS

        self.boxes, self.framing = boxes, FRAMINGS["landmarks"]

    def find(self, image):
        return list(self.boxes)


def test_demo_crops_are_padded_black_and_the_cap_is_stated():
    from s2ld_core.faces import FaceBox

    img = np.full((100, 100, 3), 200, np.uint8)
    boxes = [FaceBox(0, 0, 20, 20)] + [FaceBox(40 + 10 * i, 60, 8, 8) for i in range(5)]
    results, note = demo_lib.analyse(img, None, demo_lib.Models(), _Finder(boxes), max_faces=3)
    # the corner face: a 29 px crop (20 / 0.68) centred on (9.5, 9.5) starts at x = -5: black there
    first = results[0].crop
    assert first.shape == (29, 29, 3) and (first[:4, :4] == 0).all() and (first[10, 10] == 200).all()
    assert len(results) == 3 and "6 face(s) found" in note and "showing the 3 largest" in note
    with pytest.raises(ValueError, match="max faces must be 1-64"):
        demo_lib.analyse(img, None, demo_lib.Models(), _Finder(boxes), max_faces=0)


def test_checkpoint_names_say_what_the_model_is():
    blob = {"setting": "S1", "profile": "standard", "steps": 7200, "epochs_done": 22,
            "train_config": {"stage2": {"lr_augment": "camera-family"}}}
    name, detail = demo_lib.describe_checkpoint(blob)
    assert name == "S1 baseline, camera-family" and "7,200 steps (22 epochs)" in detail
    assert demo_lib.describe_checkpoint({"setting": "S4"})[0] == "S²LD (S4)"
    blob["train_config"]["data"] = {"real_hr": "runs/real-faces-68/train", "real_hr_share": 0.5}
    name, detail = demo_lib.describe_checkpoint(blob)
    assert name == "S1 baseline, camera-family, real faces" and "50% of its labelled faces real" in detail
    why = demo_lib._undertrained({"steps": 150, "epochs_done": 0})
    assert why == "trained 150 steps (0 epochs): not converged"
    assert demo_lib._undertrained({"steps": 9000, "epochs_done": 4}) is None


def test_shipped_hrld_is_named_and_left_out_while_it_is_not_trained():
    models = demo_lib.load_models(None)
    shipped = demo_lib._shipped().with_name("hrld.pt")
    if not shipped.is_file():
        pytest.skip("no shipped hrld.pt")

    epochs = torch.load(shipped, map_location="cpu", weights_only=True).get("epochs_done")
    hrld_shown = any("HR-LD" in b.name for b in models.baselines)
    assert hrld_shown == (epochs is None or epochs >= 1)
    if not hrld_shown:
        assert any("not converged" in m for m in models.missing)
    assert any("dlib" in m for m in models.missing) or any("dlib" in b.name for b in models.baselines)


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_arguments_and_export_without_server(tmp_path, capsys):
    from annotator.app import _parse_auth, main_annotate
    from annotator.cli import parse_zoom

    args = add_annotate_arguments(argparse.ArgumentParser()).parse_args(
        ["faces", "--schema", "aflw19", "--annotator", "ann", "--auth", "u:p", "--port", "7999"])
    assert (args.folder, args.schema, args.annotator, args.host, args.port, args.zoom) == (
        "faces", "aflw19", "ann", "127.0.0.1", 7999, "fit")
    assert _parse_auth(args.auth) == ("u", "p")
    with pytest.raises(ValueError, match="user:password"):
        _parse_auth("nocolon")
    assert parse_zoom("12") == 12 and parse_zoom("FIT") == "fit"
    with pytest.raises(ValueError, match="--zoom 99"):
        parse_zoom("99")
    demo_args = add_demo_arguments(argparse.ArgumentParser()).parse_args(["--checkpoint", "x.pt"])
    assert demo_args.checkpoint == "x.pt" and demo_args.host == "127.0.0.1" and demo_args.annotate is None

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
