"""The tutorials in JupyterLab 4, in a real browser (Debian's Chromium driven by Playwright).

Skipped, with the way to enable them, when Chromium is not installed (``apt-get install chromium`` as root;
``make setup`` does it when run as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from labkit._process import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

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
    env = {**os.environ, **sandbox.env(), "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings")}
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


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


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


def _run_all(page, url, token, name, timeout_s=420):
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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").evaluate_all(
            "els => els.filter(e => /\\[\\d+\\]/.test(e.textContent)).length")
        if done == n_code:
            break
        time.sleep(1)
    else:
        prompts = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        pytest.fail(f"{name} did not finish in {timeout_s} s; cell prompts {prompts}; kernels "
                    f"{_kernels(url, token)}")
    page.keyboard.press("Control+s")
    time.sleep(2)


def _errors(folder: Path, name: str) -> list[str]:
    nb = json.loads((folder / name).read_text())
    return [f"{o['ename']}: {o['evalue']}" for c in nb["cells"] for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tutorial_runs_in_jupyterlab(lab, browser, name):
    url, token, folder = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, url, token, name)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(name).stem}.png"), full_page=True)
        assert _errors(folder, name) == []
        executed = json.loads((folder / name).read_text())
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] for c in code), "some cells did not run"

        if name.startswith("03_"):  # the ClusterPanel: its buttons start and stop a cluster
            status = page.locator(".labkit-status").first
            status.scroll_into_view_if_needed()
            assert "stopped" in status.inner_text()
            page.locator(".widget-button", has_text="Start").first.click()
            page.wait_for_function(
                "() => document.querySelector('.labkit-status').innerText.startsWith('running')", timeout=120_000)
            page.locator(".widget-button", has_text="Stop").first.click()
            page.wait_for_function(
                "() => document.querySelector('.labkit-status').innerText.startsWith('stopped')", timeout=120_000)
        if name.startswith("02_"):  # the viewer: moving the z slider changes the image
            image = page.locator(".jupyter-widgets img, .widget-image").first
            image.scroll_into_view_if_needed()
            before = image.get_attribute("src")
            handle = page.locator(".widget-slider .noUi-handle, .widget-hslider .ui-slider-handle").first
            handle.click()
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            page.wait_for_function("(b) => document.querySelector('.widget-image').src !== b", arg=before,
                                   timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(name).stem}.png"), full_page=True)
    finally:
        page.close()
        for kernel in requests.get(f"{url}/api/kernels?token={token}", timeout=10).json():
            requests.delete(f"{url}/api/kernels/{kernel['id']}?token={token}", timeout=30)
