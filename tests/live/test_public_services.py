"""The tutorials' public services, reached as the tutorials reach them in live mode (skipped without internet).

These are the checks the sandbox tests make, against the real IDR (OMERO.web and its OME-Zarr on EBI's S3),
EODC's STAC API and EODC's dask-gateway: they say whether the sandbox still speaks like the services it stands
in for (issue 33: IDR's v0.4/v0.5 copies have no time axis and v0.5 lives under ``6001240_labels.zarr``, the
screen's fields are ``c z y x`` stacks, OMERO states its pixel unit, EODC's gateway takes a separate scheduler
proxy and an OpenID Connect login, and its workers may run other package versions than the notebook).

Run them with ``make test-live`` (``pytest tests/live -m network -rA -s``): every check prints a line
``ok   <what was checked>`` (shown with ``-s``, and in the summary's PASSES section with ``-rA``). Without
internet they are skipped (tests/conftest.py probes the S3 host for a few seconds). The EODC cluster test runs
only with an EODC account in ``LABKIT_OIDC_USERNAME`` and ``LABKIT_OIDC_PASSWORD`` (never printed).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import numpy as np
import pytest

import labkit
from labkit import catalog, connect, load_remote

pytestmark = pytest.mark.network

IMAGE = catalog.IDR_IMAGE
#: IDR's own list of its OME-NGFF samples (github IDR/ome-ngff-samples, _data/table.csv): image 6001240 in each
#: version, its folder under zarr/v{version}/ and its axes
PUBLISHED = {"0.1": ("6001240.zarr", "tczyx"), "0.4": ("idr0062A/6001240.zarr", "czyx"),
             "0.5": ("idr0062A/6001240_labels.zarr", "czyx")}


def ok(condition: object, what: str) -> None:
    """Assert ``condition``, then print the check (one line a check, for ``-s`` and ``-rA``)."""
    assert condition, f"failed: {what}"
    print(f"ok   {what}")


@pytest.fixture(scope="module")
def live():
    return labkit.endpoints("live")


# --------------------------------------------------------------------------- IDR: OMERO.web
def test_idr_omero_describes_the_image_as_the_catalogue_does(live):
    with connect.omero(live.omero) as conn:
        meta = conn.image(IMAGE.id)
    ok(meta.sizes == IMAGE.sizes, f"OMERO image {IMAGE.id}: sizes {meta.sizes}")
    ok(meta.channel_names == IMAGE.channel_names, f"channels {meta.channel_names}")
    ok(meta.zarr_url == IMAGE.zarr_url and meta.zarr_endpoint == catalog.IDR_S3_ENDPOINT,
       f"its OME-Zarr: {meta.zarr_endpoint} {meta.zarr_url}")
    for axis in "xyz":
        ok(meta.pixel_sizes[axis] == pytest.approx(IMAGE.pixel_sizes[axis]),
           f"pixel size {axis}: {meta.pixel_sizes[axis]} µm (catalogue {IMAGE.pixel_sizes[axis]})")


def test_idr_omero_states_the_pixel_unit_and_labkit_converts_it(live):
    """OMERO's JSON gives each physical size with its unit (omero-marshal's ``Unit``/``Symbol``): read, not assumed."""
    import requests

    with connect.omero(live.omero) as conn:
        meta = conn.image(IMAGE.id)
        version = conn.api_version
    pixels = requests.get(f"{live.omero}/api/v{version}/m/images/{IMAGE.id}/", timeout=60).json()["data"]["Pixels"]
    for key, axis in (("PhysicalSizeX", "x"), ("PhysicalSizeY", "y"), ("PhysicalSizeZ", "z")):
        stated = pixels.get(key)
        ok(isinstance(stated, dict) and stated.get("Unit") and stated.get("Value") is not None,
           f"{key} as OMERO states it: {stated and {k: stated.get(k) for k in ('Value', 'Unit', 'Symbol')}}")
        converted = connect.length_in_micrometres(stated, key)
        ok(converted == pytest.approx(meta.pixel_sizes[axis]),
           f"{key} {stated['Value']} {stated.get('Symbol')} -> {converted} µm, as labkit's image metadata says")


# --------------------------------------------------------------------------- IDR: OME-Zarr on EBI's S3
@pytest.mark.parametrize("version", sorted(PUBLISHED))
def test_ebi_s3_serves_each_published_version_with_its_axes(live, version):
    """IDR's copies of 6001240: v0.1 ``tczyx``; v0.4 and v0.5 ``czyx`` (no time axis), v0.5 as ``..._labels.zarr``."""
    folder, axes = PUBLISHED[version]
    url = f"s3://{catalog.IDR_BUCKET}/zarr/v{version}/{folder}"
    ok(IMAGE.zarr_url_of(version) == url, f"catalogue's v{version} url: {url}")
    meta = load_remote.info(url, endpoint_url=live.idr_s3, show=False)
    ok(meta.version == version, f"{url}: NGFF {meta.version}")
    ok("".join(meta.axis_names) == axes, f"axes {''.join(meta.axis_names)}")
    ok(IMAGE.axes_of(version) == axes, f"catalogue's v{version} axes: {IMAGE.axes_of(version)}")
    shape = tuple(IMAGE.sizes[a] for a in axes)
    ok(meta.levels[0].shape == shape, f"level 0 shape {meta.levels[0].shape} ({len(meta.levels)} levels)")
    if version != "0.1":
        names = labkit.labels.label_names(url, {"endpoint_url": live.idr_s3})
        ok(names == ["0"], f"label images {names}")


def test_the_v04_image_opens_without_a_time_axis(live):
    """What the tutorials do to IDR's v0.4 image: no ``t`` to select, the axis-agnostic selection still works."""
    url = IMAGE.zarr_url_of("0.4")
    image = load_remote.open_image(url, endpoint_url=live.idr_s3)
    ok("t" not in image.dims and image.dims == ("c", "z", "y", "x"), f"{url} opens with dims {image.dims}")
    plane = image.sel(c="Dapi").isel(t=0, missing_dims="ignore").isel(z=IMAGE.default_z)
    ok(plane.dims == ("y", "x") and plane.shape == (IMAGE.sizes["y"], IMAGE.sizes["x"]),
       f"Dapi, z={IMAGE.default_z}, isel(t=0, missing_dims='ignore'): {dict(plane.sizes)}")
    values = plane.values
    ok(values.max() > values.min(), f"pixels read: min {values.min()}, max {values.max()}")


def test_labkit_nuclei_against_the_study_s_expert_labels(live):
    """IDR's copy of 6001240 in idr0062A carries the study's nuclei (labels/0): labkit's 3D nuclei against them."""
    from skimage.segmentation import relabel_sequential

    from labkit.recipes import match_objects

    url = IMAGE.zarr_url_of("0.4")
    options = {"endpoint_url": live.idr_s3}
    image = load_remote.open_image(url, endpoint_url=live.idr_s3)
    names = labkit.labels.label_names(url, options)
    truth = labkit.open_labels(url, names[0], storage_options=options).squeeze(drop=True).values
    ok(truth.ndim == 3, f"labels/{names[0]}: {truth.shape}, {len(np.unique(truth)) - 1} nuclei")
    found = labkit.segment_nuclei(image.sel(c="Dapi").isel(t=0, missing_dims="ignore")).values  # v0.4: no t
    score = match_objects(relabel_sequential(found)[0], relabel_sequential(truth)[0])
    ok(score["f1"] >= 0.5, f"labkit's nuclei against idr0062A's labels/{names[0]}: F1 {score['f1']:.2f} "
       f"({score['found']} found, {score['true']} in the study's labels, {score['matched']} matched)")


def test_ebi_s3_serves_the_screen_tutorial_s_plate_with_3d_fields(live):
    """Tutorial 05's live plate (catalog.IDR_PLATE): 96 wells of 6 fields, each field ``c z y x`` (16 planes)."""
    plate_meta = catalog.IDR_PLATE
    ok(live.idr_s3 == plate_meta.endpoint, f"plate endpoint {plate_meta.endpoint}")
    plate = labkit.open_plate(plate_meta.url, endpoint_url=live.idr_s3)
    ok((len(plate.rows), len(plate.columns)) == (plate_meta.rows, plate_meta.columns),
       f"{plate_meta.url}: NGFF {plate.version}, {len(plate.rows)} rows x {len(plate.columns)} columns")
    ok(len(plate.wells) == plate_meta.rows * plate_meta.columns, f"{len(plate.wells)} wells with images")
    wells = set(plate.wells.well)
    ok({"A1", "H12"} <= wells, f"wells named A1 ... H12 (first {plate.wells.well.iloc[0]}, last "
       f"{plate.wells.well.iloc[-1]})")
    ok(set(plate.wells.fields) == {plate_meta.fields}, f"fields per well: {sorted(set(plate.wells.fields))}")
    first = plate.wells.well.iloc[0]
    image = plate.image(first, plate_meta.fields - 1)
    ok(image.dims == ("c", "z", "y", "x"), f"well {first}, field {plate_meta.fields - 1}: dims {image.dims}")
    ok(dict(image.sizes) == plate_meta.sizes, f"sizes {dict(image.sizes)} (16 planes)")
    channels = [str(c) for c in image.c.values]
    ok(channels == list(plate_meta.channel_names), f"channels {channels}")
    ok(plate_meta.nuclear_channel in image.c.values, f"nuclear channel {plate_meta.nuclear_channel!r} present")
    plane = image.sel(c=plate_meta.nuclear_channel).max("z").values  # the tutorial's z projection
    ok(plane.shape == (plate_meta.sizes["y"], plate_meta.sizes["x"]) and plane.max() > plane.min(),
       f"z projection of {plate_meta.nuclear_channel!r}: {plane.shape}, max {plane.max()}")


# --------------------------------------------------------------------------- EODC: STAC
def test_eodc_stac_finds_gfm_items_over_the_original_area(live):
    pystac_client = pytest.importorskip("pystac_client")
    client = pystac_client.Client.open(live.stac)
    collection = client.get_collection(catalog.GFM.id)
    ok(collection.id == catalog.GFM.id, f"{live.stac}: collection {collection.id}")
    search = client.search(collections=[catalog.GFM.id], bbox=catalog.PAKISTAN_AOI,
                           datetime="2022-09-01/2022-09-05", max_items=5)
    items = list(search.items())
    ok(items, f"{len(items)} items over {catalog.PAKISTAN_AOI}, 2022-09-01/05")
    assets = set(items[0].assets)
    ok(set(catalog.GFM.bands) <= assets, f"item {items[0].id}: bands {sorted(catalog.GFM.bands)} among its assets")
    band = items[0].assets[catalog.GFM.bands[0]]
    props = {**items[0].properties, **band.extra_fields}
    ok("proj:wkt2" in props or "proj:code" in props or "proj:epsg" in props,
       f"projection stated: {sorted(k for k in props if k.startswith('proj:'))}")


# --------------------------------------------------------------------------- EODC: dask-gateway
def test_eodc_gateway_api_and_scheduler_proxy_answer():
    """EODC's gateway API answers over HTTPS and its scheduler proxy accepts connections (no account needed)."""
    import requests

    gw = catalog.EODC_GATEWAY
    r = requests.get(f"{gw.address}/api/health", timeout=30)
    ok(r.status_code == 200, f"{gw.address}/api/health: {r.status_code} {r.text[:80]!r}")
    connect._check_proxy(gw.proxy_address)  # a labkit error naming the proxy when nothing answers
    ok(True, f"scheduler proxy {gw.proxy_address} accepts TCP connections")
    token_host = urlparse(gw.token_url).netloc
    r = requests.get(gw.token_url.rsplit("/protocol/", 1)[0] + "/.well-known/openid-configuration", timeout=30)
    ok(r.ok and r.json().get("token_endpoint") == gw.token_url,
       f"{token_host}: OpenID Connect discovery names the catalogue's token endpoint")


@pytest.mark.timeout(1200)  # a cluster on EODC may wait minutes for a node
@pytest.mark.skipif(not (os.environ.get("LABKIT_OIDC_USERNAME") and os.environ.get("LABKIT_OIDC_PASSWORD")),
                    reason="needs an EODC account: set LABKIT_OIDC_USERNAME and LABKIT_OIDC_PASSWORD")
def test_eodc_gateway_cluster_computes_and_reports_its_versions():
    """Log in through EODC's Keycloak, start a one-worker cluster through the proxy, compute, report versions."""
    from labkit.cluster_panel import ClusterPanel

    gw = catalog.EODC_GATEWAY
    with ClusterPanel(backend="gateway", address=gw.address, options={"worker_cores": 1}) as panel:
        auth = panel._gateway.auth
        ok(type(auth).__name__ == "OIDCAuth", f"login: OpenID Connect, client {gw.client_id}, {gw.token_url}")
        proxy = panel._gateway.proxy_address  # dask-gateway writes it gateway://host:port
        ok(proxy.split("://")[-1] == gw.proxy_address.split("://")[-1], f"scheduler proxy {proxy}")
        panel.start()
        panel.scale(1)
        panel.wait_for_workers(1, timeout=600)
        ok(panel.client.submit(sum, [1, 2]).result(timeout=300) == 3, f"cluster {panel.cluster.name} computes")
        report = panel.versions
        ok(report is not None and not report.error, "client, scheduler and worker versions read")
        for pkg in ("python", "dask", "distributed", "dask-gateway", "cloudpickle", "numpy"):
            workers = sorted({str(w.get(pkg)) for w in report.workers.values()})
            print(f"     {pkg}: here {report.client.get(pkg)}, scheduler {report.scheduler.get(pkg)}, "
                  f"workers {' / '.join(workers)}")
        print("     " + report.message().replace("\n", "\n     "))
        ok(not report.mismatches or report.fix(), "a mismatch, if any, comes with its fix")
