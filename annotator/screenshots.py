"""Screenshots of both tabs for the README and reports, taken in a real headless Chromium.

``python -m annotator.screenshots`` serves the app on a free localhost port over a throw-away folder of
real 25x25 LFW faces (two already annotated, so progress shows), clicks three landmarks on the
magnified face like an annotator would, and saves ``reports/figures/annotator.png``; then runs the
Demo tab on the bundled astronaut photo and saves ``reports/figures/demo.png``.

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


def canvas_pixels(page) -> "np.ndarray":
    """What the canvas shows, as an RGB array at its backing-store resolution."""
    import base64

    import numpy as np

    url = page.locator("#annot-canvas canvas").evaluate("c => c.toDataURL('image/png')")
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _sample_folder(root: Path, n: int = 8) -> Path:
    """LFW faces as PNGs, the first two annotated by 'demo' so the progress line is not all zeros."""
    from s2ld_core.data.sources import lfw_faces

    from .store import AnnotationStore, place_next, set_status

    faces = lfw_faces()
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / f"lfw_{i:03d}.png"), cv2.cvtColor(faces[i * 7], cv2.COLOR_RGB2BGR))
    store = AnnotationStore.open(root, "five", "demo")
    rough = [(8.0, 10.0), (16.0, 10.0), (12.0, 14.0), (9.0, 18.0), (15.0, 18.0)]
    for key in store.keys[:2]:
        for x, y in rough:
            store.modify(key, lambda a, x=x, y=y: place_next(a, x, y), seconds=6.0)
    store.modify(store.keys[2], lambda a: set_status(a, "skipped"))
    return root


def _image_box(page, selector: str = "#annot-image img"):
    loc = page.locator(selector)
    loc.wait_for(state="visible", timeout=60_000)
    wait_until(lambda: loc.evaluate("e => e.complete && e.naturalWidth > 0"), what="the face image")
    return loc.bounding_box(), loc.evaluate("e => e.naturalWidth")


def capture(
    out_dir: str | Path = "reports/figures",
    checkpoint: str | None = None,
    baseline_checkpoint: str | None = None,
) -> list[Path]:
    """Serve the app, take both screenshots, return their paths."""
    from playwright.sync_api import sync_playwright

    from .app import build_app, launch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="s2ld-shots-"))
    try:
        folder = _sample_folder(tmp / "faces")
        app = build_app(folder, annotator="demo", zoom=12, checkpoint=checkpoint,
                        baseline_checkpoint=baseline_checkpoint, examples_dir=tmp / "examples")
        launch(app, port=free_port(), block=False, quiet=True)
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
                page.goto(app.local_url)
                box, natural = _image_box(page)
                scale = box["width"] / natural
                # Eyes and nose of a 25x25 LFW face at zoom 12 (display pixels of the magnified image).
                for u, v in ((106, 128), (190, 128), (150, 172)):
                    page.mouse.click(box["x"] + u * scale, box["y"] + v * scale)
                    page.wait_for_timeout(400)
                wait_until(lambda: "Placed 3." in page.locator("#msg-md").inner_text(), what="the 3rd click")
                page.wait_for_timeout(800)
                shots = [out / "annotator.png", out / "demo.png"]
                page.screenshot(path=str(shots[0]), full_page=True)

                page.get_by_role("tab", name="Demo").click()
                page.get_by_text("Bundled examples").wait_for(timeout=30_000)
                page.locator(".gallery-item, button.example, [data-testid='examples'] button").first.click()
                page.get_by_role("button", name="Find landmarks").click()
                page.locator("#demo-table").get_by_text("face").first.wait_for(timeout=60_000)
                page.wait_for_timeout(800)
                page.screenshot(path=str(shots[1]), full_page=True)
                browser.close()
        finally:
            app.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/figures", help="folder for annotator.png and demo.png")
    parser.add_argument("--checkpoint", default=None, help="S²LD checkpoint for the demo tab")
    parser.add_argument("--baseline-checkpoint", default=None, help="HR-LD checkpoint for the baseline")
    args = parser.parse_args(argv)
    for path in capture(args.out, args.checkpoint, args.baseline_checkpoint):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
