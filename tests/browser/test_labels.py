"""Labels in the viewers, in Chromium: the 3D view's segmentation layer (neuroglancer, served by this process,
offline) and the plane viewer's outlines. No JupyterLab: the views are opened straight from this process.

Writes ``build/screenshots/3d_labels.png`` and ``build/screenshots/2d_labels.png``.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from labkit._images import label_colors
from labkit.synthetic import nuclei_volume
from tests.browser.test_jupyterlab import CHROMIUM, SCREENSHOTS, _leaves_machine

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed: apt-get install chromium")

@pytest.fixture(scope="module")
def nuclei():
    """A (c, z, y, x) image as open_image gives it, and its (z, y, x) labels with large sparse uint64 ids."""
    vol = nuclei_volume((32, 96, 96), 6, seed=3)
    coords = {"z": np.arange(32) * 0.5, "y": np.arange(96) * 0.2, "x": np.arange(96) * 0.2}
    image = xr.DataArray(vol.image[None], dims=("c", "z", "y", "x"), coords={**coords, "c": ["Dapi"]})
    for d in "zyx":
        image[d].attrs["units"] = "micrometer"
    ids = np.concatenate([[0], np.random.default_rng(0).integers(1, 2**40, vol.labels.max())]).astype(np.uint64)
    labels = xr.DataArray(ids[vol.labels], dims=("z", "y", "x"), coords=coords)
    return image, labels



def _near(rgb: np.ndarray, color: np.ndarray, tol: float = 0.12) -> np.ndarray:
    """Pixels of about ``color``'s hue, bright and saturated: a segment's colour, whatever shows through it."""
    from matplotlib.colors import rgb_to_hsv

    hsv, want = rgb_to_hsv(rgb / 255.0), rgb_to_hsv(color)
    dh = np.abs(hsv[..., 0] - want[0])
    dh = np.minimum(dh, 1 - dh)
    return (dh < tol / 2) & (hsv[..., 1] > 0.35) & (hsv[..., 2] > 0.25)


@pytest.mark.timeout(180)
def test_3d_view_shows_every_segment_in_its_colour_offline(nuclei, browser, monkeypatch):
    from labkit.viewers import view

    monkeypatch.delenv("LABKIT_JUPYTER_PROXY", raising=False)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    image, labels = nuclei
    v = view(image, labels=labels, backend="3d")
    assert v.layers == ["Dapi", "labels"]
    ids = [int(i) for i in np.unique(labels.values) if i]
    layer = v.viewer.state.layers["labels"]
    assert layer.type == "segmentation" and sorted(int(s) for s in layer.segments) == ids
    page = browser.new_page(viewport={"width": 900, "height": 700})
    requests, meshes = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: meshes.append((r.url, r.status)) if "/neuroglancer/mesh/" in r.url else None)
    try:
        page.goto(v.url)
        shot = SCREENSHOTS / "3d_labels.png"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        colours = label_colors(ids)
        deadline, found = time.monotonic() + 60, []
        while time.monotonic() < deadline:  # neuroglancer draws as chunks and meshes arrive
            time.sleep(3)
            page.screenshot(path=str(shot))
            rgb = np.asarray(Image.open(shot).convert("RGB")).astype(float)
            found = [int(_near(rgb, c).sum()) for c in colours]
            if len({u for u, s in meshes if s == 200}) >= len(ids) and sorted(found)[1] > 100:
                break
        ok_meshes = {u.rsplit("/", 1)[1] for u, s in meshes if s == 200}
        assert ok_meshes >= {str(i) for i in ids}, f"meshes served {meshes}"  # made in this process, offline
        # the same view without the labels: what is in a segment's colour there (the box's yellow lines) is not
        # the segment's
        with v.viewer.txn() as state:
            state.layers["labels"].visible = False
        time.sleep(3)
        page.screenshot(path=str(SCREENSHOTS / "3d_labels_hidden.png"))
        rgb = np.asarray(Image.open(SCREENSHOTS / "3d_labels_hidden.png").convert("RGB")).astype(float)
        without = [int(_near(rgb, c).sum()) for c in colours]
        gained = {i: f - w for i, f, w in zip(ids, found, without, strict=True)}
        # one nucleus may hide behind another at this angle: all but one must show, and clearly
        assert sorted(gained.values())[1] > 100 and sum(gained.values()) > 3000, \
            f"pixels each segment adds in its colour: {gained}"
        assert [u for u in requests if _leaves_machine(u)] == []
    finally:
        page.close()
        v.close()


def test_2d_outlines_in_the_browser(browser):
    """The plane viewer's picture as the browser shows it: touching nuclei, each outlined in its own colour."""
    from labkit.synthetic import touching_nuclei
    from labkit.viewers import Viewer, outlines

    plane = touching_nuclei((160, 160), 14, seed=2)
    v = Viewer(plane.image, labels=plane.labels)
    png = v.png()
    page = browser.new_page(viewport={"width": 700, "height": 700})
    try:
        page.set_content("<body style='margin:0;background:#000'><img id='v' style='image-rendering:pixelated' "
                         f"src='data:image/png;base64,{base64.b64encode(png).decode()}'></body>")
        page.wait_for_function("() => document.getElementById('v').complete")
        shot = SCREENSHOTS / "2d_labels.png"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#v").screenshot(path=str(shot))
    finally:
        page.close()
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    k = v.zoom()
    assert rgb.shape[:2] == (160 * k, 160 * k)
    edges = outlines(plane.labels)
    for i in np.unique(plane.labels[plane.labels > 0]):
        ys, xs = np.nonzero(edges & (plane.labels == i))
        want = (label_colors([i])[0] * 255).round()
        shown = rgb[ys * k + k // 2, xs * k + k // 2]
        assert (np.abs(shown - want).max(axis=1) <= 2).all(), f"object {i} is not outlined in its colour"
