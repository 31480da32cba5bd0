"""Through a real Chromium: two faces in one picture (a box, then its points, for each), an import of
existing annotations as pre-placed points, and a COCO export downloaded by the browser whose ``bbox``
is each face's box."""

from __future__ import annotations

import json
from pathlib import Path

import browser
import cv2
import numpy as np
import pytest

from annotator.screenshots import (
    canvas_state,
    download_export,
    screen_point,
    wait_canvas,
    wait_until,
)
from s2ld_core.data.formats import write_pts

pytestmark = browser.MARKS
browser.require_browser()

FIVE = [(8.0, 10.0), (16.0, 10.0), (12.0, 14.0), (9.0, 18.0), (15.0, 18.0)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from s2ld_core.data.sources import lfw_faces

    tmp = tmp_path_factory.mktemp("browser_faces")
    folder = tmp / "faces"
    folder.mkdir()
    faces = lfw_faces()
    cv2.imwrite(str(folder / "a_face.png"), cv2.cvtColor(faces[3], cv2.COLOR_RGB2BGR))
    pair = np.concatenate([faces[5], faces[9]], axis=1)  # two 25 px faces side by side: 50 x 25
    cv2.imwrite(str(folder / "b_pair.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
    with browser.annotator_page(folder, tmp, downloads=True) as (url, page):
        yield url, folder / "annotations" / "chromium.json", page, tmp


def _entry(path: Path, key: str) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text())["images"].get(key)


def _faces(path: Path, key: str) -> list:
    e = _entry(path, key)
    if e is None:
        return []
    return e["faces"] if "faces" in e else [{"box": None, "points": e["points"]}]


def _drag_box(page, x0: float, y0: float, x1: float, y1: float) -> None:
    """Drag from original pixel edge (x0, y0) to edge (x1, y1) (edges: pixel centres minus 0.5)."""
    u0, v0 = screen_point(page, x0, y0)
    u1, v1 = screen_point(page, x1, y1)
    page.mouse.move(u0, v0)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(u0 + (u1 - u0) * k / 5, v0 + (v1 - v0) * k / 5)
    page.mouse.up()


def test_two_faces_a_box_then_points_each_and_the_coco_download(served):
    url, path, page, tmp = served
    page.goto(url)
    wait_canvas(page, "a_face.png")
    page.keyboard.press("n")
    st = wait_canvas(page, "b_pair.png")
    assert st["region"] == [0, 0, 50, 25]

    page.keyboard.press("b")  # box a face: the canvas shows the whole picture while a box is drawn
    assert canvas_state(page)["mode"] == "add"
    _drag_box(page, 0.5, 0.5, 23.5, 23.5)  # edges 1 .. 24 in pixel-edge terms
    wait_until(lambda: (_faces(path, "b_pair.png") or [{}])[0].get("box") == [0.5, 0.5, 23.0, 23.0],
               what="face 1's box")
    st = wait_until(lambda: canvas_state(page).get("mode") == "points" and canvas_state(page),
                    what="points mode")
    assert st["region"] == [0, 0, 30, 25]  # the face view: the box with a quarter of its side around it
    for n, (x, y) in enumerate(FIVE, start=1):
        page.mouse.click(*screen_point(page, x, y))
        wait_until(lambda n=n: sum(p is not None for p in _faces(path, "b_pair.png")[0]["points"]) == n,
                   what=f"point {n} of face 1")

    page.keyboard.press("b")
    _drag_box(page, 25.5, 0.5, 48.5, 23.5)
    wait_until(lambda: len(_faces(path, "b_pair.png")) == 2, what="face 2")
    assert _faces(path, "b_pair.png")[1]["box"] == [25.5, 0.5, 23.0, 23.0]
    wait_until(lambda: "Faces:" in page.locator("#points-list").inner_text()
               and "2 · 0/5" in page.locator("#points-list").inner_text(), what="the face chips")
    wait_until(lambda: canvas_state(page).get("region", [0])[0] > 0, what="the view on face 2")
    for n, (x, y) in enumerate(FIVE, start=1):
        page.mouse.click(*screen_point(page, x + 25, y))
        wait_until(lambda n=n: sum(p is not None for p in _faces(path, "b_pair.png")[1]["points"]) == n,
                   what=f"point {n} of face 2")
    faces = _faces(path, "b_pair.png")
    for f, dx in zip(faces, (0, 25)):
        for (x, y), p in zip(FIVE, f["points"]):
            assert abs(p[0] - (x + dx)) < 0.1 and abs(p[1] - y) < 0.1, (p, x + dx, y)
    wait_until(lambda: _entry(path, "b_pair.png")["status"] == "done", what="the image done")

    page.get_by_text("Export and download").click()
    target = download_export(page, "#btn-export-coco", tmp / "downloaded.coco.json")
    doc = json.loads(target.read_text())
    # each face is one annotation whose bbox is its box, in COCO's continuous coordinates (+0.5)
    assert [a["bbox"] for a in doc["annotations"]] == [[1.0, 1.0, 23.0, 23.0], [26.0, 1.0, 23.0, 23.0]]
    assert [a["image_id"] for a in doc["annotations"]] == [1, 1]


def test_import_places_points_for_review(served):
    url, path, page, tmp = served
    page.goto(url)
    wait_canvas(page, "a_face.png")
    pts = tmp / "a_face.pts"
    write_pts(pts, np.array(FIVE, np.float32) + 0.25)
    page.get_by_text("Import annotations").click()
    page.locator("#import-files input[type=file]").set_input_files(str(pts))
    msg = page.locator("#msg-md")
    wait_until(lambda: "Imported 1 face(s) on 1 image(s): pre-placed on 1" in msg.inner_text(),
               what="the import")
    face = _faces(path, "a_face.png")[0]  # the file is version 2 now: it holds a two-face image
    assert face["prefilled"] and face["points"][0] == [8.25, 10.25]
    assert _entry(path, "a_face.png")["status"] == "todo"
    wait_until(lambda: (canvas_state(page).get("faces") or [{}])[0].get("points", [None])[0] == [8.25, 10.25],
               what="the imported points on the canvas")
    assert "pre-placed" in page.locator("#info-md").inner_text()
