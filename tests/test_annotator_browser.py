"""A real headless Chromium clicks landmarks on the magnified face; the saved JSON must agree.

Checks the whole chain a human uses: server-side magnification, Gradio's click coordinates, the
display -> original mapping, atomic saving, and that a page reload shows the points again (state
comes from disk). Also the keyboard shortcuts (u / r / n).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.pictures import original_to_display, point_colors
from annotator.screenshots import CHROMIUM, free_port, launch_chromium, wait_until
from annotator.store import display_to_original

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning"),  # gradio internals
]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

ZOOM = 8
CLICKS = [(100, 37), (60, 90), (151, 150)]  # display pixels on the 200x200 magnified face


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from annotator.app import build_app, launch
    from s2ld_core.data.sources import lfw_faces

    tmp = tmp_path_factory.mktemp("browser")
    folder = tmp / "faces"
    folder.mkdir()
    for i, face in enumerate(lfw_faces()[:2]):
        cv2.imwrite(str(folder / f"face_{i}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    app = build_app(folder, annotator="chromium", zoom=ZOOM, examples_dir=tmp / "examples")
    launch(app, port=free_port(), block=False, quiet=True)
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 940})
        yield app.local_url, folder / "annotations" / "chromium.json", page
        browser.close()
    app.close()


def _points(path: Path, key: str = "face_0.png") -> list:
    if not path.is_file():
        return []
    entry = json.loads(path.read_text())["images"].get(key)
    return [] if entry is None else [p for p in entry["points"] if p is not None]


def _face_image(page):
    img = page.locator("#annot-image img")
    img.wait_for(state="visible", timeout=60_000)
    wait_until(lambda: img.evaluate("e => e.complete && e.naturalWidth === 200"), what="the 200 px face")
    return img


def test_clicks_land_on_the_right_original_pixels_and_survive_reload(served):
    url, path, page = served
    page.goto(url)
    img = _face_image(page)
    box = img.bounding_box()
    scale = box["width"] / 200.0  # 1.0 unless the layout shrank the picture
    for n, (u, v) in enumerate(CLICKS, start=1):
        src = img.get_attribute("src")
        page.mouse.click(box["x"] + (u + 0.5) * scale, box["y"] + (v + 0.5) * scale)
        wait_until(lambda n=n: len(_points(path)) >= n, what=f"click {n} to be saved")
        # Each save re-renders the face with its new marker; a click during that swap hits nothing.
        redrawn = lambda src=src, img=img: img.get_attribute("src") != src  # noqa: E731
        wait_until(redrawn, what=f"the face redrawn after click {n}")
        img = _face_image(page)
        box = img.bounding_box()

    saved = _points(path)
    assert len(saved) == len(CLICKS)
    for (u, v), (x, y) in zip(CLICKS, saved):
        ex, ey = display_to_original(u, v, ZOOM)
        assert abs(x - ex) <= 1 / ZOOM + 1e-9 and abs(y - ey) <= 1 / ZOOM + 1e-9, ((u, v), (x, y), (ex, ey))

    page.reload()
    img = _face_image(page)
    radio = page.locator("#points-radio")
    wait_until(lambda: "✓ 3. nose tip" in radio.inner_text(), what="the points list after reload")
    text = radio.inner_text()
    assert "✓ 1. eye left" in text and "✓ 2. eye right" in text and "· 4. mouth left" in text
    # The picture itself shows the markers again: the first point's colour sits at its display spot.
    png = page.request.get(img.get_attribute("src")).body()
    shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    du, dv = (int(round(c)) for c in original_to_display(*saved[0], ZOOM))
    patch = shown[dv - 1:dv + 2, du - 1:du + 2].reshape(-1, 3).astype(int)
    assert np.abs(patch - np.array(point_colors(5)[0])).max(axis=1).min() < 40


def test_keyboard_shortcuts_undo_redo_next(served):
    url, path, page = served
    page.goto(url)
    box = _face_image(page).bounding_box()
    before = len(_points(path))
    page.mouse.click(box["x"] + 70, box["y"] + 160)  # undo history is per tab: make one edit here
    wait_until(lambda: len(_points(path)) == before + 1, what="the click to be saved")
    before += 1
    page.keyboard.press("u")
    wait_until(lambda: len(_points(path)) == before - 1, what="u to undo the last point")
    page.keyboard.press("r")
    wait_until(lambda: len(_points(path)) == before, what="r to redo it")
    page.keyboard.press("n")
    info = page.locator("#info-md")
    wait_until(lambda: "face_1.png" in info.inner_text(), what="n to go to the next image")
