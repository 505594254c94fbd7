"""labkit: parallel analysis of big remote images and rasters from Jupyter.

The same notebook runs on a laptop or a Dask cluster, against the public services
(IDR, S3, STAC, dask-gateway, IPFS) or against :mod:`labkit.sandbox`, real local
servers that speak their protocols. Everything below is importable from ``labkit``
directly (and tab-completes); submodules load on first use, so ``import labkit`` is fast.

Examples
--------
>>> import labkit
>>> ep = labkit.endpoints("live")
>>> ep.omero
'https://idr.openmicroscopy.org'
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from labkit import errors
from labkit._sessions import close_at_exit
from labkit.config import Endpoints
from labkit.modes import endpoints

try:
    __version__ = version("labkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

SUBMODULES = ("catalog", "cluster_panel", "cluster_progress", "config", "connect", "downloads", "figures", "ipfs",
              "labels",
              "load_remote", "measurements", "modes", "ngff", "nuclei_method", "nuclei_model", "packages",
              "plane_nuclei", "plate_plots", "plates", "recipes", "results", "sandbox", "scoring", "segment", "stac",
              "storage", "studies", "synthetic", "tables", "tutorials", "units", "viewer3d", "viewers", "write")
#: public name -> module that defines it
_API = {
    "ClusterPanel": "cluster_panel", "start_cluster": "cluster_panel", "progress": "cluster_progress",
    "omero": "connect", "gateway": "connect",
    "info": "load_remote", "open_image": "load_remote",
    "download": "downloads",
    "load_stac": "stac",
    "view": "viewers", "plot_map": "viewers", "mark_window": "viewers",
    "plot_outlines": "figures", "scale_bar": "figures", "channel_legend": "figures",
    "checkpoint": "results", "Manifest": "results", "ResultStore": "results", "VersionedResultStore": "results",
    "write_zarr": "write",
    "write_image": "ngff",
    "segment_nuclei": "segment", "measure": "measurements",
    "train_nuclei": "nuclei_model", "load_nuclei_model": "nuclei_model",
    "write_labels": "labels", "open_labels": "labels", "open_table": "tables",
    "open_plate": "plates", "open_collection": "plates",
    "map_images": "studies", "plate_summary": "plate_plots", "plate_heatmap": "plate_plots",
    "plate_thumbnails": "plate_plots",
    "publish": "packages", "verify": "packages", "open_package": "packages",
}
#: deprecated public name -> (module, its new name)
_DEPRECATED = {"Dataset": ("results", "Manifest")}

close_at_exit()  # remote filesystems' HTTP sessions, or every process that read remote data warns as it exits

__all__ = ["Endpoints", "__version__", "endpoints", "errors", *SUBMODULES, *_API]


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    if name in _API:
        return getattr(importlib.import_module(f"labkit.{_API[name]}"), name)
    if name in _DEPRECATED:
        module, new = _DEPRECATED[name]
        errors.deprecated(f"labkit.{name}", f"labkit.{new}")
        return getattr(importlib.import_module(f"labkit.{module}"), new)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
