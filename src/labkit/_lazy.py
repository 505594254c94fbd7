"""Import optional dependencies on first use, with an error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from labkit.errors import MissingDependencyError

#: module name -> (extra of labkit that provides it, why labkit needs it)
_EXTRAS: dict[str, tuple[str, str]] = {
    "boto3": ("sandbox", "filling the sandbox S3 server"),
    "pooch": ("sandbox", "fetching the sandbox's IDR image"),
    "rustac": ("sandbox", "the sandbox STAC API"),
    "dask_gateway_server": ("sandbox", "the sandbox dask-gateway server"),
    "rasterio": ("geo", "reading and writing GeoTIFFs"),
    "pyproj": ("geo", "map projections"),
    "shapely": ("geo", "areas of interest"),
    "odc.stac": ("geo", "loading STAC items with odc-stac"),
    "pystac_client": ("geo", "searching STAC APIs"),
    "rioxarray": ("geo", "georeferenced xarray objects"),
    "dask_gateway": ("gateway", "dask-gateway clusters"),
    "dask_jobqueue": ("slurm", "SLURM clusters (backend='slurm')"),
    "itkwidgets": ("itk", "the itkwidgets viewer"),
    "neuroglancer": ("viewer3d", "the 3D viewer (neuroglancer)"),
    "ome_zarr_models": ("ngff", "validating OME-NGFF metadata"),
    "icechunk": ("versioned", "versioned result stores (ResultStore(url, versioned=True))"),
    "rocrate.rocrate": ("publish", "writing RO-Crate packages (labkit.publish)"),
    "sklearn.ensemble": ("train", "training nuclei models (labkit.train_nuclei)"),
    "joblib": ("train", "saving and loading nuclei models"),
}


def attempt_import(name: str) -> ModuleType:
    """Import ``name`` or raise an error that says which labkit extra provides it.

    Parameters
    ----------
    name : str
        Dotted module name, e.g. ``"pystac_client"``.

    Returns
    -------
    module

    Raises
    ------
    labkit.errors.MissingDependencyError
        When the module is not installed.

    Examples
    --------
    >>> np = attempt_import("numpy")
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra, why = _EXTRAS.get(name, (None, "this feature"))
        hint = f'pip install "labkit[{extra}]"' if extra else f"pip install {name.split('.')[0]}"
        raise MissingDependencyError(
            f"{name} is needed for {why} but is not installed ({exc}). Install it with: {hint}"
        ) from exc
