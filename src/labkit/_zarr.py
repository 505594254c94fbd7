"""The few places where zarr-python 2.18 and 3.x differ, in one module.

labkit runs on both: 3.x is the default; 2.18 is what itkwidgets needs (the ``itk``
profile). Zarr format 3 (OME-NGFF 0.5) needs zarr-python 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zarr

from labkit._retry import retrying_async
from labkit.errors import FormatError

ZARR3 = int(zarr.__version__.split(".")[0]) >= 3

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
