from __future__ import annotations

import pytest

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py)
pytestmark = pytest.mark.stored_runs


def test_cell_pipeline_notebook_on_both_backends(run_notebook, backend, tmp_path):
    values = run_notebook("04_cell_pipeline.ipynb", local_url=str(tmp_path / "staging"),
                          remote_url=f"s3://results/nb-cell-pipeline-{backend}",
                          versions_url=f"s3://results/nb-cell-versions-{backend}",
                          package_url=f"s3://results/nb-cell-packages-{backend}/v1.zip", n_fields=2,
                          authors="Test Author <https://orcid.org/0000-0002-1825-0097>", backend=backend).values
    cells = values["cells"]
    assert cells == 6 * values["n_fields"]  # 6 cells a field: 12 here, 18 as stored (3 fields)
    assert values["first_computed"] == 3 * cells  # select, normalise, project
    assert values["second_computed"] == 0  # everything read back
    assert values["remote_computed"] == 3 * cells
    assert values["byte_identical"] is True
    # the versioned store: v1 computes everything, v2 (another denoise) only what the parameter reaches
    assert values["v1_computed"] == 3 * cells and values["v2_computed"] == 2 * cells
    assert values["tags"] == ["v1", "v2"] and values["runs"] == 2 and values["v1_same"] is True
    assert values["published"] == {"IPFS": True, "S3": True} and values["cid"].startswith("baf")
    assert values["package_version"] == "v1" and values["package_files"] == 3 * cells
    assert values["package_authors"] == [values["authors"].split(" <")[0]]  # the parameter's, not a demo author
    assert values["changes"] == {"normalized|changed": cells, "projections|changed": cells}
    assert values["changed_parameters"] == ["", "denoise: 1.0 → 1.5"]  # projections: their input changed
    assert values["cluster"] is None
