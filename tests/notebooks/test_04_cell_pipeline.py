from __future__ import annotations


def test_cell_pipeline_notebook_on_both_backends(run_notebook, backend, tmp_path):
    values = run_notebook("04_cell_pipeline.ipynb", local_url=str(tmp_path / "staging"),
                          remote_url=f"s3://results/nb-cell-pipeline-{backend}", n_fields=2, backend=backend).values
    assert values["cells"] == 6 * values["n_fields"]  # 6 cells a field: 12 here, 18 as stored (3 fields)
    assert values["first_computed"] == 3 * values["cells"]  # select, normalise, project
    assert values["second_computed"] == 0  # everything read back
    assert values["remote_computed"] == 3 * values["cells"]
    assert values["byte_identical"] is True
    assert values["cluster"] is None
