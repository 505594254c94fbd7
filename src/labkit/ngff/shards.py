"""Chunks and shards of the arrays labkit writes: whole chunks a shard, a few hundred MiB at most.

Examples
--------
>>> default_shards((100, 4096, 4096), (1, 4096, 4096), 2)
(8, 4096, 4096)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: an NGFF 0.5 image whose level 0 holds more bytes than this is written sharded unless ``shards`` is given
SHARD_THRESHOLD = 2**30
#: the most bytes a default shard holds (a few hundred MiB: few objects and requests, one task's memory)
SHARD_BYTES = 256 * 2**20


def _level_chunks(chunks: Sequence[int] | None, shape: Sequence[int]) -> tuple[int, ...]:
    """The chunks of a level: ``chunks`` (default one yx plane), at most the level's shape."""
    wanted = tuple(chunks) if chunks else (1,) * (len(shape) - 2) + tuple(shape[-2:])
    return tuple(min(int(c), int(s)) for c, s in zip(wanted, shape, strict=True))


def _setting(name: str) -> Any:
    """A sharding limit as :mod:`labkit.ngff` has it (set there, e.g. by a test, it applies here)."""
    import sys

    return getattr(sys.modules.get("labkit.ngff"), name, globals()[name])


def _nbytes(array: Any) -> int:
    return int(np.prod(array.shape, dtype=np.int64)) * np.dtype(array.dtype).itemsize


def default_shards(shape: Sequence[int], chunks: Sequence[int], itemsize: int, *, axes: str | None = None,
                   max_bytes: int | None = None) -> tuple[int, ...] | None:
    """Shards of whole ``chunks`` holding at most ``max_bytes`` (default ``SHARD_BYTES``), as compact as can be.

    The number of chunks a shard holds is doubled, one axis at a time, along the spatial axis (``z``, ``y``,
    ``x``; every axis when ``axes`` is not given) where the shard is shortest, until the next doubling would pass
    ``max_bytes`` or the shard covers the whole axis; then along the other axes (``t``, ``c``). ``None`` when a
    shard would hold a single chunk (a chunk of ``max_bytes`` or more: sharding gains nothing).

    Examples
    --------
    >>> default_shards((2000, 40000, 40000), (64, 512, 512), 2)  # 6.4 TB, chunks of 32 MiB, shards of 256 MiB
    (512, 512, 512)
    >>> default_shards((1, 10, 2048, 2048), (1, 1, 2048, 2048), 2, axes="czyx")  # 8 MiB planes, 10 of them
    (1, 10, 2048, 2048)
    >>> default_shards((100, 4096, 4096), (1, 4096, 4096), 2)  # 32 MiB planes: 8 of them a shard
    (8, 4096, 4096)
    """
    limit = _setting("SHARD_BYTES") if max_bytes is None else int(max_bytes)
    shape = [int(s) for s in shape]
    chunks = [min(int(c), s) for c, s in zip(chunks, shape, strict=True)]
    counts = [1] * len(shape)
    covers = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]  # chunks along each axis
    names = axes if axes and len(axes) == len(shape) else None
    spatial = [i for i in range(len(shape)) if names is None or names[i] in "zyx"]
    others = [i for i in range(len(shape)) if i not in spatial]

    def nbytes(counts: list[int]) -> int:
        return int(np.prod([min(n * c, s) for n, c, s in zip(counts, chunks, shape, strict=True)],
                           dtype=np.int64)) * itemsize

    for group in (spatial, others):
        while True:
            open_axes = [i for i in group if counts[i] < covers[i]]
            if not open_axes:
                break
            # the shortest extent first (ties: the last axis, the fastest in memory)
            i = min(open_axes, key=lambda i: (counts[i] * chunks[i], -i))
            grown = counts.copy()
            grown[i] = min(2 * counts[i], covers[i])
            if nbytes(grown) > limit:
                break
            counts = grown
    if all(n == 1 for n in counts):
        return None
    return tuple(n * c for n, c in zip(counts, chunks, strict=True))
