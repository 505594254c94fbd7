"""EODC tutorial: the client's peak memory when writing the result, original pattern against labkit's.

The original gathers the result on the client (``.compute().to_zarr(...)``); labkit lets
the workers write (``to_zarr`` on the lazy dataset). Measured with tracemalloc in the
client process (numpy reports its buffers to it), for areas of 1x, 2x and 4x.
"""

from __future__ import annotations

import math
import tracemalloc

import pyproj
from common import record
from dask.distributed import Client, LocalCluster

from labkit import load_remote, recipes
from labkit.sandbox.synthetic import EQUI7_AS_PROJ4
from labkit.stores import open_store, write_zarr

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


def run(sb) -> None:
    opts = sb.s3.storage_options()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        peaks: dict[str, list[tuple[int, int]]] = {"original": [], "labkit": []}
        for factor in (1, 2, 4):
            ds = load_remote.load_stac(sb.stac.url, "GFM", bbox=_aoi(sb, factor), dtype="uint8", show=False,
                                       bands=["ensemble_flood_extent", "ensemble_likelihood"],
                                       chunks={"x": 512, "y": 512, "time": -1})
            result = recipes.flood_summary(ds)
            pixels = result.sizes["x"] * result.sizes["y"]
            url = f"s3://results/bench-{factor}x.zarr"
            def original(result=result, url=url) -> None:
                result.compute().to_zarr(open_store(url, opts, mode="w"), mode="w", zarr_format=2)

            def labkit_pattern(result=result, url=url) -> None:
                write_zarr(result, url, storage_options=opts)

            peaks["original"].append((pixels, _peak(original)))
            peaks["labkit"].append((pixels, _peak(labkit_pattern)))
    for name, values in peaks.items():
        (px0, m0), (px1, m1) = values[0], values[-1]
        slope = (m1 - m0) / (px1 - px0)  # bytes of client memory per extra pixel of the area
        detail = ", ".join(f"{px / 1e6:.1f} Mpx: {peak / 2**20:.1f} MiB" for px, peak in values)
        target = "<= 1.2 (flat)" if name == "labkit" else "grows"
        record(f"client peak memory 4x / 1x area, {name}", m1 / m0, target,
               f"{detail}; {slope:.2f} bytes per extra pixel (the result is 2 bytes a pixel)")
    record("client peak memory at 4x, original / labkit", peaks["original"][-1][1] / peaks["labkit"][-1][1], "> 1",
           "how much more the client holds when it gathers the result")
