"""The sandbox dask-gateway through dask_gateway.Gateway with BasicAuth."""

from __future__ import annotations

import gc
import os

import dask.array as da
import pytest
from dask_gateway import BasicAuth, Gateway

from labkit import connect
from labkit.errors import AuthenticationError, ServiceUnavailableError


def test_options_cluster_scale_adapt_compute(sandbox):
    gw = Gateway(sandbox.gateway.address, proxy_address=sandbox.gateway.proxy_address,
                 auth=BasicAuth(sandbox.gateway.username, sandbox.gateway.password))  # its scheduler proxy, as EODC
    opts = gw.cluster_options()
    assert set(opts) == {"worker_cores", "worker_memory", "image"}
    with pytest.raises(ValueError):
        opts.worker_cores = 3  # the sandbox allows 1-2
    opts.worker_cores, opts.worker_memory, opts.image = 1, 0.5, "example.org/analysis:1.0"
    cluster = gw.new_cluster(opts)
    try:
        cluster.scale(2)
        client = cluster.get_client()
        client.wait_for_workers(2, timeout=90)
        x = da.arange(100_000, chunks=10_000)
        assert int(x.sum().compute()) == int(sum(range(100_000)))
        assert set(client.run(lambda: os.environ.get("LABKIT_WORKER_IMAGE")).values()) == {"example.org/analysis:1.0"}
        assert {w["nthreads"] for w in client.scheduler_info()["workers"].values()} == {1}
        cluster.adapt(minimum=1, maximum=2)
        assert [c.name for c in gw.list_clusters()] == [cluster.name]
        client.close()
    finally:
        cluster.shutdown()
    assert gw.list_clusters() == []
    gw.close()


def test_wrong_password_is_refused_by_the_server(sandbox):
    aiohttp = pytest.importorskip("aiohttp")
    gw = Gateway(sandbox.gateway.address, auth=BasicAuth(sandbox.gateway.username, "wrong"))
    with pytest.raises(aiohttp.ClientResponseError) as info:
        gw.list_clusters()
    assert info.value.status == 401
    gw.close()


def test_connect_gateway_wrong_password_is_a_clear_error(sandbox, unraisable):
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        connect.gateway(sandbox.gateway.address, auth=BasicAuth("labkit", "wrong"))
    gc.collect()
    assert unraisable == []  # the refused Gateway is closed once: no "Exception ignored" after the error


def test_connect_gateway_finds_sandbox_credentials(sandbox, sandbox_env):
    gw = connect.gateway(sandbox.gateway.address)
    assert gw.list_clusters() == []
    gw.close()


def test_connect_gateway_unreachable(sandbox):
    from labkit._process import free_port

    with pytest.raises(ServiceUnavailableError, match="no dask-gateway answers"):
        connect.gateway(f"http://127.0.0.1:{free_port()}", auth=BasicAuth("a", "b"))
