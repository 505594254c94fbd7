"""The installed labkit's version, for what labkit writes (provenance records, NGFF ``metadata``).

Examples
--------
>>> labkit_version().count(".") >= 1
True
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def labkit_version() -> str:
    """The installed labkit version."""
    try:
        return version("labkit")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"
