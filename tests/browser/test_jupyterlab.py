"""The tutorials in JupyterLab 4, in a real browser (Debian's Chromium driven by Playwright).

Skipped, with the way to enable them, when Chromium is not installed (``apt-get install chromium`` as root;
``make setup`` does it when run as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from labkit._process import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: WebGL without a GPU (the 3D view): ANGLE on SwiftShader, Chromium's software renderer
WEBGL = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is not installed: run `apt-get install chromium` as root (make setup does it as root)",
)


@pytest.fixture(scope="module")
def lab(sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, folder / nb.name)
    port, token = free_port(), "labkit-browser-test"
    settings = folder / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the page (JupyterLab 4 otherwise renders only the cells in view), no news popups
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = folder / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # links to the kernel's servers (dashboard, 3D view) go through jupyter-server-proxy, as on Binder
    env = {**os.environ, **sandbox.env(), "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
           "LABKIT_JUPYTER_PROXY": "/proxy/"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "lab.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if requests.get(f"{url}/api/status?token={token}", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    yield url, token, folder
    proc.terminate()
    proc.wait(30)



def _kernels(url: str, token: str) -> list[dict]:
    sessions = requests.get(f"{url}/api/sessions", params={"token": token}, timeout=10).json()
    return [{"path": s["path"], **{k: s["kernel"][k] for k in ("execution_state", "connections")}}
            for s in sessions]


def _wait_for_kernel(url: str, token: str, name: str, timeout_s: float = 180) -> None:
    """Until the notebook's kernel has started and the page is connected to it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(k["path"] == name and k["execution_state"] == "idle" and k["connections"] > 0
               for k in _kernels(url, token)):
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel of {name} was not ready in {timeout_s} s: {_kernels(url, token)}")


def _run_all(page, url, token, folder: Path, name, timeout_s=420, watch: str | None = None) -> bool:
    """Restart the kernel and run all cells in JupyterLab (the server's ``folder``); whether ``watch`` (a selector)
    showed while cells ran."""
    workspace = Path(name).stem.replace("_", "-")  # a fresh workspace: no tabs restored from other tests
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    # The toolbar says "idle" before the kernel has even started: restarting a kernel that is still starting
    # can leave the page without a kernel connection and every cell queued forever. Ask the server instead.
    _wait_for_kernel(url, token, name)
    if page.locator(".jp-toast-button", has_text="No").count():
        page.locator(".jp-toast-button", has_text="No").first.click()  # the news notification
    page.locator(".jp-NotebookPanel:visible [data-command='notebook:restart-run-all']").first.click()
    page.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    n_code = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").count()
    deadline, seen_running = time.monotonic() + timeout_s, False
    while time.monotonic() < deadline:
        done = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").evaluate_all(
            "els => els.filter(e => /\\[\\d+\\]/.test(e.textContent)).length")
        if done == n_code:
            break
        seen_running = seen_running or bool(watch and page.locator(watch).count())
        time.sleep(0.5)
    else:
        prompts = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        pytest.fail(f"{name} did not finish in {timeout_s} s; cell prompts {prompts}; kernels "
                    f"{_kernels(url, token)}")
    deadline = time.monotonic() + 60  # a busy machine takes its time to save a notebook with pictures
    while time.monotonic() < deadline:
        # saved through the notebook's own toolbar (a key press can go to another element), again until it is
        page.locator(".jp-NotebookPanel:visible [data-command='docmanager:save']").first.click()
        time.sleep(2)
        # read from the disk: the server's contents API, asked while it saves, takes its own half-written temporary
        # file for the remains of a crash and moves it over the notebook (which then ends as *.ipynb.invalid)
        try:
            cells = json.loads((folder / name).read_text())["cells"]
        except (OSError, ValueError):
            continue  # being written
        if all(c.get("execution_count") for c in cells if c["cell_type"] == "code"):
            break
    return seen_running


def _errors(folder: Path, name: str) -> list[str]:
    nb = json.loads((folder / name).read_text())
    return [f"{o['ename']}: {o['evalue']}" for c in nb["cells"] for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def _red(folder: Path, name: str) -> list[str]:
    """Every output of the saved notebook that shows a problem (:data:`run_all.PROBLEMS`): a traceback, a logged
    ERROR, a warning of distributed, an HTTP session left open ..., stderr included."""
    from tests.notebooks.run_all import PROBLEMS

    nb = json.loads((folder / name).read_text())
    found = []
    for k, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        for o in cell.get("outputs", []):
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) + \
                "\n".join(o.get("traceback", []))
            if o.get("output_type") == "error" or PROBLEMS.search(text):
                found.append(f"code cell {k + 1}: {text[:600]}")
    return found


#: the tutorial run in JupyterLab: the cheapest (the screen, about a minute; 01 takes three), on the backend a
#: Binder user has. Its other backends run headless in the suite with the same checks of every output, and a
#: gateway cluster's panel and dashboard in JupyterLab in test_dashboard_link_opens_the_dask_status_page; a second
#: run here cost make test about a minute of CPU.
RUN_ALL = {"local": "05_screen.ipynb"}


def _on_backend(folder: Path, name: str, backend: str) -> str:
    """A copy of the tutorial ``name`` in ``folder`` whose parameters cell sets ``backend``; its name."""
    nb = json.loads((folder / name).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    assert re.search(r'^backend = "\w+"', source, re.MULTILINE), f"{name} has no backend parameter"
    cell["source"] = re.sub(r'^backend = "\w+"', f'backend = "{backend}"', source, flags=re.MULTILINE)
    copy = f"{Path(name).stem}_{backend}.ipynb"
    (folder / copy).write_text(json.dumps(nb))
    return copy


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", sorted(RUN_ALL))
def test_a_tutorial_runs_in_jupyterlab(lab, browser, backend):
    """Tutorial 05 as a new user runs it: Restart and run all, nothing red (make test-notebooks runs every
    tutorial headless, and the suite on their other backends).

    The screen: a plate analysed image by image, with labkit's progress bar (tutorial 01, whose 3D segmentation
    takes three minutes in a browser, runs in the same way in make test-notebooks). Nothing red: no error, and
    none of what the Run All test refuses (tests/notebooks/run_all.py: warnings of distributed, unclosed HTTP
    sessions ...) in any output.
    """
    url, token, folder = lab
    name = _on_backend(folder, RUN_ALL[backend], backend)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # labkit.progress's bar shows while the cells run (Run All queues them all), then ends full
        bar = ".jp-NotebookPanel:visible .labkit-progress progress"
        assert _run_all(page, url, token, folder, name, watch=bar), "no progress bar showed while the cells ran"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(name).stem}.png"), full_page=True)
        assert _errors(folder, name) == []
        assert _red(folder, name) == []
        executed = json.loads((folder / name).read_text())
        assert all(c["execution_count"] for c in executed["cells"] if c["cell_type"] == "code"), "cells did not run"
        final = page.locator(bar).first
        assert final.get_attribute("value") == final.get_attribute("max")
    finally:
        _close(page, url, token)


WIDGETS = [
    # the viewer and the 3D view of the IDR image's Dapi channel
    "import labkit\nfrom labkit import catalog\nep = labkit.endpoints('sandbox', services=['s3', 'gateway'])\n"
    "image = labkit.open_image(catalog.idr_zarr_url(6001240), endpoint_url=ep.idr_s3)\n"
    "dapi = image.isel(t=0, missing_dims='ignore').sel(c=['Dapi'])",
    "labkit.view(dapi)",
    "labkit.view(dapi, backend='3d')",
    "local = labkit.start_cluster('local', workers=1)\nlocal",
    "remote = labkit.start_cluster('gateway', ep, workers=1)\nremote",
]


@pytest.fixture(scope="module")
def widgets(lab, browser):
    """A notebook of labkit's widgets (viewer, 3D view, cluster panels), run in JupyterLab; its page."""
    url, token, folder = lab
    cells = [{"cell_type": "code", "execution_count": None, "id": f"w{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(WIDGETS)]
    cells.append({"cell_type": "code", "execution_count": None, "id": "close", "metadata": {}, "outputs": [],
                  "source": "# the tests close the clusters"})
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "widgets.ipynb").write_text(json.dumps(nb))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, url, token, folder, "widgets.ipynb")
    assert _errors(folder, "widgets.ipynb") == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield page, url, token
    _close(page, url, token)


def test_viewer_labels_channels_shows_crisp_pixels_and_disables_idle_controls(widgets):
    page, _, _ = widgets
    viewer = page.locator(".jupyter-widgets:has(.labkit-viewer-image)").first
    viewer.scroll_into_view_if_needed()
    box = page.locator(".widget-checkbox", has_text="Dapi").first  # the Dapi channel, in Dapi's colour
    assert box.count() == 1 and page.locator(".widget-checkbox", has_text="LaminB1").count() == 0
    assert "255, 255, 0" in box.evaluate("e => getComputedStyle(e).backgroundColor")
    image = page.locator("img.labkit-viewer-image").first
    assert image.evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    area = page.locator(".jp-OutputArea-output:has(img.labkit-viewer-image)").first
    width, natural = image.evaluate("e => [e.getBoundingClientRect().width, e.naturalWidth]")
    assert natural == 271 * 2 and width <= area.evaluate("e => e.getBoundingClientRect().width")
    slider = page.locator(".widget-slider:has-text('z')").first
    before = image.get_attribute("src")
    slider.locator(".noUi-handle").first.click()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(b) => document.querySelector('img.labkit-viewer-image').src !== b", arg=before,
                           timeout=60_000)
    page.locator(".widget-toggle-button", has_text="Max projection").first.click()
    page.wait_for_function("() => document.querySelector('.labkit-viewer-caption').textContent.includes('maximum')",
                           timeout=60_000)
    assert slider.locator("[disabled], .noUi-target[disabled]").count() == 1  # z does nothing in a projection
    viewer.screenshot(path=str(SCREENSHOTS / "viewer.png"))


def _leaves_machine(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme not in ("blob", "data") and parts.hostname != "127.0.0.1"


def test_3d_view_renders_the_volume_offline(widgets):
    page, url, _ = widgets
    frame_el = page.locator("iframe.labkit-volume-view").first
    frame_el.scroll_into_view_if_needed()
    src = frame_el.get_attribute("src")
    assert src.startswith("/proxy/")  # through jupyter-server-proxy, as on Binder: no port of the kernel exposed
    outside = []
    # blob: and data: URLs are made inside the page (neuroglancer's workers): no request leaves the machine
    page.on("request", lambda r: outside.append(r.url) if _leaves_machine(r.url) else None)
    deadline, shown = time.monotonic() + 120, [0.0]
    while time.monotonic() < deadline:  # neuroglancer draws as the chunks arrive: wait until it stops changing
        time.sleep(5)
        frame_el.screenshot(path=str(SCREENSHOTS / "view_3d.png"))
        shown.append(_yellow_fraction(SCREENSHOTS / "view_3d.png"))
        if shown[-1] > 0.01 and abs(shown[-1] - shown[-2]) < 0.02 * shown[-1]:
            break  # the picture the book shows (docs/images/02_view_3d.png) is taken from this one
    assert shown[-1] > 0.01, "the 3D view shows no Dapi-coloured voxels"
    import numpy as np

    panel = _yellow(SCREENSHOTS / "view_3d.png")[50:, 30:]  # below the toolbar, right of the axis legend
    rows, cols = np.nonzero(panel)
    margin = 3  # the volume's box (yellow too) wholly inside the frame: the view opens on the whole volume
    assert rows.min() > margin and cols.min() > margin, "the volume leaves the frame"
    assert rows.max() < panel.shape[0] - margin and cols.max() < panel.shape[1] - margin, "the volume leaves the frame"
    assert outside == []


def _yellow(png: Path):
    """Where the picture has the Dapi channel's colour (yellow: red and green high, blue low)."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return (rgb[..., 0] > 80) & (rgb[..., 1] > 80) & (rgb[..., 2] < 0.5 * rgb[..., 1])


def _yellow_fraction(png: Path) -> float:
    """Share of the picture in the Dapi channel's colour."""
    return float(_yellow(png).mean())


@pytest.mark.parametrize("which", ["local", "gateway"])
def test_dashboard_link_opens_the_dask_status_page(widgets, which):
    page, _, _ = widgets
    status = page.locator(".widget-html-content:has(.labkit-status)").nth(0 if which == "local" else 1)
    status.scroll_into_view_if_needed()
    link = status.locator("a", has_text="dashboard").first
    href = link.get_attribute("href")
    assert href.startswith("/proxy/") if which == "local" else "/clusters/" in href
    with page.context.expect_page() as opened:
        link.click()
    dash = opened.value
    try:
        dash.wait_for_selector(".bk-Column, .bk-root, .bk-Figure, div[id^='bk']", timeout=60_000)
        assert "Dask needs bokeh" not in dash.content()
        time.sleep(2)
        dash.screenshot(path=str(SCREENSHOTS / f"dashboard_{which}.png"))
    finally:
        dash.close()
    page.locator(".widget-button", has_text="Stop").nth(0 if which == "local" else 1).click()


def _close(page, url: str, token: str) -> None:
    page.close()
    for kernel in requests.get(f"{url}/api/kernels?token={token}", timeout=10).json():
        requests.delete(f"{url}/api/kernels/{kernel['id']}?token={token}", timeout=30)
