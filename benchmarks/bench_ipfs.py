"""IPFS tutorial: reading the same array through the local IPFS gateway against the sandbox S3."""

from __future__ import annotations

import numpy as np
from common import best_of, record

from labkit import ipfs, load_remote
from labkit.sandbox.locate import idr_image_path


def run(sb) -> None:
    cid = ipfs.add(idr_image_path(), api=sb.ipfs.api, progress=False)
    ipfs.use_gateway(sb.ipfs.gateway)
    s3_url, ipfs_url = "s3://idr/zarr/v0.1/6001240.zarr", f"ipfs://{cid}/6001240.zarr"

    def read(url: str, **kw) -> np.ndarray:
        return load_remote.open_image(url, chunks="auto", **kw).compute(scheduler="threads").values

    assert np.array_equal(read(ipfs_url), read(s3_url, endpoint_url=sb.s3.endpoint_url))
    t_s3 = best_of(lambda: read(s3_url, endpoint_url=sb.s3.endpoint_url))
    t_ipfs = best_of(lambda: read(ipfs_url))
    mb = 2 * 236 * 275 * 271 * 2 / 2**20
    record("IPFS gateway / S3 read throughput", t_s3 / t_ipfs, ">= 0.5",
           f"S3 {mb / t_s3:.0f} MiB/s, IPFS {mb / t_ipfs:.0f} MiB/s (level 0, {mb:.0f} MiB, both local servers)")
