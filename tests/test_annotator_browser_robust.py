"""Through a real Chromium: a folder holding a corrupt and a huge image is annotated past both.

Next (the ``n`` key) leaves each broken image, the page says why it cannot be shown, and a click on
the next good face is saved; after a reload the app resumes on a readable image.
"""

from __future__ import annotations

import json
from pathlib import Path

import browser
import cv2
import numpy as np
import pytest

from annotator.screenshots import wait_canvas, wait_until

pytestmark = browser.MARKS
browser.require_browser()

ZOOM = 8


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from s2ld_core.data.sources import lfw_faces

    tmp = tmp_path_factory.mktemp("browser_robust")
    folder = tmp / "faces"
    folder.mkdir()
    faces = lfw_faces()[:2]
    cv2.imwrite(str(folder / "a_face.png"), cv2.cvtColor(faces[0], cv2.COLOR_RGB2BGR))
    noise = np.random.default_rng(0).integers(0, 256, 2000, np.uint8)
    (folder / "b_corrupt.png").write_bytes(noise.tobytes())
    cv2.imwrite(str(folder / "c_huge.png"), np.zeros((4000, 4000, 3), np.uint8))
    cv2.imwrite(str(folder / "d_face.png"), cv2.cvtColor(faces[1], cv2.COLOR_RGB2BGR))
    with browser.annotator_page(folder, tmp, zoom=ZOOM) as (url, page):
        yield url, folder / "annotations" / "chromium.json", page


def _placed(path: Path, key: str) -> int:
    if not path.is_file():
        return 0
    entry = json.loads(path.read_text())["images"].get(key)
    return 0 if entry is None else sum(p is not None for p in entry["points"])


def _click_face(page, path, key):
    wait_canvas(page, key)
    box = page.locator("#annot-canvas canvas").bounding_box()
    before = _placed(path, key)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_until(lambda: _placed(path, key) == before + 1, what=f"the click on {key} to be saved")


def test_next_leaves_corrupt_and_huge_images_and_the_next_face_is_annotated(served):
    url, path, page = served
    page.goto(url)
    info = page.locator("#info-md")
    wait_until(lambda: "a_face.png" in info.inner_text(), what="the first face")
    _click_face(page, path, "a_face.png")
    page.keyboard.press("n")
    wait_until(lambda: "b_corrupt.png" in info.inner_text(), what="the corrupt image")
    wait_until(lambda: "unreadable" in info.inner_text(), what="the corrupt image marked unreadable")
    assert "cannot decode" in info.inner_text()
    page.keyboard.press("n")
    wait_until(lambda: "c_huge.png" in info.inner_text(), what="the huge image")
    wait_until(lambda: "4000x4000 px is larger" in info.inner_text(), what="the size refusal")
    progress = page.locator("#progress-md")
    wait_until(lambda: "2 unreadable" in progress.inner_text(), what="both counted as unreadable")
    page.keyboard.press("n")
    wait_until(lambda: "d_face.png" in info.inner_text(), what="the face after them")
    _click_face(page, path, "d_face.png")
    assert _placed(path, "a_face.png") == 1 and _placed(path, "d_face.png") == 1

    page.reload()
    wait_until(lambda: "a_face.png" in page.locator("#info-md").inner_text(), what="the resume point")
