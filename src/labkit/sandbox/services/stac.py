"""The sandbox STAC API: ``rustac serve`` over the synthetic GFM collection."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import requests

from labkit._process import HOST, ManagedProcess, free_port
from labkit.catalog import GFM
from labkit.errors import SandboxError
from labkit.sandbox._service import Context, Service
from labkit.synthetic import stac_documents


def rustac_executable() -> str:
    """Path of the ``rustac`` command installed with the sandbox extra."""
    exe = Path(sys.executable).with_name("rustac")
    if exe.exists():
        return str(exe)
    found = shutil.which("rustac")
    if not found:
        raise SandboxError('rustac is not installed: pip install "labkit[sandbox]"')
    return found


class StacService(Service):
    """Serve the flood items whose assets the sandbox S3 holds (needs ``s3``)."""

    name = "stac"

    def __init__(self, scenes: dict[str, Any]) -> None:
        super().__init__()
        self.scenes = scenes

    def start(self, ctx: Context) -> dict[str, Any]:
        """Write the collection and items with HTTP hrefs on the sandbox S3, then serve them."""
        s3 = ctx.records["s3"]["endpoint_url"]
        docs = stac_documents(self.scenes["items"], f"{s3}/gfm/{self.scenes['prefix']}", self.scenes["bbox"])
        folder = ctx.root / "stac"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "collection.json").write_text(json.dumps(docs["collection"]))
        (folder / "items.json").write_text(json.dumps(docs["items"]))
        port = free_port()
        url = f"http://{HOST}:{port}"
        self.process = ManagedProcess(
            "stac",
            [rustac_executable(), "serve", "--addr", f"{HOST}:{port}",
             str(folder / "collection.json"), str(folder / "items.json")],
            ctx.log_dir,
        ).start()
        self.process.wait_ready(lambda: requests.get(f"{url}/collections/{GFM.id}", timeout=1).ok)
        return {"pid": self.process.pid, "port": port, "url": url, "collection": GFM.id,
                "n_items": len(docs["items"]["features"])}
