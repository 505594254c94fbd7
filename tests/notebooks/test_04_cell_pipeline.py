from __future__ import annotations

PROBE = {"cells": "len(cells)", "first_computed": "first_computed", "second_computed": "second_computed",
         "remote_computed": "remote_computed", "byte_identical": "bool(same)", "cluster": "panel.cluster"}


def test_cell_pipeline_notebook_on_both_backends(run_notebook, backend, tmp_path):
    values, _ = run_notebook("04_cell_pipeline.ipynb", PROBE, local_url=str(tmp_path / "staging"),
                             remote_url=f"s3://results/nb-cell-pipeline-{backend}", n_fields=2, backend=backend)
    assert values["cells"] == 12
    assert values["first_computed"] == 3 * values["cells"]  # select, normalise, project
    assert values["second_computed"] == 0  # everything read back
    assert values["remote_computed"] == 3 * values["cells"]
    assert values["byte_identical"] is True
    assert values["cluster"] is None
