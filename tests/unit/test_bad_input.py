"""Damaged or unusual OME-Zarr metadata and unreachable storage: labkit errors naming the file and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labkit import ngff
from labkit.errors import FormatError, ServiceUnavailableError
from labkit.load_remote import info, open_image


def _image(tmp_path, version):
    path = tmp_path / f"img{version}.zarr"
    ngff.write_image(str(path), np.arange(2 * 4 * 16 * 16, dtype=np.uint16).reshape(2, 4, 16, 16), axes="czyx",
                     version=version, channel_names=["a", "b"])
    return path


def _edit(path, change):
    attrs = json.loads((path / ".zattrs").read_text())
    change(attrs["multiscales"][0], attrs)
    (path / ".zattrs").write_text(json.dumps(attrs))


@pytest.mark.parametrize("version,file,named", [("0.4", ".zattrs", "zarr metadata"), ("0.4", "0/.zarray", "0/.zarray"),
                                                ("0.5", "zarr.json", "zarr metadata"),
                                                ("0.5", "0/zarr.json", "0/zarr.json")])
def test_damaged_metadata_is_a_format_error_naming_it(tmp_path, version, file, named):
    path = _image(tmp_path, version)
    (path / file).write_text("{not json")
    with pytest.raises(FormatError, match=named) as err:
        open_image(path)
    assert str(path) in str(err.value) and "again" in str(err.value)


def test_datasets_without_path(tmp_path):
    path = _image(tmp_path, "0.4")
    _edit(path, lambda ms, _: ms["datasets"][0].pop("path"))
    with pytest.raises(FormatError, match=r"datasets\[0\] has no 'path'"):
        info(path, show=False)


def test_fewer_axes_than_dimensions(tmp_path):
    path = _image(tmp_path, "0.4")

    def drop_c(ms, _):
        ms["axes"] = ms["axes"][1:]
        for ds in ms["datasets"]:
            for t in ds["coordinateTransformations"]:
                t["scale"] = t["scale"][1:]

    _edit(path, drop_c)
    with pytest.raises(FormatError, match=r"names 3 axes \(z, y, x\) for arrays of 4 dimensions"):
        open_image(path)


def test_scale_of_the_wrong_length(tmp_path):
    path = _image(tmp_path, "0.4")
    _edit(path, lambda ms, _: ms["datasets"][0]["coordinateTransformations"][0].update(scale=[1, 2]))
    with pytest.raises(FormatError, match="not 4 numbers"):
        open_image(path)


def test_channel_windows_written_as_strings_are_read_as_numbers(tmp_path):
    path = _image(tmp_path, "0.4")
    _edit(path, lambda _, attrs: attrs["omero"]["channels"][0].update(
        window={"start": "10", "end": "200", "min": "0", "max": "n/a"}))
    meta = info(path, show=False)
    assert meta.channels[0].window == {"start": 10.0, "end": 200.0, "min": 0.0}


@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_unreachable_s3_endpoint(engine):
    with pytest.raises(ServiceUnavailableError, match=r"127.0.0.1:9.*Check the address"):
        open_image("s3://idr/x.zarr", endpoint_url="http://127.0.0.1:9", engine=engine)
