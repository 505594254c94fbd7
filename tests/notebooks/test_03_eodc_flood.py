from __future__ import annotations

import numpy as np
import xarray as xr

from labkit.storage import open_store
from tests.conftest import gateway_clusters

PROBE = {"items": "int(ds.attrs['stac_items'])", "window_bytes": "window_bytes", "store_bytes": "store_bytes",
         "iou": "float(iou)"}


def test_flood_notebook_against_the_truth_on_both_backends(run_notebook, backend, sandbox, tmp_path):
    url = f"s3://results/nb-flood-{backend}.zarr"
    values, executed = run_notebook("03_eodc_flood.ipynb", PROBE, output_url=url, backend=backend)
    assert values["items"] == sandbox.stac.n_items
    assert values["window_bytes"] < 0.1 * values["store_bytes"]  # a window reads a small part of the store
    assert values["iou"] == 1.0  # the agreement with the truth the notebook prints

    stored = xr.open_zarr(open_store(url, {"anon": False}), consolidated=True)
    extent, likelihood = sandbox.flood_truth().on_grid(stored.x.values, stored.y.values)
    np.testing.assert_array_equal(stored.ensemble_flood_extent.values, extent)
    assert np.abs(stored.ensemble_likelihood.values.astype(int) - likelihood.astype(int)).max() <= 1
    assert "Azimuthal Equidistant" in stored.spatial_ref.attrs.get("crs_wkt", "")  # the CRS the map names

    assert gateway_clusters(sandbox) == []  # the notebook shut its cluster down

    # no credential in the executed notebook nor in any log of the sandbox
    secrets = [sandbox.s3.secret, sandbox.gateway.password]
    texts = {executed.name: executed.read_text()}
    texts.update({str(p): p.read_text(errors="replace") for p in sandbox.root.rglob("*.log*")})
    texts.update({str(p): p.read_text(errors="replace") for p in sandbox.root.rglob("*.jsonl")})
    assert len(texts) > 3
    leaks = [name for name, text in texts.items() if any(s in text for s in secrets)]
    assert leaks == []
