"""S3 reads: the server's limit, labkit's open_image over obstore and over s3fs, and parallel segmentation.

The limit is a tight loop of concurrent obstore GETs of level 0's chunks of IDR 6001240: no zarr,
no dask, no decompression. Every other figure is a ratio to a figure measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time

import numpy as np
import psutil
import zarr
from common import best_of, record
from dask.distributed import Client, LocalCluster, get_task_stream

from labkit import _zarr, catalog, load_remote, recipes
from labkit._zarr import CODEC_PIPELINES
from labkit.storage import obstore_config, open_store

URL = catalog.IDR_IMAGE.zarr_url
CONCURRENCY = 32


def _limit(ep: str, repeat: int = 3) -> tuple[float, float, int]:
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
    for _ in range(repeat):
        t0 = time.perf_counter()
        total = asyncio.run(fetch_all())
        seconds.append(time.perf_counter() - t0)
    return min(seconds), total, len(keys)


def _segment(dapi, workers: int) -> tuple[float, list[int], float, list[float]]:
    """Seconds (best of 2), counts, seconds inside tasks and each worker's peak memory (MiB) of the tutorial's
    segmentation."""
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        lazy = recipes.count_planes(dapi)
        recipes.count_planes(dapi.isel(z=slice(0, 8 * workers))).compute()  # warm the workers' imports
        counts: list[int] = []

        def run() -> None:
            counts[:] = lazy.compute().values.tolist()

        seconds = best_of(run, 2)
        with get_task_stream() as stream:  # one more run, for the time the tasks themselves took
            run()
        busy = sum(p["stop"] - p["start"] for t in stream.data for p in t["startstops"] if p["action"] == "compute")
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return seconds, counts, busy, list(peaks.values())


def _with_pipeline(level0, pipeline: str):
    """``level0`` opened again with another codec pipeline (chosen when an array is opened)."""
    with zarr.config.set({"codec_pipeline.path": CODEC_PIPELINES[pipeline]}):
        return zarr.open_array(level0.store_path, mode="r")


def _cpu_seconds(fn, server: list[psutil.Process]) -> tuple[float, float, float]:
    """Wall, server CPU and client CPU seconds of one call of ``fn``: what bounds a read on a small machine."""
    me = psutil.Process()

    def cpu(procs):
        return sum(t.user + t.system for t in (p.cpu_times() for p in procs))

    s0, c0, w0 = cpu(server), cpu([me]), time.perf_counter()
    fn()
    return time.perf_counter() - w0, cpu(server) - s0, cpu([me]) - c0


def run(sb) -> None:
    ep = sb.s3.endpoint_url
    t_limit, nbytes, n_keys = _limit(ep)
    mib = nbytes / 2**20
    record("S3 limit: concurrent obstore GETs of level-0 chunks", 1.0, "reference",
           f"{mib / t_limit:.0f} MiB/s, {n_keys / t_limit:.0f} requests/s ({n_keys} chunks, {mib:.1f} MiB, "
           f"{CONCURRENCY} at a time)")

    def read(chunks: str | None = None, engine: str = "auto") -> None:
        load_remote.open_image(URL, endpoint_url=ep, engine=engine, chunks=chunks).compute(scheduler="threads")

    level0 = zarr.open_group(open_store(URL, {"anon": True}, endpoint_url=ep), mode="r")["0"]
    with_zarrs = _with_pipeline(level0, "zarrs")
    t_zarr, t_zarrs = best_of(lambda: level0[...]), best_of(lambda: with_zarrs[...])
    t_default, t_storage = best_of(read), best_of(lambda: read("storage"))
    t_fsspec = best_of(lambda: read(engine="fsspec"))
    n_tasks = load_remote.open_image(URL, endpoint_url=ep).data.npartitions
    record("zarr alone, zarr-python's codec pipeline (labkit's default) / the limit", t_limit / t_zarr, ">= 0.8",
           f"{mib / t_zarr:.0f} MiB/s, {_zarr.CONCURRENCY} chunk requests in flight")
    record("zarr alone, zarrs codec pipeline / the limit", t_limit / t_zarrs, "report",
           f"{mib / t_zarrs:.0f} MiB/s: fetched and decoded in Rust (LABKIT_CODEC_PIPELINE=zarrs)")
    record("open_image(level=0).compute(), defaults / the limit", t_limit / t_default, ">= 0.8",
           f"{mib / t_default:.0f} MiB/s; {n_tasks} dask tasks of ~{load_remote.TASK_BYTES / 2**20:.0f} MiB, "
           f"{os.cpu_count()} threads")
    record('open_image(level=0, chunks="storage").compute() / the limit', t_limit / t_storage, "report",
           f"{mib / t_storage:.0f} MiB/s; one dask task a chunk ({n_keys})")
    record("open_image(level=0).compute(), s3fs / obstore", t_default / t_fsspec, "report",
           f"s3fs {mib / t_fsspec:.0f} MiB/s, obstore {mib / t_default:.0f} MiB/s")

    # -- where the CPU goes (server and client share the machine's cores)
    server = [p for p in psutil.process_iter(["cmdline"]) if "weed" in " ".join(p.info["cmdline"] or [])]
    parts = []
    for label, fn in (("limit", lambda: _limit(ep, repeat=1)), ("zarr", lambda: level0[...]),
                      ("zarrs", lambda: with_zarrs[...])):
        wall, srv, cli = _cpu_seconds(fn, server)
        parts.append(f"{label} {srv:.2f} + {cli:.2f} s in {wall:.2f} s")
    record("CPU per level-0 read: S3 server + client", 0.0, "report",
           f"{'; '.join(parts)} on {os.cpu_count()} cores")

    # -- one plane at a time, as per-plane code reads: today's defaults against what labkit did before
    #    (storage chunks, zarr-python's pipeline). Array code (one isel, map_blocks, rechunk) reads only the
    #    plane; a plane selected in two steps and handed to dask.delayed reads its whole task group, because
    #    dask fuses only one getitem into the read (measured: 28 chunk GETs for 1 plane with 14-plane groups)
    def planes(chunks: str | None, pipeline: str, chained: bool = False) -> float:
        with zarr.config.set({"codec_pipeline.path": CODEC_PIPELINES[pipeline]}):
            img = load_remote.open_image(URL, endpoint_url=ep, chunks=chunks)
            if chained:
                dapi = img.sel(c="Dapi").isel(t=0, missing_dims="ignore")
                return best_of(lambda: [dapi.isel(z=z).values for z in range(100, 140)], 5) / 40
            return best_of(lambda: [img.isel(t=0, c=1, z=z).values for z in range(100, 140)], 5) / 40

    t_before, t_now = planes("storage", "zarr"), planes(None, "zarrs")
    record("one plane read: before (storage chunks, zarr-python) / now (defaults)", t_before / t_now,
           ">= 1.0", f"before {1000 * t_before:.1f} ms, now {1000 * t_now:.1f} ms a plane")
    t_before, t_now = planes("storage", "zarr", True), planes(None, "zarrs", True)
    record("one plane selected in two steps (delayed code): before / now", t_before / t_now,
           "report", f"before {1000 * t_before:.1f} ms, now {1000 * t_now:.1f} ms a plane (reads its task group; "
           'chunks="storage" reads only the plane)')

    # -- every Dapi plane (236) segmented by the tutorial's recipe: 2 worker processes against 1
    dapi = load_remote.open_image(URL, endpoint_url=ep).sel(c="Dapi").isel(t=0, missing_dims="ignore")
    planes_ = dapi.values
    t_read = best_of(lambda: dapi.compute(scheduler="threads"), 2)
    t_compute = best_of(lambda: [recipes.count_objects(p) for p in planes_], 2)
    t_one, one, busy_one, peak_one = _segment(dapi, 1)
    t_two, two, busy_two, peak_two = _segment(dapi, 2)
    assert one == two == [recipes.count_objects(p) for p in planes_], "segmentation results differ"
    n_tasks = recipes.count_planes(dapi).data.npartitions
    record("segment 236 Dapi planes: 1 worker / 2 workers", t_one / t_two, ">= 1.8",
           f"1 worker {t_one:.2f} s, 2 workers {t_two:.2f} s; {n_tasks} tasks. In this process: reading "
           f"{t_read:.2f} s, segmenting {t_compute:.2f} s ({1000 * t_compute / len(planes_):.1f} ms a plane). "
           f"Inside the workers' tasks (read + segment): {busy_one:.2f} s (1), {busy_two:.2f} s (2); scheduling "
           f"and transfer {max(t_one - busy_one, 0):.2f} s (1). Peak memory per worker "
           f"{', '.join(f'{m:.0f}' for m in peak_one)} MiB (1), {', '.join(f'{m:.0f}' for m in peak_two)} MiB (2)")
    assert np.isfinite(t_one / t_two)
