"""connect.omero, load_remote and the NGFF copies against the sandbox OMERO replica and S3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from labkit import catalog, connect, load_remote, ngff
from labkit._process import free_port
from labkit._zarr import ZARR3
from labkit.errors import AccessDeniedError, FormatError, NotFoundError, ServiceUnavailableError
from labkit.sandbox.locate import idr_image_path
from labkit.storage import open_store

V01 = "s3://idr/zarr/v0.1/6001240.zarr"
COPIES = {"0.4": "s3://idr/zarr/v0.4/idr0062A/6001240.zarr", "0.5": "s3://idr/zarr/v0.5/idr0062A/6001240_labels.zarr"}
#: zarr.json files of IDR's v0.5 copy, as IDR serves them (see tests/fixtures/idr_v05/README.md)
V05_FIXTURES = Path(__file__).parents[1] / "fixtures" / "idr_v05" / "6001240_labels.zarr"
needs_zarr3 = pytest.mark.skipif(not ZARR3, reason="OME-NGFF 0.5 (zarr format 3) needs zarr-python 3")


@pytest.fixture(scope="module")
def source():
    return zarr.open_group(idr_image_path(), mode="r")


def test_omero_image_meta(sandbox):
    with connect.omero(sandbox.omero.url, zarr_endpoint=sandbox.s3.endpoint_url) as conn:
        meta = conn.image(6001240)
    assert meta.sizes == {"t": 1, "c": 2, "z": 236, "y": 275, "x": 271}
    assert meta.pixel_sizes == {"x": 0.3603981534640209, "y": 0.3603981534640209, "z": 0.5002025531914894}
    assert meta.pixel_type == "uint16" and meta.default_z == 118
    assert [(c.label, c.color, c.window) for c in meta.channels] == [
        ("LaminB1", "0000FF", (0.0, 1500.0)), ("Dapi", "FFFF00", (0.0, 1500.0))]
    assert meta.zarr_url == V01 and meta.zarr_endpoint == sandbox.s3.endpoint_url


def test_omero_errors_say_what_to_check(sandbox):
    with connect.omero(sandbox.omero.url) as conn, pytest.raises(NotFoundError, match="image 42 was not found"):
        conn.image(42)
    with pytest.raises(ServiceUnavailableError, match="cannot reach the OMERO server"):
        connect.omero(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(FormatError, match="does not serve the OMERO.web JSON API"):
        connect.omero(sandbox.stac.url)  # a real server, but not OMERO


def test_info_reads_metadata_only(sandbox, capsys):
    meter = sandbox.s3.transfers()
    meta = load_remote.info(V01, endpoint_url=sandbox.s3.endpoint_url)
    counts = meter.counts()  # what the server says it sent
    smallest_chunk = min(p.stat().st_size for p in (idr_image_path() / "0").iterdir() if not p.name.startswith("."))
    assert counts["bytes"] < min(64 * 1024, smallest_chunk), f"info() transferred {counts}"  # no level-0 chunk
    assert 1 <= counts["GET"] <= 20 and set(counts) <= {"bytes", "GET", "HEAD", "LIST"}, counts  # JSON probes, 404s
    out = capsys.readouterr().out
    assert "(1, 2, 236, 275, 271)" in out and "Dapi" in out and "0.1" in out
    assert [lv.shape for lv in meta.levels][2] == (1, 2, 236, 68, 67)


@pytest.mark.parametrize("version", ["0.1", "0.4", pytest.param("0.5", marks=needs_zarr3)])
def test_every_level_equals_the_source(sandbox, source, version):
    url = {"0.1": V01, **COPIES}[version]
    assert url == catalog.IDR_IMAGE.zarr_url_of(version)
    for level in range(3):
        img = load_remote.open_image(url, level=level, endpoint_url=sandbox.s3.endpoint_url)
        assert img.dims == tuple(catalog.IDR_IMAGE.axes_of(version))  # IDR's v0.4 and v0.5 have no time axis
        assert list(img.c.values) == ["LaminB1", "Dapi"]
        expected = source[str(level)][...]
        np.testing.assert_array_equal(img.values, expected if "t" in img.dims else expected[0])


def test_v04_copy_is_shaped_like_idrs(sandbox):
    """IDR's v0.4 copy as ome-zarr-models / pydantic-ome-ngff print it (their docs read it from EBI's S3)."""
    ep = sandbox.s3.endpoint_url
    meta = load_remote.info(COPIES["0.4"], endpoint_url=ep)
    assert meta.version == "0.4" and meta.zarr_format == 2
    assert [(a.name, a.type, a.unit) for a in meta.axes] == [
        ("c", "channel", None), *((n, "space", "micrometer") for n in "zyx")]
    assert [lv.shape for lv in meta.levels] == [(2, 236, 275, 271), (2, 236, 137, 135), (2, 236, 68, 67)]
    assert [list(lv.scale) for lv in meta.levels] == [
        [1.0, 0.5002025531914894, 0.3603981534640209, 0.3603981534640209],
        [1.0, 0.5002025531914894, 0.7207963069280418, 0.7207963069280418],
        [1.0, 0.5002025531914894, 1.4415926138560835, 1.4415926138560835]]
    assert [lv.chunks for lv in meta.levels][0] == (1, 1, 275, 271)  # one plane a chunk (IDR: 1,475 objects)


@needs_zarr3
def test_v05_copy_has_idrs_metadata(sandbox):
    """Every zarr.json IDR serves for its v0.5 copy (root, levels, labels) is served the same by the sandbox."""
    import json

    import s3fs

    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.endpoint_url)
    root = COPIES["0.5"].removeprefix("s3://")
    recorded = sorted(V05_FIXTURES.rglob("zarr.json"))
    assert len(recorded) == 7
    for path in recorded:
        key = path.relative_to(V05_FIXTURES).as_posix()
        assert json.loads(fs.cat(f"{root}/{key}")) == json.loads(path.read_text()), key


@pytest.mark.parametrize("version", ["0.4", pytest.param("0.5", marks=needs_zarr3)])
def test_copies_carry_the_expert_labels(sandbox, version):
    """IDR's expert labels (labels/0: 61 nuclei, from OMERO ROIs) in both copies, as in IDR's."""
    store = open_store(COPIES[version], endpoint_url=sandbox.s3.endpoint_url)
    group = zarr.open_group(store, mode="r")
    attrs = dict(group["labels"].attrs)
    assert (attrs.get("ome", attrs))["labels"] == ["0"]
    label = group["labels/0"]
    meta = dict(label.attrs)
    meta = meta.get("ome", meta)
    assert meta["image-label"]["source"] == {"image": "../.."}
    assert len(meta["image-label"]["properties"]) == 61 and "omero:roiId" in meta["image-label"]["properties"][0]
    data = label["0"][...]
    assert data.shape == (1, 236, 275, 271) and data.dtype == np.int8
    assert sorted(np.unique(data).tolist()) == list(range(62))
    import labkit  # labkit's own readers find and open them

    options = {"endpoint_url": sandbox.s3.endpoint_url}
    assert labkit.labels.label_names(COPIES[version], options) == ["0"]
    opened = labkit.open_labels(COPIES[version], "0", storage_options=options)
    assert opened.sizes["z"] == 236 and int(opened.max()) == 61


def test_physical_coordinates(sandbox):
    img = load_remote.open_image(COPIES["0.4"], level=1, endpoint_url=sandbox.s3.endpoint_url)
    assert float(img.x[1] - img.x[0]) == pytest.approx(2 * 0.3603981534640209)
    assert float(img.z[1] - img.z[0]) == pytest.approx(0.5002025531914894)
    assert img.x.attrs["units"] == "micrometer"
    legacy = load_remote.open_image(V01, endpoint_url=sandbox.s3.endpoint_url, pixel_sizes={"x": 0.36, "y": 0.36})
    assert float(legacy.x[2]) == pytest.approx(0.72)


@pytest.mark.parametrize("version", ["0.4", pytest.param("0.5", marks=needs_zarr3)])
def test_copies_validate_and_open_with_other_tools(sandbox, tmp_path, version):
    pytest.importorskip("ome_zarr_models", reason="validation needs the ngff extra")
    store = open_store(COPIES[version], endpoint_url=sandbox.s3.endpoint_url)
    if version == "0.5":
        # IDR's own labels group (labels/zarr.json, as copied from EBI in November 2025) has no "version" in its
        # "ome" attributes, which ome-zarr-models requires: the sandbox serves IDR's bytes, so validating the
        # whole image fails as it did against IDR (a later record shows IDR added the version since)
        with pytest.raises(FormatError, match="LabelsAttrs[\\s\\S]*version"):
            ngff.validate(zarr.open_group(store, mode="r"))
    else:
        ngff.validate(zarr.open_group(store, mode="r"))
    local = tmp_path / f"v{version}.zarr"
    ngff.convert(idr_image_path(), local, version=version, pixel_sizes={"x": 0.36, "y": 0.36, "z": 0.5})
    ome_zarr = str(Path(sys.executable).with_name("ome_zarr"))
    out = subprocess.run([ome_zarr, "info", str(local)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"version: {version}" in out.stdout and "(1, 2, 236, 137, 135)" in out.stdout
    plain = zarr.open_group(local, mode="r")  # zarr alone
    assert plain["0"].shape == (1, 2, 236, 275, 271)


def test_not_an_ome_zarr_says_what_was_found(sandbox):
    ep = sandbox.s3.endpoint_url
    with pytest.raises(FormatError, match="is a zarr array of shape"):
        load_remote.info(f"{V01}/0", endpoint_url=ep)
    with pytest.raises(FormatError, match="no OME-NGFF 'multiscales'"):
        load_remote.open_image(f"{V01}/labels", endpoint_url=ep)
    with pytest.raises(FormatError, match="is a file of 657 bytes"):
        load_remote.info(f"{V01}/.zattrs", endpoint_url=ep)
    with pytest.raises(NotFoundError, match="nothing found"):
        load_remote.info("s3://idr/zarr/v0.1/1.zarr", endpoint_url=ep)
    with pytest.raises(IndexError, match="levels 0-2"):
        load_remote.open_image(V01, level=3, endpoint_url=ep)


def test_cli_info(sandbox):
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "info", V01, "--endpoint-url", sandbox.s3.endpoint_url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Multiscales (OME-NGFF 0.1)" in out.stdout and "LaminB1" in out.stdout


@needs_zarr3
def test_obstore_by_default_fsspec_on_request_same_pixels(sandbox, source):
    from zarr.storage import FsspecStore, ObjectStore

    ep = sandbox.s3.endpoint_url
    assert isinstance(open_store(V01, {"anon": True}, endpoint_url=ep), ObjectStore)
    assert isinstance(open_store(V01, {"anon": True}, endpoint_url=ep, engine="fsspec"), FsspecStore)
    assert isinstance(open_store(V01, {"profile": "x"}, endpoint_url=ep), FsspecStore)  # obstore has no profiles
    by_obstore = load_remote.open_image(V01, level=1, endpoint_url=ep).values
    by_fsspec = load_remote.open_image(V01, level=1, endpoint_url=ep, engine="fsspec").values
    np.testing.assert_array_equal(by_obstore, source["1"][...])
    np.testing.assert_array_equal(by_fsspec, by_obstore)


@needs_zarr3
def test_obstore_reads_on_dask_workers_anonymous_and_signed(sandbox, source):
    """The store travels to worker processes pickled; public data anonymously, private data with credentials."""
    from distributed import Client, LocalCluster

    ep, s3 = sandbox.s3.endpoint_url, sandbox.s3
    private = "s3://results/obstore-workers.ome.zarr"
    ngff.write_image(private, source["2"][...], axes="tczyx", version="0.4", overwrite=True,
                     storage_options=s3.storage_options())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        public = load_remote.open_image(V01, level=2, endpoint_url=ep)
        signed = load_remote.open_image(private, storage_options=s3.storage_options())
        got_public, got_signed = client.compute([public.data.sum(), signed.data.max()], sync=True)
        assert len(client.nthreads()) == 2
    assert int(got_public) == int(source["2"][...].astype(np.int64).sum())
    assert int(got_signed) == int(source["2"][...].max())
    with pytest.raises(AccessDeniedError):
        load_remote.open_image(private, endpoint_url=ep)  # anonymous: the bucket is private
