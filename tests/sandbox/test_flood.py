"""load_stac, flood_summary, write_zarr and ClusterPanel against the sandbox STAC, S3 and gateway."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import s3fs
import xarray as xr
from dask_gateway import BasicAuth

from labkit import recipes
from labkit._process import free_port
from labkit.cluster_panel import ClusterPanel
from labkit.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    ServiceUnavailableError,
)
from labkit.stac import load_stac
from labkit.storage import open_store
from labkit.synthetic import flood_scenes
from labkit.write import write_zarr
from tests.conftest import gateway_clusters

BANDS = ["ensemble_flood_extent", "ensemble_likelihood"]


@pytest.fixture(scope="module")
def truth(sandbox, tmp_path_factory):
    o = sandbox.options
    return flood_scenes(tmp_path_factory.mktemp("truth"), size=o["flood_size"], n_dates=o["flood_dates"],
                        seed=o["seed"])["truth"]


def _bbox(sandbox):
    return tuple(sandbox.stac.client().get_collection("GFM").extent.spatial.bboxes[0])


def test_summary_equals_the_ground_truth(sandbox, truth):
    ds = load_stac(sandbox.stac.url, "GFM", bbox=_bbox(sandbox), datetime="2022-09-01/2022-10-01",
                               bands=BANDS, dtype="uint8", chunks={"x": 1024, "y": 1024, "time": -1}, show=False)
    assert ds.attrs["stac_items"] == sandbox.stac.n_items == ds.sizes["time"]
    out = recipes.flood_summary(ds).compute(scheduler="threads")
    extent, likelihood = truth.on_grid(out.x.values, out.y.values)
    np.testing.assert_array_equal(out.ensemble_flood_extent.values, extent)
    diff = np.abs(out.ensemble_likelihood.values.astype(int) - likelihood.astype(int))
    assert diff.max() <= 1
    assert 0 < (extent == 1).mean() < 1 and (extent == 255).any() and (extent == 0).any()


def test_grid_comes_from_the_items(sandbox):
    ds = load_stac(sandbox.stac.url, "GFM", bbox=_bbox(sandbox), bands=BANDS[:1],
                               chunks={"x": 512, "y": 512}, show=False)
    assert float(abs(ds.x[1] - ds.x[0])) == 20.0
    from pyproj import CRS

    from labkit.synthetic import equi7_wkt2

    assert CRS.from_wkt(ds.odc.crs.to_wkt()) == CRS.from_wkt(equi7_wkt2())


def test_empty_search_and_unreachable_api(sandbox):
    with pytest.raises(NotFoundError, match="found no item"):
        load_stac(sandbox.stac.url, "GFM", bbox=(10, 10, 10.1, 10.1), bands=BANDS, show=False)
    with pytest.raises(ServiceUnavailableError):
        load_stac(f"http://127.0.0.1:{free_port()}", "GFM", bbox=_bbox(sandbox), bands=BANDS)


def test_workers_write_zarr_to_s3(sandbox, sandbox_env, truth):
    url = "s3://results/test-flood.zarr"
    ds = load_stac(sandbox.stac.url, "GFM", bbox=_bbox(sandbox), bands=BANDS, dtype="uint8",
                               chunks={"x": 1024, "y": 1024, "time": -1}, show=False)
    with ClusterPanel(backend="gateway", address=sandbox.gateway.address) as panel:
        panel.start()
        panel.scale(1)
        panel.wait_for_workers(1)
        write_zarr(recipes.flood_summary(ds), url, chunks_per_batch=1)  # four regions, written one by one
        # the client keeps no copy of the graphs it sent (distributed keeps up to 1000 for debugging)
        assert not [m for m in panel.client.scheduler_comm.recent_message_log if isinstance(m, list)]
        gw = panel._gateway
        assert [c.name for c in gw.list_clusters()] == [panel.cluster.name]
    assert panel._gateway is not None and panel.cluster is None
    back = xr.open_zarr(open_store(url, {"anon": False}), consolidated=True)
    assert back.ensemble_flood_extent.dtype == np.uint8
    extent, _ = truth.on_grid(back.x.values, back.y.values)
    np.testing.assert_array_equal(back.ensemble_flood_extent.values, extent)
    assert gateway_clusters(sandbox) == []  # no orphan left on the gateway


@pytest.mark.parametrize("lazy", [False, True])
def test_write_without_permission_is_refused_and_writes_nothing(s3_users, lazy):
    reader = s3_users["users"]["reader"]
    ds = xr.Dataset({"a": (("y", "x"), np.zeros((4, 4), np.uint8))})
    ds = ds.chunk(2) if lazy else ds
    opts = {"key": reader["key"], "secret": reader["secret"], "endpoint_url": s3_users["endpoint_url"]}
    with pytest.raises(AccessDeniedError, match="no permission to write"):
        write_zarr(ds, "s3://results/denied.zarr", storage_options=opts, progress=False)
    admin = s3_users["users"]["admin"]
    fs = s3fs.S3FileSystem(key=admin["key"], secret=admin["secret"], endpoint_url=s3_users["endpoint_url"])
    assert not fs.exists("results/denied.zarr/.zgroup")


# ------------------------------------------------------------------ ClusterPanel
def test_panel_gateway_options_scale_adapt_close(sandbox, sandbox_env, unraisable):
    with ClusterPanel(backend="gateway", address=sandbox.gateway.address,
                      options={"worker_cores": 1, "worker_memory": 0.5, "image": "x/y:1"}) as panel:
        opts = panel.cluster_options
        assert {f: type(opts._fields[f]).__name__ for f in opts} == {
            "worker_cores": "Integer", "worker_memory": "Float", "image": "String"}
        assert panel.status["running"] is False
        panel.start()
        panel.scale(2)
        panel.wait_for_workers(2)
        s = panel.status
        assert s["workers"] == 2 and s["threads"] == 2 and s["memory"] == 2 * 2**29
        panel.scale(10**6)  # more than the gateway allows: it says so, and how many it gives
        assert "asked for 1000000 workers; the gateway said" in panel.messages[-1]
        assert "4" in panel.messages[-1].split("said:", 1)[1]
        panel.adapt(1, 2)
        assert panel.dashboard_link.startswith(sandbox.gateway.address)
    assert panel.status["running"] is False
    assert gateway_clusters(sandbox) == []
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []  # no "Exception ignored" from the cluster's own Gateway


def test_panel_bad_gateway_input(sandbox, sandbox_env, tmp_path, monkeypatch):
    with pytest.raises(AuthenticationError):
        ClusterPanel(backend="gateway", address=sandbox.gateway.address, auth=BasicAuth("labkit", "wrong"))
    with pytest.raises(ServiceUnavailableError):
        ClusterPanel(backend="gateway", address=f"http://127.0.0.1:{free_port()}", auth=BasicAuth("a", "b"))
    with pytest.raises(ServiceUnavailableError, match=sandbox.stac.url.split("/api")[0]):
        ClusterPanel(backend="gateway", address=sandbox.stac.url, auth=BasicAuth("a", "b"))  # not a dask-gateway
    with pytest.raises(Exception, match="no option"):
        ClusterPanel(backend="gateway", address=sandbox.gateway.address, options={"gpus": 1})
    assert gateway_clusters(sandbox) == []
    monkeypatch.setenv("LABKIT_SANDBOX_DIR", str(tmp_path))  # no sandbox, no address anywhere
    monkeypatch.delenv("LABKIT_GATEWAY_ADDRESS", raising=False)
    with pytest.raises(ConfigurationError, match="no dask-gateway address"):  # never a local cluster in disguise
        ClusterPanel(backend="gateway")


def test_panel_callbacks_log_errors_instead_of_raising():
    pytest.importorskip("ipywidgets")
    panel = ClusterPanel(backend="local", address="http://127.0.0.1:1/gateway")
    w = panel._widget()
    assert w is panel._widget()  # made once
    panel._widgets["scale"].click()  # before start: an error, logged in the panel
    assert "error: the cluster is not running" in panel._widgets["messages"].value
    panel._widgets["n"].value = 1
    panel._widgets["start"].click()
    panel._widgets["scale"].click()
    panel.wait_for_workers(1)
    panel._update_widget()
    assert "running: 1 worker, 1 thread" in panel._widgets["status"].value
    assert "(local)" in w.children[0].value  # the header names no gateway address for a local cluster
    panel.adapt(1, 2)  # from code: the panel shows the bounds asked for
    assert (panel._widgets["minimum"].value, panel._widgets["maximum"].value) == (1, 2)
    panel._widgets["stop"].click()
    assert panel.cluster is None and "stopped" in panel._widgets["status"].value
