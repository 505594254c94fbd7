from __future__ import annotations

import pytest

from labkit._zarr import ZARR3

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py)
pytestmark = pytest.mark.stored_runs

SEED_CID = "bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u"


def test_ipfs_notebook_on_both_backends(run_notebook, backend, tmp_path):
    run = run_notebook("02_ipfs_zarr.ipynb", dest=str(tmp_path / "images"), backend=backend)
    values = run.values
    assert values["cid"] == SEED_CID  # a fresh download from the sandbox S3 gets the seed's CID
    assert values["identical"] is True
    assert values["info_bytes"] < 64 * 1024 < values["image_bytes"]
    assert values["publisher_chunk_requests"] == 0  # the workers read the chunks peer to peer
    # zarr 3 pickles array metadata; zarr 2 (the itk profile) re-reads .zarray when the scheduler unpickles an array
    assert values["publisher_gateway_requests"] == (0 if ZARR3 else 1)
    assert values["worker_blocks"] >= 472  # every level-0 chunk came by bitswap
    assert set(values["means"]) == {"LaminB1", "Dapi"} and all(v > 0 for v in values["means"].values())
    assert "labkit-volume-view" in run.executed.read_text()  # the 3D view is in the notebook
