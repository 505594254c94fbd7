"""The sandbox's synthetic 96-well plate (NGFF 0.4 and 0.5) read over S3 (obstore, s3fs) and HTTP, with its truth;
requests counted by the S3 server itself."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

import labkit
from labkit._zarr import ZARR3
from labkit.errors import FormatError
from labkit.sandbox.core import PLATE_URLS

VERSIONS = ["0.4", pytest.param("0.5", marks=pytest.mark.skipif(not ZARR3, reason="zarr format 3 needs zarr 3"))]
WELLS = 93  # 96 wells, 3 of them empty (C5, F9, H12)
FIELDS = 6  # fields a well, as in IDR plate 2551 (catalog.IDR_PLATE)
FIELD = (2, 16, 65, 86)  # c, z, y, x: IDR plate 2551's channels and planes, y and x a sixteenth of its 1040 x 1376


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_listing_a_96_well_plate_takes_one_request_per_well(sandbox, version, engine):
    """open_plate reads the plate group, then each well's metadata (one GET a well, concurrently), nothing else.

    Bound, obstore (measured: 97 GETs on 0.4 and 0.5): the wells' 93 GETs, plus what opening the root group
    costs (zarr probes zarr.json, .zgroup, .zattrs, .zmetadata: 4), plus slack: no field's metadata, no pixel.
    s3fs (measured: 191-192 GETs, 2-3 LISTs) sends this server two GETs for every object it reads (plain
    ``s3fs.S3FileSystem.cat_file`` of one key counts 2 here) and lists while probing the root: twice the bound.
    """
    meter = sandbox.s3.transfers()
    plate = labkit.open_plate(PLATE_URLS[version], endpoint_url=sandbox.s3.endpoint_url, engine=engine)
    counts = meter.counts()
    assert len(plate.wells) == WELLS and set(plate.wells.fields) == {FIELDS} and len(plate) == FIELDS * WELLS
    assert plate.rows == list("ABCDEFGH") and plate.columns == [str(i) for i in range(1, 13)]
    requests = sum(v for k, v in counts.items() if k != "bytes")
    print(f"\nopen_plate NGFF {version} ({engine}): {counts}")
    per_object = 1 if engine == "obstore" else 2
    assert set(counts) <= {"bytes", "GET", "HEAD"} | ({"LIST"} if engine == "fsspec" else set()), counts
    assert WELLS <= requests <= per_object * (WELLS + 8), counts
    assert counts["bytes"] < 100_000, counts  # the wells' and the plate's JSON, not a field's pixels


@pytest.mark.parametrize("version", VERSIONS)
def test_plate_over_s3_is_the_published_plate(sandbox, version):
    truth = sandbox.plate_truth(version)
    ep = sandbox.s3.endpoint_url
    plate = labkit.open_plate(PLATE_URLS[version], endpoint_url=ep)
    assert plate.attrs["labkit_truth"]["nuclei"] == truth.truth["nuclei"]
    assert plate.attrs["labkit_truth"]["empty_wells"] == ["C5", "F9", "H12"]
    local = zarr.open_group(truth.path, mode="r")
    img = plate.image("D7", field=1)
    xr.testing.assert_identical(img, labkit.open_image(f"{PLATE_URLS[version]}/D/7/1", endpoint_url=ep))
    np.testing.assert_array_equal(img.values, local["D/7/1/0"][...])
    assert list(img.c.values) == ["GFP", "Cascade blue"] == list(labkit.catalog.IDR_PLATE.channel_names)
    assert img.dims == ("c", "z", "y", "x") and img.shape == FIELD


@pytest.mark.parametrize("version", VERSIONS)
def test_stack_over_s3_and_its_requests(sandbox, version):
    ep = sandbox.s3.endpoint_url
    plate = labkit.open_plate(PLATE_URLS[version], endpoint_url=ep)
    meter = sandbox.s3.transfers()
    stack = plate.stack()
    counts = meter.counts()
    print(f"\nstack() metadata, NGFF {version}: {counts}")
    assert stack.shape == (WELLS, FIELDS, *FIELD)
    # two documents a field, all fields concurrently: the group's attributes and its level's array metadata
    # (zarr.json on v3; .zattrs and .zarray on v2); the first field is opened as open_image does (a few more)
    assert sum(v for k, v in counts.items() if k != "bytes") <= 2 * FIELDS * WELLS + 12, counts
    meter = sandbox.s3.transfers()
    nuclear = stack.sel(c="Cascade blue", well=["A1", "E1", "B12"]).max(("z", "y", "x")).values  # those chunks only
    assert nuclear.shape == (3, FIELDS) and (nuclear > 300).all()
    assert meter.count("GET") == 3 * FIELDS, meter.counts()  # one chunk a field
    truth = sandbox.plate_truth(version).table
    assert truth[truth.role == "negative control"].nuclei.mean() > truth[truth.role == "positive control"].nuclei.mean()


def test_plate_over_http_and_the_hint_over_s3(sandbox):
    ep = sandbox.s3.endpoint_url
    http = f"{ep}/{PLATE_URLS['0.4'].removeprefix('s3://')}"  # the public bucket, plain HTTP
    plate = labkit.open_plate(http)
    assert len(plate.wells) == WELLS
    np.testing.assert_array_equal(plate.image("B3").values,
                                  labkit.open_plate(PLATE_URLS["0.4"], endpoint_url=ep).image("B3").values)
    with pytest.raises(FormatError, match=r"HCS plate \(8 x 12 wells, 93 with images\).*open_plate.*image\('A1'\)"):
        labkit.open_image(PLATE_URLS["0.4"], endpoint_url=ep)
    with pytest.raises(FormatError, match="open_plate"):
        labkit.info(PLATE_URLS["0.4"], endpoint_url=ep, show=False)
