from __future__ import annotations


def test_cell_pipeline_notebook(run_notebook, tmp_path):
    report, _ = run_notebook("04_cell_pipeline.ipynb", local_url=str(tmp_path / "staging"),
                             remote_url="s3://results/nb-cell-pipeline", n_fields=2)
    assert report["cells"] == 12
    assert report["first_computed"] == 3 * report["cells"]  # select, normalise, project
    assert report["second_computed"] == 0  # everything read back
    assert report["remote_computed"] == 3 * report["cells"]
    assert report["byte_identical"] is True
