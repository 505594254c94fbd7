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

#: a second id under which the replica serves the IDR image with its pixel sizes stated in nanometres
#: (``PhysicalSizeX: {"Unit": "NANOMETER", "Symbol": "nm", "Value": 360.39...}``), as another OMERO server may;
#: the same pixels and metadata otherwise. Not an IDR id: IDR states micrometres.
NANOMETRE_IMAGE_ID = 900_000_000 + catalog.IDR_IMAGE.id


def omero_record(image: PublicImage, *, image_id: int | None = None, length_unit: str = "MICROMETER",
                 ) -> dict[str, Any]:
    """What the replica serves for ``image`` (the shape :mod:`labkit.sandbox.servers.omero` reads).

    ``image_id`` serves it under another id; ``length_unit`` (``"MICROMETER"`` or ``"NANOMETER"``) is the unit
    its pixel sizes are stated in (``pixel_size`` is kept in micrometres, as webgateway's imgData gives it).
    """
    return {
        "length_unit": length_unit,
        "id": image_id or image.id,
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
        if images is None:
            self.images = [omero_record(catalog.IDR_IMAGE),
                           omero_record(catalog.IDR_IMAGE, image_id=NANOMETRE_IMAGE_ID, length_unit="NANOMETER")]
        else:
            self.images = [omero_record(im) for im in images]

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
        self.process.wait_ready(lambda: requests.get(f"{url}/api/", timeout=1).ok)
        return {"pid": self.process.pid, "port": port, "url": url, "images": [m["id"] for m in self.images]}
