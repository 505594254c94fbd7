"""The tutorials' mode switch: the same analysis against the sandbox or against the public services.

``"sandbox"`` finds (or starts) the local sandbox and exports its environment into this process;
``"live"`` undoes that and reads the public defaults, or your own services from the environment
(:func:`labkit.config.resolve`). This is the one module of the library that loads
:mod:`labkit.sandbox`, and only when asked for sandbox mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labkit.config import Endpoints, restore_environment, use_environment
from labkit.errors import ConfigurationError

MODES = ("sandbox", "live")


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

        use_environment(sandbox.ensure(services, progress=print).env())
    else:
        restore_environment()
    return Endpoints.from_environment(mode)


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
