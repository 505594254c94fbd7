"""Analysis steps the tutorials share with the tests and benchmarks.

Notebooks show these functions (they are the science, not plumbing); the tests
check them against synthetic data with known answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from labkit.errors import FormatError


def segment_plane(plane: Any, method: str = "watershed", *, sigma: float = 1.0, fraction: float = 0.75,
                  min_distance: int = 5, min_area: int = 30) -> tuple[np.ndarray, int]:
    """Segment the nuclei of one 2D nuclear-stain plane; return the label image and the number of nuclei.

    ``method="watershed"`` (the default) is what a biologist would accept for nuclei: a Gaussian filter
    (``sigma``), Otsu's threshold of the square root of the intensity (so dim nuclei next to bright ones are
    kept), holes filled and objects under ``min_area`` pixels removed, then a watershed of the distance to the
    background weighted by the blurred intensity, seeded at its maxima at least ``min_distance`` pixels apart,
    which separates touching nuclei. ``method="original"`` is the OMERO guide's parallel S3 example:
    a Gaussian filter, a threshold at ``fraction`` of the filtered plane's maximum and connected components.
    On unevenly bright nuclei it keeps only the brightest speckles, so it counts fragments, not nuclei
    (kept for comparison). A dask or xarray plane is loaded first, inside the task that calls this.

    Parameters
    ----------
    plane : array-like
        A 2D image.
    method : {"watershed", "original"}
        The segmentation method.
    sigma : float
        Standard deviation of the Gaussian filter, in pixels.
    fraction : float
        ``"original"`` only: threshold as a fraction of the filtered plane's maximum.
    min_distance : int
        ``"watershed"`` only: smallest distance between two nucleus centres, pixels (about the smallest radius).
    min_area : int
        ``"watershed"`` only: smaller objects are dropped, pixels.

    Returns
    -------
    labels : numpy.ndarray
        int32 label image, 0 for background.
    count : int
        Number of objects.

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> plane = touching_nuclei((128, 128), 8, seed=0)
    >>> labels, n = segment_plane(plane.image)
    >>> n, match_objects(labels, plane.labels)["f1"]
    (8, 1.0)
    """
    data = np.asarray(plane, dtype=np.float32)
    if data.ndim != 2:
        raise FormatError(f"segment_plane needs a 2D plane, got shape {data.shape}")
    if method not in ("watershed", "original"):
        raise FormatError(f"unknown segmentation method {method!r}: use 'watershed' (default) or 'original'")
    smooth = ndimage.gaussian_filter(data, sigma=sigma)
    if smooth.max() <= 0 or smooth.max() == smooth.min():
        return np.zeros(data.shape, np.int32), 0
    if method == "original":
        labels, count = ndimage.label(smooth > fraction * smooth.max())
        return labels.astype(np.int32), int(count)
    return _watershed_nuclei(smooth, min_distance, min_area)


def _watershed_nuclei(smooth: np.ndarray, min_distance: int, min_area: int) -> tuple[np.ndarray, int]:
    from skimage import feature, filters, morphology, segmentation

    root = np.sqrt(np.maximum(smooth, 0))  # dim nuclei next to bright ones: Otsu of the square root
    mask = ndimage.binary_fill_holes(root > filters.threshold_otsu(root))
    mask = morphology.remove_small_objects(mask, max_size=min_area)
    if not mask.any():
        return np.zeros(smooth.shape, np.int32), 0
    # high in the middle of a nucleus: far from the edge (distance) and bright (the dim gap between
    # two packed nuclei is a valley even where their outline has no neck)
    blobs = ndimage.gaussian_filter(smooth, 3)
    score = ndimage.gaussian_filter(ndimage.distance_transform_edt(mask), 1) * np.sqrt(blobs / blobs[mask].max())
    components, _ = ndimage.label(mask)
    peaks = feature.peak_local_max(score, min_distance=min_distance, labels=components, exclude_border=False)
    markers = np.zeros(smooth.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = segmentation.watershed(-score, markers, mask=mask)
    return labels.astype(np.int32), int(labels.max())


def count_objects(plane: Any, method: str = "watershed", **options: Any) -> int:
    """Number of objects :func:`segment_plane` finds (only an integer travels back from a worker)."""
    return segment_plane(plane, method, **options)[1]


def count_planes(image: Any, method: str = "watershed", *, planes_per_task: int = 8, **options: Any) -> Any:
    """Objects in every 2D plane of an image, lazily, a few planes per Dask task.

    Each task reads its planes (the storage chunks fetched concurrently, nothing else) and returns only
    their counts: a task per plane would spend more on scheduling than on segmenting (7-8 ms a plane here),
    one per thousand planes would leave workers idle. Compute the result on any cluster.

    Parameters
    ----------
    image : xarray.DataArray
        Dimensions ending in ``y, x`` (e.g. from :func:`labkit.open_image`, a channel selected);
        dask-backed or not.
    method, options
        As for :func:`segment_plane`.
    planes_per_task : int
        Planes segmented by one task.

    Returns
    -------
    xarray.DataArray
        Integer counts over the leading dimensions (``t``, ``z`` ...), with their coordinates; lazy.

    Examples
    --------
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.zeros((3, 32, 32)), dims=("z", "y", "x"))
    >>> stack[1, 4:12, 4:12] = stack[2, 20:28, 4:12] = stack[2, 4:12, 20:28] = 100
    >>> count_planes(stack, min_area=10).values.tolist()
    [0, 1, 2]
    """
    import dask.array as da
    import xarray as xr

    if tuple(image.dims[-2:]) != ("y", "x"):
        raise FormatError(f"count_planes needs dimensions ending in ('y', 'x'), not {image.dims}")
    lead = image.ndim - 2
    data = da.asarray(image.data)
    per_axis = [1] * lead  # the innermost leading axis takes up to planes_per_task planes
    if lead:
        per_axis[-1] = min(planes_per_task, image.shape[lead - 1])
    data = data.rechunk((*per_axis, -1, -1))
    counts = data.map_blocks(_count_block, method, options, drop_axis=(lead, lead + 1), dtype=np.int64)
    coords = {d: image.coords[d] for d in image.dims[:lead] if d in image.coords}
    return xr.DataArray(counts, dims=image.dims[:lead], coords=coords, name="objects")


def _count_block(block: np.ndarray, method: str, options: dict[str, Any]) -> np.ndarray:
    planes = block.reshape(-1, *block.shape[-2:])
    return np.array([count_objects(p, method, **options) for p in planes], np.int64).reshape(block.shape[:-2])


def match_objects(labels: np.ndarray, truth: np.ndarray, iou: float = 0.5) -> dict[str, float]:
    """Compare a segmentation with the truth object by object: precision, recall and F1 at an IoU threshold.

    A found object and a true object match when their intersection over union is at least ``iou``
    (above 0.5 at most one match per object is possible).

    Returns
    -------
    dict
        ``found``, ``true``, ``matched``, ``precision``, ``recall``, ``f1``.

    Examples
    --------
    >>> truth = np.zeros((8, 8), int); truth[1:4, 1:4] = 1; truth[5:8, 5:8] = 2
    >>> match_objects(truth, truth)["f1"], match_objects(np.where(truth == 1, 1, 0), truth)["f1"]
    (1.0, 0.6666666666666666)
    """
    labels, truth = np.asarray(labels), np.asarray(truth)
    pairs = labels.astype(np.int64) * (int(truth.max()) + 1) + truth  # one code per (found, true) pair
    codes, overlap = np.unique(pairs[(labels > 0) & (truth > 0)], return_counts=True)
    found_ids, true_ids = codes // (int(truth.max()) + 1), codes % (int(truth.max()) + 1)
    area_found = np.bincount(labels.ravel())
    area_true = np.bincount(truth.ravel())
    union = area_found[found_ids] + area_true[true_ids] - overlap
    matched = int(np.sum(overlap / union >= iou))
    n_found, n_true = len(np.unique(labels[labels > 0])), len(np.unique(truth[truth > 0]))
    precision = matched / n_found if n_found else 0.0
    recall = matched / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"found": n_found, "true": n_true, "matched": matched, "precision": precision, "recall": recall, "f1": f1}


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
    from labkit.viewers import blend_channels

    proj = np.asarray(normalized, dtype=np.float64).max(axis=1) / 65535
    return (blend_channels(proj, colors, proj.shape[1:]) * 255).round().astype(np.uint8)
