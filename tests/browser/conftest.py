"""The browser the browser tests share: Debian's Chromium, driven by Playwright, with WebGL in software."""

from __future__ import annotations

import pytest

from tests.browser.test_jupyterlab import CHROMIUM, FLAGS, WEBGL


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[f for f in FLAGS if f != "--disable-gpu"] + WEBGL)
        yield b
        b.close()
