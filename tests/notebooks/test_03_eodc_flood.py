from __future__ import annotations

import pytest

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py)
pytestmark = pytest.mark.stored_runs


def test_flood_notebook_against_the_truth_on_both_backends(run_notebook, backend):
    run = run_notebook("03_eodc_flood.ipynb", output_url=f"s3://results/nb-flood-{backend}.zarr", backend=backend)
    values, sandbox = run.values, run.values["sandbox"]  # what the kernel found in the sandbox it ran on
    assert values["items"] == sandbox["stac_items"]
    assert values["window_bytes"] < 0.1 * values["store_bytes"]  # a window reads a small part of the store
    assert values["iou"] == 1.0  # the agreement with the truth the notebook prints

    # the stored output, read back, against the sandbox's own truth
    assert sandbox["extent_mismatches"] == 0
    assert sandbox["likelihood_max_error"] <= 1
    assert "Azimuthal Equidistant" in sandbox["crs_wkt"]  # the CRS the map names

    assert values["clusters_left"] == []  # the notebook shut its cluster down

    # no credential in any log of the sandbox nor in what the notebook's cells displayed
    assert values["secrets"]["logs_scanned"] >= 3
    assert values["secrets"]["leaks"] == []
    # nor in the whole executed notebook, printed text included: checked where the test knows the secrets, i.e.
    # when it ran the notebook on its own sandbox (make test-notebooks' sandbox is gone with its secrets)
    if run.sandbox is not None:
        text = run.executed.read_text()
        assert not any(s in text for s in (run.sandbox.s3.secret, run.sandbox.gateway.password))
