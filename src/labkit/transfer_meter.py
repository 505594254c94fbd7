"""Count what an S3 server sent, from its own access log (not from labkit's client code)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class TransferMeter:
    """Requests and body bytes a server sent since the meter was made, read from its JSON-lines access log.

    Each line of the log is ``{"path": ..., "bytes": ...}``; the sandbox S3 writes one
    (its path is ``Endpoints.s3_access_log``).

    Examples
    --------
    >>> import json, tempfile
    >>> log = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> meter = TransferMeter(log.name)
    >>> print(json.dumps({"path": "/idr/a/.zattrs", "bytes": 1052}), file=log); log.close()
    >>> meter.bytes, meter.requests
    (1052, 1)
    """

    def __init__(self, log: str | os.PathLike[str]) -> None:
        self.log = Path(log)
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def entries(self, prefix: str = "") -> list[dict[str, Any]]:
        """Access-log entries since the meter was made, for paths starting with ``prefix``."""
        time.sleep(0.05)  # the server writes its line after the last byte is sent
        with open(self.log) as fh:
            fh.seek(self.offset)
            lines = [json.loads(line) for line in fh if line.strip()]
        return [e for e in lines if e["path"].startswith(prefix)]

    @property
    def bytes(self) -> int:
        """Body bytes sent."""
        return sum(e["bytes"] for e in self.entries())

    @property
    def requests(self) -> int:
        """Number of requests answered."""
        return len(self.entries())
