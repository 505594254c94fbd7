"""The tutorials' mode switch: the same analysis against the sandbox or against the public services.

``"sandbox"`` finds (or starts) the local sandbox and exports its environment into this process;
``"live"`` undoes that and reads the public defaults, or your own services from the environment
(:func:`labkit.config.resolve`). This is the one module of the library that loads
:mod:`labkit.sandbox`, and only when asked for sandbox mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labkit.config import DEMO_AUTHOR, SETTINGS, Endpoints, resolve, restore_environment, use_environment
from labkit.errors import ConfigurationError

__all__ = ["DEMO_AUTHOR", "MODES", "SANDBOX_PUBLISHER", "endpoints", "flood_truth"]

MODES = ("sandbox", "live")
#: who publishes in sandbox mode when nobody is configured (:func:`labkit.publish` takes authors and licence from
#: its arguments or configuration): what is published there stays in the sandbox's S3 and IPFS node
SANDBOX_PUBLISHER = {"authors": DEMO_AUTHOR, "license": "CC0-1.0"}


def endpoints(mode: str = "sandbox", services: Iterable[str] | None = None) -> Endpoints:
    """The endpoints of ``mode``: in sandbox mode find or start the sandbox and use its environment.

    Parameters
    ----------
    mode : {"sandbox", "live"}
        Where the tutorial's services live.
    services : iterable of str, optional
        Sandbox services the caller needs (default: all that can run here).

    Returns
    -------
    Endpoints

    Notes
    -----
    In sandbox mode, when no authors or no licence are configured (``$LABKIT_AUTHORS``, ``$LABKIT_LICENSE`` or the
    dask config ``labkit.authors``, ``labkit.license``), a demo author and CC0 are exported
    (:data:`SANDBOX_PUBLISHER`), so that the tutorials publish into the sandbox; in live mode nothing stands in
    for them and :func:`labkit.publish` says what to set.

    Examples
    --------
    >>> ep = endpoints("live")
    >>> ep.idr_s3
    'https://livingobjects.ebi.ac.uk'
    """
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "sandbox":
        from labkit import sandbox  # the one place outside the CLI that loads the sandbox

        env = sandbox.ensure(services, progress=print).env()
        restore_environment()  # what an earlier call exported is not the user's configuration
        use_environment({**_demo_publisher(), **env})
    else:
        restore_environment()
    return Endpoints.from_environment(mode)


def _demo_publisher() -> dict[str, str]:
    """The variables of :data:`SANDBOX_PUBLISHER` that nothing configured sets (a configured one is kept)."""
    return {SETTINGS[key].env: value for key, value in SANDBOX_PUBLISHER.items()
            if not resolve(key, public_default=False)}


def flood_truth(mode: str = "sandbox") -> Any:
    """The true flood extent of the sandbox's synthetic scenes, or ``None`` in live mode (nothing is known there).

    Returns
    -------
    labkit.synthetic.FloodTruth or None
        ``truth.on_grid(x, y)`` gives the true extent and likelihood on any grid of the scenes' projection.

    Examples
    --------
    >>> flood_truth("live") is None
    True
    """
    if mode != "sandbox":
        return None
    from labkit import sandbox

    return sandbox.ensure(["stac"]).flood_truth()


def plate_url(mode: str = "sandbox", ngff_version: str = "0.4") -> str:
    """The HCS plate of the screen tutorial in ``mode``: the sandbox's synthetic plate, or the IDR's screen.

    Both are on the ``idr`` bucket of ``endpoints(mode).idr_s3`` and have the same layout (96 wells of 6 fields)
    and channels (:data:`labkit.catalog.IDR_PLATE`); only the sandbox's knows its nuclei.

    Parameters
    ----------
    mode : {"sandbox", "live"}
    ngff_version : {"0.4", "0.5"}
        The sandbox serves its plate in both; the IDR's is OME-NGFF 0.4.

    Returns
    -------
    str
        An ``s3://`` URL, for :func:`labkit.open_plate` with ``endpoint_url=endpoints(mode).idr_s3``.

    Examples
    --------
    >>> plate_url("live")
    's3://idr/zarr/v0.4/idr0001A/2551.zarr'
    >>> plate_url("sandbox")
    's3://idr/zarr/v0.4/labkit-hcs/plate-96.zarr'
    """
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "live":
        from labkit.catalog import IDR_PLATE

        if ngff_version != IDR_PLATE.ngff_version:
            raise ConfigurationError(f"the IDR's plate is OME-NGFF {IDR_PLATE.ngff_version}, not {ngff_version!r}: "
                                     f"ask for ngff_version={IDR_PLATE.ngff_version!r}")
        return IDR_PLATE.url
    from labkit.sandbox.core import PLATE_URLS

    if ngff_version not in PLATE_URLS:
        raise ConfigurationError(f"the sandbox serves its plate as OME-NGFF {' and '.join(PLATE_URLS)}, not "
                                 f"{ngff_version!r}")
    return PLATE_URLS[ngff_version]
