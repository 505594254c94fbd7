"""Sessions with remote services: dask-gateway (and, with the IDR tutorial, OMERO)."""

from __future__ import annotations

import os
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError

TOKEN_ENV = "LABKIT_GATEWAY_TOKEN"
ADDRESS_ENV = "LABKIT_GATEWAY_ADDRESS"
USER_ENV, PASSWORD_ENV = "LABKIT_GATEWAY_USER", "LABKIT_GATEWAY_PASSWORD"


def _bearer_auth(token: str) -> Any:
    auth_mod = attempt_import("dask_gateway.auth")

    class BearerAuth(auth_mod.GatewayAuth):
        """Send ``Authorization: Bearer <token>`` (Keycloak/OIDC tokens, as EODC uses)."""

        def __init__(self, token: str) -> None:
            self._token = token

        def pre_request(self, resp: Any) -> tuple[dict[str, str], None]:
            return {"Authorization": f"Bearer {self._token}"}, None

        def __repr__(self) -> str:
            return "BearerAuth(token=***)"

    return BearerAuth(token)


def _default_auth(address: str) -> Any:
    dask_gateway = attempt_import("dask_gateway")
    if token := os.environ.get(TOKEN_ENV):
        return _bearer_auth(token)
    if os.environ.get(PASSWORD_ENV):
        return dask_gateway.BasicAuth(os.environ.get(USER_ENV) or os.environ.get("USER", "labkit"),
                                      os.environ[PASSWORD_ENV])
    from labkit.sandbox import current

    sb = current()
    if sb is not None and "gateway" in sb.records and sb.gateway.address == address:
        return sb.gateway.auth()
    return None  # dask config `gateway.auth`, as dask_gateway.Gateway does it


def gateway(address: str | None = None, auth: Any = None, *, check: bool = True) -> Any:
    """A ``dask_gateway.Gateway``, with address and credentials from outside the notebook.

    Parameters
    ----------
    address : str, optional
        Gateway address. Default: ``$LABKIT_GATEWAY_ADDRESS``, dask config ``gateway.address``,
        then the running sandbox's gateway.
    auth : dask_gateway.auth.GatewayAuth, optional
        Any authenticator (``BasicAuth``, EODC's, ...). Default: a bearer token from
        ``$LABKIT_GATEWAY_TOKEN``, ``$LABKIT_GATEWAY_USER``/``$LABKIT_GATEWAY_PASSWORD``, the
        sandbox's credentials when ``address`` is the sandbox's, else dask config ``gateway.auth``.
    check : bool
        Contact the server once now, so a wrong password or address fails here, clearly.

    Returns
    -------
    dask_gateway.Gateway

    Raises
    ------
    labkit.errors.ConfigurationError
        No address anywhere.
    labkit.errors.AuthenticationError
        The server refused the credentials.
    labkit.errors.ServiceUnavailableError
        Nothing answers at the address.

    Examples
    --------
    >>> gw = gateway()  # doctest: +SKIP
    >>> gw.cluster_options()  # doctest: +SKIP
    """
    dask_gateway = attempt_import("dask_gateway")
    import dask.config

    if address is None:
        address = os.environ.get(ADDRESS_ENV) or dask.config.get("gateway.address", None)
    if address is None:
        from labkit.sandbox import current

        sb = current()
        if sb is not None and "gateway" in sb.records:
            address = sb.gateway.address
    if address is None:
        raise ConfigurationError(
            f"no dask-gateway address: pass address=..., set ${ADDRESS_ENV} or the dask config key "
            "gateway.address, or start the sandbox (`labkit sandbox up`)."
        )
    if auth is None:
        auth = _default_auth(address)
    gw = dask_gateway.Gateway(address, auth=auth)
    if check:
        aiohttp = attempt_import("aiohttp")
        try:
            gw.list_clusters()
        except aiohttp.ClientResponseError as exc:
            gw.close()
            if exc.status in (401, 403):
                raise AuthenticationError(
                    f"the dask-gateway at {address} refused the credentials ({exc.status}). Check the user name "
                    f"and password (${USER_ENV}/${PASSWORD_ENV}) or the token (${TOKEN_ENV})."
                ) from None
            raise ServiceUnavailableError(f"the dask-gateway at {address} answered {exc.status}: {exc.message}") from None
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
            gw.close()
            raise ServiceUnavailableError(
                f"no dask-gateway answers at {address} ({exc.__class__.__name__}). Check the address, or use "
                "a local cluster (ClusterPanel(backend='local'))."
            ) from None
    return gw
