"""EODC tutorial: the client's peak memory when writing the result, original pattern against labkit's.

The original gathers the result on the client (``.compute().to_zarr(...)``); labkit lets the workers
write (``to_zarr`` on the lazy dataset, region by region: ``labkit.write``). Measured with tracemalloc
in the client process (numpy reports its buffers to it), for areas of 1x, 2x and 4x. The cluster is
the sandbox's dask-gateway cluster, as in the tutorial: its scheduler runs in another process, as it
does for a scientist whose notebook talks to a remote cluster (a ``LocalCluster`` would put the
scheduler, and all its per-task state, into the measured process).
"""

from __future__ import annotations

import math
import time
import tracemalloc

import pyproj
from common import record

from labkit import recipes
from labkit.cluster_panel import ClusterPanel
from labkit.stac import load_stac
from labkit.storage import open_store
from labkit.synthetic import EQUI7_AS_PROJ4
from labkit.write import write_zarr

SIDE_PX = 1024  # side of the 1x area, in 20 m pixels


def _aoi(sb, factor: float) -> tuple[float, float, float, float]:
    """A lon/lat box around the scene centre covering ``factor`` times the 1x area."""
    item = next(iter(sb.stac.client().search(collections="GFM", max_items=1).items()))
    a, _, c, _, e, f = item.properties["proj:transform"]
    n = item.properties["proj:shape"][0]
    cx, cy = c + a * n / 2, f + e * n / 2
    half = SIDE_PX * 20 * math.sqrt(factor) / 2
    to_ll = pyproj.Transformer.from_crs(pyproj.CRS.from_proj4(EQUI7_AS_PROJ4), "EPSG:4326", always_xy=True)
    xs, ys = to_ll.transform([cx - half, cx + half, cx - half, cx + half], [cy - half, cy - half, cy + half, cy + half])
    return min(xs), min(ys), max(xs), max(ys)


def _peak(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _peak_and_time(fn) -> tuple[int, float]:
    t0 = time.perf_counter()
    peak = _peak(fn)
    return peak, time.perf_counter() - t0


def run(sb) -> None:
    opts = sb.s3.storage_options()
    with ClusterPanel(backend="gateway", address=sb.gateway.address, auth=sb.gateway.auth()) as panel:
        panel.start().scale(2)
        panel.client.wait_for_workers(2, timeout=120)
        runs: dict[str, list[tuple[int, int, float]]] = {"original": [], "labkit": []}
        for factor in (1, 1, 2, 4):  # the first round warms imports and caches up and is not kept
            ds = load_stac(sb.stac.url, "GFM", bbox=_aoi(sb, factor), dtype="uint8", show=False,
                                       bands=["ensemble_flood_extent", "ensemble_likelihood"],
                                       chunks={"x": 512, "y": 512, "time": -1})
            result = recipes.flood_summary(ds)
            pixels = result.sizes["x"] * result.sizes["y"]
            url = f"s3://results/bench-{factor}x.zarr"

            def original(result=result, url=url) -> None:
                result.compute().to_zarr(open_store(url, opts, mode="w"), mode="w", zarr_format=2)

            def labkit_pattern(result=result, url=url) -> None:
                write_zarr(result, url, storage_options=opts, progress=False)

            runs["original"].append((pixels, *_peak_and_time(original)))
            runs["labkit"].append((pixels, *_peak_and_time(labkit_pattern)))
    for name, values in runs.items():
        (px0, m0, _), (px1, m1, _) = values[1], values[-1]
        slope = (m1 - m0) / (px1 - px0)  # bytes of client memory per extra pixel of the area
        detail = ", ".join(f"{px / 1e6:.1f} Mpx: {peak / 2**20:.2f} MiB" for px, peak, _ in values[1:])
        target = "<= 1.2 (flat)" if name == "labkit" else "grows"
        record(f"client peak memory 4x / 1x area, {name}", m1 / m0, target,
               f"{detail}; {slope:.3f} bytes per extra pixel (the result is 2 bytes a pixel)")
    record("client peak memory at 4x, original / labkit", runs["original"][-1][1] / runs["labkit"][-1][1], "> 1",
           "how much more the client holds when it gathers the result")
    seconds = {name: sum(t for _, _, t in values[1:]) for name, values in runs.items()}
    record("write time 1x+2x+4x, labkit (batched regions) / original", seconds["labkit"] / seconds["original"],
           "report", f"{seconds['labkit']:.1f} s vs {seconds['original']:.1f} s")
