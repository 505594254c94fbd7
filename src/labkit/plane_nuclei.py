"""Nuclei of 2D planes: one plane segmented (a watershed, or the OMERO guide's threshold), or every plane counted.

Arrays in, labels or counts out: nothing here reads or shows an image. :func:`count_planes` counts the
objects of every plane of an image lazily, a few planes per Dask task; :mod:`labkit.segment` uses
:func:`segment_plane` for ``method="original"``. The tutorials call these as :mod:`labkit.recipes` steps.

Examples
--------
>>> from labkit.synthetic import touching_nuclei
>>> labels, n = segment_plane(touching_nuclei((128, 128), 8, seed=0).image)
>>> n
8
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from labkit._images import distance_to_outside
from labkit.errors import FormatError

__all__ = ["count_objects", "count_planes", "segment_plane"]


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
    >>> from labkit.scoring import match_objects
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
    distance = distance_to_outside(mask).astype(np.float64)
    score = ndimage.gaussian_filter(distance, 1) * np.sqrt(blobs / blobs[mask].max())
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
