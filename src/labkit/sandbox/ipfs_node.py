"""The sandbox IPFS node (Helia on Node.js, in ``sandbox/ipfs/``): Kubo RPC API and path gateway."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import requests

from labkit.errors import SandboxError
from labkit.sandbox._process import HOST, ManagedProcess, free_port
from labkit.sandbox._service import Context, Service

NODE_DIR = Path(__file__).with_name("ipfs")
SERVER = NODE_DIR / "server.js"


def available() -> bool:
    """Whether the node's script and its installed packages are present."""
    return SERVER.is_file() and (NODE_DIR / "node_modules").is_dir() and shutil.which("node") is not None


class IpfsService(Service):
    """A Helia node answering the Kubo RPC (``/api/v0/...``) and ``/ipfs/{cid}/{path}`` on 127.0.0.1."""

    name = "ipfs"

    def start(self, ctx: Context) -> dict[str, Any]:
        """Start the node with its blockstore under the sandbox folder."""
        if not available():
            raise SandboxError(
                "the sandbox IPFS node is not available: it needs Node.js >= 20 and its packages "
                f"(run `npm ci --prefix {NODE_DIR}`, which `make` does), and {SERVER.name}."
            )
        api_port, gw_port, p2p_port = free_port(), free_port(), free_port()
        repo = ctx.root / "ipfs"
        repo.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "ipfs",
            ["node", str(SERVER), "--repo", str(repo), "--api-port", str(api_port),
             "--gateway-port", str(gw_port), "--swarm-port", str(p2p_port)],
            ctx.log_dir,
        ).start()
        api = f"http://{HOST}:{api_port}"
        self.process.wait_ready(lambda: requests.post(f"{api}/api/v0/id", timeout=1).ok, timeout=30)
        return {"pid": self.process.pid, "port": api_port, "api": api, "gateway": f"http://{HOST}:{gw_port}"}
