"""Analysis steps the tutorials share with the tests and benchmarks.

Notebooks show these functions (they are the science, not plumbing); the tests
check them against synthetic data with known answers. A recipe may read its inputs
(:func:`select_cell` opens OME-Zarr images by URL), so this module stands above the
analysis it uses: the nuclei of a plane (:mod:`labkit.plane_nuclei`, whose
:func:`segment_plane`, :func:`count_objects` and :func:`count_planes` are here too), the
scoring against the truth (:func:`labkit.scoring.match_objects`, also here) and the
colours of images (:mod:`labkit._images`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from labkit._images import blend_channels
from labkit.plane_nuclei import count_objects, count_planes, segment_plane
from labkit.scoring import match_objects

__all__ = ["FLOOD_NODATA", "count_objects", "count_planes", "flood_summary", "match_objects", "normalize_cell",
           "project_cell", "segment_plane", "select_cell"]


FLOOD_NODATA = 255


def flood_summary(ds: Any, extent: str = "ensemble_flood_extent", likelihood: str = "ensemble_likelihood") -> Any:
    """Maximum flood extent and mean likelihood over time, the EODC GFM tutorial's arithmetic with nodata kept.

    As the original: values 0 and 255 are masked; the extent is 1 where any date is
    flooded, 0 elsewhere; the likelihood is the mean over time of the remaining
    values, cast to uint8. The documented fix: a pixel with no valid observation
    gets 255 (nodata) in both results, where the original cast NaN to uint8 (an
    undefined value) and reported unobserved pixels as dry.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``time``, ``y``, ``x`` and the two GFM bands (uint8, nodata 255).

    Returns
    -------
    xarray.Dataset
        ``ensemble_flood_extent`` and ``ensemble_likelihood``, uint8, lazy if ``ds`` is.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"ensemble_flood_extent": (("time", "x"), [[0, 1, 255], [1, 0, 255]]),
    ...                  "ensemble_likelihood": (("time", "x"), [[10, 80, 255], [60, 0, 255]])})
    >>> out = flood_summary(ds)
    >>> out.ensemble_flood_extent.values.tolist(), out.ensemble_likelihood.values.tolist()
    ([1, 1, 255], [35, 80, 255])
    """
    import xarray as xr

    ext, like = ds[extent], ds[likelihood]
    flooded = ext.where((ext != FLOOD_NODATA) & (ext != 0)).sum(dim="time")
    observed = (ext != FLOOD_NODATA).any(dim="time")
    max_extent = xr.where(observed, xr.where(flooded > 0, 1, 0), FLOOD_NODATA).astype("uint8")
    mean = like.where((like != FLOOD_NODATA) & (like != 0)).mean(dim="time")
    mean_likelihood = mean.fillna(FLOOD_NODATA).astype("uint8")
    out = xr.Dataset({extent: max_extent, likelihood: mean_likelihood})
    for name in out.coords:  # xr.where drops the coordinates' attributes: the CRS of spatial_ref among them
        if name in ds.coords:
            out[name].attrs = dict(ds[name].attrs)
    for name in out.data_vars:
        out[name].attrs["nodata"] = FLOOD_NODATA
    out[likelihood].attrs["long_name"] = "mean GFM ensemble likelihood"
    out[likelihood].attrs["units"] = "%"
    out[extent].attrs["long_name"] = "maximum flood extent"
    return out


# --------------------------------------------------------------------------- single cells


def select_cell(fov_path: str, labels_path: str, label: int, bbox: tuple[int, ...]) -> np.ndarray:
    """One cell's CZYX data: the field cropped to the cell's bounding box, zero outside the cell.

    Parameters
    ----------
    fov_path, labels_path : str
        OME-Zarr of the field (CZYX) and of its cell labels (ZYX), any URL :func:`labkit.load_remote.open_image` reads.
    label : int
        The cell's id in the labels.
    bbox : tuple of int
        ``(z0, z1, y0, y1, x0, x1)``.
    """
    from labkit.load_remote import open_image

    z0, z1, y0, y1, x0, x1 = (int(v) for v in bbox)
    window = {"z": slice(z0, z1), "y": slice(y0, y1), "x": slice(x0, x1)}
    image = open_image(fov_path).isel(window).values
    mask = open_image(labels_path).isel(window).values == label
    return np.where(mask[None], image, 0).astype(image.dtype)


def normalize_cell(cell: np.ndarray, pixel_sizes: dict[str, float], denoise: float = 1.0) -> np.ndarray:
    """Denoise, resample to isotropic voxels and stretch each channel to the full uint16 range.

    A Gaussian filter (``denoise`` voxels), cubic-spline resampling of z to the xy pixel
    size, and a contrast stretch between the 0.5 and 99.5 percentiles of the cell's voxels.
    """
    zoom_z = pixel_sizes["z"] / pixel_sizes["x"]
    out = []
    for channel in np.asarray(cell, dtype=np.float32):
        smooth = ndimage.gaussian_filter(channel, denoise)
        iso = ndimage.zoom(smooth, (zoom_z, 1, 1), order=3)
        inside = iso[iso > 0]
        lo, hi = np.percentile(inside, (0.5, 99.5)) if inside.size else (0.0, 1.0)
        out.append(np.clip((iso - lo) / max(hi - lo, 1e-6), 0, 1) * 65535)
    return np.stack(out).round().astype(np.uint16)


def project_cell(normalized: np.ndarray, colors: tuple[str, ...] = ("00FFFF", "FF00FF")) -> np.ndarray:
    """Maximum projection along z of each channel, blended into one RGB image (uint8).

    Examples
    --------
    >>> project_cell(np.zeros((2, 3, 4, 5), np.uint16)).shape
    (4, 5, 3)
    """
    proj = np.asarray(normalized, dtype=np.float64).max(axis=1) / 65535
    return (blend_channels(proj, colors, proj.shape[1:]) * 255).round().astype(np.uint8)
