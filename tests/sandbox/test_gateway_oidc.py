"""EODC's gateway as EODC runs it, against the sandbox: a separate scheduler proxy and an OpenID Connect login.

A sandbox of its own (the gateway and its identity provider only) whose access tokens live 10 s: a run of 25 s
makes gateway API calls long after the first token expired, and succeeds because labkit's ``OIDCAuth``
refreshes it; a token that is not refreshed is refused by the gateway. Then every failure a user can meet:
a wrong scheduler proxy, a revoked session, a refused password, options the gateway refuses
(no gateway at all: tests/unit/test_gateway_config.py).
"""

from __future__ import annotations

import gc
import time

import dask
import pytest
import requests

from labkit import connect
from labkit._process import free_port
from labkit.cluster_panel import ClusterPanel, _new_gateway_cluster
from labkit.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError
from labkit.sandbox import Sandbox

LIFETIME = 10  # seconds an access token lives in this sandbox
RUN = 25  # seconds the long run lasts


@pytest.fixture(scope="module")
def eodc_like(tmp_path_factory: pytest.TempPathFactory):
    """A sandbox with the gateway and its OpenID Connect provider only, tokens living ``LIFETIME`` seconds."""
    with Sandbox(services=["gateway"], root=tmp_path_factory.mktemp("oidc"), token_lifetime=LIFETIME) as sb:
        yield sb


@pytest.fixture
def eodc_env(eodc_like, monkeypatch: pytest.MonkeyPatch):
    """The sandbox's client environment: gateway, scheduler proxy, the LABKIT_OIDC_* login (no static token)."""
    monkeypatch.delenv("LABKIT_GATEWAY_TOKEN", raising=False)
    for key, value in eodc_like.gateway.env().items():
        monkeypatch.setenv(key, value)
    return eodc_like


def _provider_log(sb: Sandbox) -> str:
    return (sb.root / "logs" / "oidc.log").read_text()


def test_the_gateway_is_served_through_a_separate_scheduler_proxy(eodc_like):
    gw = eodc_like.gateway
    assert gw.proxy_address and gw.proxy_address.rsplit(":", 1)[1] != gw.address.rsplit(":", 1)[1]
    discovery = requests.get(f"{eodc_like.records['gateway']['issuer']}/.well-known/openid-configuration",
                             timeout=10).json()
    assert discovery["token_endpoint"] == gw.token_url
    assert {"password", "refresh_token"} <= set(discovery["grant_types_supported"])


def test_a_run_longer_than_the_token_lifetime_refreshes_the_token(eodc_env):
    sb = eodc_env
    before = _provider_log(sb).count("grant=refresh_token user='labkit' ok")
    # a token that nobody refreshes: the control, refused once its lifetime is over
    static = sb.gateway.oidc_auth()
    frozen = connect.gateway(sb.gateway.address, auth=connect._bearer_auth(static.token()))
    with ClusterPanel(backend="gateway", options={"worker_cores": 1}) as panel:  # everything from the environment
        auth = panel._gateway.auth
        assert type(auth).__name__ == "OIDCAuth" and panel._gateway.proxy_address.endswith(
            sb.gateway.proxy_address.rsplit(":", 1)[1])
        panel.start()
        panel.scale(1)
        panel.wait_for_workers(1, timeout=120)
        # versions asked through the scheduler proxy: one environment everywhere, dask-gateway compared too
        assert panel.versions.ok and "dask-gateway" in next(iter(panel.versions.workers.values())), panel.versions
        start, rounds, frozen_refused = time.monotonic(), 0, None
        while time.monotonic() - start < RUN:  # computations and gateway API calls, well past the token's life
            assert panel.client.submit(sum, [rounds, 1]).result(timeout=60) == rounds + 1
            panel.scale(1)
            assert [c.name for c in panel._gateway.list_clusters()] == [panel.cluster.name]
            if frozen_refused is None:
                try:
                    frozen.list_clusters()
                except Exception as exc:  # noqa: BLE001 - what the gateway says to an expired token
                    frozen_refused = exc
            rounds += 1
            time.sleep(1)
        assert panel.status["workers"] == 1
    frozen.close()
    assert getattr(frozen_refused, "status", None) == 401  # the sandbox's tokens do expire
    assert auth.logins == 1 and auth.refreshes >= RUN // LIFETIME
    log = _provider_log(sb)
    assert log.count("grant=refresh_token user='labkit' ok") - before >= RUN // LIFETIME
    # no secret in the provider's or the gateway's log, nor in the auth's repr
    secrets = [sb.gateway.password, auth.token()]
    logs = log + (sb.root / "logs" / "gateway.log").read_text()
    assert not [s for s in secrets if s in logs or s in repr(auth)]


def test_without_the_scheduler_proxy_the_cluster_is_unreachable_and_says_so(eodc_like, monkeypatch):
    monkeypatch.delenv("LABKIT_GATEWAY_PROXY_ADDRESS", raising=False)
    monkeypatch.delenv("LABKIT_GATEWAY_ADDRESS", raising=False)
    # what labkit did before: Gateway(address, auth), the scheduler dialled on the API's own port
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}), \
            ClusterPanel(backend="gateway", address=eodc_like.gateway.address,
                         auth=eodc_like.gateway.oidc_auth()) as panel:
        assert panel._gateway.proxy_address.endswith(eodc_like.gateway.address.rsplit(":", 1)[1])
        with pytest.raises(ServiceUnavailableError, match="scheduler proxy .* was shut down"):
            panel.start()
        gw = panel._gateway
        deadline = time.monotonic() + 60
        while gw.list_clusters() and time.monotonic() < deadline:  # the unreachable cluster is not left running
            time.sleep(0.5)
        assert gw.list_clusters() == []


def test_a_wrong_proxy_address_is_a_clear_error_before_any_cluster(eodc_like, unraisable):
    wrong = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailableError, match=f"scheduler proxy {wrong}.*LABKIT_GATEWAY_PROXY_ADDRESS"):
        connect.gateway(eodc_like.gateway.address, auth=eodc_like.gateway.oidc_auth(), proxy_address=wrong)
    gc.collect()
    assert unraisable == []


def test_a_revoked_session_is_a_clear_error(eodc_like):
    auth = eodc_like.gateway.oidc_auth()
    gw = connect.gateway(eodc_like.gateway.address, auth=auth, proxy_address=eodc_like.gateway.proxy_address)
    discovery = requests.get(f"{eodc_like.records['gateway']['issuer']}/.well-known/openid-configuration",
                             timeout=10).json()
    # the provider ends the session (an administrator, a logout elsewhere): access and refresh tokens die with it
    requests.post(discovery["revocation_endpoint"], data={"token": auth._refresh, "client_id": auth.client_id},
                  timeout=10).raise_for_status()
    deadline, error = time.monotonic() + 60, None
    while error is None and time.monotonic() < deadline:  # the gateway caches a login for a second
        try:
            gw.list_clusters()
            time.sleep(0.5)
        except AuthenticationError as exc:
            error = exc
    gw.close()
    assert error is not None and "refused to refresh the session (it expired or was revoked)" in str(error)
    assert "log in again" in str(error)


def test_a_refused_password_is_a_clear_error(eodc_like, unraisable):
    auth = eodc_like.gateway.oidc_auth(password="wrong")
    with pytest.raises(AuthenticationError, match="refused the user name or password .*invalid_grant"):
        connect.gateway(eodc_like.gateway.address, auth=auth, proxy_address=eodc_like.gateway.proxy_address)
    assert "wrong" not in repr(auth)
    gc.collect()
    assert unraisable == []


def test_the_device_grant(eodc_like):
    shown = []

    def confirm_in_the_browser(uri: str, code: str, complete: str | None) -> None:
        shown.append(code)
        requests.post(uri, data={"user_code": code, "username": eodc_like.gateway.username,
                                 "password": eodc_like.gateway.password}, timeout=10).raise_for_status()

    auth = eodc_like.gateway.oidc_auth(password=None, grant="device", prompt=confirm_in_the_browser)
    gw = connect.gateway(eodc_like.gateway.address, auth=auth, proxy_address=eodc_like.gateway.proxy_address)
    assert gw.list_clusters() == []
    gw.close()
    assert len(shown) == 1 and auth.logins == 1
    assert "grant=device_code user='labkit' ok" in _provider_log(eodc_like)


def test_options_the_gateway_refuses_are_a_clear_error(eodc_env):
    with pytest.raises(ConfigurationError, match="refuses worker_cores=8"):
        ClusterPanel(backend="gateway", options={"worker_cores": 8})
    gw = connect.gateway()
    with pytest.raises(ConfigurationError, match="refused the cluster options .*worker_cores"):
        _new_gateway_cluster(gw, gw.cluster_options(), worker_cores=8)  # unchecked by the client: the server's check
    assert gw.list_clusters() == []
    gw.close()

