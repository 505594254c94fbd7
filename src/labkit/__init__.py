"""labkit: parallel analysis of big remote images and rasters from Jupyter.

The same notebook runs on a laptop or a Dask cluster, against the public services
(IDR, S3, STAC, dask-gateway, IPFS) or against :mod:`labkit.sandbox`, real local
servers that speak their protocols.

Examples
--------
>>> import labkit
>>> ep = labkit.endpoints("live")
>>> ep.omero
'https://idr.openmicroscopy.org'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from labkit import errors
from labkit.config import Endpoints, endpoints

try:
    __version__ = version("labkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Endpoints", "__version__", "endpoints", "errors", "sandbox"]


def __getattr__(name: str) -> object:
    # submodules load on first use so `import labkit` stays fast
    if name in {"sandbox", "tutorials", "config"}:
        import importlib

        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
