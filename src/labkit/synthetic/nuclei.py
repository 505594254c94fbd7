"""Nuclear stains with known truth: volumes of separated nuclei (counts per plane), planes of touching nuclei."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NucleiVolume:
    """A synthetic nuclear-stain volume and its truth.

    Attributes
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` uint16 intensities.
    labels : numpy.ndarray
        ``(z, y, x)`` uint16 nucleus ids (0 is background).
    counts : numpy.ndarray
        Number of nuclei present in each z plane.
    """

    image: np.ndarray
    labels: np.ndarray
    counts: np.ndarray


def nuclei_volume(
    shape: tuple[int, int, int] = (32, 128, 128),
    n_nuclei: int = 12,
    *,
    seed: int = 0,
    min_radius: int = 5,
    max_radius: int = 9,
) -> NucleiVolume:
    """Generate well separated nuclei whose count in every plane is known.

    Each nucleus is a stack of discs: its radius varies smoothly along z but never
    falls below ``min_radius`` pixels, so every plane it spans shows a clearly
    visible disc; its intensity is 850-1000 on a background of 100 +- 3. Nuclei are
    at least ``2 * max_radius + 6`` pixels apart in the plane, so they never touch,
    and every plane holds at least one nucleus.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` size.
    n_nuclei : int
        Number of nuclei to place (fewer if they do not fit).
    seed : int
        Seed of the random generator; the same seed gives the same volume.
    min_radius, max_radius : int
        Disc radii in pixels.

    Returns
    -------
    NucleiVolume

    Examples
    --------
    >>> vol = nuclei_volume((8, 64, 64), 4, seed=1)
    >>> vol.image.shape, int(vol.counts.min()) >= 1
    ((8, 64, 64), True)
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    gap = 2 * max_radius + 6
    centres: list[tuple[int, int]] = []
    for _ in range(200 * n_nuclei):
        if len(centres) == n_nuclei:
            break
        cy, cx = (int(v) for v in rng.integers(max_radius + 2, (ny - max_radius - 2, nx - max_radius - 2)))
        if all((cy - y) ** 2 + (cx - x) ** 2 >= gap**2 for y, x in centres):
            centres.append((cy, cx))
    labels = np.zeros(shape, np.uint16)
    image = rng.integers(97, 104, size=shape).astype(np.uint16)
    yy, xx = np.mgrid[0:ny, 0:nx]
    for i, (cy, cx) in enumerate(centres, start=1):
        if i == 1:  # the first nucleus spans every plane, so no plane is empty
            z0, z1 = 0, nz
        else:
            depth = int(rng.integers(max(2, nz // 4), max(3, nz // 2 + 1)))
            z0 = int(rng.integers(0, nz - depth + 1))
            z1 = z0 + depth
        r_max = float(rng.uniform(min_radius + 1, max_radius))
        level = int(rng.integers(850, 1001))
        mid, half = (z0 + z1 - 1) / 2, max((z1 - z0) / 2, 1)
        for z in range(z0, z1):
            r = min_radius + (r_max - min_radius) * np.sqrt(max(0.0, 1 - ((z - mid) / half) ** 2))
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
            labels[z][disc] = i
            image[z][disc] = level
    counts = np.array([len(np.unique(labels[z])) - (0 in labels[z]) for z in range(nz)])
    return NucleiVolume(image=image, labels=labels, counts=counts)


def write_nuclei(dest: str | Path, volume: NucleiVolume, *, version: str = "0.4",
                 pixel_sizes: dict[str, float] | None = None) -> Any:
    """Write a nuclei volume as OME-NGFF (``version`` 0.4 or 0.5): the image and its NGFF labels ``nuclei``.

    The labels are written by :func:`labkit.labels.write_labels` (``labels/nuclei``, listed in ``labels/``),
    so ome-zarr-py, napari and ome-zarr-models find them.

    The per-plane counts go into the group's attributes (``labkit_truth``), so the truth travels with the data.

    Examples
    --------
    >>> ms = write_nuclei("/tmp/nuclei-doc.ome.zarr", nuclei_volume((4, 32, 32), 2), version="0.5")  # doctest: +SKIP
    """
    from labkit import _zarr, ngff
    from labkit.labels import write_labels
    from labkit.storage import open_store

    sizes = pixel_sizes or {"z": 0.5, "y": 0.2, "x": 0.2}
    ms = ngff.write_image(dest, volume.image, axes="zyx", pixel_sizes=sizes, version=version, overwrite=True,
                          name="nuclei")
    write_labels(dest, volume.labels, "nuclei")  # NGFF labels: labels/ lists them, labels/nuclei has image-label
    group = _zarr.open_group(open_store(str(dest), mode="a"), mode="a")
    group.attrs["labkit_truth"] = {"objects_per_plane": [int(c) for c in volume.counts]}
    return ms




@dataclass(frozen=True)
class NucleiPlane:
    """A synthetic 2D nuclear-stain plane of touching nuclei and its truth.

    Attributes
    ----------
    image : numpy.ndarray
        ``(y, x)`` uint16 intensities.
    labels : numpy.ndarray
        ``(y, x)`` uint16 nucleus ids (0 is background); touching nuclei meet along the line of equal distance.
    """

    image: np.ndarray
    labels: np.ndarray


def touching_nuclei(
    shape: tuple[int, int] = (256, 256),
    n_nuclei: int = 24,
    *,
    seed: int = 0,
    radius: tuple[float, float] = (9.0, 15.0),
    touching: float = 0.5,
) -> NucleiPlane:
    """Generate a plane of slightly elliptic, unevenly bright, textured nuclei, many of them touching.

    What makes real nuclear stains hard for a global threshold: nuclei differ up to four times in
    brightness (300-1200 over a background of 100), each has bright chromatin speckles, and about
    ``touching`` of them are placed against a neighbour (centres 0.9-1.0 of the sum of their radii apart,
    so their discs overlap a little). Pixels of two overlapping nuclei belong to the nearer centre.
    Blurred (sigma 1.5) and with Poisson-like noise.

    Parameters
    ----------
    shape : tuple of int
        ``(y, x)`` size.
    n_nuclei : int
        Number of nuclei to place (fewer if they do not fit).
    seed : int
        Seed of the random generator.
    radius : tuple of float
        Smallest and largest mean radius, pixels.
    touching : float
        Fraction of nuclei placed against one already placed.

    Returns
    -------
    NucleiPlane

    Examples
    --------
    >>> plane = touching_nuclei((128, 128), 8, seed=1)
    >>> plane.image.shape, int(plane.labels.max()) >= 6
    ((128, 128), True)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    nuclei: list[tuple[float, float, float]] = []  # cy, cx, r
    for _ in range(300 * n_nuclei):
        if len(nuclei) == n_nuclei:
            break
        r = float(rng.uniform(*radius))
        if nuclei and rng.random() < touching:
            oy, ox, orad = nuclei[int(rng.integers(len(nuclei)))]
            angle, d = rng.uniform(0, 2 * np.pi), (r + orad) * rng.uniform(0.9, 1.0)
            cy, cx = oy + d * np.sin(angle), ox + d * np.cos(angle)
        else:
            cy, cx = rng.uniform(r + 2, ny - r - 2), rng.uniform(r + 2, nx - r - 2)
        inside = r + 2 <= cy <= ny - r - 2 and r + 2 <= cx <= nx - r - 2
        # touching nuclei may overlap a little; others keep a gap
        apart = all(np.hypot(cy - y, cx - x) >= 0.9 * (r + q) for y, x, q in nuclei)
        if inside and apart:
            nuclei.append((cy, cx, r))
    labels = np.zeros(shape, np.uint16)
    nearest = np.full(shape, np.inf, np.float32)
    image = np.full(shape, 100.0, np.float32)
    for i, (cy, cx, r) in enumerate(nuclei, start=1):
        stretch, theta = rng.uniform(0.85, 1.15), rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)
        dist = np.hypot(u * stretch, v / stretch) / r  # < 1 inside
        own = (dist < 1) & (dist < nearest)
        labels[own], nearest[own] = i, dist[own]
        level = rng.uniform(400, 1200)
        speckles = ndimage.gaussian_filter(rng.random(shape).astype(np.float32), 1.2)
        speckles = (speckles - speckles.mean()) / speckles.std()
        texture = level * (1 + 0.25 * speckles)
        image[own] = texture[own]
    image = ndimage.gaussian_filter(image, 1.5)
    image = rng.poisson(image).astype(np.float32) + rng.normal(0, 5, shape)
    return NucleiPlane(image=np.clip(image, 0, 65535).astype(np.uint16), labels=labels)


def touching_nuclei_volume(
    shape: tuple[int, int, int] = (48, 128, 128),
    n_nuclei: int = 24,
    *,
    seed: int = 0,
    spacing: tuple[float, float, float] = (1.0, 0.5, 0.5),
    diameter: tuple[float, float] = (6.0, 10.0),
    touching: float = 0.5,
) -> NucleiVolume:
    """Generate a 3D nuclear-stain volume of ellipsoidal, unevenly bright, textured nuclei, many touching.

    Sizes are physical: nuclei of ``diameter`` µm (mean of their three axes, each axis 0.85-1.15 of it, randomly
    oriented in the plane) in voxels of ``spacing`` µm. About ``touching`` of them are placed against one
    already placed (centres 0.85-0.95 of the sum of their radii apart); a voxel of two overlapping nuclei
    belongs to the nearer one (relative to its radii). Brightness varies fourfold (250-1000 over a background
    of about 100, some nuclei dim), each nucleus has chromatin texture, the background has a gradient along x
    and y (100 to 200), and the volume is blurred more along z (the microscope's axial blur, sigma 1.2 µm) than in
    the plane (0.4 µm), with Poisson and read noise.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` size in voxels.
    n_nuclei : int
        Number of nuclei to place (fewer if they do not fit).
    seed : int
        Seed of the random generator; the same seed gives the same volume.
    spacing : tuple of float
        Voxel size ``(z, y, x)``, µm.
    diameter : tuple of float
        Smallest and largest mean nucleus diameter, µm.
    touching : float
        Fraction of nuclei placed against one already placed.

    Returns
    -------
    NucleiVolume
        ``counts`` is the number of nuclei in each z plane.

    Examples
    --------
    >>> vol = touching_nuclei_volume(seed=1)
    >>> vol.image.shape, int(vol.labels.max()) >= 18
    ((48, 128, 128), True)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    sp = np.asarray(spacing, float)
    size = np.asarray(shape) * sp  # µm
    nuclei: list[tuple[np.ndarray, float]] = []  # centre (µm), mean radius (µm)
    for _ in range(300 * n_nuclei):
        if len(nuclei) == n_nuclei:
            break
        r = float(rng.uniform(*diameter)) / 2
        if nuclei and rng.random() < touching:
            other, q = nuclei[int(rng.integers(len(nuclei)))]
            direction = rng.normal(size=3)
            direction[0] *= 0.5  # mostly side by side, as nuclei on a coverslip or in a tissue layer
            direction /= np.linalg.norm(direction)
            centre = other + direction * (r + q) * rng.uniform(0.85, 0.95)
        else:
            centre = rng.uniform(r, size - r)
        inside = bool(np.all(centre >= 0.6 * r) and np.all(centre <= size - 0.6 * r))
        apart = all(np.linalg.norm(centre - c) >= 0.85 * (r + q) for c, q in nuclei)
        if inside and apart:
            nuclei.append((centre, r))
    labels = np.zeros(shape, np.uint16)
    nearest = np.full(shape, np.inf, np.float32)
    image = np.zeros(shape, np.float32)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.6 / sp)
    texture /= texture.std()
    for i, (centre, r) in enumerate(nuclei, start=1):
        axes = r * rng.uniform(0.85, 1.15, 3)
        theta = rng.uniform(0, np.pi)
        reach = np.ceil(axes.max() * 1.2 / sp).astype(int)
        mid = np.round(centre / sp - 0.5).astype(int)
        lo, hi = np.maximum(mid - reach, 0), np.minimum(mid + reach + 1, shape)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        dz, dy, dx = (zz + 0.5) * sp[0] - centre[0], (yy + 0.5) * sp[1] - centre[1], (xx + 0.5) * sp[2] - centre[2]
        u, v = dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)
        dist = np.sqrt((dz / axes[0]) ** 2 + (v / axes[1]) ** 2 + (u / axes[2]) ** 2)  # < 1 inside
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        own = (dist < 1) & (dist < nearest[box])
        labels[box][own], nearest[box][own] = i, dist[own]
        level = rng.uniform(250, 1000)
        image[box][own] = (level * (1 + 0.2 * texture[box]))[own]
    image = ndimage.gaussian_filter(image, (1.2 / sp[0], 0.4 / sp[1], 0.4 / sp[2]))
    gz, gy, gx = np.ogrid[0:shape[0], 0:shape[1], 0:shape[2]]
    image += 100 + 50 * gy / shape[1] + 50 * gx / shape[2] + 0 * gz
    image = rng.poisson(np.maximum(image, 0)).astype(np.float32) + rng.normal(0, 5, shape).astype(np.float32)
    # ids 1..n of the nuclei left in the volume
    present = np.unique(labels[labels > 0])
    lookup = np.zeros(int(labels.max()) + 1, np.uint16)
    lookup[present] = np.arange(1, len(present) + 1)
    labels = lookup[labels]
    counts = np.array([len(np.unique(labels[z])) - (0 in labels[z]) for z in range(shape[0])])
    return NucleiVolume(image=np.clip(image, 0, 65535).astype(np.uint16), labels=labels, counts=counts)
