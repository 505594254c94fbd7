"""Pictures of results: georeferenced maps (and, with the viewers issue, image viewers)."""

from __future__ import annotations

from typing import Any

import numpy as np


def plot_map(
    da: Any,
    ax: Any = None,
    *,
    cmap: str = "viridis",
    title: str | None = None,
    nodata: float | None = None,
    units: str = "km",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str | None = None,
) -> Any:
    """Plot a 2D georeferenced ``xarray.DataArray`` (``y``, ``x`` in a projected CRS) with its extent and a colour bar.

    Parameters
    ----------
    da : xarray.DataArray
        2D, dims ``("y", "x")``; coordinates in metres of its projection.
    ax : matplotlib Axes, optional
    cmap : str
    title : str, optional
    nodata : float, optional
        Value drawn transparent (default: ``da.attrs["nodata"]`` or ``_FillValue`` if present).
    units : {"km", "m"}
        Unit of the axes.
    vmin, vmax : float, optional
    colorbar_label : str, optional
        Default: ``long_name [units]`` from the attributes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_map(result.ensemble_likelihood, cmap="Reds")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if da.ndim != 2:
        raise ValueError(f"plot_map needs a 2D array, got dims {da.dims}; select one time step first")
    ydim, xdim = da.dims
    values = np.asarray(da.values, dtype=float)
    nodata = nodata if nodata is not None else da.attrs.get("nodata", da.attrs.get("_FillValue"))
    if nodata is not None:
        values = np.where(values == nodata, np.nan, values)
    x, y = np.asarray(da[xdim], float), np.asarray(da[ydim], float)
    scale = 1000.0 if units == "km" else 1.0
    dx = (x[1] - x[0]) if x.size > 1 else 1.0
    dy = (y[1] - y[0]) if y.size > 1 else -1.0
    extent = [(x[0] - dx / 2) / scale, (x[-1] + dx / 2) / scale, (y[-1] + dy / 2) / scale, (y[0] - dy / 2) / scale]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
    im = ax.imshow(values, extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                   origin="upper" if dy < 0 else "lower")
    crs = _crs_name(da)
    ax.set_xlabel(f"x ({units}){', ' + crs if crs else ''}")
    ax.set_ylabel(f"y ({units})")
    label = colorbar_label or " ".join(
        p for p in (da.attrs.get("long_name", da.name or ""), f"[{da.attrs['units']}]" if "units" in da.attrs else "") if p
    )
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.85)
    if title:
        ax.set_title(title)
    return ax


def _crs_name(da: Any) -> str:
    for obj in (da, da.coords.get("spatial_ref")):
        if obj is None:
            continue
        wkt = obj.attrs.get("crs_wkt") or obj.attrs.get("spatial_ref")
        if wkt:
            try:
                from pyproj import CRS

                return CRS.from_wkt(wkt).name
            except Exception:  # noqa: BLE001 - a label only
                return ""
    return ""
