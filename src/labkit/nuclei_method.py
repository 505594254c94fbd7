"""The default nuclei segmentation method, classical, in 2D and 3D, split for blockwise processing.

:func:`estimate_parameters` measures, once, from full-resolution sample crops of an image, what must be the
same for every block: the background level, the foreground threshold and the typical nucleus diameter.
:func:`segment_block` then segments one block with these parameters using only local operations (filters of
bounded reach), so its result at a voxel depends only on the image within :func:`halo` voxels of it:

1. background: a grey opening (a box about twice the nucleus diameter, smoothed) subtracted;
2. smoothing: a Gaussian of 0.08 diameter, in physical units (anisotropic in voxels when the z spacing
   differs from xy);
3. foreground: above the global threshold and above a fraction of the local maximum (so bright nuclei are cut
   at their half-maximum edge, not at the dim nuclei's threshold); holes smaller than a nucleus filled;
4. markers: maxima of a score that is high in the middle of a nucleus (the distance to the background, in µm,
   capped, in units of the radius, times the square root of the blurred intensity relative to its local
   maximum) that rise at least 0.05 above their saddle (h-maxima) and are at least a radius apart; in 2D the
   distance is half to the background, half to a tighter foreground (above ``_TIGHT`` of the local maximum),
   so two touching nuclei with a shallow dip in intensity between them show a neck and get a seed each;
5. a seeded watershed of that score inside the foreground;
6. in 3D, shoulders dropped: an object whose blob-detector peak (a difference of Gaussians of 0.2 and 0.4
   diameter) touches an object at least ``_SHOULDER`` times brighter is the glow of that nucleus (out-of-focus
   light along z, cytoplasmic fluorescence), not a nucleus of its own, unless its middle (its seed) is nearly as
   bright as that peak (``_GLOW_MIDDLE``): a dim nucleus against a bright one, whose peak the bright one's blur
   moves onto their contact;
7. each object's edge from its own intensity profile: its voxels below ``_OWN_EDGE`` of its own peak (the
   maximum of its background-corrected intensity smoothed over 0.15 diameter) are dropped, so a nucleus is as
   large as its profile says, bright or dim; objects smaller than a fraction of the typical nucleus dropped.

The constants of steps 4 (``_TIGHT``), 6 (``_SHOULDER``, ``_GLOW_MIDDLE``) and 7 (separately for 2D and 3D images),
and the diameter's check for clumps (``_CLUMPED``, :func:`estimate_parameters`), were chosen by cross-validation on
the development set (``benchmarks/nuclei_cv.py``; the held-out figures are in ``tests/unit/nuclei_cv.json``).

Examples
--------
>>> from labkit.synthetic import touching_nuclei_volume
>>> from labkit.scoring import match_objects
>>> vol = touching_nuclei_volume(seed=1)
>>> labels = segment(vol.image, spacing=(1.0, 0.5, 0.5))
>>> match_objects(labels, vol.labels)["f1"] > 0.85
True
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from labkit._images import distance_to_outside, label_maxima
from labkit.errors import FormatError

__all__ = ["NucleiParameters", "estimate_parameters", "halo", "segment", "segment_block"]

_SKIMAGE_LOCK = threading.Lock()


def _skimage(name: str):
    """``skimage.<name>``, imported under a lock.

    scikit-image loads its submodules lazily, and two threads of one Dask worker loading the same one at once see
    it partially initialised (``has no attribute 'remove_small_holes'``).
    """
    with _SKIMAGE_LOCK:
        return importlib.import_module(f"skimage.{name}")

# Fractions of the nucleus diameter (physical units) that set the filters: few, and the same for every image.
_SMOOTH = 0.08      # Gaussian sigma of the denoising
_BACKGROUND = 2.0   # side of the opening's box that estimates the background
_LOCAL_MAX = 1.0    # window of the local maximum
_EDGE = 0.3         # a voxel is foreground above this fraction of the local maximum (and the global threshold)
_MIN_SIZE = 0.12    # smallest object, fraction of the volume (area) of a typical nucleus
_SEPARATION = 0.5   # markers at least this fraction of the diameter apart
_BLOB = 0.15        # Gaussian sigma of the intensity term of the markers' score
_POWER = 0.5        # (an exponent) weight of the intensity term
_GAMMA = 0.5        # (not a diameter fraction) Otsu's threshold of the intensity to this power: dim nuclei kept
_COMPACT = 1.25     # (a ratio) a component is one nucleus when its equivalent diameter is at most this times
                    # its inscribed diameter (an ellipse of axes up to 1:1.56; two touching discs: 1.41)
_DEPTH = 0.05       # a seed must rise this much (units of the radius) above the line to any higher seed near it
_MERGE = 1.0        # ... within this fraction of the diameter (the markers' reach)
_COMPACTNESS = 0.001  # (score per voxel) of the watershed: a seed far away does not flood a long ridge
_HALO = 2.0         # the halo a block needs (see halo())
_OWN_EDGE = (0.44, 0.4) # (2D, 3D) an object's edge at this fraction of its own peak (see _own_edge)
_PLATEAU = 0.15     # an object's peak is the maximum of its intensity smoothed by this (texture and noise averaged)
_SHOULDER = (0.0, 2.0)  # (2D, 3D) an object whose peak touches an object this many times brighter is its
                        # shoulder, dropped (_without_shoulders); 0: none dropped
_GLOW_MIDDLE = 0.75  # ... unless the object's blob response at its seed is at least this fraction of its peak
                     # (a middle of its own: a nucleus, dim beside a bright one); 0: that test off
_DOG = (0.2, 0.4)   # Gaussian sigmas of the blob detector (_band), fractions of the diameter
_REACH = 1.25       # an object's voxels lie within this fraction of the diameter of its seed
_TIGHT = (0.65, 0.0)  # (2D, 3D) the seeds' distance term also from a tighter foreground: above this fraction of
                     # the local maximum (two touching nuclei with a shallow dip between them get a neck); 0: none
_BLEND = 0.5        # ... the share of that tighter distance in the distance term
_BLOB_SCALES = 14   # scales of the blob detector that checks the diameter (_blob_diameter), 3 voxels to 1/4 image
_TOO_LARGE = 5.0    # (a ratio) in 2D, a diameter this many times the blobs' is a tissue or embryo, not a nucleus ...
_BLOB_BIAS = 1.2    # ... then the nuclei's diameter is the blobs' times this (the median ratio of the two where
                    # the first is right: a nucleus' bright middle makes the Laplacian of Gaussian peak small)
_CLUMPED = 1.4      # (a ratio) in 2D, a refined diameter still this many times the blobs' is that of clumps of
                    # small nuclei passing as compact objects: the blobs' diameter (times _BLOB_BIAS) used; 0: off
_CLUMPED_MAX = 2.0  # ... up to this many times: beyond it the blobs may be the chromatin specks of large nuclei
                    # (no image of the development set is over 2 times; a tissue is caught before refining)


@dataclass(frozen=True)
class NucleiParameters:
    """Global parameters of :func:`segment_block`, estimated once for a whole image.

    Attributes
    ----------
    spacing : tuple of float
        Voxel size per axis (µm, or 1.0 = pixels when unknown); its length is the image's ``ndim`` (2 or 3).
    diameter : float
        Typical nucleus diameter, in the units of ``spacing``.
    threshold : float
        Global foreground threshold on the background-corrected, smoothed intensity (the image's units).
    """

    spacing: tuple[float, ...]
    diameter: float
    threshold: float

    @property
    def ndim(self) -> int:
        """2 or 3: the number of axes."""
        return len(self.spacing)


def _as_image(image: object, what: str) -> np.ndarray:
    data = np.asarray(image)
    if data.ndim not in (2, 3):
        raise FormatError(f"{what} must be a 2D (y, x) or 3D (z, y, x) array, got shape {data.shape}: "
                          "pass one channel and one time point, e.g. image[t, c]")
    if not (np.issubdtype(data.dtype, np.number) and not np.issubdtype(data.dtype, np.complexfloating)) \
            and data.dtype != bool:
        raise FormatError(f"{what} must hold real numbers, got dtype {data.dtype}: pass intensities")
    if min(data.shape) < 2:
        raise FormatError(f"{what} has an empty or single-voxel axis, shape {data.shape}: pass a larger crop")
    return data.astype(np.float32, copy=False)


def _as_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise FormatError(f"spacing {spacing!r} does not fit a {ndim}D image: pass {ndim} positive voxel sizes "
                          "(z, y, x order), or None for 1.0 per axis")
    return values


def _voxels(length: float, spacing: tuple[float, ...]) -> tuple[float, ...]:
    """A physical length in voxels along each axis."""
    return tuple(length / s for s in spacing)


def _box(length: float, spacing: tuple[float, ...]) -> tuple[int, ...]:
    """An odd box size per axis covering ``length`` (physical units)."""
    return tuple(max(1, 2 * int(round(v / 2)) + 1) for v in _voxels(length, spacing))


def _reach(sigma_vox: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(int(4 * s + 0.5) for s in sigma_vox)


def _corrected(data: np.ndarray, spacing: tuple[float, ...], diameter: float) -> np.ndarray:
    """Background-corrected (box opening, smoothed), denoised intensity; local (bounded reach)."""
    box = _box(_BACKGROUND * diameter, spacing)
    background = ndimage.maximum_filter(ndimage.minimum_filter(data, box, mode="nearest"), box, mode="nearest")
    bg_sigma = _voxels(0.25 * diameter, spacing)
    background = ndimage.gaussian_filter(background, bg_sigma, mode="nearest", truncate=4.0)
    smooth = ndimage.gaussian_filter(data, _voxels(_SMOOTH * diameter, spacing), mode="nearest", truncate=4.0)
    return smooth - background


def halo(parameters: NucleiParameters) -> tuple[int, ...]:
    """Voxels per axis a block needs around it so that :func:`segment_block` inside it does not depend on the cut.

    ``_HALO`` (2) nucleus diameters: every voxel of an object lies within ``_REACH`` (1.25) diameters of its
    seed, and a seed is decided by the score within ``_MERGE`` (1) diameter of it, which depends on the intensity
    within about another diameter. The background filter reaches further (about 3 diameters) but a block's cut
    changes it only slightly; :func:`labkit.segment.segment_nuclei` names objects after their seeds, so what
    must agree between blocks is the seeds, not the full extent of each object. Measured on the IDR volume
    6001240 (dense clumps, 2x2x2 blocks), F1 whole vs blocks: 1.00 at 1.5 and 2 diameters on the whole volume;
    on a crop (z 60-180), whose diameter comes out smaller, 0.97 at 1.5 and 0.99 at 2.

    Examples
    --------
    >>> halo(NucleiParameters(spacing=(2.0, 0.5, 0.5), diameter=8.0, threshold=10.0))
    (9, 33, 33)
    """
    d, sp = parameters.diameter, parameters.spacing
    return tuple(int(math.ceil(_HALO * d / s)) + 1 for s in sp)


def _nucleus_volume(diameter: float, spacing: tuple[float, ...]) -> float:
    """Voxels in a disc (2D) or ball (3D) of this diameter."""
    r = diameter / 2
    physical = math.pi * r**2 if len(spacing) == 2 else 4 / 3 * math.pi * r**3
    return physical / float(np.prod(spacing))


def _foreground(corr: np.ndarray, parameters: NucleiParameters) -> tuple[np.ndarray, np.ndarray]:
    """Foreground mask and the local maximum of the corrected intensity."""
    morphology = _skimage("morphology")

    d, sp = parameters.diameter, parameters.spacing
    local_max = ndimage.maximum_filter(corr, _box(_LOCAL_MAX * d, sp), mode="nearest")
    mask = (corr > parameters.threshold) & (corr > _EDGE * local_max)
    # holes cut by the block's border are not filled: a block must not fill part of a large hollow (the
    # inside of an embryo) that the whole image leaves empty; the padding joins them all into one big "hole"
    padded = morphology.remove_small_holes(np.pad(mask, 1), max_size=max(1, int(0.3 * _nucleus_volume(d, sp))))
    return padded[(slice(1, -1),) * mask.ndim], local_max


def _score(data: np.ndarray, mask: np.ndarray, parameters: NucleiParameters,
           tight: np.ndarray | None = None) -> np.ndarray:
    """High in the middle of a nucleus: far from the background (capped) and bright relative to its surroundings.

    The intensity term is taken on the raw intensity, not the background-corrected one: the background filter
    reaches furthest of all, so a block's cut changes it slightly, and on the flat top of a nucleus (a long one
    along z) the least change would move the seed by a voxel; the raw intensity is the same in every block.
    """
    d, sp = parameters.diameter, parameters.spacing
    distance = np.minimum(distance_to_outside(mask, sp), 0.75 * d) / (d / 2)
    if tight is not None:
        inner = np.minimum(distance_to_outside(tight, sp), 0.75 * d) / (d / 2)
        distance = _BLEND * inner + (1 - _BLEND) * distance
    blobs = ndimage.gaussian_filter(data, _voxels(_BLOB * d, sp), mode="nearest")
    local = ndimage.maximum_filter(blobs, _box(_LOCAL_MAX * d, sp), mode="nearest")
    relative = np.clip(blobs / np.maximum(local, 1e-6), 0, 1)
    distance = ndimage.gaussian_filter(distance, _voxels(0.05 * d, sp), mode="nearest")
    return (distance * relative**_POWER).astype(np.float32)


def segment_block(block: np.ndarray, parameters: NucleiParameters, *,
                  return_seeds: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Segment the nuclei of one 2D or 3D block with global parameters, using local operations only.

    Parameters
    ----------
    block : numpy.ndarray
        ``(y, x)`` or ``(z, y, x)`` intensities, extended by :func:`halo` on every side when it is a block of a
        larger image.
    parameters : NucleiParameters
        From :func:`estimate_parameters` on samples of the whole image.
    return_seeds : bool
        Also return each object's seed (the marker its watershed grew from, a voxel of the object): object
        ``i`` has its seed at ``seeds[i - 1]``. Every voxel of an object lies within :data:`_REACH` diameters
        of its seed, so a block whose halo covers that distance sees the seed of every object in its core.

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, numpy.ndarray)
        int32 labels, 0 for background, ids 1..n local to the block; with ``return_seeds`` also the seeds,
        an ``(n, ndim)`` int array of voxel indices in the block.

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> plane = touching_nuclei((128, 128), 8, seed=0)
    >>> p = estimate_parameters([plane.image])
    >>> int(segment_block(plane.image, p).max()) >= 7
    True
    """
    segmentation = _skimage("segmentation")

    data = _as_image(block, "block")
    if len(parameters.spacing) != data.ndim:
        raise FormatError(f"the parameters are for {len(parameters.spacing)}D images, the block has shape "
                          f"{data.shape}: estimate the parameters from samples of this image")
    d, sp = parameters.diameter, parameters.spacing
    corr = _corrected(data, sp, d)
    mask, local_max = _foreground(corr, parameters)
    if not mask.any():
        empty = np.zeros(data.shape, np.int32)
        return (empty, np.zeros((0, data.ndim), np.int64)) if return_seeds else empty
    tight = _TIGHT[data.ndim - 2]
    score = _score(data, mask, parameters, mask & (corr > tight * local_max) if tight > 0 else None)
    del local_max
    seeds = _markers(score, mask, parameters)
    markers = np.zeros(data.shape, np.int32)
    markers[tuple(seeds.T)] = np.arange(1, len(seeds) + 1)
    labels = segmentation.watershed(-score, markers, mask=mask, compactness=_COMPACTNESS)
    if _SHOULDER[data.ndim - 2] > 0:
        labels = _without_shoulders(labels, _band(data, parameters), seeds, _SHOULDER[data.ndim - 2])
    labels = _own_edge(labels, corr, len(seeds), _OWN_EDGE[data.ndim - 2], parameters)
    del corr
    labels, seeds = _bounded(labels, seeds, parameters)
    if return_seeds:
        return labels, seeds
    return labels


def _band(data: np.ndarray, parameters: NucleiParameters) -> np.ndarray:
    """A difference of Gaussians tuned to the nucleus size (a blob detector): high in the middle of a blob."""
    d, sp = parameters.diameter, parameters.spacing
    fine = ndimage.gaussian_filter(data, _voxels(_DOG[0] * d, sp), mode="nearest")
    return fine - ndimage.gaussian_filter(data, _voxels(_DOG[1] * d, sp), mode="nearest")


def _label_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The maximum of ``values`` over each label 1..n (index 0 and absent labels: -inf); fast, no sort."""
    out = np.full(n + 1, -np.inf, np.float32)
    np.maximum.at(out, labels.ravel(), values.ravel().astype(np.float32, copy=False))
    out[0] = -np.inf
    return out


def _without_shoulders(labels: np.ndarray, corr: np.ndarray, seeds: np.ndarray, ratio: float) -> np.ndarray:
    """Objects whose brightest voxel touches another object removed: the shoulder of a brighter nucleus.

    A nucleus has its own intensity peak inside it; the glow around a bright nucleus (out-of-focus light along z,
    cytoplasmic fluorescence), which a generous threshold keeps and the watershed may give a seed of its own,
    is brightest where it meets that nucleus and fades away from it, so its middle (the seed ``seeds[i - 1]`` of
    object ``i``) is much dimmer than its peak. A dim nucleus against one more than ``ratio`` times as bright may
    also have its peak on their contact (the bright one's blur adds to it there), but its middle is nearly as
    bright: at least ``_GLOW_MIDDLE`` of its peak, and it is kept.
    """
    n = len(seeds)
    if n == 0:
        return labels
    index = np.arange(1, n + 1)
    peak = _label_max(corr, labels, n)
    flat = labels.ravel()
    at_peak = np.flatnonzero((flat > 0) & (corr.ravel() == peak[flat]))
    ids, first = np.unique(flat[at_peak], return_index=True)
    where = np.zeros(n + 1, np.int64)
    where[ids] = at_peak[first]
    positions = [np.unravel_index(where[i], labels.shape) for i in index]
    brightest = ndimage.maximum_filter(peak[labels], size=3, mode="nearest")  # the brightest object next to a voxel
    drop = np.zeros(n + 1, bool)
    for i, pos in zip(index, positions, strict=True):
        pos = tuple(int(p) for p in pos)
        glow = labels[pos] == i and (peak[i] <= 0 or brightest[pos] >= ratio * peak[i])
        own_middle = _GLOW_MIDDLE > 0 and corr[tuple(seeds[i - 1])] >= _GLOW_MIDDLE * peak[i] > 0
        drop[i] = glow and not own_middle
    return np.where(drop[labels], 0, labels).astype(np.int32)


def _own_edge(labels: np.ndarray, corr: np.ndarray, n: int, fraction: float,
              parameters: NucleiParameters) -> np.ndarray:
    """Each object cut at a fraction of its own peak (background-corrected): its edge from its intensity profile.

    The global threshold and the local maximum's fraction are generous (a dim nucleus beside a bright one must
    stay foreground); an object's edge is where its own intensity falls to ``fraction`` of its peak (the
    maximum of its intensity smoothed over ``_PLATEAU`` diameters: texture and noise averaged, one bright speck
    does not set it), so a nucleus is as large as its intensity profile says, however bright or dim.
    """
    if n == 0 or fraction <= 0:
        return labels
    d, sp = parameters.diameter, parameters.spacing
    plateau = ndimage.gaussian_filter(corr, _voxels(_PLATEAU * d, sp), mode="nearest")
    peak = _label_max(plateau, labels, n)
    edge = fraction * peak
    return np.where(corr >= edge[labels], labels, 0).astype(np.int32)


def _bounded(labels: np.ndarray, seeds: np.ndarray, parameters: NucleiParameters) -> tuple[np.ndarray, np.ndarray]:
    """Objects cut to :data:`_REACH` diameters around their seed, the small ones dropped, ids made consecutive.

    The watershed floods a whole clump of the foreground; without a bound an object (a column of nuclei blurred
    together along z, say) could stretch further than any halo, and blocks would disagree about it.
    """
    d, sp = parameters.diameter, parameters.spacing
    reach = _REACH * d
    half = [int(reach / math.sqrt(len(sp)) / s) for s in sp]  # the box inscribed in the ball
    objects = ndimage.find_objects(labels)
    for i, box in enumerate(objects, start=1):
        if box is None:
            continue
        seed = seeds[i - 1]
        if all(b.start >= c - h and b.stop <= c + h + 1 for b, c, h in zip(box, seed, half, strict=True)):
            continue  # within the ball's inscribed box: nothing to cut
        grids = np.ogrid[tuple(slice(b.start, b.stop) for b in box)]
        far = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, seed, sp, strict=True)) > reach**2
        view = labels[box]
        view[far & (view == i)] = 0
    sizes = np.bincount(labels.ravel(), minlength=len(seeds) + 1)
    keep = sizes >= _MIN_SIZE * _nucleus_volume(d, sp)
    keep[0] = False
    new = np.zeros(len(keep), np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1)
    return new[labels], seeds[keep[1:]]


def _markers(score: np.ndarray, mask: np.ndarray, parameters: NucleiParameters) -> np.ndarray:
    """Seeds, one per nucleus: maxima of the score, ``_SEPARATION`` apart, kept when the score dips below them.

    A maximum is kept only when the score dips at least ``_DEPTH`` below it on the straight line to every higher
    maximum within ``_MERGE`` diameters (a bounded, local stand-in for h-maxima, whose saddles can be anywhere
    in a clump).

    Returns the seeds as an ``(n, ndim)`` int array, the highest first.
    """
    d, sp = parameters.diameter, parameters.spacing
    masked = np.where(mask, score, np.float32(0))
    coords = _peaks(masked, _ellipsoid(_SEPARATION * d, sp), 0.05)
    values = masked[tuple(coords.T)]
    order = np.lexsort((*coords.T[::-1], -values))  # highest first, ties in row-major order
    coords, values = coords[order], values[order]
    # a candidate is checked against every higher candidate near it, kept or not: its fate depends on the score
    # within _MERGE diameters only, never on a chain of decisions running across a clump
    scaled = coords * np.asarray(sp)
    kept = []
    for j in range(len(coords)):
        gap = np.sqrt(((scaled[:j] - scaled[j]) ** 2).sum(1))
        near = np.flatnonzero(gap <= _MERGE * d)
        # a plateau (equal maxima side by side): only its first voxel is a seed
        if not any(_saddle(masked, coords[k], coords[j]) >= values[j] - _DEPTH for k in near):
            kept.append(j)
    return coords[kept].astype(np.int64).reshape(-1, score.ndim)


def _peaks(image: np.ndarray, footprint: np.ndarray, floor: float) -> np.ndarray:
    """Voxels above ``floor`` equal to the maximum of the image over the footprint centred on them.

    The same as ``image == maximum_filter(image, footprint=footprint)``, but the footprint's maximum (slow for
    a ball) is taken only at the voxels that are maxima of the footprint's middle (at most 3x3x3, fast).
    """
    half = np.asarray(footprint.shape) // 2
    small = footprint[tuple(slice(max(0, h - 1), h + 2) for h in half)]  # its middle, at most 3 per axis
    near = ndimage.maximum_filter(image, small.shape, mode="nearest") if small.all() else \
        ndimage.maximum_filter(image, footprint=small, mode="nearest")
    candidates = np.argwhere((image == near) & (image > floor))
    padded = np.pad(image, [(h, h) for h in half], mode="edge")
    keep = np.zeros(len(candidates), bool)
    for k, c in enumerate(candidates):
        window = padded[tuple(slice(a, a + n) for a, n in zip(c, footprint.shape, strict=True))]
        keep[k] = image[tuple(c)] >= window[footprint].max()
    return candidates[keep]


def _saddle(score: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """The lowest score on the straight segment from voxel ``a`` to voxel ``b``."""
    n = int(np.abs(b - a).max()) + 1
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    points = a + np.rint(t * (b - a)).astype(np.intp)  # rounded relative to a: the same in every block
    return float(score[tuple(points.T)].min())


def _ellipsoid(length: float, spacing: tuple[float, ...]) -> np.ndarray:
    """A boolean ball of diameter ``length`` (physical units) in voxels."""
    half = [max(0, int(v / 2)) for v in _voxels(length, spacing)]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    inside = sum((g / max(h, 0.5)) ** 2 for g, h in zip(grids, half, strict=True))
    return inside <= 1.0


def _otsu_sqrt(values: np.ndarray) -> float:
    filters = _skimage("filters")

    root = np.maximum(values, 0) ** _GAMMA
    if root.max() <= root.min():
        return float("inf")
    return float(filters.threshold_otsu(root)) ** (1 / _GAMMA)


def _threshold(values: np.ndarray) -> float:
    """Otsu's threshold of the square root of the corrected intensity (dim nuclei kept next to bright ones)."""
    return _otsu_sqrt(values)


def _component_diameters(mask: np.ndarray, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent diameters (physical units) and sizes of a mask's compact components (clusters left out)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    voxel = float(np.prod(spacing))
    sizes = np.bincount(labels.ravel())[1:] * voxel
    inscribed = 2 * label_maxima(distance_to_outside(mask, spacing), labels, n)
    if len(spacing) == 2:
        equivalent = 2 * np.sqrt(sizes / math.pi)
    else:
        equivalent = np.cbrt(6 * sizes / math.pi)
    big = inscribed >= 2 * max(spacing)  # not specks of a few voxels
    compact = big & (equivalent <= _COMPACT * inscribed)
    if compact.sum() >= 3:
        return equivalent[compact], sizes[compact]
    return inscribed[big] * 1.1, sizes[big]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _diameter(masks: list[np.ndarray], spacing: tuple[float, ...]) -> float | None:
    found = [_component_diameters(m, spacing) for m in masks]
    values, weights = np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])
    if values.size == 0:
        return None
    rough = _weighted_median(values, weights)  # the scale of the objects covering most of the foreground
    values = values[values >= 0.4 * rough]     # without the specks of noise, the median of the nuclei
    return max(float(np.median(values)), 3 * min(spacing))


def _blob_diameter(datas: list[np.ndarray], spacing: tuple[float, ...]) -> float | None:
    """The median diameter of the blobs of a scale-normalised Laplacian of Gaussian (maxima in space and scale).

    A check on the components' diameter: an embryo or a tissue full of nuclei is one compact component, whose
    diameter is many times its nuclei's; the blob detector sees the nuclei inside it. The largest sample, strided
    to at most about a million voxels; scales from 3 voxels to a quarter of the sample; blobs above half the
    99th percentile of the responses (not noise). For a disc of diameter D the response peaks at D.
    """
    data = max(datas, key=lambda d: d.size)
    step = max(1, int(math.ceil((data.size / 1_000_000) ** (1 / data.ndim))))
    data = data[(slice(None, None, step),) * data.ndim]
    sp = tuple(s * step for s in spacing)
    low = 3 * min(sp)
    high = min(s * n for s, n in zip(sp, data.shape, strict=True)) / 4
    if high <= 2 * low:
        return None
    diameters = np.geomspace(low, high, _BLOB_SCALES)
    stack = np.empty((len(diameters), *data.shape), np.float32)
    for k, d in enumerate(diameters):
        sigma = d / (2 * math.sqrt(data.ndim))
        stack[k] = -sigma**2 * ndimage.gaussian_laplace(data, _voxels(sigma, sp), mode="nearest")
    peak = (stack == ndimage.maximum_filter(stack, size=3, mode="nearest")) & (stack > 0)
    peak[0] = peak[-1] = False
    where = np.argwhere(peak)
    if len(where) == 0:
        return None
    values = stack[tuple(where.T)]
    strong = values > 0.5 * np.percentile(values, 99)
    return float(np.median(diameters[where[strong, 0]]))


def estimate_parameters(samples: Sequence[np.ndarray], spacing: Sequence[float] | None = None,
                        diameter: float | None = None) -> NucleiParameters:
    """Estimate the global parameters of :func:`segment_block` from full-resolution crops of an image.

    The nucleus diameter (unless given) is the median equivalent diameter of the compact connected
    components of a first foreground (Otsu's threshold of the square root of the smoothed intensity), refined
    once after background correction; in 2D, when that first diameter is over ``_TOO_LARGE`` (5) times the
    median blob of a multi-scale Laplacian of Gaussian (an embryo or a tissue full of nuclei seen as one
    component), the blobs' diameter times ``_BLOB_BIAS`` (1.2) is used instead; so it is when the refined
    diameter is still ``_CLUMPED`` (1.4, chosen by cross-validation) to ``_CLUMPED_MAX`` (2) times the blobs' (a
    few small nuclei in clumps that pass for compact objects). The threshold is Otsu's
    threshold of the square root of the background-corrected, smoothed intensity, pooled over the samples.

    Parameters
    ----------
    samples : sequence of numpy.ndarray
        Crops of the image at full resolution, all 2D or all 3D (the whole image when it is small). They should
        hold nuclei and background, a few nucleus diameters across at least.
    spacing : sequence of float, optional
        Voxel size per axis (µm); default 1.0 per axis (pixels).
    diameter : float, optional
        Typical nucleus diameter in the units of ``spacing``; default estimated from the samples.

    Returns
    -------
    NucleiParameters

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> p = estimate_parameters([touching_nuclei(seed=0).image])
    >>> 18 < p.diameter < 32
    True
    """
    if isinstance(samples, np.ndarray) or not isinstance(samples, Sequence) or len(samples) == 0:
        raise FormatError("samples must be a non-empty list of 2D or 3D arrays (crops of the image): "
                          "pass [image] for a small image")
    datas = [_as_image(s, "each sample") for s in samples]
    ndims = {d.ndim for d in datas}
    if len(ndims) != 1:
        raise FormatError(f"samples mix {sorted(ndims)}-dimensional arrays: pass crops of one image, all 2D or 3D")
    ndim = ndims.pop()
    sp = _as_spacing(spacing, ndim)
    if diameter is not None and not (math.isfinite(float(diameter)) and float(diameter) > 0):
        raise FormatError(f"diameter {diameter!r} is not a positive length: pass the nucleus diameter in the "
                          "units of spacing, or None to estimate it")
    if diameter is None:
        first = [ndimage.gaussian_filter(d, 1.0) for d in datas]
        cut = _otsu_sqrt(np.concatenate([_subsample(f) for f in first]))
        estimate = _diameter([f > cut for f in first], sp)
        if estimate is None:
            raise FormatError("no nuclei found in the samples to estimate their diameter: pass diameter=, or "
                              "samples that hold nuclei")
        blobs = _blob_diameter(datas, sp) if ndim == 2 else None  # in 3D noise passes for small blobs
        if blobs is not None and estimate > _TOO_LARGE * blobs:
            estimate = _BLOB_BIAS * blobs  # one component is a whole embryo or tissue full of nuclei
        for _ in range(2):  # refine after background correction, with the diameter's own filters
            corr = [_corrected(d, sp, estimate) for d in datas]
            cut = _threshold(np.concatenate([_subsample(c) for c in corr]))
            params = NucleiParameters(sp, estimate, cut)
            estimate = _diameter([_foreground(c, params)[0] for c in corr], sp) or estimate
        if blobs is not None and _CLUMPED > 0 and _CLUMPED * blobs < estimate <= _CLUMPED_MAX * blobs:
            estimate = _BLOB_BIAS * blobs  # few nuclei, in clumps that pass as compact objects
        diameter = estimate
    diameter = float(diameter)
    corr = [_corrected(d, sp, diameter) for d in datas]
    threshold = _threshold(np.concatenate([_subsample(c) for c in corr]))
    if not math.isfinite(threshold):
        threshold = float(np.finfo(np.float32).max)
    return NucleiParameters(spacing=sp, diameter=diameter, threshold=threshold)


def _subsample(values: np.ndarray, most: int = 2_000_000) -> np.ndarray:
    flat = values.ravel()
    step = max(1, flat.size // most)
    return flat[::step]


def segment(image: np.ndarray, spacing: Sequence[float] | None = None,
            diameter: float | None = None) -> np.ndarray:
    """Segment the nuclei of a whole (small) 2D or 3D image: parameters estimated from it, then one block.

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> from labkit.scoring import match_objects
    >>> plane = touching_nuclei(seed=0)
    >>> match_objects(segment(plane.image), plane.labels)["f1"] > 0.9
    True
    """
    data = _as_image(image, "image")
    return segment_block(data, estimate_parameters([data], spacing, diameter))
