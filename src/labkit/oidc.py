"""Log in to a dask-gateway through OpenID Connect (Keycloak, as EODC runs it) and keep the token fresh.

:class:`OIDCAuth` is a ``dask_gateway.auth.GatewayAuth``: it logs in with the password grant or the device
grant, sends ``Authorization: Bearer <access token>`` and, when the access token has expired (or is about to,
or the gateway answered 401), gets a new one with the refresh-token grant, so a run longer than the token's
lifetime keeps working. Credentials come from the environment and are never printed: ``repr`` hides them,
the password is forgotten once the login has succeeded.

=========================  =======================================================================
``LABKIT_OIDC_TOKEN_URL``  the token endpoint (EODC's: ``catalog.EODC_GATEWAY.token_url``)
``LABKIT_OIDC_CLIENT_ID``  the client (EODC's: ``dedl-dask-gateway``)
``LABKIT_OIDC_USERNAME``   user name (EODC: the e-mail address of the account)
``LABKIT_OIDC_PASSWORD``   password; without it the device grant is used (a link and a code to confirm)
``LABKIT_OIDC_GRANT``      ``password`` or ``device`` to choose
=========================  =======================================================================

Importing this module imports ``dask_gateway`` (the ``gateway`` extra).

Examples
--------
>>> from labkit.oidc import OIDCAuth
>>> auth = OIDCAuth("http://127.0.0.1:8080/realms/labkit/protocol/openid-connect/token", "dask",
...                 username="ada", password="secret")
>>> "secret" in repr(auth), auth.grant
(False, 'password')
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError

GatewayAuth = attempt_import("dask_gateway.auth").GatewayAuth

TOKEN_URL_ENV, CLIENT_ID_ENV = "LABKIT_OIDC_TOKEN_URL", "LABKIT_OIDC_CLIENT_ID"
USERNAME_ENV, PASSWORD_ENV, GRANT_ENV = "LABKIT_OIDC_USERNAME", "LABKIT_OIDC_PASSWORD", "LABKIT_OIDC_GRANT"
GRANTS = ("password", "device")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _say_device_code(uri: str, code: str, complete: str | None) -> None:
    print(f"To log in to the dask-gateway, open {complete or uri} and confirm the code {code}")


class OIDCAuth(GatewayAuth):
    """Bearer tokens from an OpenID Connect provider, refreshed when they expire.

    Parameters
    ----------
    token_url : str, optional
        Token endpoint. Default ``$LABKIT_OIDC_TOKEN_URL``.
    client_id : str, optional
        Public client to log in with. Default ``$LABKIT_OIDC_CLIENT_ID``.
    username, password : str, optional
        Default ``$LABKIT_OIDC_USERNAME``, ``$LABKIT_OIDC_PASSWORD``.
    grant : {"password", "device"}, optional
        Default ``$LABKIT_OIDC_GRANT``, else ``"password"`` when there is a password, else ``"device"``.
    device_url : str, optional
        Device authorization endpoint (default: Keycloak's, next to the token endpoint).
    prompt : callable, optional
        ``prompt(verification_uri, user_code, verification_uri_complete)`` shows the device grant's link and
        code to the user (default: print them).
    margin : float
        Refresh this many seconds before the access token expires (at most a quarter of its lifetime).
    timeout : float
        Seconds to wait for the token endpoint.

    Raises
    ------
    labkit.errors.ConfigurationError
        No token endpoint or client, or the password grant without a user name or password.
    """

    def __init__(
        self,
        token_url: str | None = None,
        client_id: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        grant: str | None = None,
        device_url: str | None = None,
        prompt: Callable[[str, str, str | None], None] | None = None,
        margin: float = 10.0,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.token_url = token_url or env.get(TOKEN_URL_ENV)
        self.client_id = client_id or env.get(CLIENT_ID_ENV)
        self.username = username or env.get(USERNAME_ENV)
        self._password = password or env.get(PASSWORD_ENV)
        self.grant = grant or env.get(GRANT_ENV) or ("password" if self._password else "device")
        if not self.token_url or not self.client_id:
            raise ConfigurationError(
                f"an OpenID Connect login needs a token endpoint and a client id: set ${TOKEN_URL_ENV} and "
                f"${CLIENT_ID_ENV} (EODC's are in labkit.catalog.EODC_GATEWAY)"
            )
        if self.grant not in GRANTS:
            raise ConfigurationError(f"${GRANT_ENV} must be one of {GRANTS}, not {self.grant!r}")
        if self.grant == "password" and not (self.username and self._password):
            raise ConfigurationError(
                f"the password grant needs ${USERNAME_ENV} and ${PASSWORD_ENV} (or set ${GRANT_ENV}=device to "
                "log in through a browser)"
            )
        self.device_url = device_url or self.token_url.rstrip("/").removesuffix("/token") + "/auth/device"
        self.prompt = prompt or _say_device_code
        self.margin = margin
        self.timeout = timeout
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires = 0.0  # time.monotonic() when the access token expires
        self._stale = False
        self._lock = threading.Lock()
        self.logins = 0  #: password or device grants made
        self.refreshes = 0  #: refresh-token grants made

    # ------------------------------------------------------------------ GatewayAuth
    def pre_request(self, resp: Any) -> tuple[dict[str, str], None]:
        """The ``Authorization`` header, with a fresh token (dask-gateway calls this after a 401)."""
        return {"Authorization": f"Bearer {self.token()}"}, None

    def post_response(self, resp: Any, context: Any = None) -> None:
        """A 401 despite the token: refresh it before the next request (the gateway may have revoked it)."""
        if getattr(resp, "status", None) == 401:
            self._stale = True

    # ------------------------------------------------------------------ tokens
    def token(self) -> str:
        """A valid access token: logs in the first time, refreshes when expired; never printed."""
        with self._lock:
            if self._access is None:
                self._login()
            elif self._stale or time.monotonic() >= self._expires:
                self._refresh_grant()
            return str(self._access)

    @property
    def expired(self) -> bool:
        """Whether the access token has expired (or will within the refresh margin)."""
        return self._access is None or time.monotonic() >= self._expires

    def _login(self) -> None:
        if self.grant == "password":
            if not self._password:
                raise AuthenticationError(
                    f"the session with {self.token_url} ended and the password is not kept: log in again "
                    "(make a new OIDCAuth, or a new gateway with labkit.connect.gateway())"
                )
            answer = self._post({"grant_type": "password", "username": self.username, "password": self._password},
                                "refused the user name or password")
            self._password = None  # not kept in memory once it has served
        else:
            answer = self._device_login()
        self.logins += 1
        self._keep(answer)

    def _device_login(self) -> dict[str, Any]:
        start = self._post({}, "refused the device login", url=self.device_url)
        self.prompt(start["verification_uri"], start["user_code"], start.get("verification_uri_complete"))
        interval = float(start.get("interval", 5))
        deadline = time.monotonic() + float(start.get("expires_in", 600))
        while time.monotonic() < deadline:
            answer = self._post({"grant_type": DEVICE_GRANT, "device_code": start["device_code"]},
                                "refused the device login", pending_ok=True)
            if "access_token" in answer:
                return answer
            if answer.get("error") == "slow_down":
                interval += 5
            time.sleep(interval)
        raise AuthenticationError(
            f"the device login at {start['verification_uri']} was not confirmed in time: log in again"
        )

    def _refresh_grant(self) -> None:
        answer = self._post({"grant_type": "refresh_token", "refresh_token": self._refresh or ""},
                            "refused to refresh the session (it expired or was revoked)", relogin=True)
        self.refreshes += 1
        self._keep(answer)

    def _keep(self, answer: dict[str, Any]) -> None:
        lifetime = float(answer.get("expires_in", 60))
        self._access = answer["access_token"]
        self._refresh = answer.get("refresh_token", self._refresh)
        self._expires = time.monotonic() + lifetime - min(self.margin, lifetime / 4)
        self._stale = False

    def _post(self, form: dict[str, str], refused: str, *, url: str | None = None, pending_ok: bool = False,
              relogin: bool = False) -> dict[str, Any]:
        import requests

        url = url or str(self.token_url)
        try:
            r = requests.post(url, data={"client_id": self.client_id, **form}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailableError(
                f"the OpenID Connect provider at {url} does not answer ({exc.__class__.__name__}). Check "
                f"${TOKEN_URL_ENV} and the network"
            ) from None
        try:
            answer = r.json()
        except ValueError:
            answer = {}
        if r.ok and "access_token" in answer or (r.ok and "device_code" in answer):
            return answer
        if pending_ok and answer.get("error") in ("authorization_pending", "slow_down"):
            return answer
        said = ": ".join(str(answer[k]) for k in ("error", "error_description") if answer.get(k)) or \
            f"HTTP {r.status_code}"
        if r.status_code in (400, 401, 403):
            fix = ("log in again (a new gateway with labkit.connect.gateway(), or a new OIDCAuth)" if relogin else
                   f"check ${USERNAME_ENV} and ${PASSWORD_ENV}, and the client id {self.client_id!r}")
            raise AuthenticationError(f"the OpenID Connect provider at {url} {refused} ({said}); {fix}")
        raise ServiceUnavailableError(f"the OpenID Connect provider at {url} answered {said}")

    def __repr__(self) -> str:
        return (f"OIDCAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, username={self.username!r}, "
                f"grant={self.grant!r}, logged_in={self._access is not None})")


def configured(env: Mapping[str, str] | None = None, token_url: str | None = None,
               client_id: str | None = None) -> OIDCAuth | None:
    """An :class:`OIDCAuth` when a token endpoint and client are configured (or given), else ``None``."""
    env = os.environ if env is None else env
    from labkit.config import resolve

    token_url = token_url or resolve("oidc_token_url", env=env)
    client_id = client_id or resolve("oidc_client_id", env=env)
    if not (token_url and client_id):
        return None
    return OIDCAuth(token_url, client_id, env=env)
