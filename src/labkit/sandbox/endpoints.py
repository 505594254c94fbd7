"""Typed views of a running sandbox's services, built from its state record.

Secrets are fields with ``repr=False``: printing an endpoint (or a sandbox) in a
notebook never shows them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import SandboxError


class TransferMeter:
    """Requests and body bytes a sandbox server sent since the meter was made, read from its access log.

    Examples
    --------
    >>> meter = sb.s3.transfers()  # doctest: +SKIP
    >>> fs.cat("idr/zarr/v0.1/6001240.zarr/.zattrs")  # doctest: +SKIP
    >>> meter.bytes, meter.requests  # doctest: +SKIP
    (1052, 1)
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0

    def entries(self, prefix: str = "") -> list[dict[str, Any]]:
        """Access-log entries since the meter was made, for paths starting with ``prefix``."""
        time.sleep(0.05)  # the server writes its line after the last byte is sent
        with open(self.log) as fh:
            fh.seek(self.offset)
            lines = [json.loads(line) for line in fh if line.strip()]
        return [e for e in lines if e["path"].startswith(prefix)]

    @property
    def bytes(self) -> int:
        """Body bytes sent."""
        return sum(e["bytes"] for e in self.entries())

    @property
    def requests(self) -> int:
        """Number of requests answered."""
        return len(self.entries())


@dataclass(frozen=True)
class S3Endpoint:
    """The sandbox S3 server.

    Examples
    --------
    >>> ep = S3Endpoint("http://127.0.0.1:9000", "key", "secret")
    >>> ep.storage_options(anon=True)
    {'anon': True, 'endpoint_url': 'http://127.0.0.1:9000'}
    >>> "secret" in repr(ep)
    False
    """

    endpoint_url: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    region: str = "us-east-1"
    access_log: str | None = field(default=None, repr=False)

    def transfers(self) -> TransferMeter:
        """Count what the server sends from now on (see :class:`TransferMeter`)."""
        if not self.access_log:
            raise SandboxError("this S3 server keeps no access log")
        return TransferMeter(Path(self.access_log))

    def storage_options(self, anon: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` / fsspec (``anon=True`` for public reads)."""
        if anon:
            return {"anon": True, "endpoint_url": self.endpoint_url}
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint_url}

    def env(self) -> dict[str, str]:
        """The standard AWS environment variables for clients that read credentials from there."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def filesystem(self, anon: bool = False) -> Any:
        """An ``s3fs.S3FileSystem`` connected to the sandbox."""
        s3fs = attempt_import("s3fs")
        return s3fs.S3FileSystem(**self.storage_options(anon=anon))


@dataclass(frozen=True)
class StacEndpoint:
    """The sandbox STAC API."""

    url: str
    collection: str = "GFM"
    n_items: int = 0

    def client(self) -> Any:
        """A ``pystac_client.Client`` opened on the API."""
        return attempt_import("pystac_client").Client.open(self.url)


@dataclass(frozen=True)
class GatewayEndpoint:
    """The sandbox dask-gateway (proxy address and password authentication)."""

    address: str
    username: str
    password: str = field(repr=False)

    def auth(self) -> Any:
        """A ``dask_gateway.BasicAuth`` for the sandbox user."""
        return attempt_import("dask_gateway").BasicAuth(self.username, self.password)

    def gateway(self) -> Any:
        """A connected ``dask_gateway.Gateway``."""
        from labkit.connect import gateway

        return gateway(self.address, auth=self.auth(), check=False)


@dataclass(frozen=True)
class OmeroEndpoint:
    """The sandbox OMERO.web JSON API replica."""

    url: str
    images: tuple[int, ...] = ()


@dataclass(frozen=True)
class IpfsEndpoint:
    """The sandbox IPFS node: Kubo RPC API and path gateway."""

    api: str
    gateway: str
