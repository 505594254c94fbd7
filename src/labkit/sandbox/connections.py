"""How to connect to each running sandbox service: its address and credentials, from the state record.

Secrets are fields with ``repr=False``: printing a connection (or a sandbox) in a
notebook never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit._lazy import attempt_import
from labkit.catalog import GFM
from labkit.errors import SandboxError
from labkit.transfer_meter import TransferMeter


@dataclass(frozen=True)
class S3Connection:
    """The sandbox S3 server.

    Examples
    --------
    >>> ep = S3Connection("http://127.0.0.1:9000", "key", "secret")
    >>> ep.storage_options(anon=True)
    {'anon': True, 'endpoint_url': 'http://127.0.0.1:9000'}
    >>> "secret" in repr(ep)
    False
    """

    endpoint_url: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    region: str = "us-east-1"
    metrics_url: str | None = field(default=None, repr=False)
    reader_key: str | None = field(default=None, repr=False)
    reader_secret: str | None = field(default=None, repr=False)

    def transfers(self) -> TransferMeter:
        """Count what the server sends from now on (see :class:`TransferMeter`)."""
        if not self.metrics_url:
            raise SandboxError("this S3 server exports no metrics")
        return TransferMeter(self.metrics_url)

    def storage_options(self, anon: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` / fsspec (``anon=True`` for public reads)."""
        if anon:
            return {"anon": True, "endpoint_url": self.endpoint_url}
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint_url}

    def env(self) -> dict[str, str]:
        """The standard AWS environment variables for clients that read credentials from there.

        The sandbox S3 also plays the IDR's (``LABKIT_IDR_S3_ENDPOINT``) and exports its metrics.
        """
        env = {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "LABKIT_IDR_S3_ENDPOINT": self.endpoint_url,
        }
        if self.metrics_url:
            env["LABKIT_S3_METRICS"] = self.metrics_url
        return env

    def filesystem(self, anon: bool = False) -> Any:
        """An ``s3fs.S3FileSystem`` connected to the sandbox."""
        s3fs = attempt_import("s3fs")
        return s3fs.S3FileSystem(**self.storage_options(anon=anon))


@dataclass(frozen=True)
class StacConnection:
    """The sandbox STAC API."""

    url: str
    collection: str = GFM.id
    n_items: int = 0

    def client(self) -> Any:
        """A ``pystac_client.Client`` opened on the API."""
        return attempt_import("pystac_client").Client.open(self.url)

    def env(self) -> dict[str, str]:
        """``LABKIT_STAC_URL``."""
        return {"LABKIT_STAC_URL": self.url}


@dataclass(frozen=True)
class GatewayConnection:
    """The sandbox dask-gateway: API address, scheduler proxy, and its OpenID Connect login (or Basic).

    Examples
    --------
    >>> gc = GatewayConnection("http://127.0.0.1:8000", "labkit", "pw", proxy_address="tcp://127.0.0.1:8001")
    >>> "pw" in repr(gc)
    False
    """

    address: str
    username: str
    password: str = field(repr=False)
    proxy_address: str | None = None
    token_url: str | None = None
    client_id: str | None = None

    def auth(self) -> Any:
        """A ``dask_gateway.BasicAuth`` for the sandbox user."""
        return attempt_import("dask_gateway").BasicAuth(self.username, self.password)

    def oidc_auth(self, **kwargs: Any) -> Any:
        """A :class:`labkit.oidc.OIDCAuth` logging in at the sandbox's provider (password grant by default)."""
        from labkit.oidc import OIDCAuth

        return OIDCAuth(self.token_url, self.client_id, **{"username": self.username, "password": self.password,
                                                           **kwargs})

    def gateway(self) -> Any:
        """A connected ``dask_gateway.Gateway`` (Basic authentication, the scheduler proxy)."""
        from labkit.connect import gateway

        return gateway(self.address, auth=self.auth(), proxy_address=self.proxy_address, check=False)

    def env(self) -> dict[str, str]:
        """The gateway's variables: address, scheduler proxy, OpenID Connect login, Basic user and password.

        ``LABKIT_GATEWAY_ADDRESS``, ``LABKIT_GATEWAY_PROXY_ADDRESS``, ``LABKIT_OIDC_*``,
        ``LABKIT_GATEWAY_USER``/``LABKIT_GATEWAY_PASSWORD``.
        """
        env = {"LABKIT_GATEWAY_ADDRESS": self.address, "LABKIT_GATEWAY_USER": self.username,
               "LABKIT_GATEWAY_PASSWORD": self.password}
        if self.proxy_address:
            env["LABKIT_GATEWAY_PROXY_ADDRESS"] = self.proxy_address
        if self.token_url and self.client_id:
            env.update({"LABKIT_OIDC_TOKEN_URL": self.token_url, "LABKIT_OIDC_CLIENT_ID": self.client_id,
                        "LABKIT_OIDC_USERNAME": self.username, "LABKIT_OIDC_PASSWORD": self.password})
        return env


@dataclass(frozen=True)
class OmeroConnection:
    """The sandbox OMERO.web JSON API replica."""

    url: str
    images: tuple[int, ...] = ()

    def env(self) -> dict[str, str]:
        """``LABKIT_OMERO_URL``."""
        return {"LABKIT_OMERO_URL": self.url}


@dataclass(frozen=True)
class IpfsConnection:
    """The sandbox IPFS node: Kubo RPC API and path gateway."""

    api: str
    gateway: str

    def env(self) -> dict[str, str]:
        """``IPFS_API`` and ``IPFS_GATEWAY`` (what ipfsspec reads)."""
        return {"IPFS_API": self.api, "IPFS_GATEWAY": self.gateway}


@dataclass(frozen=True)
class SlurmConnection:
    """The sandbox SLURM: its configuration file (what every SLURM command reads from ``SLURM_CONF``).

    Examples
    --------
    >>> SlurmConnection("/tmp/sb/slurm/slurm.conf", "vm-1a2b3c").env()["SLURM_CONF"]
    '/tmp/sb/slurm/slurm.conf'
    """

    conf: str
    node: str
    partitions: tuple[str, ...] = ("debug",)
    jobs: str | None = None

    def env(self) -> dict[str, str]:
        """``SLURM_CONF``, and ``SBATCH_OUTPUT``: job logs go into the sandbox folder, not the working directory."""
        env = {"SLURM_CONF": self.conf}
        if self.jobs:
            env["SBATCH_OUTPUT"] = f"{self.jobs}/%x-%j.out"
        return env
