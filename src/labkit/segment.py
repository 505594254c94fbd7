"""Nuclei of images of any size, segmented block by block with a halo and stitched by construction.

Each block is segmented together with a margin (the halo) around it and keeps only its own voxels (its core).
An object's id is its seed's index in the image plus one (the default method's seeds; for other methods, the
object's first voxel in row-major order), worked out from the extended block:
an object that lies within the halo of two blocks is seen whole by both, so both give it the same id and the
object crosses block faces and corners without any merging step. The result does not depend on the blocks as
long as the halo is wider than an object plus the method's reach (:func:`labkit.nuclei_method.halo`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from labkit._text import plural
from labkit.errors import BlockSizeWarning, FormatError

SPATIAL = ("z", "y", "x")
#: voxels of a block (core) when ``chunks`` is not given: big enough that the halo costs little, small enough
#: that a worker holds a few blocks with their filters' temporaries
BLOCK_VOXELS = 2**22
#: voxels read to estimate the default method's global parameters (threshold, diameter)
SAMPLE_VOXELS = 2**24
#: halo of a method given as a callable, when neither ``halo`` nor ``diameter`` says otherwise
CALLABLE_HALO = 32

Method = Callable[[np.ndarray], np.ndarray]


def segment_nuclei(
    image: Any,
    channel: str | int | None = None,
    method: str | Method = "default",
    chunks: int | Sequence[int] | Mapping[str, int] | None = None,
    *,
    diameter: float | None = None,
    halo: int | Sequence[int] | None = None,
) -> Any:
    """Nuclei of a 2D or 3D image as a lazy label image, segmented block by block.

    Parameters
    ----------
    image : xarray.DataArray, dask or numpy array
        A nuclear stain. An ``xarray.DataArray`` (e.g. from :func:`labkit.open_image`) keeps its dims and
        physical coordinates (voxel sizes come from them); an array's last two or three axes are ``y, x`` or
        ``z, y, x`` in pixels.
    channel : str or int, optional
        The channel to segment when ``image`` has a ``c`` dimension of more than one channel, by name
        (e.g. ``"Dapi"``) or index.
    method : "default", "original" or callable
        ``"default"``: :mod:`labkit.nuclei_method` (background correction, smoothing in micrometres, a global
        threshold, seeds from the distance to the background, seeded watershed, size filters); its threshold and
        nucleus diameter are estimated once from a sample of the image (read now), never per block.
        ``"original"``: the OMERO guide's method, plane by plane (a Gaussian, a threshold at 0.75 of the plane's
        maximum, connected components), kept for comparison. A callable takes one block (numpy, ``z, y, x``
        or ``y, x``) and returns its integer labels (ids local to the block): your own model (cellpose,
        StarDist) runs through the same blockwise machinery. A model trained on your labels
        (:func:`labkit.train_nuclei`, :func:`labkit.load_nuclei_model`) sets its intensity scale once from a
        sample of the image, its filters from the image's voxel size, and its own halo; its id (and URL) is
        recorded in the labels' ``attrs["method"]``.
    chunks : int, sequence or mapping, optional
        Core size of a block per spatial axis (``{"z": 64, "y": 256, "x": 256}``); default about 4 Mi voxels.
        A block smaller than the halo is enlarged to the halo (as dask's ``map_overlap`` does), with a
        :class:`~labkit.errors.BlockSizeWarning`, so a thin volume can still be cut in y and x.
    diameter : float, optional
        Typical nucleus diameter in micrometres when the coordinates carry a length unit (nanometres and
        millimetres converted), in pixels otherwise (:func:`labkit.units.voxel_size`); estimated from the sample
        when not given.
    halo : int or sequence, optional
        Margin around each block, voxels per spatial axis; default from the method (two nucleus diameters for
        the default method and for a callable given ``diameter``, else 32 voxels). It must exceed the largest
        nucleus, or one crossing a block face is cut in two.

    Returns
    -------
    xarray.DataArray
        Lazy ``uint32`` labels (``uint64`` beyond 2**32 voxels) with the image's spatial dims and coordinates,
        ``attrs["halo"]`` and ``attrs["method"]`` (what made them); 0 is background, an object's id is the index
        of its seed (the default method) or of its first voxel (other methods) in the image, plus one: unique, not
        consecutive.

    Examples
    --------
    >>> from labkit.synthetic import nuclei_volume
    >>> vol = nuclei_volume((16, 64, 64), 3, seed=2)
    >>> labels = segment_nuclei(vol.image)
    >>> labels.dims, len(np.unique(labels.values)) - 1
    (('z', 'y', 'x'), 3)

    Your own per-block method (here a threshold and connected components) with a 10-voxel halo:

    >>> from scipy import ndimage
    >>> mine = segment_nuclei(vol.image, method=lambda b: ndimage.label(b > 500)[0], halo=10)
    >>> int(mine.max() > 0)
    1
    """
    import dask.array as da
    import xarray as xr
    from dask.base import tokenize

    spatial = _spatial_image(image, channel)
    dims = spatial.dims
    spacing = _spacing(spatial)
    data = da.asarray(spatial.data)
    if method == "default":
        from labkit import nuclei_method

        parameters = nuclei_method.estimate_parameters(_samples(data), spacing, diameter)
        block_fn: Method = partial(nuclei_method.segment_block, parameters=parameters, return_seeds=True)
        depth = nuclei_method.halo(parameters) if halo is None else _per_axis(halo, len(dims), "halo")
    elif method == "original":
        block_fn, depth = _original_planes, (0,) * len(dims)
        asked = dict(zip(dims, _per_axis(chunks, len(dims), "chunks"), strict=True)) if chunks else {}
        cut = {d: asked[d] for d in ("y", "x") if asked.get(d, -1) not in (-1, None) and asked[d] < spatial.sizes[d]}
        if cut:
            warnings.warn(f"chunks {cut} not used: method='original' segments whole planes, so each block is "
                          f"{spatial.sizes['y']} x {spatial.sizes['x']} in y, x"
                          + (f" and {asked['z']} planes in z" if asked.get("z", -1) not in (-1, None) else "")
                          + "; give chunks={'z': n} (planes per block) only", BlockSizeWarning, stacklevel=2)
        chunks = {**asked, "y": -1, "x": -1}
    elif hasattr(method, "blockwise"):  # a trained model (labkit.train_nuclei): scale set once, its own halo
        block_fn, model_halo = method.blockwise(_samples(data), spacing)
        depth = model_halo if halo is None else _per_axis(halo, len(dims), "halo")
    elif callable(method):
        block_fn = method
        if halo is not None:
            depth = _per_axis(halo, len(dims), "halo")
        elif diameter is not None:
            depth = tuple(math.ceil(2 * diameter / s) for s in spacing)
        else:
            depth = (CALLABLE_HALO,) * len(dims)
    else:
        raise FormatError(f"unknown method {method!r}: use 'default', 'original' or a function block -> labels")
    depth = tuple(min(d, n - 1) if n > 1 else 0 for d, n in zip(depth, data.shape, strict=True))
    core = _block_shape(data.shape, dims, chunks, depth)
    data = data.rechunk(core)
    dtype = np.uint32 if math.prod(data.shape) < 2**32 - 1 else np.uint64
    extended = da.overlap.overlap(data, depth=dict(enumerate(depth)), boundary="none")
    labels = da.map_blocks(_segment_block, extended, block_fn=block_fn, depth=depth, full=data.shape,
                           starts=[np.cumsum((0, *c[:-1])) for c in data.chunks], out_dtype=dtype, dtype=dtype,
                           chunks=data.chunks, name=f"nuclei-{tokenize(extended.name, block_fn, depth)}")
    coords = {d: spatial.coords[d] for d in dims if d in spatial.coords}
    return xr.DataArray(labels, dims=dims, coords=coords, name="nuclei",
                        attrs={"source": spatial.attrs.get("source", ""), "halo": list(depth),
                               "method": _describe(method)})


def _describe(method: Any) -> dict[str, Any]:
    """What made the labels, for their metadata: a trained model's id (and URL), or the method's name."""
    if hasattr(method, "describe"):
        return dict(method.describe())
    if isinstance(method, str):
        return {"name": method}
    return {"name": getattr(method, "__qualname__", type(method).__name__),
            "module": getattr(method, "__module__", None) or ""}


def _spatial_image(image: Any, channel: str | int | None) -> Any:
    """The image as an xarray.DataArray with only spatial dims (``z, y, x`` or ``y, x``), the channel chosen."""
    import xarray as xr

    if not isinstance(image, xr.DataArray):
        arr = image if hasattr(image, "ndim") else np.asarray(image)
        if arr.ndim not in (2, 3):
            raise FormatError(f"segment_nuclei needs a 2D (y, x) or 3D (z, y, x) image, got {arr.ndim}D with shape "
                              f"{arr.shape}: pass a plane or a volume, or an xarray.DataArray with named dims")
        image = xr.DataArray(arr, dims=SPATIAL[-arr.ndim:])
    if "c" in image.dims:
        names = [str(c) for c in image.coords["c"].values] if "c" in image.coords else []
        if channel is None:
            if image.sizes["c"] > 1:
                raise FormatError(f"the image has {image.sizes['c']} channels {names}: pass channel=<name or index> "
                                  "with the nuclear stain")
            channel = 0
        if isinstance(channel, str):
            if channel not in names:
                raise FormatError(f"no channel {channel!r} in this image: its channels are {names}")
            image = image.isel(c=names.index(channel))
        elif not -image.sizes["c"] <= channel < image.sizes["c"]:
            raise FormatError(f"channel {channel} does not exist: the image has {image.sizes['c']} channels {names}")
        else:
            image = image.isel(c=channel)
    elif channel is not None and not (channel == 0 or channel in (image.name,)):
        raise FormatError(f"channel={channel!r} given but the image has no c dimension (dims {image.dims})")
    extra = [d for d in image.dims if d not in SPATIAL]
    for d in extra:
        if image.sizes[d] != 1:
            raise FormatError(f"segment_nuclei segments one 2D or 3D image; dimension {d!r} has {image.sizes[d]} "
                              f"entries: select one, e.g. image.isel({d}=0)")
    image = image.squeeze(extra, drop=True) if extra else image
    if image.ndim not in (2, 3) or tuple(image.dims) != SPATIAL[-image.ndim:]:
        raise FormatError(f"segment_nuclei needs dims (y, x) or (z, y, x), got {image.dims}: "
                          "transpose or select so that they are")
    return image


def _spacing(image: Any) -> tuple[float, ...]:
    """Voxel size per dim: micrometres when the coordinates' unit is known, else pixels (:func:`voxel_size`)."""
    from labkit.units import voxel_size

    sizes = voxel_size(image, image.dims).sizes
    return tuple(sizes[d] or 1.0 for d in image.dims)


def _per_axis(value: Any, ndim: int, what: str) -> tuple[int, ...]:
    if isinstance(value, Mapping):
        value = [value.get(d, -1) for d in SPATIAL[-ndim:]]
    values = (value,) * ndim if np.isscalar(value) else tuple(value)
    if len(values) != ndim:
        raise FormatError(f"{what}={value!r} gives {plural(len(values), 'size')} for a {ndim}D image: give one per "
                          f"axis {SPATIAL[-ndim:]} or a single number")
    return tuple(int(v) for v in values)


def _block_shape(shape: tuple[int, ...], dims: tuple[str, ...], chunks: Any, depth: tuple[int, ...]) -> tuple:
    """Dask chunks of the cores: the given sizes, or about BLOCK_VOXELS with z in proportion; none under the halo."""
    if chunks is None:  # about BLOCK_VOXELS, never under the halo
        side = round(BLOCK_VOXELS ** (1 / len(shape)))
        sizes = [max(side, d) for d in depth]
    else:
        sizes = list(_per_axis(chunks, len(shape), "chunks"))
    out = []
    for n, size, d, dim in zip(shape, sizes, depth, dims, strict=True):
        size = n if size in (-1, None) or size >= n else size
        if size < d:  # as dask's map_overlap: the smallest block that works, said
            asked, size = size, _fitting_size(n, d, d)
            warnings.warn(f"chunks: blocks of {asked} along {dim} are smaller than the halo ({d}): enlarged to "
                          f"{size} along {dim} ({_split(n, size)}). Give {dim}: {size} or more to choose the size "
                          f"yourself, or a halo of at most {asked}", BlockSizeWarning, stacklevel=3)
        count, rest = divmod(n, size)
        sizes_axis = [size] * count + ([rest] if rest else [])
        if rest and rest < d and count:  # a last sliver under the halo joins the block before it
            sizes_axis = sizes_axis[:-2] + [size + rest]
            if chunks is not None:  # a size asked for: say what is used instead
                _warn_merged(dim, n, size, d, sizes_axis)
        out.append(tuple(sizes_axis))
    return tuple(out)


def _warn_merged(dim: str, n: int, size: int, depth: int, used: list[int]) -> None:
    """Warn (to the caller of segment_nuclei) that blocks of ``size`` along ``dim`` became ``used``."""
    rest = n % size
    blocks = f"one block of {n}" if len(used) == 1 else \
        f"{len(used) - 1} of {size} and a last one of {used[-1]}"
    better = _fitting_size(n, size, depth)
    warnings.warn(
        f"chunks: blocks of {size} along {dim} ({n} in all) would leave a last block of {rest}, under the halo "
        f"({depth}), so it joins the block before: used {blocks} along {dim}. For blocks of about the size asked, "
        f"give {dim}: {better} ({_split(n, better)}), or a halo of at most {rest}",
        BlockSizeWarning, stacklevel=4)


def _fitting_size(n: int, size: int, depth: int) -> int:
    """The block size nearest ``size`` (not under ``depth``) whose last block is whole or not under ``depth``."""
    fits = [s for s in range(max(depth, 1), n + 1) if n % s == 0 or n % s >= depth]
    return min(fits, key=lambda s: (abs(s - size), s))


def _split(n: int, size: int) -> str:
    count, rest = divmod(n, size)
    return f"{n} = {count} x {size}" + (f" + {rest}" if rest else "")


def _samples(data: Any) -> list[np.ndarray]:
    """Full-resolution crops for the global parameters: the whole image when small, else blocks spread over it."""
    if data.size <= SAMPLE_VOXELS:
        return [np.asarray(data.compute())]
    side = [min(n, round(SAMPLE_VOXELS ** (1 / data.ndim) / 2)) for n in data.shape]
    picks = []
    for k in range(4):  # four crops along the diagonal
        start = [int((n - s) * (k + 0.5) / 4) for n, s in zip(data.shape, side, strict=True)]
        picks.append(data[tuple(slice(a, a + s) for a, s in zip(start, side, strict=True))])
    import dask

    return [np.asarray(p) for p in dask.compute(*picks)]


def _segment_block(block: np.ndarray, block_fn: Method, depth: tuple[int, ...], full: tuple[int, ...],
                   starts: list[np.ndarray], out_dtype: Any = np.uint32, block_info: Any = None) -> np.ndarray:
    """Segment an extended block and keep its core, each object named after its seed or first voxel in the image.

    A method may return ``(labels, seeds)``: object ``i`` is then named after ``seeds[i - 1]`` (a point that does
    not move with the block's edges, where the first voxel of a big object might).
    """
    where = block_info[0]["chunk-location"]
    count = block_info[0]["num-chunks"]
    before = [d if i > 0 else 0 for d, i in zip(depth, where, strict=True)]
    after = [d if i < n - 1 else 0 for d, i, n in zip(depth, where, count, strict=True)]
    origin = [int(s[i]) - b for s, i, b in zip(starts, where, before, strict=True)]  # the extended block's first voxel
    result = block_fn(np.asarray(block))
    seeds = None
    if isinstance(result, tuple):  # (labels, seeds): object i is named after its seed, seeds[i - 1]
        result, seeds = result
    local = np.asarray(result)
    if local.shape != block.shape:
        raise FormatError(f"the segmentation method returned shape {local.shape} for a block of {block.shape}: "
                          "it must return one label per voxel")
    if local.dtype.kind not in "iub":
        raise FormatError(f"the segmentation method returned {local.dtype} labels: return integers")
    if seeds is not None:
        seeds = np.asarray(seeds, np.int64).reshape(-1, local.ndim)
        ids = np.arange(1, len(seeds) + 1)
        coords = tuple(seeds.T)
    else:
        ids, first = np.unique(local.ravel(), return_index=True)  # a sub-box's row-major order is the image's
        ids, first = ids[ids > 0], first[ids > 0]
        coords = np.unravel_index(first, local.shape)
    names = np.ravel_multi_index(tuple(c + o for c, o in zip(coords, origin, strict=True)), full).astype(out_dtype) + 1
    core = local[tuple(slice(b, n - a) for b, a, n in zip(before, after, local.shape, strict=True))]
    lookup_index = np.searchsorted(ids, core)
    out = np.zeros(core.shape, out_dtype)
    inside = core > 0
    out[inside] = names[lookup_index[inside]]
    return out


def _original_planes(block: np.ndarray) -> np.ndarray:
    """The original method on every plane of a block holding whole planes (ids unique within the block)."""
    from labkit.plane_nuclei import segment_plane

    planes = block.reshape(-1, *block.shape[-2:])
    out = np.zeros(planes.shape, np.int64)
    offset = 0
    for k, plane in enumerate(planes):
        labels, n = segment_plane(plane, "original")
        out[k] = np.where(labels > 0, labels + offset, 0)
        offset += n
    return out.reshape(block.shape)
