"""A replica of the OMERO.web JSON routes IDR serves anonymously, for the sandbox images.

Run as ``python -m labkit.sandbox.servers.omero --port P --images images.json``. The
answers have the shapes OMERO.web 5 returns (``/api/``, ``/api/v0/``,
``/api/v0/m/images/{id}/``, ``/webgateway/imgData/{id}/``), enough for clients that
read image metadata; nothing is writable and there is no login.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OME_SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
API_VERSION = "0"


def signed_rgba(hex_rgb: str, alpha: int = 255) -> int:
    """OMERO's channel ``Color``: RGBA packed in a signed 32-bit integer.

    Examples
    --------
    >>> signed_rgba("0000FF"), signed_rgba("FFFF00")
    (65535, -65281)
    """
    value = (int(hex_rgb, 16) << 8) | alpha
    return value - (1 << 32) if value >= 1 << 31 else value


def _length(value: float) -> dict[str, Any]:
    return {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": value}


def image_json(meta: dict[str, Any], base: str) -> dict[str, Any]:
    """The ``/api/v0/m/images/{id}/`` answer for one image."""
    s = meta["sizes"]
    px = meta["pixel_size"]
    channels = [
        {
            "@id": meta["id"] * 10 + i,
            "@type": f"{OME_SCHEMA}#Channel",
            "Name": ch["label"],
            "Color": signed_rgba(ch["color"]),
            "SamplesPerPixel": 1,
            "omero:LogicalChannelId": meta["id"] * 10 + i,
        }
        for i, ch in enumerate(meta["channels"])
    ]
    pixels = {
        "@id": meta["id"],
        "@type": f"{OME_SCHEMA}#Pixels",
        "SizeX": s["x"],
        "SizeY": s["y"],
        "SizeZ": s["z"],
        "SizeC": s["c"],
        "SizeT": s["t"],
        "PhysicalSizeX": _length(px["x"]),
        "PhysicalSizeY": _length(px["y"]),
        "PhysicalSizeZ": _length(px["z"]),
        "SignificantBits": 8 * int(re.sub(r"\D", "", meta["type"]) or 8) // 8,
        "Type": {"@type": "TBD#PixelsTypeI", "value": meta["type"]},
        "DimensionOrder": {"@type": "TBD#DimensionOrderI", "value": "XYZCT"},
        "Channels": channels,
    }
    data = {
        "@id": meta["id"],
        "@type": f"{OME_SCHEMA}#Image",
        "Name": meta["name"],
        "Description": meta.get("description", ""),
        "AcquisitionDate": meta.get("acquisition_date"),
        "omero:details": {"@type": "TBD#Details", "permissions": {"isGroupRead": True, "perm": "r-r---"}},
        "Pixels": pixels,
        "url:image": f"{base}/api/v0/m/images/{meta['id']}/",
    }
    return {"@context": f"{base}/static/json-ld/ome.jsonld", "data": data}


def img_data_json(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``/webgateway/imgData/{id}/`` answer for one image."""
    s = meta["sizes"]
    return {
        "id": meta["id"],
        "meta": {
            "imageName": meta["name"],
            "imageDescription": meta.get("description", ""),
            "imageAuthor": meta.get("author", "Public data"),
            "projectName": meta.get("project", ""),
            "projectId": meta.get("project_id"),
            "datasetName": meta.get("dataset", ""),
            "datasetId": meta.get("dataset_id"),
            "imageId": meta["id"],
            "imageTimestamp": meta.get("timestamp", 0),
            "pixelsType": meta["type"],
            "wellId": "",
            "wellSampleId": "",
        },
        "perms": {"canAnnotate": False, "canEdit": False, "canDelete": False, "canLink": False},
        "tiles": False,
        "interpolate": True,
        "size": {"width": s["x"], "height": s["y"], "z": s["z"], "t": s["t"], "c": s["c"]},
        "pixel_size": dict(meta["pixel_size"]),
        "init_zoom": 0,
        "channels": [
            {
                "emissionWave": None,
                "label": ch["label"],
                "color": ch["color"],
                "inverted": False,
                "reverseIntensity": False,
                "family": "linear",
                "coefficient": 1.0,
                "window": dict(ch["window"]),
                "active": ch.get("active", True),
            }
            for ch in meta["channels"]
        ],
        "split_channel": {"g": {"width": s["x"], "height": s["y"], "border": 2, "gridx": s["c"], "gridy": 1}},
        "rdefs": {
            "model": "color",
            "projection": "normal",
            "defaultZ": meta.get("default_z", s["z"] // 2),
            "defaultT": meta.get("default_t", 0),
            "invertAxis": False,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    images: dict[int, dict[str, Any]] = {}
    server_version = "OMERO.web-replica/labkit"

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        path = self.path.split("?", 1)[0]
        api = {"X-OMERO-ApiVersion": API_VERSION}
        if path == "/api/":
            return self._send(200, {"data": [{"version": API_VERSION, "url:base": f"{base}/api/v0/"}]}, api)
        if path == "/api/v0/":
            routes = ["experimenters", "experimentergroups", "images", "projects", "datasets", "screens", "plates"]
            body = {f"url:{r}": f"{base}/api/v0/m/{r}/" for r in routes}
            body.update(
                {
                    "url:token": f"{base}/api/v0/token/",
                    "url:servers": f"{base}/api/v0/servers/",
                    "url:login": f"{base}/api/v0/login/",
                    "url:schema": "https://www.openmicroscopy.org/Schemas/OME/2016-06",
                }
            )
            return self._send(200, body, api)
        if m := re.fullmatch(r"/api/v0/m/images/(\d+)/?", path):
            meta = self.images.get(int(m[1]))
            if meta is None:
                return self._send(404, {"message": f"Image {m[1]} not found"}, api)
            return self._send(200, image_json(meta, base), api)
        if m := re.fullmatch(r"/webgateway/imgData/(\d+)/?", path):
            meta = self.images.get(int(m[1]))
            if meta is None:  # OMERO.web answers 403 (no permission to a missing object)
                return self._send(403, {"message": f"Image {m[1]} not found or not readable"})
            return self._send(200, img_data_json(meta))
        return self._send(404, {"message": f"{path} not found"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


def main(argv: list[str] | None = None) -> None:
    """Serve the replica until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--images", type=Path, required=True, help="JSON list of image metadata")
    args = parser.parse_args(argv)
    _Handler.images = {int(m["id"]): m for m in json.loads(args.images.read_text())}
    with ThreadingHTTPServer((args.host, args.port), _Handler) as httpd:
        httpd.serve_forever()


if __name__ == "__main__":
    main()
