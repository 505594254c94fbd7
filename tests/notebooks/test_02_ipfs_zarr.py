from __future__ import annotations

from labkit._zarr import ZARR3

SEED_CID = "bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u"


def test_ipfs_notebook(run_notebook, tmp_path):
    report, _ = run_notebook("02_ipfs_zarr.ipynb", dest=str(tmp_path / "images"))
    assert report["cid"] == SEED_CID  # a fresh download from the sandbox S3 gets the seed's CID
    assert report["identical"] is True
    assert report["info_bytes"] < 64 * 1024 < report["image_bytes"]
    assert report["publisher_chunk_requests"] == 0  # the workers read the chunks peer to peer
    # zarr 3 pickles array metadata; zarr 2 (the itk profile) re-reads .zarray when the scheduler unpickles an array
    assert report["publisher_gateway_requests"] == (0 if ZARR3 else 1)
    assert report["worker_blocks"] >= 472  # every level-0 chunk came by bitswap
    assert set(report["means"]) == {"LaminB1", "Dapi"} and all(v > 0 for v in report["means"].values())
