"""One URL in, labelled lazy data out: OME-Zarr images from S3, HTTP, IPFS or disk.

Examples
--------
>>> from labkit.load_remote import info, open_image
>>> info("s3://idr/zarr/v0.1/6001240.zarr", endpoint_url="https://uk1s3.embassy.ebi.ac.uk")  # doctest: +SKIP
>>> img = open_image("s3://idr/zarr/v0.1/6001240.zarr", level=1)  # doctest: +SKIP
>>> img.sel(c="Dapi")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit import _zarr, ngff
from labkit._lazy import attempt_import
from labkit.errors import FormatError, NotFoundError, ServiceUnavailableError
from labkit.stores import open_store

__all__ = ["download", "info", "load_stac", "open_image", "open_store", "read_metadata"]


def _open_group(url: Any, storage_options: Mapping[str, Any] | None, endpoint_url: str | None) -> Any:
    zarr = attempt_import("zarr")
    if isinstance(url, str) and url.startswith("ipfs://"):
        from labkit.ipfs import parse_cid

        parse_cid(url[len("ipfs://"):].split("/", 1)[0])
    store = open_store(url, storage_options, endpoint_url=endpoint_url)
    try:
        return zarr.open_group(store, mode="r")
    except _zarr.GROUP_NOT_FOUND:
        pass
    except (OSError, ConnectionError) as exc:
        raise ServiceUnavailableError(f"cannot read {url}: {exc}. Check the address and your connection.") from exc
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
        from labkit.stores import filesystem

        fs, path = filesystem(str(url), storage_options, endpoint_url=endpoint_url)
        if fs.isfile(path):
            return FormatError(f"{url} is a file of {fs.size(path)} bytes, not an OME-Zarr folder")
        listing = [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)][:8]
        if listing:
            return FormatError(
                f"{url} is a folder without zarr metadata (.zgroup, .zattrs or zarr.json); it holds {listing}"
            )
    except Exception:  # noqa: BLE001 - probing
        pass
    return NotFoundError(f"nothing found at {url}: check the URL (and endpoint_url for S3)")


def read_metadata(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None
) -> ngff.Multiscale:
    """Read an OME-Zarr image's metadata (no pixel data) into :class:`labkit.ngff.Multiscale`."""
    group = _open_group(url, storage_options, endpoint_url)
    attrs = dict(group.attrs)
    if ngff.ome_attributes(attrs) is None:
        children = sorted(k for k in group.keys())[:10]
        hint = " It looks like a bioformats2raw layout: open its image at URL/0." if "0" in children else ""
        raise FormatError(
            f"{url} is a zarr group without OME-NGFF 'multiscales' metadata "
            f"(attributes: {sorted(attrs) or 'none'}; members: {children or 'none'}).{hint}"
        )
    return ngff.read(group)


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
        S3 endpoint, e.g. ``https://uk1s3.embassy.ebi.ac.uk``.
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


def grouped_chunks(
    shape: tuple[int, ...], base: tuple[int, ...], itemsize: int, target: int = 8 * 2**20
) -> tuple[int, ...]:
    """Dask chunks made of whole ``base`` blocks, grown along the leading axes (innermost first) to ~``target`` bytes.

    Examples
    --------
    >>> grouped_chunks((1, 2, 236, 275, 271), (1, 1, 1, 275, 271), 2)
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
        Dask chunks. Default: the zarr shards (or chunks), so work split per plane
        reads each plane once. ``"auto"``: whole storage blocks grouped along the
        leading axes to about 8 MiB, faster for reading large parts at once (one task
        fetches several blocks concurrently) but wasteful when each task needs one
        plane of a block.

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> img = open_image("s3://idr/zarr/v0.1/6001240.zarr", level=0)  # doctest: +SKIP
    >>> img.dims
    ('t', 'c', 'z', 'y', 'x')
    """
    xr = attempt_import("xarray")
    da = attempt_import("dask.array")
    group = _open_group(url, storage_options, endpoint_url)
    if ngff.ome_attributes(dict(group.attrs)) is None:
        raise FormatError(f"{url} is a zarr group without OME-NGFF 'multiscales' metadata")
    meta = ngff.read(group)
    if not 0 <= level < len(meta.levels):
        raise IndexError(f"{url} has levels 0-{len(meta.levels) - 1}; level {level} does not exist")
    lv = meta.levels[level]
    arr = group[lv.path]
    storage = lv.shards or lv.chunks
    if chunks is None:
        chunks = storage
    elif isinstance(chunks, str) and chunks == "auto":
        chunks = grouped_chunks(lv.shape, storage, np.dtype(lv.dtype).itemsize)
    data = da.from_zarr(arr, chunks=chunks, name=f"ngff-{abs(hash((str(url), level)))}")
    coords: dict[str, Any] = {}
    units: dict[str, str] = {}
    scale = np.asarray(lv.scale, float)
    if not meta.scales_known and pixel_sizes:
        scale = scale * np.array([pixel_sizes.get(a.name, 1.0) if a.type == ngff.SPACE else 1.0 for a in meta.axes])
    for i, axis in enumerate(meta.axes):
        if axis.type == ngff.SPACE:
            coords[axis.name] = lv.translation[i] + scale[i] * np.arange(lv.shape[i])
            unit = axis.unit or ("micrometer" if pixel_sizes else "pixel")
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


def _items_crs_and_resolution(items: Any) -> tuple[Any, float]:
    """CRS and resolution the items declare: ``proj:wkt2``, ``proj:code`` or ``proj:epsg``, and ``gsd``."""
    pyproj = attempt_import("pyproj")
    props = items[0].properties
    if "proj:wkt2" in props:
        crs = pyproj.CRS.from_wkt(props["proj:wkt2"])
    elif "proj:code" in props:
        crs = pyproj.CRS.from_user_input(props["proj:code"])
    elif "proj:epsg" in props:
        crs = pyproj.CRS.from_epsg(int(props["proj:epsg"]))
    else:
        raise FormatError(
            f"item {items[0].id} declares no projection (proj:wkt2, proj:code or proj:epsg): pass crs=... to load_stac"
        )
    if "gsd" not in props:
        raise FormatError(f"item {items[0].id} declares no gsd: pass resolution=... to load_stac")
    return crs, float(props["gsd"])


def load_stac(
    api: str,
    collection: str,
    *,
    intersects: Any = None,
    bbox: tuple[float, float, float, float] | None = None,
    datetime: Any = None,
    bands: Any,
    chunks: Mapping[str, int] | None = None,
    crs: Any = None,
    resolution: float | None = None,
    max_items: int | None = 1000,
    dtype: str | None = None,
    show: bool = True,
) -> Any:
    """Search a STAC API and load the items' bands lazily with odc-stac.

    Parameters
    ----------
    api : str
        STAC API URL.
    collection : str
        Collection id, e.g. ``"GFM"``.
    intersects : shapely geometry or GeoJSON dict, optional
        Area of interest (lon/lat); the load is clipped to its bounds.
    bbox : tuple, optional
        ``(west, south, east, north)`` in lon/lat, instead of ``intersects``.
    datetime : str or tuple, optional
        Time range, as pystac-client takes it.
    bands : str or list of str
        Asset names to load.
    chunks : mapping, optional
        Dask chunks, e.g. ``{"x": 1000, "y": 1000, "time": -1}``.
    crs, resolution : optional
        Output grid. Default: the first item's ``proj:wkt2`` (or ``proj:code``/``proj:epsg``) and ``gsd``,
        as the EODC tutorial does.
    max_items : int
        At most this many items.
    dtype : str, optional
        Output dtype (e.g. ``"uint8"``).
    show : bool
        Print how many items were found.

    Returns
    -------
    xarray.Dataset
        Lazy (dask) when ``chunks`` is given; ``attrs["stac_items"]`` holds the item count.

    Raises
    ------
    labkit.errors.NotFoundError
        The search found no item: the message repeats the query.
    labkit.errors.ServiceUnavailableError
        The API does not answer.

    Examples
    --------
    >>> ds = load_stac("https://stac.eodc.eu/api/v1", "GFM", bbox=(67.4, 26.2, 69.0, 27.6),
    ...                datetime=("2022-09-01", "2022-10-01"), bands=["ensemble_likelihood"],
    ...                chunks={"x": 1000, "y": 1000, "time": -1})  # doctest: +SKIP
    """
    pystac_client = attempt_import("pystac_client")
    odc_stac = attempt_import("odc.stac")
    if intersects is not None and bbox is None:
        shape = intersects if hasattr(intersects, "bounds") else attempt_import("shapely.geometry").shape(intersects)
        bbox = tuple(shape.bounds)
    try:
        catalog = pystac_client.Client.open(api)
        search = catalog.search(collections=[collection], intersects=intersects,
                                bbox=None if intersects is not None else bbox, datetime=datetime, max_items=max_items)
        items = search.item_collection()
    except pystac_client.exceptions.APIError as exc:
        raise ServiceUnavailableError(f"the STAC API at {api} refused the search: {exc}") from exc
    except OSError as exc:
        raise ServiceUnavailableError(f"cannot reach the STAC API at {api}: {exc}") from exc
    if len(items) == 0:
        raise NotFoundError(
            f"the STAC search found no item in collection {collection!r} for bbox={bbox}, datetime={datetime} "
            f"at {api}. Widen the area or the time range, or check the collection id."
        )
    if show:
        print(f"found {len(items)} items in {collection} at {api}")
    if crs is None or resolution is None:
        item_crs, item_res = _items_crs_and_resolution(items)
        crs = item_crs if crs is None else crs
        resolution = item_res if resolution is None else resolution
    ds = odc_stac.load(items, bands=bands, bbox=bbox, crs=crs, resolution=resolution, chunks=chunks, dtype=dtype)
    ds.attrs["stac_items"] = len(items)
    return ds


MARKER = ".{name}.labkit-download.json"  # beside the folder, so the folder holds exactly the source's files


def download(
    url: str, dest: str | Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    workers: int = 16, progress: bool = True,
) -> Any:
    """Copy a remote folder (an OME-Zarr ...) to ``dest/<its name>``: concurrent, verified, resumable.

    Files already complete (same size) are skipped, partial ones are replaced; every file is written
    under a temporary name and moved into place, so an interrupted download never leaves a truncated
    file. A marker beside the folder records the source, and a non-empty folder that holds something else
    is refused.

    Parameters
    ----------
    url : str
        ``s3://...``, ``https://...``, ``ipfs://...`` or a local path.
    dest : path
        Parent folder (as ``ome_zarr download --output``).
    workers : int
        Concurrent transfers.

    Returns
    -------
    pathlib.Path
        The downloaded folder.

    Raises
    ------
    FileExistsError
        ``dest/<name>`` is not empty and was not downloaded from ``url``.

    Examples
    --------
    >>> download("s3://idr/zarr/v0.1/6001240.zarr", "images")  # doctest: +SKIP
    PosixPath('images/6001240.zarr')
    """
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from labkit.stores import filesystem, write_local_atomic

    tqdm = attempt_import("tqdm.auto")
    fs, root = filesystem(url, storage_options, endpoint_url=endpoint_url)
    root = root.rstrip("/")
    target = Path(dest) / root.rsplit("/", 1)[-1]
    marker = target.parent / MARKER.format(name=target.name)
    if target.exists() and any(target.iterdir()):
        recorded = json.loads(marker.read_text()).get("source") if marker.exists() else None
        if recorded != str(url):
            raise FileExistsError(
                f"{target} is not empty and holds {'a download of ' + recorded if recorded else 'other data'}; "
                f"choose another destination or remove it before downloading {url}"
            )
    try:
        listing = fs.find(root, detail=True)
    except FileNotFoundError:
        listing = {}
    files = {p: info for p, info in listing.items() if info.get("type", "file") == "file"}
    if not files:
        raise NotFoundError(f"nothing to download at {url}")
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"source": str(url)}))
    todo = []
    for path, info in files.items():
        local = target / path[len(root) + 1 :]
        if local.is_file() and local.stat().st_size == info.get("size"):
            continue
        todo.append((path, local, info.get("size") or 0))

    def fetch(item: tuple[str, Any, int]) -> int:
        path, local, size = item
        data = fs.cat_file(path)
        if size and len(data) != size:
            raise OSError(f"{path}: got {len(data)} bytes, expected {size}")
        write_local_atomic(local, data)
        return len(data)

    total = sum(size for _, _, size in todo)
    with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}",
                   disable=not progress) as bar, ThreadPoolExecutor(workers) as pool:
        for n in pool.map(fetch, todo):
            bar.update(n)
    return target
