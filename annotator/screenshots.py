"""Screenshots of both tabs for the docs and reports, taken in a real headless Chromium.

``python -m annotator.screenshots`` serves the app (with the shipped model) on a free localhost port
over a throw-away folder: scikit-image's astronaut shrunk to a 24 px face in a 50 px crop, two LFW
faces side by side, single LFW faces. It draws a box around the 24 px face, lets the model pre-place
its 68 points, shows them at x12 and saves ``reports/figures/annotator.png``; then runs the Demo tab
on the bundled rendered scene at 24 px faces and saves ``reports/figures/demo.png``. ``--tour DIR``
adds a drag (mid-drag and after), a two-face picture, an import of .pts files, a COCO download and,
with ``--demo-photo``, the demo on that photo.

Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright; the flags keep it offline and
quiet (no component updates, sync, QUIC or background networking), which also makes it work in CI.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_chromium", "free_port", "wait_until", "capture",
           "canvas_state", "wait_canvas", "screen_point", "canvas_pixels"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 940}


def launch_chromium(playwright, executable: str = CHROMIUM):
    """Start Debian's Chromium through Playwright with the offline flags above."""
    if not Path(executable).is_file():
        raise FileNotFoundError(f"{executable}: Chromium is not installed (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; the UI updates asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def canvas_state(page, selector: str = "#annot-canvas canvas") -> dict:
    """The canvas's own view of itself: zoom, region (pixel edges), faces as drawn, mode, prefs."""
    return page.locator(selector).evaluate("c => c.s2ldState ? c.s2ldState() : null") or {}


def download_export(page, button: str, target: Path) -> Path:
    """Click the export ``button`` (e.g. ``#btn-export-coco``), then the download link it makes, and
    save what the browser downloads as ``target``."""
    page.locator(button).click()
    link = page.locator("#download a").first
    link.wait_for(timeout=30_000)
    with page.expect_download() as info:
        link.click()
    info.value.save_as(target)
    return target


def wait_canvas(page, key: str | None = None, timeout: float = 60.0) -> dict:
    """Wait until the canvas shows an image (``key``, if given) and has laid it out; its state."""
    loc = page.locator("#annot-canvas canvas")
    loc.wait_for(state="visible", timeout=timeout * 1000)

    def ready():
        st = canvas_state(page)
        shown = page.locator("#annot-canvas").evaluate("e => e.querySelector('canvas').width")
        if not st or not shown or st.get("zoom", 0) <= 0 or not st.get("laid"):
            return None
        if st["laid"] != f"{st['key']}#{st['rev']}":  # the last value from the server is not drawn yet
            return None
        return st if key is None or st["key"] == key else None

    return wait_until(ready, timeout, what=f"the canvas{' on ' + key if key else ''}")


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of original-image point ``(x, y)`` on the canvas (pixel-centre convention:
    ``u = (x + 0.5 - r0) z``)."""
    st = canvas_state(page)
    box = page.locator("#annot-canvas canvas").bounding_box()
    z, (rx, ry) = st["zoom"], st["region"][:2]
    return box["x"] + (x + 0.5 - rx) * z, box["y"] + (y + 0.5 - ry) * z


def canvas_pixels(page):
    """What the canvas shows, as an RGB uint8 array at its backing-store resolution."""
    import base64

    from s2ld_core.data.images import decode_rgb

    url = page.locator("#annot-canvas canvas").evaluate("c => c.toDataURL('image/png')")
    return decode_rgb(base64.b64decode(url.split(",", 1)[1]), "the canvas")  # the one guarded decoder


def _astronaut_crop(size: int = 50, face: int = 24) -> object:
    """scikit-image's astronaut photo shrunk so her face is ``face`` px wide, cropped to ``size`` px
    around it: a real low-resolution face from a dependency's bundled data (nothing downloaded)."""
    from skimage.data import astronaut

    img = astronaut()  # 512 x 512; the face spans about x 170-285, y 40-180
    s = face / 115.0
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    cx, cy = int(round(228 * s)), int(round(112 * s))
    x0, y0 = max(0, cx - size // 2), max(0, cy - size // 2)
    return small[y0:y0 + size, x0:x0 + size]


def _sample_folder(root: Path) -> Path:
    """The astronaut's 24 px face in a 50 px crop, two LFW faces side by side (a two-face picture) and
    a few single LFW faces, the last two annotated by 'demo' so the progress line is not all zeros."""
    import numpy as np

    from s2ld_core.data.sources import lfw_faces

    from .store import AnnotationStore, set_status

    faces = lfw_faces()
    root.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "a_astronaut.png"), cv2.cvtColor(_astronaut_crop(), cv2.COLOR_RGB2BGR))
    pair = np.concatenate([faces[5], faces[9]], axis=1)
    cv2.imwrite(str(root / "b_pair.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
    for i in range(4):
        cv2.imwrite(str(root / f"lfw_{i:03d}.png"), cv2.cvtColor(faces[i * 7], cv2.COLOR_RGB2BGR))
    store = AnnotationStore.open(root, "ibug68", "demo")
    store.modify(store.keys[-1], lambda a: set_status(a, "skipped"))
    return root


def _shoot(page, path: Path, clip_to: str | None = None) -> Path:
    page.wait_for_timeout(500)
    if clip_to:
        page.locator(clip_to).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def _drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 6,
          release: bool = True) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    (u0, v0), (u1, v1) = start, end
    for k in range(1, steps + 1):
        page.mouse.move(u0 + (u1 - u0) * k / steps, v0 + (v1 - v0) * k / steps)
    if release:
        page.mouse.up()


def _box_face(page, x0: float, y0: float, x1: float, y1: float) -> None:
    """Press b and drag a face box from pixel edge (x0, y0) to (x1, y1) of the original image."""
    page.keyboard.press("b")
    _drag(page, screen_point(page, x0 - 0.5, y0 - 0.5), screen_point(page, x1 - 0.5, y1 - 0.5))


def _annotator_tour(page, out: Path, folder: Path, tour: bool) -> list[Path]:
    """The annotator: 68 points pre-placed by the model in a drawn box on a 24 px face at x12, a drag,
    a two-face picture, an import and a download (the last four only with ``tour``)."""
    import json

    import numpy as np

    from s2ld_core.data.formats import write_pts

    shots = []
    wait_canvas(page, "a_astronaut.png")
    page.locator("#btn-delete-face").click()  # the whole-crop guess made on opening: start afresh
    wait_until(lambda: "Cleared the face" in page.locator("#msg-md").inner_text(), what="the cleared face")
    _box_face(page, 13, 13, 37, 37)  # the face: 24 px
    wait_until(lambda: "pre-placed its points" in page.locator("#msg-md").inner_text(), what="pre-placement")
    page.keyboard.press("w")  # the whole 50 px crop ...
    for _ in range(12):  # ... at x12: 600 px
        if canvas_state(page)["zoom"] == 12:
            break
        page.keyboard.press("-" if canvas_state(page)["zoom"] > 12 else "+")
    wait_canvas(page, "a_astronaut.png")
    shots.append(_shoot(page, out / "annotator.png"))
    if not tour:
        return shots
    # a drag: the nose tip (31) a little to the right, shot while the button is still down
    st = canvas_state(page)
    nose = st["faces"][0]["points"][30]
    start = screen_point(page, *nose)
    _drag(page, start, (start[0] + 30, start[1] + 8), release=False)
    shots.append(_shoot(page, out / "annot_drag_moving.png"))
    page.mouse.up()
    wait_until(lambda: "Moved 31." in page.locator("#msg-md").inner_text(), what="the drag saved")
    shots.append(_shoot(page, out / "annot_drag_done.png"))
    page.keyboard.press("a")  # Done: the reviewed face goes into the exports; on to the next picture
    # the two-face picture: a box, then points, for each face
    wait_canvas(page, "b_pair.png")
    page.locator("#btn-delete-face").click()  # again the whole-picture guess made on opening
    wait_until(lambda: "Cleared the face" in page.locator("#msg-md").inner_text(), what="the cleared face")
    _box_face(page, 1, 1, 24, 24)
    wait_until(lambda: "Face 1: box drawn" in page.locator("#msg-md").inner_text(), what="face 1")
    _box_face(page, 26, 1, 49, 24)
    wait_until(lambda: "Face 2: box drawn" in page.locator("#msg-md").inner_text(), what="face 2")
    if not canvas_state(page)["prefs"]["whole"]:
        page.keyboard.press("w")
    page.keyboard.press("0")  # fit the whole 50 x 25 picture
    wait_canvas(page, "b_pair.png")
    shots.append(_shoot(page, out / "annot_two_faces.png"))
    page.keyboard.press("a")  # Done for both faces, which moves on
    # an import: .pts files for the LFW faces
    tmp = out / "_import"
    tmp.mkdir(exist_ok=True)
    files = []
    for i, key in enumerate(("lfw_000", "lfw_001")):  # the astronaut's points, moved onto a 25 px crop
        pts = np.asarray(json.loads(json.dumps(st["faces"][0]["points"])), np.float32) - 13 + i
        files.append(write_pts(tmp / f"{key}.pts", np.clip(pts, 0, 24)))
    wait_canvas(page, "lfw_000.png")
    page.locator("#btn-delete-face").click()  # the model's guess made on opening: import instead
    wait_until(lambda: "Cleared the face" in page.locator("#msg-md").inner_text(), what="the cleared face")
    page.get_by_text("Import annotations").click()
    page.locator("#import-files input[type=file]").set_input_files([str(f) for f in files])
    wait_until(lambda: "Imported 2 face(s)" in page.locator("#msg-md").inner_text(), what="the import")
    wait_canvas(page, "lfw_000.png")
    shots.append(_shoot(page, out / "annot_import.png"))
    # a download: the COCO export
    page.get_by_text("Export and download").click()
    download_export(page, "#btn-export-coco", out / "downloaded.coco.json")
    shots.append(_shoot(page, out / "annot_download.png"))
    return shots


def _demo_shot(page, out: Path, photo: str | None, size: int, cap: int, name: str) -> Path:
    page.get_by_role("tab", name="Demo").click()
    if photo:
        page.locator("#demo-status").wait_for(timeout=30_000)
        page.locator("input[type=file]").first.set_input_files(photo)  # an upload runs at once
        wait_until(lambda: "found" in page.locator("#demo-table").inner_text(), 120, "the upload's run")
    else:
        page.get_by_text("Bundled examples").wait_for(timeout=30_000)
        page.locator(".gallery-item, button.example, [data-testid='examples'] button").first.click()
    for elem, value in (("#demo-size", size), ("#demo-cap", cap)):
        num = page.locator(f"{elem} input[type=number]").first
        num.fill(str(value))
        num.press("Enter")
    table = page.locator("#demo-table")
    page.get_by_role("button", name="Find landmarks").click()

    def done() -> bool:  # this click's answer, not the one an upload started with the default cap
        text = table.inner_text()
        capped = f"showing the {cap} largest" in text or ("showing the" not in text and "found" in text)
        return f"{size} px wide" in text and capped

    wait_until(done, 120, "the demo result")
    page.wait_for_timeout(1500)
    return _shoot(page, out / name)


def capture(
    out_dir: str | Path = "reports/figures",
    checkpoint: str | None = None,
    baseline_checkpoint: str | None = None,
    tour: str | Path | None = None,
    demo_photo: str | None = None,
) -> list[Path]:
    """Serve the app, take the annotator and demo screenshots, return their paths. ``tour``: a folder
    for the longer series (drag, two faces, import, download, and the demo on ``demo_photo``)."""
    from playwright.sync_api import sync_playwright

    from .app import build_app, launch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="s2ld-shots-"))
    shots: list[Path] = []
    try:
        folder = _sample_folder(tmp / "faces")
        from s2ld_core.inference import shipped_weights

        app = build_app(folder, schema="ibug68", annotator="demo", zoom="fit",
                        checkpoint=checkpoint or shipped_weights("ibug68"),
                        baseline_checkpoint=baseline_checkpoint, examples_dir=tmp / "examples")
        launch(app, port=free_port(), block=False, quiet=True)
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1, accept_downloads=True)
                page.goto(app.local_url)
                where = Path(tour) if tour else out
                where.mkdir(parents=True, exist_ok=True)
                annotator = _annotator_tour(page, where, folder, bool(tour))
                if tour:
                    shutil.copyfile(annotator[0], out / "annotator.png")
                    annotator[0] = out / "annotator.png"
                shots += annotator
                page.goto(app.local_url)
                shots.append(_demo_shot(page, out, None, 24, 12, "demo.png"))
                if tour and demo_photo:
                    page.goto(app.local_url)
                    shots.append(_demo_shot(page, Path(tour), demo_photo, 24, 24,
                                            f"demo_{Path(demo_photo).stem}_24px.png"))
                browser.close()
        finally:
            app.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/figures", help="folder for annotator.png and demo.png")
    parser.add_argument("--checkpoint", default=None, help="landmark checkpoint (default: the shipped one)")
    parser.add_argument("--baseline-checkpoint", default=None, help="HR-LD checkpoint for the baseline")
    parser.add_argument("--tour", default=None, metavar="DIR",
                        help="also save the drag, two-face, import and download screenshots here")
    parser.add_argument("--demo-photo", default=None, help="with --tour: a photo for the demo at 24 px faces")
    args = parser.parse_args(argv)
    for path in capture(args.out, args.checkpoint, args.baseline_checkpoint, args.tour, args.demo_photo):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
