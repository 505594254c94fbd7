"""The sandbox STAC API through pystac-client; its assets over HTTP from the sandbox S3."""

from __future__ import annotations

import numpy as np
import pytest
from pystac_client import Client
from shapely.geometry import box

from labkit.synthetic import flood_scenes


@pytest.fixture(scope="module")
def catalog(sandbox):
    return Client.open(sandbox.stac.url)


def test_collection_and_all_items(sandbox, catalog):
    assert [c.id for c in catalog.get_collections()] == ["GFM"]
    items = catalog.search(collections="GFM", max_items=100).item_collection()
    assert len(items) == sandbox.options["flood_dates"] == sandbox.stac.n_items
    props = items[0].properties
    assert props["gsd"] == 20 and "AZIMUTHAL_EQUIDISTANT" in props["proj:wkt2"].upper().replace(" ", "_")


def test_search_by_intersects_datetime_and_max_items(sandbox, catalog):
    bbox = catalog.get_collection("GFM").extent.spatial.bboxes[0]
    inside = box(*bbox).centroid.buffer(0.01)
    assert len(catalog.search(collections="GFM", intersects=inside, max_items=100).item_collection()) == 4
    far = box(bbox[0] + 10, bbox[1], bbox[2] + 10, bbox[3])
    assert len(catalog.search(collections="GFM", intersects=far, max_items=100).item_collection()) == 0
    first_two = catalog.search(collections="GFM", datetime="2022-09-01/2022-09-07", max_items=100)
    assert sorted(i.datetime.day for i in first_two.item_collection()) == [1, 6]
    assert len(catalog.search(collections="GFM", max_items=3).item_collection()) == 3


def test_asset_pixels_match_the_generator(sandbox, catalog, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    item = next(iter(catalog.search(collections="GFM", max_items=1).items()))
    href = item.assets["ensemble_flood_extent"].href
    assert href.startswith(sandbox.s3.endpoint_url)
    with rasterio.open(href) as src:
        data = src.read(1)
        assert src.block_shapes == [(512, 512)] and src.nodata == 255
    o = sandbox.options
    ref = flood_scenes(tmp_path, size=o["flood_size"], n_dates=o["flood_dates"], seed=o["seed"])
    with rasterio.open(ref["folder"] / item.id / "ensemble_flood_extent.tif") as src:
        np.testing.assert_array_equal(data, src.read(1))


@pytest.mark.parametrize("kwargs,match", [
    ({"datetime": "2022-13-45"}, "is not a time or a range"),
    ({"bbox": (69.0, 27.6, 67.4, 26.2)}, "is it inverted"),
    ({"max_items": 0}, "max_items must be a positive number"),
])
def test_load_stac_bad_input_is_a_configuration_error(sandbox, kwargs, match):
    from labkit.errors import ConfigurationError
    from labkit.stac import load_stac

    with pytest.raises(ConfigurationError, match=match):
        load_stac(sandbox.stac.url, "GFM", bands=["ensemble_likelihood"], show=False,
                  **{"bbox": (67.4, 26.2, 69.0, 27.6), **kwargs})
