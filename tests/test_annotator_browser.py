"""A real headless Chromium clicks and drags landmarks on the canvas; the saved JSON must agree.

Checks the whole chain a human uses: the browser-drawn magnified face, the canvas's screen -> original
mapping, the edit sent to the server, atomic saving, and that a page reload draws the points again
(state comes from disk). Also dragging a point, the keyboard shortcuts (u / r / n) and the view
toggles (marker size, labels).
"""

from __future__ import annotations

import json
from pathlib import Path

import browser
import cv2
import numpy as np
import pytest

from annotator.canvas import GROUP_COLORS
from annotator.pictures import display_to_original
from annotator.screenshots import (
    canvas_pixels,
    canvas_state,
    screen_point,
    wait_canvas,
    wait_until,
)

pytestmark = browser.MARKS
browser.require_browser()

ZOOM = 8
CLICKS = [(100, 37), (60, 90), (151, 150)]  # display pixels on the 200x200 magnified face


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from s2ld_core.data.sources import lfw_faces

    tmp = tmp_path_factory.mktemp("browser")
    folder = tmp / "faces"
    folder.mkdir()
    for i, face in enumerate(lfw_faces()[:2]):
        cv2.imwrite(str(folder / f"face_{i}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    with browser.annotator_page(folder, tmp, zoom=ZOOM) as (url, page):
        yield url, folder / "annotations" / "chromium.json", page


def _points(path: Path, key: str = "face_0.png") -> list:
    if not path.is_file():
        return []
    entry = json.loads(path.read_text())["images"].get(key)
    return [] if entry is None else [p for p in entry["points"] if p is not None]


def _all(path: Path, key: str = "face_0.png") -> list:
    return json.loads(path.read_text())["images"][key]["points"]


def test_clicks_land_on_the_right_original_pixels_and_survive_reload(served):
    url, path, page = served
    page.goto(url)
    st = wait_canvas(page, "face_0.png")
    assert st["zoom"] == ZOOM and st["region"] == [0, 0, 25, 25]  # --zoom 8 on a 25 px face
    box = page.locator("#annot-canvas canvas").bounding_box()
    assert (box["width"], box["height"]) == (200, 200)
    for n, (u, v) in enumerate(CLICKS, start=1):
        page.mouse.click(box["x"] + u + 0.5, box["y"] + v + 0.5)  # the centre of display pixel (u, v)
        wait_until(lambda n=n: len(_points(path)) >= n, what=f"click {n} to be saved")

    saved = _points(path)
    assert len(saved) == len(CLICKS)
    for (u, v), (x, y) in zip(CLICKS, saved):
        ex, ey = display_to_original(u, v, ZOOM)
        assert abs(x - ex) <= 1 / ZOOM + 1e-9 and abs(y - ey) <= 1 / ZOOM + 1e-9, ((u, v), (x, y), (ex, ey))

    page.reload()
    wait_canvas(page, "face_0.png")
    chips = page.locator("#points-list")
    wait_until(lambda: "Next: 4. mouth left" in chips.inner_text(), what="the point list after reload")
    chips = page.locator("#points-list .s2-chip").evaluate_all(
        "cs => cs.map(c => [c.textContent, c.className])")
    assert [n for n, _ in chips] == ["3", "1", "2", "4", "5"]  # grouped: nose, eyes, mouth
    assert {n for n, cls in chips if "placed" in cls} == {"1", "2", "3"} and "next" in dict(chips)["4"]
    # The canvas itself draws the markers again: the eye colour sits at the first point's spot.
    wait_until(lambda: canvas_state(page).get("faces"), what="the faces drawn")
    shown = canvas_pixels(page)
    du, dv = (int(round((c + 0.5) * ZOOM)) for c in saved[0])
    patch = shown[dv - 1:dv + 2, du - 1:du + 2].reshape(-1, 3).astype(int)
    eyes = np.array([int(GROUP_COLORS["eyes"][i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(patch - eyes).max(axis=1).min() < 40


def test_dragging_a_point_moves_it_and_places_nothing(served):
    url, path, page = served
    page.goto(url)
    wait_canvas(page, "face_0.png")
    before = _all(path)
    x0, y0 = before[1]
    u, v = screen_point(page, x0, y0)
    page.mouse.move(u, v)
    page.mouse.down()
    for k in range(1, 9):  # a human drag: many small moves
        page.mouse.move(u + 5 * k, v + 3 * k)
    page.mouse.up()
    ex, ey = x0 + 40 / ZOOM, y0 + 24 / ZOOM
    wait_until(lambda: abs(_all(path)[1][0] - ex) < 0.2, what="the dragged point to be saved")
    after = _all(path)
    assert abs(after[1][0] - ex) <= 1 / ZOOM and abs(after[1][1] - ey) <= 1 / ZOOM
    assert after[0] == before[0] and after[2] == before[2] and after[3:] == before[3:]  # nothing else moved
    page.keyboard.press("u")  # and a drag is one undo step
    wait_until(lambda: _all(path)[1] == before[1], what="u to undo the drag")


def test_keyboard_shortcuts_undo_redo_next_and_view_toggles(served):
    url, path, page = served
    page.goto(url)
    wait_canvas(page, "face_0.png")
    box = page.locator("#annot-canvas canvas").bounding_box()
    before = len(_points(path))
    page.mouse.click(box["x"] + 70, box["y"] + 160)  # undo history is per tab: make one edit here
    wait_until(lambda: len(_points(path)) == before + 1, what="the click to be saved")
    before += 1
    page.keyboard.press("u")
    wait_until(lambda: len(_points(path)) == before - 1, what="u to undo the last point")
    page.keyboard.press("r")
    wait_until(lambda: len(_points(path)) == before, what="r to redo it")

    marker = canvas_state(page)["prefs"]["marker"]
    page.keyboard.press("m")
    assert canvas_state(page)["prefs"]["marker"] != marker
    labels = canvas_state(page)["prefs"]["labels"]
    page.keyboard.press("l")
    assert canvas_state(page)["prefs"]["labels"] == (not labels)
    page.keyboard.press("+")
    assert canvas_state(page)["zoom"] == 10  # the zoom ladder: ... 6, 8, 10, 12 ...
    page.keyboard.press("0")  # fit: the face fills the viewport, at least 600 px
    fit = canvas_state(page)["zoom"]
    assert fit * 25 >= 600 and page.locator("#annot-canvas canvas").bounding_box()["height"] >= 600

    page.keyboard.press("n")
    info = page.locator("#info-md")
    wait_until(lambda: "face_1.png" in info.inner_text(), what="n to go to the next image")
