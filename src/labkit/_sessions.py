"""Close the HTTP sessions of remote filesystems before the interpreter exits.

zarr 3 opens s3fs, ipfsspec and HTTP filesystems in asynchronous mode on its own event loop, and
nothing closes their aiohttp sessions (zarr-developers/zarr-python#2901, fsspec/s3fs#943). Every
process that read remote data, Dask workers included, then prints "Unclosed client session" as it
exits, which lands in the notebook cell that closes the cluster. labkit closes those sessions at
shutdown while the event loops still run: ``import labkit`` registers :func:`close_sessions` to run
when the main thread ends, before ``atexit`` handlers (zarr's among them) stop the loops.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
from typing import Any

#: attributes of fsspec filesystems that hold a client with an ``async close()``
CLIENT_ATTRIBUTES = ("_s3", "_session")
#: filesystems taken out of fsspec's caches while their sessions may still be open (see :func:`retire`)
RETIRED: list[Any] = []


def retire(filesystems: list[Any]) -> None:
    """Keep filesystems that are being dropped from fsspec's cache, so their sessions are closed at exit too.

    :func:`labkit.ipfs.use_gateway` empties ipfsspec's cache (the next ``ipfs://`` read must use the new
    gateway); the filesystems made before may still serve open arrays. Without this they would close nothing:
    each would print "Unclosed client session" when collected, or as its process (a Dask worker) exits.
    """
    RETIRED.extend(fs for fs in filesystems if all(fs is not kept for kept in RETIRED))


def open_filesystems() -> list[Any]:
    """Every asynchronous fsspec filesystem this process has made (fsspec keeps them in per-class caches).

    Examples
    --------
    >>> isinstance(open_filesystems(), list)
    True
    """
    asyn = sys.modules.get("fsspec.asyn")
    if asyn is None:
        return []
    found: dict[int, Any] = {id(fs): fs for fs in RETIRED}
    classes = [asyn.AsyncFileSystem]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        for fs in list(vars(cls).get("_cache", {}).values()):
            found[id(fs)] = fs
    return list(found.values())


def _running(loop: Any) -> bool:
    return callable(getattr(loop, "is_running", None)) and loop.is_running()


def _loop_of(fs: Any) -> Any:
    """The loop the filesystem works on: its own, else zarr's (zarr makes them without one)."""
    if _running(getattr(fs, "_loop", None)):
        return fs._loop
    zarr_sync = sys.modules.get("zarr.core.sync")
    loop = zarr_sync.loop[0] if zarr_sync is not None else None
    return loop if _running(loop) else None


async def _close_clients(fs: Any) -> int:
    import asyncio

    closed = 0
    for name in CLIENT_ATTRIBUTES:
        client = getattr(fs, name, None)
        if client is not None and asyncio.iscoroutinefunction(getattr(client, "close", None)):
            await client.close()
            closed += 1
    return closed


def close_sessions(timeout: float = 2.0) -> int:
    """Close the HTTP clients of every asynchronous fsspec filesystem; return how many were closed.

    Meant for shutdown: the filesystems cannot be used afterwards. Call it from outside their
    event loops; errors are ignored.

    Examples
    --------
    >>> close_sessions()  # at the end of a script that read s3:// data through zarr  # doctest: +SKIP
    1
    """
    import asyncio  # only when there is something to close: `import labkit` stays light

    closed = 0
    for fs in open_filesystems():
        loop = _loop_of(fs)
        if loop is None:
            continue
        with contextlib.suppress(Exception):
            closed += asyncio.run_coroutine_threadsafe(_close_clients(fs), loop).result(timeout)
    return closed


def close_at_exit() -> None:
    """Run :func:`close_sessions` when the main thread ends (before ``atexit``), once per process."""
    register = getattr(threading, "_register_atexit", atexit.register)  # private since 3.9; atexit as fallback
    with contextlib.suppress(RuntimeError):  # already shutting down
        register(close_sessions)
