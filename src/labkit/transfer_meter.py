"""Count what an S3 server sent, from the server's own metrics (not from labkit's client code)."""

from __future__ import annotations

import re
import time

import requests

from labkit.errors import ServiceUnavailableError

#: SeaweedFS's Prometheus counters (labelled by bucket) of body bytes sent and requests answered
SENT_BYTES = "SeaweedFS_s3_bucket_traffic_sent_bytes_total"
REQUESTS = "SeaweedFS_s3_request_total"
_SAMPLE = re.compile(r'^(?P<name>\w+)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def read_counters(text: str, bucket: str | None = None) -> dict[str, float]:
    """Body bytes sent (``"bytes"``) and requests answered by type (``"GET"``, ``"LIST"`` ...) in a Prometheus text.

    Examples
    --------
    >>> text = '''SeaweedFS_s3_bucket_traffic_sent_bytes_total{bucket="idr"} 1052
    ... SeaweedFS_s3_bucket_traffic_sent_bytes_total{bucket="gfm"} 10
    ... SeaweedFS_s3_request_total{bucket="idr",code="200",type="GET"} 3'''
    >>> read_counters(text), read_counters(text, "gfm")
    ({'bytes': 1062.0, 'GET': 3.0}, {'bytes': 10.0})
    """
    counts: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())
        if not m or m["name"] not in (SENT_BYTES, REQUESTS):
            continue
        labels = dict(_LABEL.findall(m["labels"]))
        if bucket is not None and labels.get("bucket") != bucket:
            continue
        key = "bytes" if m["name"] == SENT_BYTES else labels.get("type", "other")
        counts[key] = counts.get(key, 0.0) + float(m["value"])
    return counts


class TransferMeter:
    """Requests and body bytes an S3 server sent since the meter was made, read from its Prometheus metrics.

    The sandbox S3 (SeaweedFS) exports them; ``Endpoints.s3_metrics`` is their address.

    Parameters
    ----------
    metrics_url : str
        The server's ``/metrics`` address.
    bucket : str, optional
        Count only this bucket.

    Examples
    --------
    >>> meter = TransferMeter(labkit.endpoints("sandbox").s3_metrics)  # doctest: +SKIP
    >>> labkit.info("s3://idr/zarr/v0.1/6001240.zarr")  # doctest: +SKIP
    >>> meter.bytes, meter.requests, meter.count("GET")  # doctest: +SKIP
    (4408, 5, 5)
    """

    def __init__(self, metrics_url: str, bucket: str | None = None) -> None:
        self.url = metrics_url
        self.bucket = bucket
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        time.sleep(0.1)  # the server counts a response once it is sent
        try:
            r = requests.get(self.url, timeout=10)
            r.raise_for_status()
        except requests.RequestException as exc:
            raise ServiceUnavailableError(f"cannot read the S3 server's metrics at {self.url}: {exc}") from None
        return read_counters(r.text, self.bucket)

    def counts(self) -> dict[str, int]:
        """Everything counted since the meter was made: ``"bytes"`` and requests by type."""
        now = self._read()
        return {k: int(v - self.start.get(k, 0.0)) for k, v in now.items() if v != self.start.get(k, 0.0)}

    def count(self, request_type: str) -> int:
        """Requests of one type (``"GET"``, ``"PUT"``, ``"LIST"``, ``"DELETE"`` ...) since the meter was made."""
        return self.counts().get(request_type, 0)

    @property
    def bytes(self) -> int:
        """Body bytes sent since the meter was made."""
        return self.counts().get("bytes", 0)

    @property
    def requests(self) -> int:
        """Requests answered since the meter was made."""
        return sum(v for k, v in self.counts().items() if k != "bytes")
