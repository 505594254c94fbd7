"""NGFF labels on the sandbox S3: in place in a writable image, and beside a copy of the public (IDR) image."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from labkit import ngff
from labkit.labels import label_names, open_labels, write_labels
from labkit.load_remote import open_image
from labkit.storage import open_store

IDR = "s3://idr/zarr/v0.1/6001240.zarr"


def _validate(url: str, version: str) -> list[str]:
    ome_zarr_models = pytest.importorskip("ome_zarr_models")
    group = zarr.open_group(open_store(url, mode="r"), mode="r")
    model = ome_zarr_models.open_ome_zarr(group, version=version)
    return model.labels.attributes.labels if version == "0.4" else model.labels.attributes.ome.labels


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_written_into_an_s3_image(sandbox_env, version):
    url = f"s3://results/labels-test/img-{version}.ome.zarr"
    ngff.write_image(url, np.arange(2 * 32 * 48, dtype=np.uint16).reshape(2, 32, 48), axes="cyx", version=version,
                     n_levels=2, chunks=(1, 16, 16), overwrite=True)
    seg = np.zeros((32, 48), np.uint32)
    seg[4:10, 4:20], seg[20:30, 30:40] = 3, 9
    write_labels(url, da.from_array(seg, chunks=16), "nuclei", overwrite=True)
    assert label_names(url) == ["nuclei"]
    assert _validate(url, version) == ["nuclei"]
    lab, img = open_labels(url, "nuclei", level=1), open_image(url, 1)
    np.testing.assert_array_equal(lab.values, seg[::2, ::2])
    np.testing.assert_array_equal(lab.x.values, img.x.values)
    assert sorted(lab.attrs["colors"]) == [3, 9]


def test_labels_of_the_public_idr_image_go_beside_a_copy(sandbox_env):
    url = "s3://results/labels-test/6001240-labels.ome.zarr"
    fs = __import__("s3fs").S3FileSystem()
    if fs.exists(url):
        fs.rm(url, recursive=True)
    img = open_image(IDR)
    seg = (img.isel(t=0, c=1).data > 2000).astype(np.uint16)[None]  # t, z, y, x (no c)
    write_labels(url, seg, "bright", image=IDR)
    assert _validate(url, "0.4") == ["bright"]  # the v0.1 image, copied as 0.4
    root = dict(zarr.open_group(open_store(url, mode="r"), mode="r").attrs)
    assert root["labkit"]["source_image"] == IDR and root["labkit"]["source_version"] == "0.1"
    copy = open_image(url, 2)
    np.testing.assert_array_equal(copy.values, open_image(IDR, 2).values)
    lab = open_labels(url, "bright", 2)
    assert lab.dims == ("t", "z", "y", "x") and lab.shape == copy.isel(c=0).shape
