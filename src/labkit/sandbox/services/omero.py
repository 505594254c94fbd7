"""The sandbox OMERO service: the JSON-API replica serving the sandbox images' metadata."""

from __future__ import annotations

import json
import sys
from typing import Any

import requests

from labkit import catalog
from labkit._process import HOST, ManagedProcess, free_port
from labkit.catalog import PublicImage
from labkit.sandbox._service import Context, Service


def omero_record(image: PublicImage) -> dict[str, Any]:
    """What the replica serves for ``image`` (the shape :mod:`labkit.sandbox.servers.omero` reads)."""
    return {
        "id": image.id,
        "name": image.name,
        "description": image.description,
        "project": image.project,
        "dataset": image.study,
        "study": image.study,
        "zarr": {"bucket": catalog.IDR_BUCKET, "key": image.zarr_url.split("/", 3)[3]},
        "type": image.pixel_type,
        "sizes": dict(image.sizes),
        "pixel_size": dict(image.pixel_sizes),
        "channels": [dict(c) for c in image.channels],
        "default_z": image.default_z,
        "default_t": image.default_t,
    }


class OmeroService(Service):
    """Serve the metadata of ``images`` (default: the catalogue's IDR image)."""

    name = "omero"

    def __init__(self, images: list[PublicImage] | None = None) -> None:
        super().__init__()
        self.images = [omero_record(im) for im in (images if images is not None else [catalog.IDR_IMAGE])]

    def start(self, ctx: Context) -> dict[str, Any]:
        """Write the image registry and start the replica."""
        registry = ctx.data_dir / "omero-images.json"
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(json.dumps(self.images, indent=1))
        port = free_port()
        self.process = ManagedProcess(
            "omero",
            [sys.executable, "-m", "labkit.sandbox.servers.omero", "--port", str(port), "--images", str(registry)],
            ctx.log_dir,
        ).start()
        url = f"http://{HOST}:{port}"
        self.process.wait_ready(lambda: requests.get(f"{url}/api/", timeout=1).ok, timeout=20)
        return {"pid": self.process.pid, "port": port, "url": url, "images": [m["id"] for m in self.images]}
