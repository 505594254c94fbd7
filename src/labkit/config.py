"""Endpoints of the services a tutorial talks to, for ``mode="sandbox"`` or ``mode="live"``.

A tutorial's analysis cells never change between modes: only what this module
returns does. In sandbox mode the running sandbox is found (or started), and its
S3 credentials are exported to this process's environment, where s3fs, boto3 and
GDAL look for them; they are never returned for display.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from labkit.errors import ConfigurationError

MODES = ("sandbox", "live")
IDR_HOST = "https://idr.openmicroscopy.org"
IDR_S3_ENDPOINT = "https://uk1s3.embassy.ebi.ac.uk"
EODC_STAC = "https://stac.eodc.eu/api/v1"


@dataclass(frozen=True)
class Endpoints:
    """Where each service lives in one mode.

    Attributes
    ----------
    mode : str
        ``"sandbox"`` or ``"live"``.
    omero : str
        OMERO.web base URL (IDR in live mode).
    idr_s3 : str
        S3 endpoint holding the ``idr`` bucket (read anonymously).
    stac : str
        STAC API URL.
    gateway : str or None
        dask-gateway address (live: ``$LABKIT_GATEWAY_ADDRESS`` or dask config ``gateway.address``).
    results_s3 : str or None
        S3 endpoint for writing results (live: ``$AWS_ENDPOINT_URL_S3``, else AWS).
    ipfs_gateway : str or None
        IPFS HTTP gateway.
    """

    mode: str
    omero: str
    idr_s3: str
    stac: str
    gateway: str | None = None
    results_s3: str | None = None
    ipfs_gateway: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def transfer_meter(self) -> Any:
        """In sandbox mode, a meter of the bytes the S3 server sends from now on; ``None`` in live mode."""
        sb = self.extra.get("sandbox")
        return sb.s3.transfers() if sb is not None and "s3" in sb.records else None

    def idr_storage_options(self) -> dict[str, Any]:
        """Fsspec options to read the public ``idr`` bucket anonymously."""
        return {"anon": True, "endpoint_url": self.idr_s3}


def endpoints(mode: str = "sandbox", services: Iterable[str] | None = None) -> Endpoints:
    """The endpoints of ``mode``; in sandbox mode find or start the sandbox.

    Parameters
    ----------
    mode : {"sandbox", "live"}
        Where the tutorial's services live.
    services : iterable of str, optional
        Sandbox services the caller needs (default: all that can run here).

    Returns
    -------
    Endpoints

    Examples
    --------
    >>> ep = endpoints("live")
    >>> ep.idr_s3
    'https://uk1s3.embassy.ebi.ac.uk'
    """
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "live":
        import dask.config

        return Endpoints(
            mode="live",
            omero=IDR_HOST,
            idr_s3=IDR_S3_ENDPOINT,
            stac=os.environ.get("LABKIT_STAC_URL", EODC_STAC),
            gateway=os.environ.get("LABKIT_GATEWAY_ADDRESS") or dask.config.get("gateway.address", None),
            results_s3=os.environ.get("AWS_ENDPOINT_URL_S3"),
            ipfs_gateway=os.environ.get("IPFS_GATEWAY"),
        )
    from labkit import sandbox

    sb = sandbox.ensure(services)
    os.environ.update(sb.env())
    rec = sb.records
    return Endpoints(
        mode="sandbox",
        omero=rec["omero"]["url"] if "omero" in rec else "",
        idr_s3=rec["s3"]["endpoint_url"] if "s3" in rec else "",
        stac=rec["stac"]["url"] if "stac" in rec else "",
        gateway=rec["gateway"]["address"] if "gateway" in rec else None,
        results_s3=rec["s3"]["endpoint_url"] if "s3" in rec else None,
        ipfs_gateway=rec["ipfs"]["gateway"] if "ipfs" in rec else None,
        extra={"sandbox": sb},
    )
