"""The sandbox gateway's authenticator: OpenID Connect bearer tokens checked by introspection, or Basic.

Loaded by ``dask-gateway-server`` from the configuration the sandbox writes
(``c.DaskGateway.authenticator_class = "labkit.sandbox.gateway_auth.OIDCAuthenticator"``). A bearer token is
sent to the provider's introspection endpoint (RFC 7662) with the gateway's own client and secret: an
expired or revoked token is refused with 401, as a gateway behind Keycloak refuses it. Basic authentication
with the sandbox's password stays accepted, for clients that use ``dask_gateway.BasicAuth``.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any

import aiohttp
from dask_gateway_server.auth import Authenticator, unauthorized
from dask_gateway_server.models import User
from traitlets import Unicode


class OIDCAuthenticator(Authenticator):
    """Bearer tokens from an OpenID Connect provider (introspection), or Basic with one shared password."""

    introspection_url = Unicode(help="The provider's token introspection endpoint.", config=True)
    client_id = Unicode(help="The gateway's own client at the provider.", config=True)
    client_secret = Unicode(help="The gateway client's secret.", config=True)
    password = Unicode(None, allow_none=True, help="Shared password for Basic authentication.", config=True)

    async def setup(self, app: Any) -> None:
        """Open the HTTP session to the provider."""
        self.session = aiohttp.ClientSession()

    async def cleanup(self) -> None:
        """Close the session."""
        await self.session.close()

    async def authenticate(self, request: Any) -> User:
        """The user of the request's bearer token (or Basic credentials); 401 when there is none or it is refused."""
        kind, _, value = request.headers.get("Authorization", "").partition(" ")
        if kind == "Bearer" and value:
            form = {"token": value, "client_id": self.client_id, "client_secret": self.client_secret}
            async with self.session.post(self.introspection_url, data=form) as resp:
                answer = await resp.json() if resp.status == 200 else {}
            if not answer.get("active"):
                self.log.info("bearer token refused (expired, revoked or not the provider's)")
                raise unauthorized('Bearer error="invalid_token"')
            return User(answer["username"])
        if kind == "Basic" and self.password:
            user, _, password = base64.b64decode(value).decode().partition(":")
            if hmac.compare_digest(password, self.password):
                return User(user)
        raise unauthorized("Bearer")
