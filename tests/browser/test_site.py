"""The built book (``make site``) in Chromium: every page loads, nothing is fetched from outside, figures show."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser.test_jupyterlab import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "screenshots" / "site"
TUTORIALS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed: apt-get install chromium"),
    pytest.mark.stored_runs,  # make test builds the book beside the suite
]


@pytest.fixture(autouse=True, scope="module")
def _built() -> None:
    if not (SITE / "index.html").is_file():
        pytest.skip("the book is not built: run `make site`")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def site():
    handler = functools.partial(_Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def page():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.requests_seen = []  # every URL the pages ask for, subresources included
        pg.on("request", lambda r: pg.requests_seen.append(r.url))
        yield pg
        browser.close()


def _pages() -> list[str]:
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not {"_modules", "_static", "_sources"} & set(p.parts))


def _outside(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme not in ("file", "data", "blob", "about")
            and urlparse(u).hostname != "127.0.0.1"]


def test_every_page_loads_and_asks_nothing_from_outside(site, page):
    pages = _pages()
    assert {f"tutorials/{t}.html" for t in TUTORIALS} <= set(pages) and "api.html" in pages
    broken = []
    for rel in pages:
        page.requests_seen.clear()
        response = page.goto(f"{site}/{rel}", wait_until="networkidle")
        if response is None or response.status != 200:
            broken.append(f"{rel}: {response.status if response else 'no response'}")
        assert _outside(page.requests_seen) == [], f"{rel} asked for {_outside(page.requests_seen)}"
        # every local thing the page asked for is there (stylesheets, scripts, images)
        broken += [f"{rel} -> {u}" for u in page.requests_seen
                   if urlparse(u).hostname == "127.0.0.1" and not (SITE / urlparse(u).path.lstrip("/")).exists()]
    assert broken == []


@pytest.mark.parametrize("tutorial", TUTORIALS)
def test_tutorial_pages_show_their_figures(site, page, tutorial):
    page.goto(f"{site}/tutorials/{tutorial}.html", wait_until="networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{tutorial}.png"), full_page=True)
    assert "Error displaying widget" not in page.content()
    outputs = page.locator("div.cell_output").count()
    assert outputs > 0, "the page shows no cell outputs"
    if tutorial != "00_sandbox_tour":  # the tour prints; the tutorials plot
        shown = page.evaluate("""() => [...document.querySelectorAll('div.cell_output img')]
                                 .filter(i => i.complete && i.naturalWidth > 100).length""")
        assert shown >= 1, "no figure is shown"


def test_api_page_renders_docstrings(site, page):
    page.goto(f"{site}/generated/labkit.open_image.html", wait_until="networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api_open_image.png"), full_page=True)
    text = page.inner_text("main")
    assert "Parameters" in text and "Returns" in text and "xarray.DataArray" in text


@pytest.mark.parametrize("tutorial", [t for t in TUTORIALS if t != "00_sandbox_tour"])
def test_tutorial_pages_read_as_finished_work(tutorial):
    """No dead links to the kernel's machine, no papermill cell, no widget placeholders, finished progress bars."""
    import re

    html = (SITE / "tutorials" / f"{tutorial}.html").read_text()
    assert not re.search(r"href=['\"]https?://(127\.0\.0\.1|localhost)", html)
    assert "# Parameters" not in html and "injected-parameters" not in html
    assert "VBox(" not in html and "HBox(" not in html
    bars = re.findall(r"<progress value=.(\d+). max=.(\d+).", html.replace("&#39;", "'"))
    assert all(done == total for done, total in bars)
    # no bar frozen as it started: tqdm's text without its widget state ("0%| 0/42", "ipfs add 0%| 0.00/43.2M")
    assert not re.search(r"\b0%\|", html), "a progress bar shows its first state, not its last"
    if tutorial in ("02_ipfs_zarr", "03_eodc_flood"):  # the download and ipfs add, the write of the flood map
        texts = re.findall(r"<progress [^>]*></progress> <code>([^<]*)</code>", html.replace("&#39;", "'"))
        ended = [t for t in texts if re.search(r": 100% (\S+)/\1 ", t)]
        assert ended, f"no bar of a download, ipfs add or write shows its end: {texts}"
    if tutorial in ("01_idr_segmentation", "02_ipfs_zarr", "04_cell_pipeline", "05_screen"):
        assert bars, "the progress of the work on the cluster is not shown"
    assert "labkit.css" in html and "pre-wrap" in (SITE / "_static" / "labkit.css").read_text()
