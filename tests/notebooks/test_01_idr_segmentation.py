from __future__ import annotations

from pathlib import Path

import pytest
import zarr

from labkit import tutorials
from labkit.recipes import count_objects
from labkit.sandbox.locate import idr_image_path
from tests.unit.test_labels import _validate as validate_with_labels

from .probes import NOTEBOOKS, probed, with_probe

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py); the run on a cluster, which
#: does not wait for it, is in test_01_on_a_cluster.py
pytestmark = pytest.mark.stored_runs


def test_counts_the_nuclei_of_every_plane_locally(run_notebook):
    check_counts_and_nuclei(run_notebook("01_idr_segmentation.ipynb", backend="local").values)


def check_counts_and_nuclei(values: dict) -> None:
    """What tutorial 01 must give on any backend (its cluster run: test_01_on_a_cluster.py)."""
    assert values["image_id"] == 6001240 and values["channel"] == "Dapi"
    dapi = zarr.open_group(idr_image_path(), mode="r")["0"]
    expected = [count_objects(dapi[0, 1, z]) for z in range(113, 124)]  # middle plane 118 +- 5
    assert values["counts"] == expected and min(expected) >= 8  # nuclei, not the original's few fragments
    # the whole volume in 3D: nuclei of a nucleus' size, saved as NGFF labels with their table (checkpointed)
    assert 30 <= values["nuclei"] <= 80 and 500 <= values["volume_um3_median"] <= 4000
    assert values["labels_state"] == values["nuclei_state"] == "fresh"
    group = zarr.open_group(values["nuclei_zarr"], mode="r")
    assert group["labels"].attrs["labels"] == ["nuclei"] and group.attrs["labkit"]["source_image"].endswith(
        "6001240.zarr")
    image_label = group["labels/nuclei"].attrs["image-label"]
    assert len(image_label["properties"]) == values["nuclei"] and "volume_um3" in image_label["properties"][0]
    listed, _ = validate_with_labels(Path(values["nuclei_zarr"]), "0.4")  # ome-zarr-models: image and labels
    assert listed == ["nuclei"]
    assert values["cluster"] is None  # the notebook shut its cluster down
    assert values["clusters_left"] == []  # none left on the sandbox's gateway (asked in the kernel)


@pytest.mark.network
def test_live_mode_reads_idr(tmp_path):
    source = with_probe(NOTEBOOKS / "01_idr_segmentation.ipynb", tmp_path / "source")
    outcome = tutorials.run([source], tmp_path, {"mode": "live"})[0]
    assert outcome.status == "ok", outcome.error
    values = probed(tmp_path / "01_idr_segmentation.ipynb")
    assert len(values["counts"]) == 11 and min(values["counts"]) > 0
