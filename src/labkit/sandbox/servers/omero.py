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


#: the OMERO length units the replica can state pixel sizes in: enumeration name -> (symbol, units per micrometre)
LENGTH_UNITS = {"MICROMETER": ("µm", 1), "NANOMETER": ("nm", 1000)}


def _length(micrometres: float, unit: str = "MICROMETER") -> dict[str, Any]:
    """A length as omero-marshal encodes it (``encode_unit``: ``@type``, ``Unit``, ``Symbol``, ``Value``)."""
    symbol, per_micrometre = LENGTH_UNITS[unit]
    return {"@type": "TBD#LengthI", "Unit": unit, "Symbol": symbol, "Value": micrometres * per_micrometre}


def _enum(type_name: str, value: str, enum_id: int) -> dict[str, Any]:
    return {"@id": enum_id, "@type": f"TBD#{type_name}", "value": value, "omero:details": {"@type": "TBD#Details"}}


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
    unit = meta.get("length_unit", "MICROMETER")  # the unit the server states pixel sizes in
    details = {"@type": "TBD#Details", "permissions": {"isGroupRead": True, "perm": "r-r---"}}
    pixels = {
        "@id": meta["id"],
        "@type": f"{OME_SCHEMA}#Pixels",
        "omero:methodology": "",
        "omero:sha1": "",
        "SizeX": s["x"],
        "SizeY": s["y"],
        "SizeZ": s["z"],
        "SizeC": s["c"],
        "SizeT": s["t"],
        "PhysicalSizeX": _length(px["x"], unit),
        "PhysicalSizeY": _length(px["y"], unit),
        "PhysicalSizeZ": _length(px["z"], unit),
        "SignificantBits": int(re.sub(r"\D", "", meta["type"]) or 8),
        "TimeIncrement": {"@type": "TBD#TimeI", "Unit": "SECOND", "Symbol": "s", "Value": 1.0},
        "omero:waveIncrement": 0.0,
        "omero:waveStart": 0,
        "Type": _enum("PixelsType", meta["type"], 1),
        "DimensionOrder": _enum("DimensionOrder", "XYZCT", 1),
        "Channels": channels,
        "omero:details": details,
    }
    data = {
        "@id": meta["id"],
        "@type": f"{OME_SCHEMA}#Image",
        "Name": meta["name"],
        "Description": meta.get("description", ""),
        "omero:archived": False,
        "omero:partial": False,
        "omero:format": _enum("Format", meta.get("format", "OMEXML"), 1),
        "omero:details": details,
        "Pixels": pixels,
        "url:image": f"{base}/api/v0/m/images/{meta['id']}/",
    }
    if meta.get("acquisition_date") is not None:  # omero-marshal leaves out what is not set
        data["AcquisitionDate"] = meta["acquisition_date"]
    return {"@context": f"{base}/static/json-ld/ome.jsonld", "data": data}


_PIXEL_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767),
                 "uint32": (0, 4294967295), "int32": (-2147483648, 2147483647), "float": (-2147483648, 2147483647),
                 "double": (-2147483648, 2147483647)}


def _split_grid(width: int, height: int, n_panels: int, border: int = 2) -> dict[str, int]:
    """Webgateway's split-channel layout: panels in a near-square grid, ``border`` pixels apart."""
    import math

    gridx = math.ceil(math.sqrt(n_panels))
    gridy = math.ceil(n_panels / gridx)
    return {"width": gridx * width + (gridx + 1) * border, "height": gridy * height + (gridy + 1) * border,
            "border": border, "gridx": gridx, "gridy": gridy}


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
            "projectDescription": meta.get("project_description", ""),
            "datasetName": meta.get("dataset", ""),
            "datasetId": meta.get("dataset_id"),
            "datasetDescription": meta.get("dataset_description", ""),
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
        "pixel_size": dict(meta["pixel_size"]),  # webgateway states these in micrometres, whatever the unit
        "init_zoom": 0,
        "pixel_range": list(_PIXEL_RANGES.get(meta["type"], (0, 255))),
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
        "split_channel": {  # webgateway's grid of the channels side by side: greyscale ("g") and colour ("c")
            "g": _split_grid(s["x"], s["y"], s["c"]),
            "c": _split_grid(s["x"], s["y"], s["c"] + 1),
        },
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
