"""How results lie in an icechunk repository: one node under the root group per result.

- a folder result (:class:`~labkit.results.OmeZarr`, :class:`~labkit.results.NgffLabels`) is its zarr group;
- a single-file result (OME-TIFF, PNG, Parquet, ``.npy``, a provenance record) is a one-dimensional ``uint8``
  array of the file's bytes (chunks of :data:`FILE_CHUNK`, uncompressed: these formats compress themselves),
  marked by the attribute :data:`FILE_ATTRIBUTE` (its name, size and SHA-256).

A result's node is its name with ``/`` written as ``%2F`` (``cells/1.png`` is the node ``cells%2F1.png``): two
writers of different results never touch the same node, so a writer that lost the race to commit rebases
cleanly. Every function here takes the zarr store of an icechunk session (read-only, writable or a fork).

Examples
--------
>>> node_name("cells/1.png")
'cells%2F1.png'
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from labkit._lazy import attempt_import
from labkit._zarr import node_key
from labkit.results.result_store import PROVENANCE_SUFFIX

#: chunk size of a single-file result's bytes in the repository
FILE_CHUNK = 4 * 2**20
#: attribute of an array that holds a single-file result
FILE_ATTRIBUTE = "labkit_file"


def node_name(name: str) -> str:
    """The repository node of a result: one child of the root, ``/`` written as ``%2F``.

    Examples
    --------
    >>> node_name("cells/1 a.png")
    'cells%2F1%20a.png'
    """
    return quote(name, safe="")


def _inner_keys(name: str) -> list[str]:
    """The keys ``name`` may be inside a folder result, deepest node first (``"z/1.ome.zarr/zarr.json"``)."""
    parts = name.split("/")
    return [f"{node_name('/'.join(parts[:i]))}/{'/'.join(parts[i:])}" for i in range(len(parts) - 1, 0, -1)]


def exists(store: Any, name: str) -> bool:
    """Whether ``name`` (a result, or a key inside a folder result) is in ``store``."""
    return any(_exists(store, key) for key in [node_key(node_name(name)), *_inner_keys(name)])


def read_file(store: Any, name: str) -> bytes | None:
    """The bytes of a single-file result, or of a key inside a folder result; ``None`` when there is none."""
    zarr = attempt_import("zarr")
    try:
        arr = zarr.open_array(store, path=node_name(name), mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError, zarr.errors.ContainsGroupError):
        arr = None
    if arr is None or FILE_ATTRIBUTE not in arr.attrs:
        return _key_bytes(store, name)
    return arr[:].tobytes() if arr.shape[0] else b""


def _key_bytes(store: Any, name: str) -> bytes | None:
    from zarr.core.buffer import default_buffer_prototype

    for key in _inner_keys(name):
        try:
            found = _sync(store.get(key, prototype=default_buffer_prototype()))
        except ValueError:  # icechunk's InvalidInputError: not a key of this repository's layout
            continue
        if found is not None:
            return found.to_bytes()
    return None


def write_file(store: Any, name: str, data: bytes) -> None:
    """Write ``data`` as the single-file result ``name`` (replacing what was there)."""
    zarr = attempt_import("zarr")
    data = bytes(data)
    size = len(data)
    arr = zarr.create_array(
        store, name=node_name(name), shape=(size,), dtype="uint8", chunks=(max(1, min(size, FILE_CHUNK)),),
        compressors=None, fill_value=0, overwrite=True,
        attributes={FILE_ATTRIBUTE: {"name": name, "size": size, "sha256": hashlib.sha256(data).hexdigest()}},
    )
    if size:
        arr[:] = np.frombuffer(data, np.uint8)


def list_names(store: Any, prefix: str = "") -> list[str]:
    """Single-file results under ``prefix`` and keys inside folder results (provenance records left out).

    Only the results whose names match ``prefix`` are opened: listing one result costs one node, not all.
    """
    zarr = attempt_import("zarr")
    names = []
    for node in _sync_list(store.list_dir("")):
        name = unquote(node)
        if node == node_key() or name.endswith(PROVENANCE_SUFFIX) or not (
                name.startswith(prefix) or prefix.startswith(name + "/")):
            continue
        item = zarr.open(store, path=node, mode="r")
        if isinstance(item, zarr.Array) and FILE_ATTRIBUTE in item.attrs:
            names.append(name)
        else:
            names += [f"{name}/{key[len(node) + 1:]}" for key in _sync_list(store.list_prefix(node + "/"))]
    return sorted(n for n in names if n.startswith(prefix))


def file_attributes(store: Any) -> dict[str, dict[str, Any]]:
    """Every single-file result (provenance records included) -> its size and SHA-256, from one listing."""
    zarr = attempt_import("zarr")
    try:
        root = zarr.open_group(store, mode="r")
    except FileNotFoundError:
        return {}
    return {unquote(node): dict(item.attrs[FILE_ATTRIBUTE]) for node, item in root.members()
            if isinstance(item, zarr.Array) and FILE_ATTRIBUTE in item.attrs}


def has_root(store: Any) -> bool:
    """Whether the repository has its root group (results are its children)."""
    return bool(_sync(store.exists(node_key())))


def _sync(coroutine: Any) -> Any:
    from zarr.core.sync import sync

    return sync(coroutine)


def _exists(store: Any, key: str) -> bool:
    try:
        return bool(_sync(store.exists(key)))
    except ValueError:  # icechunk's InvalidInputError: not a zarr key (a name inside a file result's node)
        return False


def _sync_list(iterator: Any) -> list[str]:
    async def collect() -> list[str]:
        return [key async for key in iterator]

    return _sync(collect())
