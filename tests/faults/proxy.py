"""A loopback HTTP proxy that injects faults: 503, 500, connection resets and truncated bodies, at a fixed seed."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("503", "500", "reset", "truncate")
_XML = ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected fault</Message>"
        "</Error>")


class FaultProxy:
    """Forward every request to ``upstream``; answer a fraction ``rate`` of them with one of ``faults``.

    The Host header is forwarded as the client sent it, so S3 signatures made for the proxy's address hold.
    ``counts`` tells how many requests were forwarded and how many of each fault were injected.
    """

    def __init__(self, upstream: str, rate: float = 0.2, seed: int = 1, faults: tuple[str, ...] = FAULTS) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.rate, self.faults = rate, faults
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                fault = proxy.draw()
                if fault in ("503", "500"):
                    data = _XML.format(code="SlowDown" if fault == "503" else "InternalError").encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if fault == "reset":
                    self._reset()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response_only(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault == "truncate" and self.command != "HEAD" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _read_chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            def _reset(self) -> None:
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a faulty answer: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def draw(self) -> str | None:
        """The fault for the next request (``None``: forward it untouched)."""
        with self.lock:
            fault = self.random.choice(self.faults) if self.random.random() < self.rate else None
            self.counts[fault or "forwarded"] += 1
            return fault

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
