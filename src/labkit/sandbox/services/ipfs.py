"""The sandbox IPFS service: a labkit IPFS node (:class:`labkit.ipfs.node.IpfsNode`) under the sandbox folder."""

from __future__ import annotations

from typing import Any

from labkit.ipfs.node import IpfsNode, available
from labkit.sandbox._service import Context, Service

__all__ = ["IpfsService", "available"]
#: seconds the sandbox gateway looks for a block before its 504: its only peers are on this machine
FETCH_TIMEOUT = 5.0


class IpfsService(Service):
    """The publisher's node: Kubo RPC API and path gateway on 127.0.0.1."""

    name = "ipfs"

    def start(self, ctx: Context) -> dict[str, Any]:
        """Start the node with its block store under the sandbox folder."""
        self.node = IpfsNode(ctx.root, fetch_timeout=FETCH_TIMEOUT)
        record = self.node.start()
        self.process = self.node.process
        return record
