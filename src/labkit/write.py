"""Writing (lazy) xarray results to Zarr, region by region, by the Dask workers."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from labkit._bars import progress_bar
from labkit.storage import describe_credentials, filesystem, is_refusal, open_store, storage_options_for

IN_FLIGHT = 2  # batches the workers hold at once: one running, one queued behind it


def write_zarr(ds: Any, url: str, *, storage_options: Mapping[str, Any] | None = None, mode: str = "w",
               chunks_per_batch: int | None = None, progress: bool = True, **kwargs: Any) -> Any:
    """Write a (lazy) ``xarray.Dataset`` to Zarr at ``url``; with a Dask cluster the workers write the chunks.

    Nothing is gathered on the client. The arrays, their metadata and the coordinates are
    created first; then the lazy variables are written region by region, each region a batch
    of ``chunks_per_batch`` chunks computed and written by the workers, at most two batches on
    the cluster at a time. The client and the scheduler therefore hold the task graph of two
    batches, never that of the whole area: their memory does not grow with the area of
    interest. The store carries the write credentials (from the environment or ``~/.aws``)
    to the workers. Written as zarr v2 with consolidated metadata, readable by every zarr and
    xarray version.

    Parameters
    ----------
    ds : xarray.Dataset
        The result, lazy (dask) or in memory.
    url : str
        Destination: local path, ``s3://...``, ``memory://...``.
    storage_options : mapping, optional
        fsspec options of the destination.
    mode : str
        ``"w"`` replaces an existing store, ``"w-"`` refuses to; other modes (and ``region``,
        ``append_dim``) go to ``ds.to_zarr`` unchanged, in one piece.
    chunks_per_batch : int, optional
        Chunks per region. Default: four per worker thread of the current Dask client (at least 8).
    progress : bool
        Show a progress bar over the chunks written.
    **kwargs
        Passed to ``xarray.Dataset.to_zarr`` (``encoding``, ``zarr_format``, ...).

    Returns
    -------
    dask.delayed.Delayed or None
        With ``compute=False``, one delayed object that writes everything, as ``to_zarr``
        returns it (one graph for the whole area); otherwise None, once all is written.

    Raises
    ------
    labkit.errors.AccessDeniedError
        The credentials may not write there.

    Notes
    -----
    distributed's client keeps a debugging log of the last 1000 messages it sent, each region's
    graph among them; :class:`labkit.ClusterPanel` makes clients without it. With a client of
    your own, set ``distributed.admin.low-level-log-length`` to 0 before creating it.

    Examples
    --------
    >>> write_zarr(result, "s3://results/flood.zarr")  # doctest: +SKIP
    """
    from labkit.errors import FormatError

    if not hasattr(ds, "to_zarr"):
        raise FormatError(
            f"write_zarr writes an xarray.Dataset or DataArray, not a {type(ds).__module__}.{type(ds).__name__}: "
            "for an image array use labkit.write_image(url, array, axes='czyx', pixel_sizes=...) (OME-Zarr), "
            "or wrap it first: xarray.DataArray(array, dims=...).to_dataset(name=...)"
        )
    if mode == "w":  # overwrite: no chunk of the old copy left behind
        fs, path = filesystem(url, storage_options, write=True)
        if fs.exists(path):
            fs.rm(path, recursive=True)
    with warnings.catch_warnings():
        # S3 servers that keep folders (SeaweedFS) list the emptied ones as objects: zarr says so for each
        warnings.filterwarnings("ignore", "Object at .* is not recognized as a component of a Zarr hierarchy")
        return _write(ds, url, storage_options, mode, chunks_per_batch, progress, **kwargs)


def _write(ds: Any, url: str, storage_options: Mapping[str, Any] | None, mode: str, chunks_per_batch: int | None,
           progress: bool, **kwargs: Any) -> Any:
    from labkit.errors import AccessDeniedError

    store = open_store(url, storage_options, mode=mode)
    kwargs.setdefault("zarr_format", 2)
    kwargs.setdefault("consolidated", True)
    try:
        if not _writes_in_regions(ds, mode, kwargs):
            job = ds.to_zarr(store, mode=mode, **kwargs)
            return job if kwargs.get("compute", True) is False else None
        ds = ds.copy()
        for name in [n for n, v in ds.variables.items() if v.chunks is not None and not v.dims]:
            ds[name] = ds[name].compute()  # a lazy scalar has no region: it is written with the metadata
        _template(ds).to_zarr(store, mode=mode, compute=False, **kwargs)
        lazy = ds.drop_vars([n for n, v in ds.variables.items() if v.chunks is None])
        _write_regions(lazy, store, chunks_per_batch, progress, desc=f"write {url}", zarr_format=kwargs["zarr_format"])
    except Exception as exc:  # s3fs raises PermissionError, obstore its own PermissionDeniedError
        if not is_refusal(exc):
            raise
        who = describe_credentials(storage_options_for(str(url), storage_options, write=True))
        raise AccessDeniedError(
            f"no permission to write {url} for {who}. Check the credentials in the environment "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or ~/.aws, and that they may write to this bucket."
        ) from None
    return None


def _writes_in_regions(ds: Any, mode: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``ds`` can be written region by region: a lazy dataset written whole into a new store."""
    if not hasattr(ds, "data_vars") or mode not in ("w", "w-") or kwargs.get("compute", True) is False:
        return False
    if "region" in kwargs or "append_dim" in kwargs:
        return False
    try:
        return bool(ds.chunks)  # raises ValueError when variables are chunked inconsistently
    except ValueError:
        return False


def _template(ds: Any) -> Any:
    """``ds`` with each lazy variable replaced by one never-computed block of its shape and dtype.

    Writing it with ``compute=False`` creates every array (chunked like the lazy data) and writes
    the coordinates without building the task graph of the whole dataset.
    """
    import dask.array as da

    template = ds.copy()
    for name, var in ds.variables.items():
        if var.chunks is not None:
            encoding = {"chunks": tuple(c[0] for c in var.chunks), **var.encoding}
            template[name] = var.copy(data=da.empty(var.shape, dtype=var.dtype, chunks=var.shape))
            template[name].encoding = encoding
    return template


def regions(chunks: Mapping[str, tuple[int, ...]], chunks_per_batch: int) -> list[dict[str, slice]]:
    """Split a chunk grid into rectangular regions of at most ``chunks_per_batch`` chunks, aligned to chunks.

    The last dimension is filled first, so each region is a run of whole rows where it can be.

    Examples
    --------
    >>> regions({"y": (2, 2, 1), "x": (3, 3)}, 4)
    [{'y': slice(0, 4, None), 'x': slice(0, 6, None)}, {'y': slice(4, 5, None), 'x': slice(0, 6, None)}]
    """
    import itertools

    budget, steps = max(1, int(chunks_per_batch)), {}
    for dim in reversed(list(chunks)):
        steps[dim] = max(1, min(len(chunks[dim]), budget))
        budget = max(1, budget // steps[dim])
    per_dim = []
    for dim, sizes in chunks.items():
        edges = [0, *itertools.accumulate(sizes)]
        n, step = len(sizes), steps[dim]
        per_dim.append([slice(edges[i], edges[min(i + step, n)]) for i in range(0, n, step)])
    return [dict(zip(chunks, combo, strict=True)) for combo in itertools.product(*per_dim)]


def _write_regions(ds: Any, store: Any, chunks_per_batch: int | None, progress: bool, desc: str,
                   **kwargs: Any) -> None:
    """Write the lazy ``ds`` into the initialised ``store``, region by region, at most IN_FLIGHT at a time."""
    import math
    from collections import deque

    from dask.utils import key_split

    client = _dask_client()
    if chunks_per_batch is None:
        threads = sum(client.nthreads().values()) if client is not None else (os.cpu_count() or 1)
        chunks_per_batch = max(8, 4 * threads)
    chunks = dict(ds.chunks)
    pending: deque[tuple[Any, int]] = deque()
    with progress_bar(total=math.prod(len(c) for c in chunks.values()), unit="chunk", desc=desc,
                   disable=not progress) as bar:
        def finish_oldest() -> None:
            job, n = pending.popleft()
            if client is not None:
                job.result()
            else:
                job.compute()
            bar.update(n)
            # dask memoises the name of every task key it meets (up to 100,000): without this the
            # keys of all the regions written so far would stay in memory.
            key_split.cache_clear()

        try:
            for region in regions(chunks, chunks_per_batch):
                part = ds.isel(region)
                job = part.to_zarr(store, region=region, mode="r+", compute=False, **kwargs)
                pending.append((client.compute(job) if client is not None else job,
                                math.prod(len(c) for c in part.chunks.values())))
                if len(pending) >= (IN_FLIGHT if client is not None else 1):
                    finish_oldest()
            while pending:
                finish_oldest()
        finally:
            if client is not None:
                client.cancel([job for job, _ in pending])


def _dask_client() -> Any:
    """The current ``distributed.Client``, or None (then the local Dask scheduler computes)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None
