"""Deprecated: renamed :mod:`labkit.storage` (zarr stores and filesystems; result stores are :mod:`labkit.results`)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    import labkit.storage
    from labkit.errors import deprecated

    if name.startswith("__") or not hasattr(labkit.storage, name):
        raise AttributeError(f"module 'labkit.stores' has no attribute {name!r}")
    deprecated(f"labkit.stores.{name}", f"labkit.storage.{name}")
    return getattr(labkit.storage, name)
