from __future__ import annotations

import numpy as np
import xarray as xr

from labkit.storage import open_store
from labkit.synthetic import flood_scenes
from tests.conftest import gateway_clusters


def test_flood_notebook_against_the_truth(run_notebook, sandbox, tmp_path):
    report, executed = run_notebook("03_eodc_flood.ipynb", output_url="s3://results/nb-flood.zarr")
    assert report["items"] == sandbox.stac.n_items
    assert report["window_bytes"] < 0.1 * report["store_bytes"]  # a window reads a small part of the store

    stored = xr.open_zarr(open_store("s3://results/nb-flood.zarr", {"anon": False}), consolidated=True)
    o = sandbox.options
    truth = flood_scenes(tmp_path / "truth", size=o["flood_size"], n_dates=o["flood_dates"], seed=o["seed"])["truth"]
    extent, likelihood = truth.on_grid(stored.x.values, stored.y.values)
    np.testing.assert_array_equal(stored.ensemble_flood_extent.values, extent)
    assert np.abs(stored.ensemble_likelihood.values.astype(int) - likelihood.astype(int)).max() <= 1

    assert gateway_clusters(sandbox) == []  # the notebook shut its cluster down

    # no credential in the executed notebook nor in any log of the sandbox
    secrets = [sandbox.s3.secret, sandbox.gateway.password]
    texts = {executed.name: executed.read_text()}
    texts.update({str(p): p.read_text(errors="replace") for p in sandbox.root.rglob("*.log*")})
    texts.update({str(p): p.read_text(errors="replace") for p in sandbox.root.rglob("*.jsonl")})
    assert len(texts) > 3
    leaks = [name for name, text in texts.items() if any(s in text for s in secrets)]
    assert leaks == []
