from __future__ import annotations

import pytest
import zarr

from labkit import tutorials
from labkit.recipes import count_objects
from labkit.sandbox.locate import idr_image_path

from .conftest import NOTEBOOKS


def test_sandbox_counts_every_plane_of_the_window(run_notebook):
    report, _ = run_notebook("01_idr_segmentation.ipynb")
    assert report["image_id"] == 6001240 and report["channel"] == "Dapi"
    assert report["planes"] == 11 == len(report["counts"])
    assert min(report["counts"]) > 0
    dapi = zarr.open_group(idr_image_path(), mode="r")["0"]
    expected = [count_objects(dapi[0, 1, z]) for z in range(113, 124)]  # middle plane 118 +- 5
    assert report["counts"] == expected


@pytest.mark.network
def test_live_mode_reads_idr(tmp_path):
    outcome = tutorials.run([NOTEBOOKS / "01_idr_segmentation.ipynb"], tmp_path, {"mode": "live"})[0]
    assert outcome.status == "ok", outcome.error
    report = tutorials.read_report(tmp_path / "01_idr_segmentation.ipynb")
    assert report["planes"] == 11 and min(report["counts"]) > 0
