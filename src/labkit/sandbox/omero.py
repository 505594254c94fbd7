"""The sandbox OMERO service: the JSON-API replica serving the sandbox images' metadata."""

from __future__ import annotations

import json
import sys
from typing import Any

import requests

from labkit.sandbox._process import HOST, ManagedProcess, free_port
from labkit.sandbox._service import Context, Service
from labkit.sandbox.locate import IDR_IMAGE_ID

#: Image 6001240 of study idr0062A as IDR describes it (sizes, pixel sizes, channels, rendering).
IDR_6001240: dict[str, Any] = {
    "id": IDR_IMAGE_ID,
    "name": "6001240",
    "description": "idr0062A nuclear segmentation, LaminB1 and Dapi",
    "project": "idr0062-blin-nuclearsegmentation/experimentA",
    "dataset": "idr0062A",
    "study": "idr0062A",
    "zarr": {"bucket": "idr", "key": f"zarr/v0.1/{IDR_IMAGE_ID}.zarr"},
    "type": "uint16",
    "sizes": {"t": 1, "c": 2, "z": 236, "y": 275, "x": 271},
    "pixel_size": {"x": 0.3603981534640209, "y": 0.3603981534640209, "z": 0.5002025531914894},
    "channels": [
        {"label": "LaminB1", "color": "0000FF", "window": {"min": 0.0, "max": 65535.0, "start": 0.0, "end": 1500.0}},
        {"label": "Dapi", "color": "FFFF00", "window": {"min": 0.0, "max": 65535.0, "start": 0.0, "end": 1500.0}},
    ],
    "default_z": 118,
    "default_t": 0,
}


class OmeroService(Service):
    """Serve the metadata of ``images`` (list of dicts shaped like :data:`IDR_6001240`)."""

    name = "omero"

    def __init__(self, images: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.images = images if images is not None else [IDR_6001240]

    def start(self, ctx: Context) -> dict[str, Any]:
        """Write the image registry and start the replica."""
        registry = ctx.data_dir / "omero-images.json"
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(json.dumps(self.images, indent=1))
        port = free_port()
        self.process = ManagedProcess(
            "omero",
            [sys.executable, "-m", "labkit.sandbox.omero_replica", "--port", str(port), "--images", str(registry)],
            ctx.log_dir,
        ).start()
        url = f"http://{HOST}:{port}"
        self.process.wait_ready(lambda: requests.get(f"{url}/api/", timeout=1).ok, timeout=20)
        return {"pid": self.process.pid, "port": port, "url": url, "images": [m["id"] for m in self.images]}
