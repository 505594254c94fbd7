"""S3 reads: the server's limit, labkit's open_image over obstore and over s3fs, and parallel segmentation.

The limit is a tight loop of concurrent obstore GETs of level 0's chunks of IDR 6001240: no zarr,
no dask, no decompression. Every other figure is a ratio to a figure measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import time

import dask
import numpy as np
import zarr
from common import best_of, record
from dask.distributed import Client, LocalCluster

from labkit import catalog, load_remote, recipes
from labkit.storage import obstore_config, open_store

URL = catalog.IDR_IMAGE.zarr_url
CONCURRENCY = 32


def _limit(ep: str) -> tuple[float, float, int]:
    """Seconds, bytes and requests of concurrent GETs of every level-0 chunk."""
    import obstore
    from obstore.store import S3Store

    store = S3Store("idr", prefix=URL.split("/", 3)[3], **obstore_config({"anon": True, "endpoint_url": ep}))
    keys = [m["path"] for batch in obstore.list(store, prefix="0/") for m in batch
            if not m["path"].rsplit("/", 1)[-1].startswith(".")]

    async def fetch_all() -> int:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(key: str) -> int:
            async with gate:
                return len(await (await obstore.get_async(store, key)).bytes_async())

        return sum(await asyncio.gather(*(one(k) for k in keys)))

    seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        total = asyncio.run(fetch_all())
        seconds.append(time.perf_counter() - t0)
    return min(seconds), total, len(keys)


def _segment(dapi, workers: int) -> tuple[float, list[int]]:
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        lazy = [dask.delayed(recipes.count_objects)(dapi.isel(z=z).data) for z in range(dapi.sizes["z"])]
        dask.compute(*lazy[:workers * 2])  # warm the workers' imports
        counts: list[int] = []

        def run() -> None:
            counts[:] = dask.compute(*lazy)

        return best_of(run, 2), counts


def run(sb) -> None:
    ep = sb.s3.endpoint_url
    t_limit, nbytes, n_keys = _limit(ep)
    mib = nbytes / 2**20
    record("S3 limit: concurrent obstore GETs of level-0 chunks", 1.0, "reference",
           f"{mib / t_limit:.0f} MiB/s, {n_keys / t_limit:.0f} requests/s ({n_keys} chunks, {mib:.1f} MiB, "
           f"{CONCURRENCY} at a time)")

    def read(engine: str, chunks: str | None = None) -> None:
        load_remote.open_image(URL, endpoint_url=ep, engine=engine, chunks=chunks).compute(scheduler="threads")

    level0 = zarr.open_group(open_store(URL, {"anon": True}, endpoint_url=ep), mode="r")["0"]
    t_zarr = best_of(lambda: level0[...])
    t_obstore, t_fsspec = best_of(lambda: read("obstore")), best_of(lambda: read("fsspec"))
    t_auto = best_of(lambda: read("obstore", "auto"))
    record("zarr alone (ObjectStore), level 0 / the limit", t_limit / t_zarr, "bound",
           f"{mib / t_zarr:.0f} MiB/s: zarr-python's per-chunk cost, what labkit's reads stand on")
    record("open_image(level=0).compute(), obstore / the limit", t_limit / t_obstore, ">= 0.8",
           f"{mib / t_obstore:.0f} MiB/s; one dask task a chunk ({n_keys}), {os.cpu_count()} threads")
    record('open_image(level=0, chunks="auto").compute(), obstore / the limit', t_limit / t_auto, ">= 0.8",
           f"{mib / t_auto:.0f} MiB/s; chunks grouped to ~8 MiB tasks")
    record("open_image(level=0).compute(), s3fs / obstore", t_obstore / t_fsspec, "report",
           f"s3fs {mib / t_fsspec:.0f} MiB/s, obstore {mib / t_obstore:.0f} MiB/s")

    # -- every Dapi plane (236) segmented by the tutorial's recipe: 2 worker processes against 1
    dapi = load_remote.open_image(URL, endpoint_url=ep).sel(c="Dapi").isel(t=0)
    planes = dapi.values
    t_read = best_of(lambda: dapi.compute(scheduler="threads"), 2)
    t_compute = best_of(lambda: [recipes.count_objects(p) for p in planes], 2)
    t_one, one = _segment(dapi, 1)
    t_two, two = _segment(dapi, 2)
    assert one == two == [recipes.count_objects(p) for p in planes], "segmentation results differ"
    record("segment 236 Dapi planes: 1 worker / 2 workers", t_one / t_two, ">= 1.6",
           f"1 worker {t_one:.2f} s, 2 workers {t_two:.2f} s; of it reading {t_read:.2f} s, segmenting "
           f"{t_compute:.2f} s ({1000 * t_compute / len(planes):.1f} ms a plane), the rest scheduling")
    assert np.isfinite(t_one / t_two)
