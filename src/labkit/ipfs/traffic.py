"""What an IPFS publisher served and what the workers' own nodes fetched, from the nodes' own counters.

labkit's IPFS node (the sandbox's, and the one :class:`labkit.ipfs.IPFSWorkerPlugin` starts on every worker)
counts the requests its gateway answered, the paths it served and the blocks it stores
(:func:`labkit.ipfs.stats`). :class:`labkit.ipfs.TrafficMeter` reads them before and after a computation and
says how the data travelled: through the publisher's gateway, or peer to peer (bitswap) into the workers' nodes.

Examples
--------
>>> meter = labkit.ipfs.TrafficMeter()  # doctest: +SKIP
>>> client.compute(lazy).result()  # doctest: +SKIP
>>> print(meter.read(client))  # doctest: +SKIP
the publisher's gateway served 0 chunks (2 requests in all); the workers' nodes fetched 57 blocks by bitswap
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Traffic"]


@dataclass(frozen=True)
class Traffic:
    """How data travelled while a meter ran.

    Attributes
    ----------
    gateway_requests : int
        Requests the publisher's gateway answered.
    chunk_requests : int
        Those that asked for a chunk (a file whose name does not start with ``.``: not Zarr metadata).
    worker_blocks : int or None
        Blocks the workers' own nodes hold (fetched peer to peer), summed over the workers; ``None`` when no
        workers were asked.
    """

    gateway_requests: int
    chunk_requests: int
    worker_blocks: int | None = None

    @classmethod
    def between(cls, before: Mapping[str, Any], after: Mapping[str, Any],
                workers: Iterable[Mapping[str, Any]] | None = None) -> Traffic:
        """The traffic between two readings of a publisher's counters, and the workers' nodes' counters.

        Parameters
        ----------
        before, after : mapping
            :func:`labkit.ipfs.stats` of the publishing node, before and after.
        workers : iterable of mapping, optional
            :func:`labkit.ipfs.stats` of each worker's node.

        Examples
        --------
        >>> before = {"gateway_requests": 3, "gateway_paths": ["a/.zattrs", "a/0/.zarray", "a/0/0.0"]}
        >>> after = {"gateway_requests": 5, "gateway_paths": [*before["gateway_paths"], "a/0/.zarray", "a/0/0.1"]}
        >>> Traffic.between(before, after, [{"blocks_stored": 4}, {"blocks_stored": 2}])
        Traffic(gateway_requests=2, chunk_requests=1, worker_blocks=6)
        """
        served = int(after["gateway_requests"]) - int(before["gateway_requests"])
        paths = list(after.get("gateway_paths", []))
        recent = paths[len(paths) - served:] if served > 0 else []
        chunks = [p for p in recent if not str(p).rsplit("/", 1)[-1].startswith(".")]
        blocks = None if workers is None else sum(int(w["blocks_stored"]) for w in workers)
        return cls(served, len(chunks), blocks)

    def __str__(self) -> str:
        text = (f"the publisher's gateway served {self.chunk_requests} chunks ({self.gateway_requests} requests in "
                "all)")
        if self.worker_blocks is not None:
            text += f"; the workers' nodes fetched {self.worker_blocks} blocks by bitswap"
        return text

