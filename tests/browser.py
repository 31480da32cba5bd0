"""What every real-browser test module shares: its marks, the skip when Chromium or Playwright is
missing, and the annotator served to a headless Chromium page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator.screenshots import CHROMIUM, free_port, launch_chromium

MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning"),  # gradio internals
]


def require_browser():
    """Playwright's sync API; skips the calling module where Chromium or Playwright is missing."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


@contextlib.contextmanager
def annotator_page(folder: Path, tmp: Path, downloads: bool = False,
                   **app_options) -> Iterator[tuple[str, object]]:
    """The annotator on ``folder`` (``build_app`` options as keywords) and a 1400×940 Chromium page:
    ``(url, page)``; everything is closed afterwards."""
    from annotator.app import build_app, launch

    sync_api = require_browser()
    app = build_app(folder, annotator="chromium", examples_dir=tmp / "examples", **app_options)
    launch(app, port=free_port(), block=False, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 940}, accept_downloads=downloads)
            yield app.local_url, page
            browser.close()
    finally:
        app.close()
