"""Where the gateway, its scheduler proxy and its login come from, and no silent local cluster (no server needed)."""

from __future__ import annotations

import dask
import pytest

from labkit import catalog, connect
from labkit.cluster_panel import ClusterPanel, start_cluster
from labkit.config import Endpoints
from labkit.errors import ConfigurationError
from labkit.oidc import OIDCAuth

TOKEN_URL = "http://127.0.0.1:9/realms/labkit/protocol/openid-connect/token"


@pytest.fixture
def no_gateway(monkeypatch: pytest.MonkeyPatch):
    """No gateway configured anywhere: environment and dask config."""
    for key in ("LABKIT_GATEWAY_ADDRESS", "LABKIT_GATEWAY_PROXY_ADDRESS", "LABKIT_OIDC_TOKEN_URL"):
        monkeypatch.delenv(key, raising=False)
    with dask.config.set({"gateway.address": None, "gateway.proxy-address": None}):
        yield


def test_a_gateway_backend_without_a_gateway_is_an_error_that_says_what_to_set(no_gateway):
    with pytest.raises(ConfigurationError, match=r"LABKIT_GATEWAY_ADDRESS.*gateway\.address.*backend='local'") as info:
        ClusterPanel(backend="gateway")
    assert catalog.EODC_GATEWAY.address in str(info.value)


def test_start_cluster_on_a_gateway_that_is_not_configured_starts_nothing(no_gateway):
    live = Endpoints(mode="live", omero=None, idr_s3=None, stac=None)
    with pytest.raises(ConfigurationError, match="no dask-gateway address"):
        start_cluster("gateway", live, workers=1)


def test_the_scheduler_proxy_comes_with_its_gateway(no_gateway, monkeypatch):
    assert connect._proxy_address(catalog.EODC_GATEWAY.address, None) == "tcp://dask.services.eodc.eu:10000"
    assert connect._proxy_address("http://127.0.0.1:8000", None) is None  # dask-gateway's own default
    monkeypatch.setenv("LABKIT_GATEWAY_PROXY_ADDRESS", "tcp://127.0.0.1:8001")
    assert connect._proxy_address("http://127.0.0.1:8000", "http://127.0.0.1:8000") == "tcp://127.0.0.1:8001"
    assert connect._proxy_address("http://elsewhere:8000", "http://127.0.0.1:8000") is None  # not that gateway's
    monkeypatch.delenv("LABKIT_GATEWAY_PROXY_ADDRESS")
    with dask.config.set({"gateway.proxy-address": "tcp://127.0.0.1:8002"}):
        assert connect._proxy_address("http://127.0.0.1:8000", "http://127.0.0.1:8000") == "tcp://127.0.0.1:8002"


def test_eodc_gateway_logs_in_at_eodc_keycloak(no_gateway, monkeypatch):
    monkeypatch.setenv("LABKIT_OIDC_USERNAME", "ada@example.org")
    monkeypatch.setenv("LABKIT_OIDC_PASSWORD", "not-printed")
    auth = connect._default_auth(catalog.EODC_GATEWAY.address)
    assert isinstance(auth, OIDCAuth)
    assert (auth.token_url, auth.client_id) == (catalog.EODC_GATEWAY.token_url, "dedl-dask-gateway")
    assert auth.grant == "password" and "not-printed" not in repr(auth)
    assert all(src.startswith("https://github.com/") for src in catalog.EODC_GATEWAY.sources)


def test_oidc_settings_that_are_missing_are_named():
    with pytest.raises(ConfigurationError, match="LABKIT_OIDC_TOKEN_URL"):
        OIDCAuth(env={})
    with pytest.raises(ConfigurationError, match=r"LABKIT_OIDC_USERNAME and \$LABKIT_OIDC_PASSWORD"):
        OIDCAuth(TOKEN_URL, "c", grant="password", env={})
    with pytest.raises(ConfigurationError, match="password.*device"):
        OIDCAuth(TOKEN_URL, "c", grant="implicit", env={})
    device = OIDCAuth(TOKEN_URL, "c", env={})  # no password: the device grant, at Keycloak's address
    assert device.grant == "device" and device.device_url.endswith("/protocol/openid-connect/auth/device")
