"""An IPFS node that labkit runs itself: Helia on Node.js (``ipfs/js/server.js``) with Kubo's RPC API and a gateway.

Dask workers start one each (:class:`labkit.ipfs.IPFSWorkerPlugin`), in live mode as in the
sandbox, so it lives with :mod:`labkit.ipfs`; the sandbox's IPFS service is one of these nodes.

Examples
--------
>>> node = IpfsNode("/tmp/my-node")  # doctest: +SKIP
>>> record = node.start()  # doctest: +SKIP
>>> record["api"], record["gateway"]  # doctest: +SKIP
('http://127.0.0.1:41234', 'http://127.0.0.1:41235')
>>> node.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import requests

from labkit._process import HOST, ManagedProcess, free_port
from labkit.errors import ServerError

NODE_DIR = Path(__file__).with_name("js")
SERVER = NODE_DIR / "server.js"


def available() -> bool:
    """Whether the node's script, its installed packages and Node.js are present."""
    return SERVER.is_file() and (NODE_DIR / "node_modules").is_dir() and shutil.which("node") is not None


class IpfsNode:
    """A Helia node answering the Kubo RPC (``/api/v0/...``) and ``/ipfs/{cid}/{path}`` on 127.0.0.1.

    Parameters
    ----------
    root : path
        Folder of its block store (``root/ipfs``) and its log (``root/logs``).
    fetch_timeout : float
        Seconds the gateway looks for a block it does not have before it answers 504 (kubo's
        ``Gateway.RetrievalTimeout``).
    """

    def __init__(self, root: str | Path, fetch_timeout: float = 10.0) -> None:
        self.root = Path(root)
        self.fetch_timeout = fetch_timeout
        self.process: ManagedProcess | None = None

    def start(self) -> dict[str, Any]:
        """Start the node; return ``pid``, ``port`` (of the API), ``api`` and ``gateway`` addresses."""
        if not available():
            raise ServerError(
                "the labkit IPFS node is not available: it needs Node.js >= 20 and its packages "
                f"(run `npm ci --prefix {NODE_DIR}`, which `make` does), and {SERVER.name}."
            )
        api_port, gw_port, p2p_port = free_port(), free_port(), free_port()
        repo = self.root / "ipfs"
        repo.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "ipfs",
            ["node", str(SERVER), "--repo", str(repo), "--api-port", str(api_port),
             "--gateway-port", str(gw_port), "--swarm-port", str(p2p_port),
             "--fetch-timeout", str(int(self.fetch_timeout * 1000))],
            self.root / "logs",
        ).start()
        api = f"http://{HOST}:{api_port}"
        self.process.wait_ready(lambda: requests.post(f"{api}/api/v0/id", timeout=1).ok)
        return {"pid": self.process.pid, "port": api_port, "api": api, "gateway": f"http://{HOST}:{gw_port}"}

    def stop(self) -> None:
        """Stop the node and everything it started."""
        if self.process is not None:
            self.process.stop()
            self.process = None
