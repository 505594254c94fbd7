"""A small OpenID Connect provider shaped like Keycloak's routes, for the sandbox's dask-gateway.

Run as ``python -m labkit.sandbox.servers.oidc --port P --config oidc.json``. The configuration (a file only
its owner reads) holds the realm, the users and their passwords, the public client the gateway's users log
in with, the gateway's own client and secret (for introspection) and the token lifetimes. Routes, under
``/realms/{realm}``:

- ``GET /.well-known/openid-configuration``: discovery;
- ``POST /protocol/openid-connect/token``: grants ``password``, ``refresh_token`` and the device grant
  (``urn:ietf:params:oauth:grant-type:device_code``), answering as Keycloak does (``access_token``,
  ``expires_in``, ``refresh_token``, ``refresh_expires_in``; errors ``invalid_grant``, ``invalid_client``);
- ``POST /protocol/openid-connect/auth/device``: starts a device login (RFC 8628);
- ``POST /device``: what the user's browser does to confirm a device code (``user_code``, ``username``,
  ``password``);
- ``POST /protocol/openid-connect/token/introspect``: RFC 7662, for the gateway (its client and secret);
- ``POST /protocol/openid-connect/revoke``: RFC 7009, ends the session of a token.

Tokens are opaque to clients: ``base64(json).hmac``, each tied to a session that a revocation ends. Every grant
is logged (``grant=password user=... ok``), never a password or a token.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Provider:
    """The provider's state: sessions, device codes, and how tokens are made and checked."""

    def __init__(self, config: dict[str, Any], base: str) -> None:
        self.config = config
        self.issuer = f"{base}/realms/{config['realm']}"
        self.key = config["signing_key"].encode()
        self.sessions: dict[str, dict[str, Any]] = {}  # sid -> user, active, refresh expiry
        self.devices: dict[str, dict[str, Any]] = {}  # device_code -> user_code, user, expiry
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ tokens
    def _sign(self, claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _read(self, token: str, kind: str) -> dict[str, Any] | None:
        body, _, mac = token.partition(".")
        if not hmac.compare_digest(mac, hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()):
            return None
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = self.sessions.get(claims.get("sid"))
        if claims.get("typ") != kind or session is None or not session["active"] or claims["exp"] < time.time():
            return None
        return claims

    def issue(self, user: str, sid: str | None = None) -> dict[str, Any]:
        """Tokens for ``user`` in session ``sid`` (a new session when none)."""
        now = time.time()
        lifetime, refresh_lifetime = float(self.config["access_lifetime"]), float(self.config["refresh_lifetime"])
        if sid is None:
            sid = secrets.token_hex(8)
            self.sessions[sid] = {"user": user, "active": True}
        claims = {"sub": user, "sid": sid, "iss": self.issuer, "azp": self.config["client_id"],
                  "jti": secrets.token_hex(6)}
        return {
            "access_token": self._sign({**claims, "typ": "Bearer", "exp": now + lifetime}),
            "expires_in": int(lifetime),
            "refresh_token": self._sign({**claims, "typ": "Refresh", "exp": now + refresh_lifetime}),
            "refresh_expires_in": int(refresh_lifetime),
            "token_type": "Bearer",
            "session_state": sid,
            "scope": "openid profile email",
        }

    # ------------------------------------------------------------------ grants
    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint."""
        grant = form.get("grant_type", "")
        if form.get("client_id") != self.config["client_id"]:
            self.log(f"grant={grant} client={form.get('client_id')!r} refused: invalid_client")
            return 401, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}
        with self.lock:
            if grant == "password":
                user = form.get("username", "")
                if not hmac.compare_digest(self.config["users"].get(user, "\0"), form.get("password", "")):
                    self.log(f"grant=password user={user!r} refused: invalid_grant")
                    return 401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}
                self.log(f"grant=password user={user!r} ok")
                return 200, self.issue(user)
            if grant == "refresh_token":
                claims = self._read(form.get("refresh_token", ""), "Refresh")
                if claims is None:
                    self.log("grant=refresh_token refused: invalid_grant")
                    return 400, {"error": "invalid_grant", "error_description": "Session not active"}
                self.log(f"grant=refresh_token user={claims['sub']!r} ok")
                return 200, self.issue(claims["sub"], claims["sid"])
            if grant == DEVICE_GRANT:
                device = self.devices.get(form.get("device_code", ""))
                if device is None or device["expires"] < time.time():
                    return 400, {"error": "expired_token", "error_description": "Device code not valid"}
                if device["user"] is None:
                    return 400, {"error": "authorization_pending",
                                 "error_description": "The authorization request is still pending"}
                del self.devices[form["device_code"]]
                self.log(f"grant=device_code user={device['user']!r} ok")
                return 200, self.issue(device["user"])
        self.log(f"grant={grant!r} refused: unsupported_grant_type")
        return 400, {"error": "unsupported_grant_type", "error_description": f"Unsupported grant_type {grant}"}

    def device(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Start a device login."""
        if form.get("client_id") != self.config["client_id"]:
            return 401, {"error": "invalid_client"}
        code, user_code = secrets.token_urlsafe(24), "-".join(secrets.token_hex(2).upper() for _ in range(2))
        with self.lock:
            self.devices[code] = {"user_code": user_code, "user": None, "expires": time.time() + 600}
        uri = f"{self.issuer}/device"
        return 200, {"device_code": code, "user_code": user_code, "verification_uri": uri,
                     "verification_uri_complete": f"{uri}?user_code={user_code}", "expires_in": 600, "interval": 1}

    def confirm(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The user confirms a device code in the browser."""
        user = form.get("username", "")
        if not hmac.compare_digest(self.config["users"].get(user, "\0"), form.get("password", "")):
            return 401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}
        with self.lock:
            for device in self.devices.values():
                if device["user_code"] == form.get("user_code"):
                    device["user"] = user
                    self.log(f"device code confirmed by {user!r}")
                    return 200, {"confirmed": True}
        return 400, {"error": "invalid_request", "error_description": "No such user code"}

    def introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 7662, for the gateway's own client."""
        if form.get("client_id") != self.config["gateway_client_id"] or not hmac.compare_digest(
                form.get("client_secret", ""), self.config["gateway_client_secret"]):
            return 401, {"error": "invalid_client"}
        with self.lock:
            claims = self._read(form.get("token", ""), "Bearer")
        if claims is None:
            return 200, {"active": False}
        return 200, {"active": True, "username": claims["sub"], "sub": claims["sub"], "exp": int(claims["exp"]),
                     "client_id": claims["azp"], "token_type": "Bearer"}

    def revoke(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 7009: end the session of the token."""
        with self.lock:
            token = form.get("token", "")
            claims = self._read(token, "Refresh") or self._read(token, "Bearer")
            if claims is not None:
                self.sessions[claims["sid"]]["active"] = False
                self.log(f"session of {claims['sub']!r} revoked")
        return 200, {}

    def discovery(self) -> dict[str, Any]:
        """``.well-known/openid-configuration``."""
        oidc = f"{self.issuer}/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "token_endpoint": f"{oidc}/token",
            "introspection_endpoint": f"{oidc}/token/introspect",
            "revocation_endpoint": f"{oidc}/revoke",
            "device_authorization_endpoint": f"{oidc}/auth/device",
            "grant_types_supported": ["password", "refresh_token", DEVICE_GRANT],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    @staticmethod
    def log(message: str) -> None:
        """One line of the provider's log (grants and revocations; never a password or a token)."""
        print(time.strftime("%H:%M:%S"), message, flush=True)


def make_handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    """The request handler serving ``provider``."""
    realm = f"/realms/{provider.config['realm']}"
    routes = {
        f"{realm}/protocol/openid-connect/token": provider.token,
        f"{realm}/protocol/openid-connect/auth/device": provider.device,
        f"{realm}/device": provider.confirm,
        f"{realm}/protocol/openid-connect/token/introspect": provider.introspect,
        f"{realm}/protocol/openid-connect/revoke": provider.revoke,
    }

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?")[0] == f"{realm}/.well-known/openid-configuration":
                self._send(200, provider.discovery())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            route = routes.get(self.path.split("?")[0])
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if route is None:
                self._send(404, {"error": "not found"})
            else:
                self._send(*route(form))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the grants are logged instead
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    provider = Provider(json.loads(args.config.read_text()), f"http://{args.host}:{args.port}")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(provider))
    lifetime = provider.config["access_lifetime"]
    provider.log(f"OpenID Connect provider {provider.issuer} (access tokens live {lifetime} s)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
