"""IDR tutorial: open_image throughput against raw zarr on the same store (parallel segmentation: bench_s3)."""

from __future__ import annotations

import numpy as np
import zarr
from common import best_of, record

from labkit import catalog, load_remote
from labkit.storage import open_store

URL = catalog.IDR_IMAGE.zarr_url


def run(sb) -> None:
    ep = sb.s3.endpoint_url
    raw = zarr.open_group(open_store(URL, endpoint_url=ep), mode="r")["0"]

    # -- reading the full-resolution array: labkit against raw zarr on the same store (obstore)
    def raw_read() -> None:
        zarr.open_group(open_store(URL, endpoint_url=ep), mode="r")["0"][...]

    mb = raw.nbytes / 2**20
    t_raw = best_of(raw_read)
    for chunks, label in ((None, "the default, ~4 MiB tasks"), ("storage", 'chunks="storage"')):
        def labkit_read(chunks=chunks) -> None:
            load_remote.open_image(URL, endpoint_url=ep, chunks=chunks).compute(scheduler="threads")

        img = load_remote.open_image(URL, endpoint_url=ep, chunks=chunks).compute(scheduler="threads")
        assert np.array_equal(img.values, raw[...])
        t_lk = best_of(labkit_read)
        record(f"open_image().compute() / raw zarr, {label}", t_raw / t_lk, ">= 0.9",
               f"raw {mb / t_raw:.0f} MiB/s, labkit {mb / t_lk:.0f} MiB/s ({mb:.0f} MiB)")
