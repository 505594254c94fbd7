"""The few places where zarr-python 2.18 and 3.x differ, in one module.

labkit runs on both: 3.x is the default; 2.18 is what itkwidgets needs (the ``itk``
profile). Zarr format 3 (OME-NGFF 0.5) needs zarr-python 3.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zarr

from labkit._retry import retrying_async
from labkit.errors import ConfigurationError, FormatError

ZARR3 = int(zarr.__version__.split(".")[0]) >= 3

#: the document holding a group's attributes, an array's metadata, a group's marker, by zarr format
ATTRS_DOC = {2: ".zattrs", 3: "zarr.json"}
ARRAY_DOC = {2: ".zarray", 3: "zarr.json"}
GROUP_DOC = {2: ".zgroup", 3: "zarr.json"}
#: the file names of zarr's metadata documents (v3, then v2's)
METADATA_FILES = ("zarr.json", ".zattrs", ".zarray", ".zgroup")
#: zarr v2's consolidated metadata
CONSOLIDATED = ".zmetadata"
#: the metadata documents a group has, for messages
GROUP_FILES_TEXT = ".zgroup, .zattrs or zarr.json"

#: what opening a group raises where there is none (nothing, or an array)
GROUP_NOT_FOUND: tuple[type[BaseException], ...] = (FileNotFoundError, zarr.errors.ContainsArrayError)
if not ZARR3:  # pragma: no cover - exercised in the itk profile
    GROUP_NOT_FOUND += (zarr.errors.GroupNotFoundError,)


if ZARR3:
    class RetryingFsspecStore(zarr.storage.FsspecStore):
        """zarr's ``FsspecStore`` that sends a request again after a dropped connection or a 5xx answer."""

    for _name in ("get", "get_partial_values", "set", "exists", "delete", "getsize"):
        setattr(RetryingFsspecStore, _name, retrying_async(getattr(zarr.storage.FsspecStore, _name)))


def local_store(path: Path, read_only: bool) -> Any:
    """A store for a local folder."""
    if ZARR3:
        return zarr.storage.LocalStore(path, read_only=read_only)
    return zarr.storage.DirectoryStore(str(path))  # pragma: no cover


def fsspec_store(url: str, storage_options: Mapping[str, Any], read_only: bool) -> Any:
    """A store for an fsspec URL (s3://, https://, ipfs://, memory://)."""
    if ZARR3:
        return RetryingFsspecStore.from_url(url, storage_options=dict(storage_options), read_only=read_only)
    return zarr.storage.FSStore(url, mode="r" if read_only else "w", **storage_options)  # pragma: no cover


def in_session(arr: Any) -> bool:
    """Whether ``arr`` is written through a writable icechunk session (a versioned result store's)."""
    session = getattr(getattr(arr, "store", None), "session", None)
    return session is not None and not session.read_only


def store_dask(src: Any, arr: Any) -> None:
    """Write the dask array ``src`` into ``arr`` (chunk-aligned).

    With a writable icechunk session (a versioned result store's), each task writes into a fork of it (a
    session cannot travel to workers) and the forks are merged back into it.
    """
    if not in_session(arr):
        src.store(arr, lock=False)
        return
    session = arr.store.session
    if type(session).__name__ == "ForkSession":
        src.store(arr, lock=False, scheduler="threads")  # a fork, on a worker: its writes stay in this process
        return
    from icechunk.dask import store_dask as icechunk_store_dask

    fork = session.fork()
    target = zarr.open_array(fork.store, path=arr.path, mode="r+")
    session.merge(icechunk_store_dask(sources=[src], targets=[target]))


def readable(arr: Any) -> Any:
    """``arr`` opened so Dask tasks can read it: through a fork of a writable icechunk session (others as they are)."""
    if not in_session(arr) or type(arr.store.session).__name__ == "ForkSession":
        return arr
    return zarr.open_array(arr.store.session.fork().store, path=arr.path, mode="r")


def open_group(store: Any, mode: str, zarr_format: int | None = None) -> Any:
    """``zarr.open_group``; zarr format 3 needs zarr-python 3."""
    if ZARR3:
        return zarr.open_group(store, mode=mode, zarr_format=zarr_format)
    if zarr_format == 3:  # pragma: no cover
        raise FormatError(f"zarr format 3 (OME-NGFF 0.5) needs zarr-python 3; this is zarr {zarr.__version__}")
    return zarr.open_group(store, mode=mode)  # pragma: no cover


def create_array(group: Any, name: str, shape: Sequence[int], dtype: Any, chunks: Sequence[int],
                 dimension_names: Sequence[str] | None = None, shards: Sequence[int] | None = None) -> Any:
    """A new array in ``group`` (dimension names and shards only on zarr format 3)."""
    if ZARR3:
        kw: dict[str, Any] = {}
        if zarr_format(group) == 3:
            if dimension_names:
                kw["dimension_names"] = list(dimension_names)
            if shards:
                kw["shards"] = tuple(shards)
        return group.create_array(name, shape=tuple(shape), dtype=dtype, chunks=tuple(chunks), **kw)
    return group.create_dataset(name, shape=tuple(shape), dtype=dtype, chunks=tuple(chunks))  # pragma: no cover


def zarr_format(group: Any) -> int:
    """2 or 3."""
    return int(getattr(getattr(group, "metadata", None), "zarr_format", 2))


#: zarr's codec pipelines by labkit's names for them
CODEC_PIPELINES = {"zarr": "zarr.core.codec_pipeline.BatchedCodecPipeline", "zarrs": "labkit._zarr.ZarrsPipeline"}
#: chunk requests zarr keeps in flight per read (zarr's default, 10, leaves an S3 server idle between answers)
CONCURRENCY = 64


def use_codec_pipeline(name: str | None = None) -> str:
    """Choose how zarr fetches and decodes chunks in this process: ``"zarr"`` (the default) or ``"zarrs"``.

    ``"zarr"`` is zarr-python's own pipeline with :data:`CONCURRENCY` requests in flight: the fastest here
    (``make bench``). ``"zarrs"`` (``pip install labkit[zarrs]``) fetches and decodes in Rust; it reads local
    folders and labkit's ``s3://`` stores itself, hands every other store and any read it cannot finish to
    zarr-python's, and costs the S3 server about twice the CPU per request. ``$LABKIT_CODEC_PIPELINE`` sets
    the choice for every process, Dask workers included; without the ``zarrs`` package it means ``"zarr"``.

    Parameters
    ----------
    name : {"zarr", "zarrs"}, optional
        Default: ``$LABKIT_CODEC_PIPELINE``, else ``"zarr"``.

    Returns
    -------
    str
        The pipeline now in use.

    Examples
    --------
    >>> use_codec_pipeline("zarr")
    'zarr'
    """
    name = name or os.environ.get("LABKIT_CODEC_PIPELINE") or "zarr"
    if name not in CODEC_PIPELINES:
        raise ConfigurationError(f"codec pipeline must be one of {sorted(CODEC_PIPELINES)}, not {name!r}")
    if name == "zarrs" and ZarrsPipeline is None:
        name = "zarr"
    if ZARR3:
        zarr.config.set({"codec_pipeline.path": CODEC_PIPELINES[name]})
    return name


def _zarrs_pipeline() -> type | None:
    try:
        from zarrs import ZarrsCodecPipeline
    except ImportError:
        return None
    # zarrs rebuilds an obstore store in Rust from its configuration (no shared connection pool): expected here
    warnings.filterwarnings("ignore", "Successfully reconstructed a store", RuntimeWarning)

    class ZarrsPipeline(ZarrsCodecPipeline):
        """zarrs' pipeline that hands a read it could not finish to zarr-python's (through labkit's retries).

        zarrs retries what the server answers with 5xx, but not a connection dropped mid-body; zarr-python's
        pipeline reads through labkit's stores, which send such requests again.
        """

        @classmethod
        def from_array_metadata_and_store(cls, array_metadata: Any, store: Any) -> Any:
            try:
                return super().from_array_metadata_and_store(array_metadata, store)
            except Exception as exc:  # noqa: BLE001 - a store zarrs cannot rebuild: zarr-python's pipeline
                raise NotImplementedError(str(exc)) from exc

        async def read(self, batch_info: Any, out: Any, drop_axes: tuple[int, ...] = ()) -> None:
            batch_info = list(batch_info)
            try:
                await super().read(batch_info, out, drop_axes)
            except Exception:  # noqa: BLE001 - zarrs raises its Rust errors as RuntimeError, ValueError ...
                if self.python_impl is None:
                    raise
                await self.python_impl.read(batch_info, out, drop_axes)

    ZarrsPipeline.__qualname__ = "ZarrsPipeline"  # pickled by name: labkit._zarr.ZarrsPipeline
    zarr.registry.register_pipeline(ZarrsPipeline)
    return ZarrsPipeline


ZarrsPipeline = _zarrs_pipeline() if ZARR3 else None
if os.environ.get("LABKIT_CODEC_PIPELINE"):  # else zarr's own configuration stands (its default: "zarr")
    use_codec_pipeline()
if ZARR3 and zarr.config.get("async.concurrency") == 10:  # zarr's default, not the user's choice
    zarr.config.set({"async.concurrency": CONCURRENCY})


# --------------------------------------------------------------------------- files beside zarr keys
def holds_files(group: Any) -> bool:
    """Whether ``group``'s store takes a file that is not a zarr key (a Parquet table): not an icechunk session."""
    return getattr(getattr(group, "store", None), "session", None) is None


def put_bytes(group: Any, name: str, data: bytes) -> None:
    """Write ``data`` as the file ``name`` inside ``group`` (through its store: a folder, S3, memory)."""
    if not ZARR3:  # pragma: no cover - zarr 2.18
        group.store[f"{group.path}/{name}".lstrip("/")] = data
        return
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    sync((group.store_path / name).set(default_buffer_prototype().buffer.from_bytes(data)))


def get_bytes(group: Any, name: str) -> bytes | None:
    """The file ``name`` inside ``group`` (``None`` if there is none)."""
    if not ZARR3:  # pragma: no cover - zarr 2.18
        key = f"{group.path}/{name}".lstrip("/")
        return bytes(group.store[key]) if key in group.store else None
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    buf = sync((group.store_path / name).get(default_buffer_prototype()))
    return None if buf is None else buf.to_bytes()


# --------------------------------------------------------------------------- metadata documents, read directly
def key_prefix(group: Any) -> str:
    """The path of ``group`` inside its store, as a key prefix (``""`` at the store's root)."""
    return f"{group.path}/".lstrip("/") if getattr(group, "path", "") else ""


def attrs_key(path: str, zarr_format: int) -> str:
    """The key of the document holding the attributes of the group at ``path`` (``.zattrs`` or ``zarr.json``)."""
    return f"{path}/{ATTRS_DOC[zarr_format]}"


def node_key(path: str = "") -> str:
    """The key of the document of a zarr v3 node (group or array) at ``path``; ``""``: the root's."""
    return f"{path}/{GROUP_DOC[3]}" if path else GROUP_DOC[3]


def array_key(path: str, zarr_format: int) -> str:
    """The key of the metadata document of the array at ``path`` (``.zarray`` or ``zarr.json``)."""
    return f"{path}/{ARRAY_DOC[zarr_format]}"


def attributes(doc: Mapping[str, Any] | None, zarr_format: int) -> dict[str, Any] | None:
    """A group's attributes from its metadata document (``.zattrs``, or ``zarr.json``'s ``attributes``)."""
    if doc is None:
        return None
    return dict(doc.get("attributes", {})) if zarr_format == 3 else dict(doc)


def read_documents(store: Any, keys: Sequence[str], concurrency: int = 32, where: str = "",
                   fix: str = "write it again") -> list[dict[str, Any] | None]:
    """The JSON documents at ``keys`` of ``store`` (``None`` where there is none), ``concurrency`` requests in flight.

    The store's own errors are raised as they are; a document that is not JSON as a
    :class:`~labkit.errors.FormatError` naming it (``where/key``) and ``fix``.
    """
    import asyncio
    import json
    from concurrent.futures import ThreadPoolExecutor

    def bad(key: str, exc: Exception) -> FormatError:
        return FormatError(f"{where.rstrip('/') + '/' if where else ''}{key} is not valid JSON ({exc}): {fix}")

    if not ZARR3:  # pragma: no cover - zarr 2.18 (the itk profile): mapping access, from threads
        def get(key: str) -> dict[str, Any] | None:
            try:
                raw = store[key]
            except KeyError:
                return None
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise bad(key, exc) from None

        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(get, keys))

    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    async def one(key: str, gate: asyncio.Semaphore) -> dict[str, Any] | None:
        async with gate:
            buf = await store.get(key, prototype=default_buffer_prototype())
        if buf is None:
            return None
        try:
            return json.loads(buf.to_bytes())
        except ValueError as exc:
            raise bad(key, exc) from None

    async def every() -> list[dict[str, Any] | None]:
        gate = asyncio.Semaphore(concurrency)
        return await asyncio.gather(*(one(k, gate) for k in keys))

    return sync(every())


def read_text(store: Any, key: str) -> str | None:
    """The text of the file ``key`` of ``store`` (``None`` if there is none)."""
    if not ZARR3:  # pragma: no cover
        try:
            return bytes(store[key]).decode()
        except KeyError:
            return None
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    buf = sync(store.get(key, prototype=default_buffer_prototype()))
    return None if buf is None else buf.to_bytes().decode("utf-8", errors="replace")


def open_child_group(root: Any, path: str) -> Any:
    """The group at ``path`` below ``root``, read-only, its own metadata only (no consolidated metadata probed)."""
    kw: dict[str, Any] = {"zarr_format": zarr_format(root)}
    if ZARR3:
        kw["use_consolidated"] = False  # no probe for .zmetadata: the group's own metadata only
    return zarr.open_group(root.store, path=f"{root.path}/{path}".strip("/"), mode="r", **kw)


def array_from_document(store: Any, path: str, doc: dict[str, Any]) -> Any:
    """The zarr array at ``path`` of ``store`` whose metadata document is ``doc``, made without a request."""
    from zarr import Array
    from zarr.core.array import AsyncArray
    from zarr.storage import StorePath

    return Array(AsyncArray.from_dict(StorePath(store, path), doc))


class KnownGroup:
    """A zarr group as far as :func:`labkit.ngff.read` and ``image_of`` use one, from metadata already read.

    Its attributes, and its arrays made without a request.
    """

    def __init__(self, attrs: dict[str, Any], arrays: dict[str, Any], zarr_format: int) -> None:
        from types import SimpleNamespace

        self.attrs = attrs
        self._arrays = arrays
        self.metadata = SimpleNamespace(zarr_format=zarr_format)

    def __getitem__(self, key: str) -> Any:
        return self._arrays[key]

    def keys(self) -> Any:
        return self._arrays.keys()


def local_attributes(folder: Path) -> dict[str, Any] | None:
    """The attributes of the zarr group in the local ``folder`` (v3 or v2), read as JSON; ``None``: no group.

    Raises ``ValueError`` for a document that is not JSON.
    """
    import json

    for fmt in (3, 2):
        doc = Path(folder) / ATTRS_DOC[fmt]
        if doc.is_file():
            return attributes(json.loads(doc.read_text()), fmt)
    return None


def is_local_group(folder: Path, zarr_format: int = 2) -> bool:
    """Whether the local ``folder`` holds a zarr group of ``zarr_format`` (its ``.zgroup`` or ``zarr.json``)."""
    return (Path(folder) / GROUP_DOC[zarr_format]).is_file()


def group_exists(store: Any, path: str) -> bool:
    """Whether ``store`` holds a zarr v3 node at ``path`` (its ``zarr.json``)."""
    from zarr.core.sync import sync

    return bool(sync(store.exists(f"{path}/{GROUP_DOC[3]}" if path else GROUP_DOC[3])))


def read_local_v3_array(folder: Path) -> Any:
    """The whole zarr format 3 array in the local ``folder`` as a numpy array, on zarr-python 2.18 as well.

    zarr 2.18 cannot open format 3; for it this decodes the layout IDR's NGFF 0.5 files use: shards
    (``sharding_indexed``, index at the end) of inner chunks encoded ``bytes`` then ``blosc``, default chunk keys.
    Anything else raises :class:`~labkit.errors.FormatError`.
    """
    folder = Path(folder)
    if ZARR3:
        return zarr.open_array(local_store(folder, read_only=True), mode="r")[...]
    return _decode_sharded(folder)  # pragma: no cover - exercised in the itk profile


def _decode_sharded(folder: Path) -> Any:  # pragma: no cover - exercised in the itk profile
    """Read a zarr format 3 sharded array on zarr-python 2.18 (see :func:`read_local_v3_array`)."""
    import itertools
    import json

    import numpy as np
    from numcodecs import Blosc

    meta = json.loads((folder / ARRAY_DOC[3]).read_text())

    (codec,) = meta["codecs"]
    inner = codec.get("configuration", {})
    names = [c["name"] for c in inner.get("codecs", ())]
    if (codec["name"] != "sharding_indexed" or names != ["bytes", "blosc"]
            or inner.get("index_location", "end") != "end"
            or meta["chunk_key_encoding"]["name"] != "default"):
        raise FormatError(f"{folder}: this zarr format 3 layout needs zarr-python 3 (pip install 'zarr>=3')")
    dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    shape, shard = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
    chunk = inner["chunk_shape"]
    per_shard = [s // c for s, c in zip(shard, chunk, strict=True)]
    grid = [-(-n // s) for n, s in zip(shape, shard, strict=True)]
    padded = np.full([g * s for g, s in zip(grid, shard, strict=True)], meta["fill_value"], dtype=dtype)
    n_inner = int(np.prod(per_shard))
    for key in itertools.product(*map(range, grid)):
        path = folder.joinpath("c", *map(str, key))
        if not path.is_file():
            continue
        raw = path.read_bytes()
        index = np.frombuffer(raw[-(16 * n_inner + 4):-4], dtype="<u8").reshape(n_inner, 2)  # then a crc32c
        for (offset, nbytes), pos in zip(index, itertools.product(*map(range, per_shard)), strict=True):
            if offset == 2**64 - 1:
                continue  # an empty inner chunk: fill value
            data = np.frombuffer(Blosc().decode(raw[offset:offset + nbytes]), dtype=dtype).reshape(chunk)
            start = [k * s + p * c for k, s, p, c in zip(key, shard, pos, chunk, strict=True)]
            padded[tuple(slice(a, a + c) for a, c in zip(start, chunk, strict=True))] = data
    return padded[tuple(slice(0, n) for n in shape)]
