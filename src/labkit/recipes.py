"""Analysis steps the tutorials share with the tests and benchmarks.

Notebooks show these functions (they are the science, not plumbing); the tests
check them against synthetic data with known answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage


def segment_plane(plane: Any, sigma: float = 1.0, fraction: float = 0.75) -> tuple[np.ndarray, int]:
    """Segment one 2D plane: Gaussian filter, threshold at a fraction of its maximum, label connected components.

    This is the method of the OMERO guide's parallel S3 example, but computed
    entirely here (the original left the labelling lazy, so it ran serially later).
    A dask or xarray plane is loaded first, inside the task that calls this.

    Parameters
    ----------
    plane : array-like
        A 2D image.
    sigma : float
        Standard deviation of the Gaussian filter, in pixels.
    fraction : float
        Threshold as a fraction of the filtered plane's maximum.

    Returns
    -------
    labels : numpy.ndarray
        int32 label image, 0 for background.
    count : int
        Number of objects.

    Examples
    --------
    >>> img = np.zeros((20, 20)); img[2:6, 2:6] = img[10:15, 10:15] = 100
    >>> segment_plane(img)[1]
    2
    """
    data = np.asarray(plane, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"segment_plane needs a 2D plane, got shape {data.shape}")
    smooth = ndimage.gaussian_filter(data, sigma=sigma)
    peak = smooth.max()
    if peak <= 0:
        return np.zeros(data.shape, np.int32), 0
    labels, count = ndimage.label(smooth > fraction * peak)
    return labels.astype(np.int32), int(count)


def count_objects(plane: Any, sigma: float = 1.0, fraction: float = 0.75) -> int:
    """Number of objects :func:`segment_plane` finds (only an integer travels back from a worker)."""
    return segment_plane(plane, sigma, fraction)[1]
