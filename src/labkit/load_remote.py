"""One URL in, labelled lazy data out: OME-Zarr images from S3, HTTP, IPFS or disk.

Examples
--------
>>> from labkit.load_remote import info, open_image
>>> info("s3://idr/zarr/v0.1/6001240.zarr", endpoint_url="https://livingobjects.ebi.ac.uk")  # doctest: +SKIP
>>> img = open_image("s3://idr/zarr/v0.1/6001240.zarr", level=1)  # doctest: +SKIP
>>> img.sel(c="Dapi")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit import _zarr, ngff, storage
from labkit._lazy import attempt_import
from labkit.downloads import check_complete
from labkit.errors import FormatError, NotFoundError

__all__ = ["image_of", "info", "open_image", "open_multiscale", "read_metadata"]
#: names that moved to modules of their own: name -> new home
_MOVED = {"load_stac": "labkit.stac", "download": "labkit.downloads", "open_store": "labkit.storage"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        from labkit.errors import deprecated

        deprecated(f"labkit.load_remote.{name}", f"{_MOVED[name]}.{name} (or labkit.{name})")
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'labkit.load_remote' has no attribute {name!r}")


def _open_group(
    url: Any, storage_options: Mapping[str, Any] | None, endpoint_url: str | None, engine: str = "auto"
) -> Any:
    if isinstance(url, str) and url.startswith("ipfs://"):
        from labkit.ipfs import parse_cid

        parse_cid(url[len("ipfs://"):].split("/", 1)[0])
    if isinstance(url, (str, os.PathLike)) and storage.protocol(str(url)) == "file":
        check_complete(url)
    store = storage.open_store(url, storage_options, endpoint_url=endpoint_url, engine=engine)
    try:
        return _zarr.open_group(store, mode="r")
    except _zarr.GROUP_NOT_FOUND:
        pass
    except Exception as exc:  # noqa: BLE001 - s3fs, botocore, obstore and aiohttp raise their own kinds
        raise storage.storage_error(exc, url, storage_options, endpoint_url=endpoint_url) from None
    raise _what_is_there(url, store, storage_options, endpoint_url)


def _what_is_there(
    url: Any, store: Any, storage_options: Mapping[str, Any] | None, endpoint_url: str | None
) -> Exception:
    """An error saying what ``url`` holds, since it is not a zarr group."""
    zarr = attempt_import("zarr")
    try:
        arr = zarr.open_array(store, mode="r")
        return FormatError(
            f"{url} is a zarr array of shape {arr.shape} ({arr.dtype}), not an OME-Zarr image group. "
            "Open the group that contains it (its parent URL)."
        )
    except Exception:  # noqa: BLE001 - probing
        pass
    try:
        fs, path = storage.filesystem(str(url), storage_options, endpoint_url=endpoint_url)
        if fs.isfile(path):
            return FormatError(f"{url} is a file of {fs.size(path)} bytes, not an OME-Zarr folder")
        listing = [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)][:8]
        if listing:
            return FormatError(
                f"{url} is a folder without zarr metadata ({_zarr.GROUP_FILES_TEXT}); it holds {listing}"
            )
    except Exception:  # noqa: BLE001 - probing
        pass
    if isinstance(url, str) and storage.protocol(url) == "s3":
        opts = storage.storage_options_for(url, storage_options, endpoint_url=endpoint_url)
        if missing := storage.missing_bucket_error(url, opts):
            return missing
    return NotFoundError(f"nothing found at {url}: check the URL (and endpoint_url for S3)")


def open_multiscale(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    engine: str = "auto",
) -> tuple[Any, ngff.Multiscale]:
    """Open an OME-Zarr image: its zarr group and its metadata (no pixel data).

    The one step :func:`info` and :func:`open_image` share, so both give the same errors.

    Raises
    ------
    labkit.errors.NotFoundError
        Nothing at ``url``.
    labkit.errors.FormatError
        Something that is not an OME-Zarr image (the message says what it is).
    labkit.errors.ServiceUnavailableError
        The server cannot be reached.
    """
    group = _open_group(url, storage_options, endpoint_url, engine)
    return group, ngff.read(group, source=str(url))


def read_metadata(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None
) -> ngff.Multiscale:
    """Read an OME-Zarr image's metadata (no pixel data) into :class:`labkit.ngff.Multiscale`."""
    return open_multiscale(url, storage_options=storage_options, endpoint_url=endpoint_url)[1]


def info(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    show: bool = True,
) -> ngff.Multiscale:
    """Print an OME-Zarr image's metadata like ``ome_zarr info``, with channels and pixel sizes.

    Only metadata is read: for IDR image 6001240 (about 45 MB) a few kilobytes.

    Parameters
    ----------
    url : str or path
        ``s3://bucket/key.zarr`` (anonymous unless credentials are given), ``https://...``,
        ``ipfs://<cid>/<path>`` or a local path.
    storage_options : mapping, optional
        fsspec options.
    endpoint_url : str, optional
        S3 endpoint, e.g. ``https://livingobjects.ebi.ac.uk``.
    show : bool
        Print the summary.

    Returns
    -------
    labkit.ngff.Multiscale
    """
    meta = read_metadata(url, storage_options=storage_options, endpoint_url=endpoint_url)
    if show:
        print(meta.describe(str(url)))
    return meta


#: bytes a dask task of :func:`open_image` reads by default: several storage chunks, fetched concurrently
TASK_BYTES = 4 * 2**20


def grouped_chunks(
    shape: tuple[int, ...], base: tuple[int, ...], itemsize: int, target: int = TASK_BYTES
) -> tuple[int, ...]:
    """Dask chunks made of whole ``base`` blocks, grown along the leading axes (innermost first) to ~``target`` bytes.

    Examples
    --------
    >>> grouped_chunks((1, 2, 236, 275, 271), (1, 1, 1, 275, 271), 2, target=8 * 2**20)
    (1, 1, 56, 275, 271)
    """
    chunks = list(base)
    for i in reversed(range(len(shape) - 2)):
        block = itemsize * int(np.prod(chunks))
        grow = max(1, target // max(block, 1))
        chunks[i] = int(min(shape[i], base[i] * grow))
        if chunks[i] < shape[i]:
            break
    return tuple(chunks)


def open_image(
    url: Any,
    level: int = 0,
    *,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    pixel_sizes: Mapping[str, float] | None = None,
    chunks: Any = None,
    engine: str = "auto",
) -> Any:
    """Open one level of an OME-Zarr image as a dask-backed ``xarray.DataArray``.

    Dimensions come from the NGFF axes, spatial coordinates are in physical units
    (from the level's scale and translation), and the ``c`` coordinate holds the
    channel labels. Nothing is read beyond metadata until you compute.

    Parameters
    ----------
    url : str or path
        As for :func:`info`.
    level : int
        Resolution level, 0 being the largest.
    storage_options, endpoint_url : optional
        As for :func:`info`.
    pixel_sizes : mapping, optional
        Level-0 pixel size per spatial axis, for versions that store none (v0.1-v0.3),
        e.g. from :meth:`labkit.connect.OmeroSession.image`.
    chunks : optional
        Dask chunks. Default (``"auto"``): whole storage blocks (zarr shards or chunks)
        grouped along the leading axes to about :data:`TASK_BYTES` (4 MiB), so a bulk
        read makes few tasks, each fetching many blocks concurrently. Array operations
        that take one plane per task (``.isel(z=k).values``, ``.data.rechunk(...)``,
        ``map_blocks``, :func:`labkit.plane_nuclei.count_planes`) still read only that plane: dask
        fuses the slice into the read. A ``dask.delayed`` task given ``.isel(z=k).data``
        is not fused (it would read its whole group): pass ``chunks="storage"`` for
        that (one task per storage block), or any dask chunks.
    engine : {"auto", "obstore", "fsspec"}
        How ``s3://`` is read (see :func:`labkit.storage.open_store`): obstore by default on zarr 3,
        ``"fsspec"`` for s3fs (AWS profiles, botocore settings).

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> img = open_image("s3://idr/zarr/v0.1/6001240.zarr",
    ...                  endpoint_url="https://livingobjects.ebi.ac.uk")  # doctest: +SKIP

    Offline, an image written to memory:

    >>> _ = ngff.write_image("memory://doc-open", np.zeros((2, 3, 8, 8), np.uint16), axes="czyx",
    ...                      channel_names=["LaminB1", "Dapi"], pixel_sizes={"z": 0.5, "y": 0.36, "x": 0.36},
    ...                      overwrite=True)
    >>> img = open_image("memory://doc-open")
    >>> img.dims, img.c.values.tolist(), float(img.x[1])
    (('c', 'z', 'y', 'x'), ['LaminB1', 'Dapi'], 0.36)
    """
    group, meta = open_multiscale(url, storage_options=storage_options, endpoint_url=endpoint_url, engine=engine)
    return image_of(group, meta, url, level, pixel_sizes=pixel_sizes, chunks=chunks)


def array_token(arr: Any, url: Any, level: int, chunks: Any) -> str:
    """A deterministic token of what a dask array read from the zarr array ``arr`` holds, for its key names.

    Everything that decides the content goes in: the URL, the store (endpoint, options), the array's path in
    it, the level, its shape, type and the dask chunks. The zarr array is inlined into each read task
    (``from_zarr(..., inline_array=True)``): with a separate key holding it, dask's graph optimisation names the
    fused read tasks after whatever it could fuse in that graph, so two computations gave one key (a channel
    taken from the image, say) two different tasks, which distributed's scheduler warns about ("Detected
    different run_spec ... Please ensure unique key names", dask/dask#9888).

    Examples
    --------
    >>> import zarr
    >>> arr = zarr.create_array(zarr.storage.MemoryStore(), shape=(4, 4), chunks=(2, 2), dtype="u2")
    >>> array_token(arr, "memory://a", 0, (2, 2)) == array_token(arr, "memory://a", 0, (2, 2))
    True
    >>> array_token(arr, "memory://a", 0, (2, 2)) == array_token(arr, "memory://a", 0, (4, 4))
    False
    """
    from dask.base import tokenize

    # not the store object itself: a plate's field, opened from the plate's store, is the same array as the field
    # opened on its own (open_image), and must have the same keys
    return tokenize(str(url), level, str(chunks), tuple(arr.shape), str(arr.dtype),
                    _store_endpoint(getattr(arr, "store", None)))


def _store_endpoint(store: Any) -> str:
    """Where a store's requests go (an object store's endpoint), so one URL on two servers gives two tokens."""
    config = getattr(getattr(store, "store", None), "config", None)  # zarr's ObjectStore wraps obstore's store
    if isinstance(config, Mapping):
        return str(config.get("endpoint", ""))
    return str(getattr(getattr(store, "fs", None), "endpoint_url", "") or "")  # zarr's FsspecStore (s3fs)


def image_of(
    group: Any, meta: ngff.Multiscale, url: Any, level: int = 0, *, pixel_sizes: Mapping[str, float] | None = None,
    chunks: Any = None,
) -> Any:
    """The ``xarray.DataArray`` :func:`open_image` returns, for a group already opened from ``url``.

    :func:`labkit.open_plate` opens a plate's fields from the plate's store with it: the same result
    as ``open_image(url)``, without a new store and its requests per field.
    """
    xr = attempt_import("xarray")
    da = attempt_import("dask.array")
    if not 0 <= level < len(meta.levels):
        raise IndexError(f"{url} has levels 0-{len(meta.levels) - 1}; level {level} does not exist")
    lv = meta.levels[level]
    arr = group[lv.path]
    storage = lv.shards or lv.chunks
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunks = grouped_chunks(lv.shape, storage, np.dtype(lv.dtype).itemsize)
    elif isinstance(chunks, str) and chunks == "storage":
        chunks = storage
    data = da.from_zarr(arr, chunks=chunks, inline_array=True, name=f"ngff-{array_token(arr, url, level, chunks)}")
    coords: dict[str, Any] = {}
    units: dict[str, str] = {}
    scale = np.asarray(lv.scale, float)
    if not meta.scales_known and pixel_sizes:
        scale = scale * np.array([pixel_sizes.get(a.name, 1.0) if a.type == ngff.SPACE else 1.0 for a in meta.axes])
    for i, axis in enumerate(meta.axes):
        if axis.type == ngff.SPACE:
            coords[axis.name] = lv.translation[i] + scale[i] * np.arange(lv.shape[i])
            # no unit: micrometres when pixel_sizes gave the sizes; pixels of level 0 for scales that are shape
            # ratios (v0.1-0.3); none (unknown, see labkit.units.voxel_size) for v0.4+ scales without a unit
            unit = axis.unit or ("micrometer" if pixel_sizes else None if meta.scales_known else "pixel")
            if unit:
                units[axis.name] = unit
    if "c" in meta.axis_names and meta.channels and len(meta.channels) == lv.shape[meta.axis_names.index("c")]:
        coords["c"] = [c.label for c in meta.channels]
    name = meta.name or str(url).rstrip("/").rsplit("/")[-1]
    out = xr.DataArray(data, dims=meta.axis_names, coords=coords, name=name)
    for name, unit in units.items():
        out[name].attrs["units"] = unit
    out.attrs.update(
        {
            "source": str(url),
            "ngff_version": meta.version,
            "level": level,
            "channels": json.dumps([c.__dict__ | {"window": dict(c.window or {})} for c in meta.channels]),
        }
    )
    return out
