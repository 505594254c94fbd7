"""How long the full sandbox takes to start once its generated data is cached (target: under 20 s)."""

from __future__ import annotations

import tempfile

from common import record

from labkit.sandbox import Sandbox, default_services

TARGET_SECONDS = 20.0


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-bench-start-") as root:
        with Sandbox(root=root) as sb:  # the first start generates and converts the data
            first = sb.startup_seconds
        with Sandbox(root=root) as sb:
            cached = sb.startup_seconds
            uploaded = sum(sb.records["s3"]["uploaded"].values())
    record("sandbox start, data cached / 20 s", cached / TARGET_SECONDS, "<= 1.0",
           f"{cached:.1f} s with cached data, {first:.1f} s the first time; services {', '.join(default_services())}; "
           f"{uploaded} objects uploaded to S3")
