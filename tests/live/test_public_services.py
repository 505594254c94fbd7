"""The tutorials' public services, reached as the tutorials reach them in live mode (skipped without internet).

These are the same checks the sandbox tests make, against the real IDR, EBI S3 and EODC STAC API: they
say whether the sandbox still speaks like the services it stands in for.
"""

from __future__ import annotations

import pytest

import labkit
from labkit import catalog, connect, load_remote

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def live():
    return labkit.endpoints("live")


def test_idr_omero_describes_the_image_as_the_catalogue_does(live):
    with connect.omero(live.omero) as conn:
        meta = conn.image(catalog.IDR_IMAGE.id)
    assert meta.sizes == catalog.IDR_IMAGE.sizes
    assert meta.channel_names == catalog.IDR_IMAGE.channel_names
    assert meta.pixel_sizes["x"] == pytest.approx(catalog.IDR_IMAGE.pixel_sizes["x"])
    assert meta.zarr_url == catalog.IDR_IMAGE.zarr_url and meta.zarr_endpoint == catalog.IDR_S3_ENDPOINT


def test_ebi_s3_serves_the_ome_zarr(live):
    meta = load_remote.info(catalog.IDR_IMAGE.zarr_url, endpoint_url=live.idr_s3, show=False)
    sizes = catalog.IDR_IMAGE.sizes
    assert meta.levels[0].shape == tuple(sizes[a] for a in "tczyx")


@pytest.mark.parametrize("version", ["0.1", "0.4", "0.5"])
def test_ebi_s3_serves_each_published_version_with_the_catalogue_s_axes(live, version, capsys):
    """IDR's copies of 6001240: v0.1 ``tczyx``; v0.4 and v0.5 ``czyx``; v0.5 under ``6001240_labels.zarr``."""
    url = catalog.IDR_IMAGE.zarr_url_of(version)
    meta = load_remote.info(url, endpoint_url=live.idr_s3, show=False)
    axes = catalog.IDR_IMAGE.axes_of(version)
    with capsys.disabled():
        print(f"\n{url}: NGFF {meta.version}, axes {''.join(meta.axis_names)}, "
              f"levels {[lv.shape for lv in meta.levels]}")
    assert "".join(meta.axis_names) == axes
    assert meta.levels[0].shape == tuple(catalog.IDR_IMAGE.sizes[a] for a in axes)
    if version != "0.1":
        assert labkit.labels.label_names(url, {"endpoint_url": live.idr_s3}) == ["0"]


def test_eodc_stac_finds_gfm_items_over_the_original_area(live):
    pystac_client = pytest.importorskip("pystac_client")
    search = pystac_client.Client.open(live.stac).search(
        collections=[catalog.GFM.id], bbox=catalog.PAKISTAN_AOI, datetime="2022-09-01/2022-09-05", max_items=5)
    items = list(search.items())
    assert items and set(catalog.GFM.bands) <= set(items[0].assets)


def test_labkit_nuclei_against_the_study_s_expert_labels(live, capsys):
    """IDR's copy of 6001240 in idr0062A carries the study's nuclei (labels/0): labkit's 3D nuclei against them."""
    from skimage.segmentation import relabel_sequential

    from labkit.recipes import match_objects

    url = catalog.idr_zarr_url(catalog.IDR_IMAGE.id, catalog.IDR_IMAGE.study, "0.4")
    options = {"endpoint_url": live.idr_s3}
    image = load_remote.open_image(url, endpoint_url=live.idr_s3)
    names = labkit.labels.label_names(url, options)
    truth = labkit.open_labels(url, names[0], storage_options=options).squeeze(drop=True).values
    found = labkit.segment_nuclei(image.sel(c="Dapi").isel(t=0, missing_dims="ignore")).values  # v0.4: no t
    score = match_objects(relabel_sequential(found)[0], relabel_sequential(truth)[0])
    with capsys.disabled():
        print(f"\nlabkit's nuclei in 6001240 against idr0062A's labels/{names[0]}: F1 {score['f1']:.2f} "
              f"({score['found']} found, {score['true']} in the study's labels, {score['matched']} matched)")
    assert score["f1"] >= 0.5


def test_ebi_s3_serves_the_screen_tutorial_s_plate(live):
    """Tutorial 05's live plate (catalog.IDR_PLATE) opens as an HCS plate, with the layout the catalogue gives."""
    plate_meta = catalog.IDR_PLATE
    assert live.idr_s3 == plate_meta.endpoint
    plate = labkit.open_plate(plate_meta.url, endpoint_url=live.idr_s3)
    assert (len(plate.rows), len(plate.columns)) == (plate_meta.rows, plate_meta.columns)
    assert plate.wells.fields.max() == plate_meta.fields
    image = plate.image(plate.wells.well.iloc[0], 0)
    assert {d: image.sizes[d] for d in plate_meta.sizes} == plate_meta.sizes
    assert list(image.c.values) == list(plate_meta.channel_names)
    assert plate_meta.nuclear_channel in image.c.values
