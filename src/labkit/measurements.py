"""One row per object of a label image: size, position and intensities, in physical units, block by block.

Every block adds up, per object, what it holds of it (voxel count, coordinate sums, bounding box, intensity
sums and maxima); the partial rows of an object that spans blocks are then combined, so it is measured once
and exactly as if the image were one block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.errors import FormatError
from labkit.units import voxel_size

SPATIAL = ("z", "y", "x")
#: voxels measured by one task at most
MEASURE_VOXELS = 2**21


def measure(labels: Any, image: Any = None) -> Any:
    """Measure every object of a label image: volume or area, centroid, bounding box, intensities per channel.

    Parameters
    ----------
    labels : xarray.DataArray, dask or numpy array
        Integer labels with spatial dims ``(z, y, x)`` or ``(y, x)`` (e.g. from :func:`labkit.segment_nuclei` or
        :func:`labkit.open_labels`); 0 is background. Sizes and positions are in micrometres when the coordinates
        carry a length unit (converted from nanometres, millimetres ...: :func:`labkit.units.voxel_size`), in
        pixels otherwise.
    image : xarray.DataArray, dask or numpy array, optional
        The intensities, with the labels' spatial shape, and optionally a ``c`` dimension (every channel is
        measured, columns named after the channel labels).

    Returns
    -------
    pandas.DataFrame
        One row per object, sorted by label: ``label``, ``volume_um3`` (3D) or ``area_um2`` (2D) (``volume_px``,
        ``area_px`` when the unit is not known), ``centroid_<axis>``, ``bbox_min_<axis>``, ``bbox_max_<axis>`` (the
        outermost voxel centres), then ``mean_<channel>`` and ``max_<channel>``. ``table.attrs["units"]`` names
        the unit of the sizes and positions (``"micrometer"`` or ``"pixel"``), ``table.attrs["voxel_size"]`` the
        voxel size per axis in it. Computed with the current Dask scheduler or cluster, a task per block.

    Examples
    --------
    >>> labels = np.zeros((4, 6), np.uint32); labels[1:3, 1:4] = 7
    >>> table = measure(labels, np.arange(24.0).reshape(4, 6))
    >>> table[["label", "area_px", "centroid_x", "mean"]].to_dict("records")
    [{'label': 7, 'area_px': 6.0, 'centroid_x': 2.0, 'mean': 11.0}]
    """
    import dask
    import dask.array as da
    import pandas as pd

    lab = _as_spatial(labels, "labels")
    if np.dtype(lab.dtype).kind not in "iu":
        raise FormatError(f"labels must be integers, not {lab.dtype}: pass a label image (e.g. from "
                          "labkit.segment_nuclei), or convert with labels.astype('uint32') if the values are ids")
    channels, intensity = _channels(image, lab)
    # blocks of at most MEASURE_VOXELS: a task's float64 temporaries stay small whatever the labels' chunks
    lab_blocks = da.asarray(lab.data).rechunk("auto", block_size_limit=MEASURE_VOXELS * np.dtype(lab.dtype).itemsize)
    starts = [np.cumsum((0, *c[:-1])) for c in lab_blocks.chunks]
    label_parts = lab_blocks.to_delayed()
    image_parts = None
    if intensity is not None:
        image_parts = da.asarray(intensity.data).rechunk(((intensity.shape[0],), *lab_blocks.chunks)).to_delayed()[0]
    tasks = [dask.delayed(_block_table)(label_parts[index], None if image_parts is None else image_parts[index],
                                        tuple(int(s[i]) for s, i in zip(starts, index, strict=True)))
             for index in np.ndindex(*lab_blocks.numblocks)]
    partial = pd.concat(dask.compute(*tasks), ignore_index=True)
    return _combine(partial, lab, channels)


def _as_spatial(arr: Any, what: str) -> Any:
    import xarray as xr

    if not isinstance(arr, xr.DataArray):
        arr = arr if hasattr(arr, "ndim") else np.asarray(arr)
        if arr.ndim not in (2, 3):
            raise FormatError(f"{what} must be 2D (y, x) or 3D (z, y, x), got shape {arr.shape}")
        arr = xr.DataArray(arr, dims=SPATIAL[-arr.ndim:])
    single = [d for d in arr.dims if d not in SPATIAL and arr.sizes[d] == 1]  # e.g. the one time point
    arr = arr.squeeze(single, drop=True) if single else arr
    if tuple(arr.dims) != SPATIAL[-arr.ndim:]:
        raise FormatError(f"{what} must have dims (y, x) or (z, y, x), got {arr.dims}")
    return arr


def _channels(image: Any, lab: Any) -> tuple[list[str], Any]:
    """Channel names and the image as an xarray with a leading ``c`` dim, aligned with the labels."""
    import xarray as xr

    if image is None:
        return [], None
    if not isinstance(image, xr.DataArray):
        arr = image if hasattr(image, "ndim") else np.asarray(image)
        image = xr.DataArray(arr, dims=(("c",) if arr.ndim == lab.ndim + 1 else ()) + lab.dims)
    extra = [d for d in image.dims if d not in (*lab.dims, "c") and image.sizes[d] == 1]
    image = image.squeeze(extra, drop=True) if extra else image
    if "c" not in image.dims:
        image = image.expand_dims("c")
        names = [""]
    else:
        names = [str(c) for c in image.coords["c"].values] if "c" in image.coords else \
            [str(i) for i in range(image.sizes["c"])]
    if set(image.dims) != {"c", *lab.dims} or tuple(image.sizes[d] for d in lab.dims) != lab.shape:
        raise FormatError(f"the image ({dict(image.sizes)}) does not match the labels ({dict(lab.sizes)}): measure "
                          "labels with the image they were made from, at the same resolution level")
    return names, image.transpose("c", *lab.dims)


def _block_table(labels: np.ndarray, image: np.ndarray | None, origin: tuple[int, ...]) -> Any:
    """Per object of one block: voxel count, coordinate sums, bounding box, intensity sums and maxima.

    One sort of the block's labels groups every object's voxels; each statistic is then one pass over the
    groups (``reduceat``), not a sort of the whole block per statistic as ``scipy.ndimage``'s label functions do.
    """
    import pandas as pd

    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ids = ordered[starts]
    keep = ids > 0
    columns: dict[str, Any] = {"label": ids[keep], "n": np.diff(np.r_[starts, flat.size])[keep]}
    if not keep.any():
        return pd.DataFrame(columns)
    for axis, coord in enumerate(np.unravel_index(order, labels.shape)):
        name = SPATIAL[-labels.ndim:][axis]
        coord = coord + origin[axis]
        columns[f"sum_{name}"] = np.add.reduceat(coord, starts)[keep].astype(np.float64)
        columns[f"min_{name}"] = np.minimum.reduceat(coord, starts)[keep]
        columns[f"max_{name}"] = np.maximum.reduceat(coord, starts)[keep]
    if image is not None:
        for c, plane in enumerate(image):
            values = np.asarray(plane).ravel()[order].astype(np.float64)
            columns[f"isum_{c}"] = np.add.reduceat(values, starts)[keep]
            columns[f"imax_{c}"] = np.maximum.reduceat(values, starts)[keep]
    return pd.DataFrame(columns)


def _combine(partial: Any, lab: Any, channels: list[str]) -> Any:
    """One row per object from the blocks' partial rows, in physical units."""
    import pandas as pd

    dims = lab.dims
    how = {"n": "sum"} | {f"sum_{d}": "sum" for d in dims} | {f"min_{d}": "min" for d in dims} | \
        {f"max_{d}": "max" for d in dims}
    how |= {f"isum_{c}": "sum" for c in range(len(channels))} | {f"imax_{c}": "max" for c in range(len(channels))}
    if partial.empty:
        partial = pd.DataFrame(columns=["label", *how])
    rows = partial.groupby("label", sort=True).agg(how)
    vs = voxel_size(lab, dims)  # micrometres when the coordinates' unit is known, else pixels
    step, offset = vs.steps, vs.origin
    size = "volume" if len(dims) == 3 else "area"
    out = pd.DataFrame({"label": rows.index.to_numpy()})
    out[f"{size}_{vs.suffix}{len(dims)}" if vs.known else f"{size}_px"] = \
        rows["n"].to_numpy() * float(np.prod([vs[d] for d in dims]))
    for d in dims:
        out[f"centroid_{d}"] = offset[d] + step[d] * rows[f"sum_{d}"].to_numpy() / rows["n"].to_numpy()
    for d in dims:
        out[f"bbox_min_{d}"] = offset[d] + step[d] * rows[f"min_{d}"].to_numpy()
        out[f"bbox_max_{d}"] = offset[d] + step[d] * rows[f"max_{d}"].to_numpy()
    for c, name in enumerate(channels):
        suffix = f"_{name}" if name else ""
        out[f"mean{suffix}"] = rows[f"isum_{c}"].to_numpy() / rows["n"].to_numpy()
        out[f"max{suffix}"] = rows[f"imax_{c}"].to_numpy()
    out.attrs["units"] = vs.unit  # of the sizes, centroids and bounding boxes
    out.attrs["voxel_size"] = vs.sizes
    return out
