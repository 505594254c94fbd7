"""Links to servers this kernel runs (Dask dashboard, 3D viewer) that the user's browser can open.

On a laptop the browser reaches ``http://127.0.0.1:PORT`` directly. On JupyterHub and Binder it cannot: there
the link goes through jupyter-server-proxy, ``{JUPYTERHUB_SERVICE_PREFIX}proxy/PORT/...`` on the notebook
server's own origin. ``LABKIT_JUPYTER_PROXY`` overrides the prefix (``/proxy/`` for a plain JupyterLab with
jupyter-server-proxy installed).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::1")


def proxy_prefix() -> str | None:
    """The jupyter-server-proxy prefix the browser needs, or ``None`` when it reaches this machine directly."""
    if prefix := os.environ.get("LABKIT_JUPYTER_PROXY"):
        return prefix
    if hub := os.environ.get("JUPYTERHUB_SERVICE_PREFIX"):
        return hub.rstrip("/") + "/proxy/"
    return None


def browser_url(url: str) -> str:
    """``url`` of a server on this machine as the user's browser must open it.

    Examples
    --------
    >>> import os
    >>> os.environ["LABKIT_JUPYTER_PROXY"] = "/user/ada/proxy/"
    >>> browser_url("http://127.0.0.1:8787/status")
    '/user/ada/proxy/8787/status'
    >>> browser_url("https://gateway.example.org/clusters/x/status")
    'https://gateway.example.org/clusters/x/status'
    >>> del os.environ["LABKIT_JUPYTER_PROXY"]
    """
    prefix = proxy_prefix()
    parts = urlsplit(url)
    if not prefix or parts.hostname not in LOOPBACK or parts.port is None:
        return url
    return f"{prefix.rstrip('/')}/{parts.port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
