"""IDR tutorial: parallel segmentation speed-up, and open_image throughput against raw zarr + s3fs."""

from __future__ import annotations

import dask
import numpy as np
import zarr
from common import best_of, record
from dask.distributed import Client, LocalCluster

from labkit import load_remote, recipes
from labkit.storage import open_store

URL = "s3://idr/zarr/v0.1/6001240.zarr"


def run(sb) -> None:
    ep = sb.s3.endpoint_url
    raw = zarr.open_group(open_store(URL, endpoint_url=ep), mode="r")["0"]
    dapi = load_remote.open_image(URL, endpoint_url=ep).sel(c="Dapi").isel(t=0)
    n = dapi.sizes["z"]

    # -- all 236 Dapi planes: a serial loop against 2 single-threaded workers, one task per plane (the tutorial)
    def serial() -> list[int]:
        return [recipes.count_objects(raw[0, 1, z]) for z in range(n)]

    in_memory = raw[0, 1]
    t_compute_only = best_of(lambda: [recipes.count_objects(p) for p in in_memory], 3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        lazy = [dask.delayed(recipes.count_objects)(dapi.isel(z=z).data) for z in range(n)]

        def parallel() -> list[int]:
            return list(dask.compute(*lazy))

        parallel()  # warm the workers' imports
        assert parallel() == serial(), "parallel and serial counts differ"
        t_serial, t_parallel = best_of(serial, 2), best_of(parallel, 2)
    record("segment 236 planes from S3: serial / 2 workers", t_serial / t_parallel, ">= 1.6",
           f"serial {t_serial:.2f} s, parallel {t_parallel:.2f} s; segmentation alone {t_compute_only:.2f} s "
           f"({1000 * t_compute_only / n:.1f} ms a plane): reading from the sandbox S3 dominates")

    # -- reading the full-resolution array: labkit against raw zarr + s3fs on the same store
    def raw_read() -> None:
        zarr.open_group(open_store(URL, endpoint_url=ep), mode="r")["0"][...]

    mb = raw.nbytes / 2**20
    t_raw = best_of(raw_read)
    for chunks, label in ((None, "storage chunks, the default"), ("auto", 'chunks="auto"')):
        def labkit_read(chunks=chunks) -> None:
            load_remote.open_image(URL, endpoint_url=ep, chunks=chunks).compute(scheduler="threads")

        img = load_remote.open_image(URL, endpoint_url=ep, chunks=chunks).compute(scheduler="threads")
        assert np.array_equal(img.values, raw[...])
        t_lk = best_of(labkit_read)
        record(f"open_image().compute() / raw zarr, {label}", t_raw / t_lk, ">= 0.9",
               f"raw {mb / t_raw:.0f} MiB/s, labkit {mb / t_lk:.0f} MiB/s ({mb:.0f} MiB)")
