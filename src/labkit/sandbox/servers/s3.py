"""moto's S3 server with an access log of what it sent: one JSON line per request.

Run as ``python -m labkit.sandbox.servers.s3 --port P --access-log FILE``. The log
(method, path, status, bytes sent) lets tests and notebooks measure how much data a
client really transferred, as seen by the server.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class AccessLog:
    """WSGI middleware counting the body bytes of every response."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: Path) -> None:
        self.app = app
        self.fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the server
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Serve one request through moto and log what was sent."""
        status: list[str] = []

        def _start(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(s)
            return start_response(s, headers, exc_info)

        sent = 0
        body = self.app(environ, _start)
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            line = {
                "t": time.time(),
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "query": environ.get("QUERY_STRING", ""),
                "status": int(status[0].split()[0]) if status else 0,
                "bytes": sent,
            }
            with self.lock:
                self.fh.write(json.dumps(line) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Serve moto with the access log until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-log", type=Path, required=True)
    args = parser.parse_args(argv)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, AccessLog(app, args.access_log), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
