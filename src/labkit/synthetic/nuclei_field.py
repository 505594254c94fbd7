"""Nuclear-stain volumes of any size, made block by block, with their truth: for blockwise methods and benchmarks.

Nuclei sit on a lattice (one per cell of ``spacing_um``, some cells empty), each jittered, sized and lit from a
generator seeded by its lattice cell, so any block is drawn alone and agrees with its neighbours: a volume
larger than memory is a lazy dask array whose blocks are made where they are computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NucleiField:
    """A lazy nuclei volume and its truth.

    Attributes
    ----------
    image : dask.array.Array
        ``(z, y, x)`` uint16 intensities.
    labels : dask.array.Array
        ``(z, y, x)`` uint32 nucleus ids (0 is background), the same nuclei as ``image``.
    voxel_um : tuple of float
        Voxel size ``(z, y, x)`` in µm.
    """

    image: Any
    labels: Any
    voxel_um: tuple[float, float, float]


def nuclei_field(shape: tuple[int, int, int], *, chunks: int | tuple[int, int, int] = 64, seed: int = 0,
                 voxel_um: tuple[float, float, float] = (1.0, 0.5, 0.5), lattice_um: float = 12.0,
                 radius_um: tuple[float, float] = (3.5, 5.0), occupancy: float = 0.8) -> NucleiField:
    """A nuclear-stain volume of any size with known nuclei, computed lazily block by block.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` voxels.
    chunks : int or tuple
        Dask chunks of the result.
    seed : int
        The same seed gives the same volume, whatever the chunks.
    voxel_um : tuple of float
        Voxel size ``(z, y, x)``, µm.
    lattice_um : float
        One nucleus at most per lattice cell of this size (µm); jittered so that some touch.
    radius_um : (float, float)
        Range of the nuclei's radii, µm (slightly ellipsoidal).
    occupancy : float
        Fraction of lattice cells holding a nucleus.

    Returns
    -------
    NucleiField

    Examples
    --------
    >>> field = nuclei_field((32, 96, 96), chunks=32, seed=1)
    >>> field.image.shape, field.image.dtype.name, int(field.labels.max().compute()) > 0
    ((32, 96, 96), 'uint16', True)
    >>> small = nuclei_field((32, 96, 96), chunks=(16, 48, 48), seed=1)
    >>> bool((small.image == field.image).all().compute())
    True
    """
    import dask.array as da

    options = {"seed": seed, "voxel_um": tuple(voxel_um), "lattice_um": lattice_um, "radius_um": tuple(radius_um),
               "occupancy": occupancy, "full": tuple(shape)}
    template = da.zeros(shape, chunks=chunks, dtype=np.uint16)
    image = da.map_blocks(_draw, template, what="image", dtype=np.uint16, **options)
    labels = da.map_blocks(_draw, template, what="labels", dtype=np.uint32, **options)
    return NucleiField(image=image, labels=labels, voxel_um=tuple(voxel_um))


def _nucleus(cell: tuple[int, int, int], seed: int, lattice_um: float, radius_um: tuple[float, float],
             occupancy: float) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The nucleus of one lattice cell (centre µm, radii µm, brightness), or None: a function of the cell alone."""
    rng = np.random.default_rng([seed, *(c + 2**20 for c in cell)])
    if rng.random() > occupancy:
        return None
    radius = rng.uniform(*radius_um)
    radii = radius * rng.uniform(0.85, 1.15, 3)
    centre = (np.array(cell) + 0.5) * lattice_um + rng.uniform(-0.3, 0.3, 3) * lattice_um
    return centre, radii, float(rng.uniform(350, 1000))


def _draw(template: np.ndarray, what: str, seed: int, voxel_um: tuple[float, ...], lattice_um: float,
          radius_um: tuple[float, float], occupancy: float, full: tuple[int, ...],
          block_info: Any = None) -> np.ndarray:
    """One block of the image (blurred nuclei on a background, noise) or of the labels."""
    from scipy import ndimage

    lo = [r[0] for r in block_info[0]["array-location"]]
    hi = [r[1] for r in block_info[0]["array-location"]]
    # the image is blurred: draw a margin around the block, blur, crop (the same pixels whatever the blocks)
    sigma = [max(0.6 / v, 0.5) for v in voxel_um]
    margin = [math.ceil(4 * s) + 1 for s in sigma] if what == "image" else [0, 0, 0]
    start = [max(0, a - m) for a, m in zip(lo, margin, strict=True)]
    stop = [min(n, b + m) for b, m, n in zip(hi, margin, full, strict=True)]
    shape = [b - a for a, b in zip(start, stop, strict=True)]
    grid = [(np.arange(a, b) + 0.5) * v for a, b, v in zip(start, stop, voxel_um, strict=True)]
    labels = np.zeros(shape, np.uint32)
    light = np.zeros(shape, np.float32)
    reach = radius_um[1] * 1.15 + 0.3 * lattice_um
    first = [math.floor((g[0] - reach) / lattice_um) for g in grid]
    last = [math.floor((g[-1] + reach) / lattice_um) for g in grid]
    cells_per_axis = [math.ceil(n * v / lattice_um) + 1 for n, v in zip(full, voxel_um, strict=True)]
    for cell in np.ndindex(*[b - a + 1 for a, b in zip(first, last, strict=True)]):
        cell = tuple(c + f for c, f in zip(cell, first, strict=True))
        if min(cell) < 0:
            continue
        nucleus = _nucleus(cell, seed, lattice_um, radius_um, occupancy)
        if nucleus is None:
            continue
        centre, radii, level = nucleus
        box = [np.flatnonzero(np.abs(g - c) <= r) for g, c, r in zip(grid, centre, radii, strict=True)]
        if any(len(b) == 0 for b in box):
            continue
        sl = tuple(slice(b[0], b[-1] + 1) for b in box)
        d2 = sum(((g[s] - c) / r) ** 2 for g, s, c, r in
                 zip(np.ix_(*[g[b] for g, b in zip(grid, box, strict=True)]), [slice(None)] * 3, centre, radii,
                     strict=True))
        inside = d2 <= 1
        ident = 1 + int(np.ravel_multi_index(cell, cells_per_axis))
        region = labels[sl]
        free = inside & (region == 0)  # the first nucleus drawn keeps a shared voxel
        region[free] = ident
        light[sl][free] = level * (0.85 + 0.15 * np.cos(3 * d2[free]))  # brighter rim-to-centre texture
    crop = tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, start, strict=True))
    if what == "labels":
        return labels[crop]
    blurred = ndimage.gaussian_filter(light, sigma, mode="nearest")[crop]
    index = np.ravel_multi_index(tuple(np.indices(blurred.shape) + np.reshape(lo, (3, 1, 1, 1))), full)
    return np.clip(blurred + 100 + 6 * _noise(index.astype(np.uint64), seed), 0, 65535).astype(np.uint16)


def _noise(index: np.ndarray, seed: int) -> np.ndarray:
    """Unit-variance noise that is a function of the voxel's index alone (splitmix64), so blocks agree."""
    with np.errstate(over="ignore"):
        h = index * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(11)).astype(np.float64) / 2.0**53 - 0.5) * math.sqrt(12)
