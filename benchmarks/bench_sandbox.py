"""How long the full sandbox takes to start once its generated data is cached (target: under 20 s)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from unittest import mock

from common import record

from labkit.sandbox import Sandbox, default_services
from labkit.synthetic import data_folder

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
           f"{uploaded} objects in S3")
    s3_store()


def s3_store() -> None:
    """The S3 server's start when it fills its buckets (no kept store) against one that copies the kept store."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-s3-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for name in ("idr-copies", "hcs-plate", "idr"):  # the generated data as it is; a data folder of its own
            if data_folder(name).exists():
                (data / name).symlink_to(data_folder(name))
        with mock.patch.dict(os.environ, {"LABKIT_DATA_DIR": str(data)}):
            starts = []
            for run in range(2):
                with Sandbox(services="s3", root=Path(tmp) / f"sandbox-{run}") as sb:
                    starts.append(sb.startup_seconds)
                    uploaded = sum(sb.records["s3"]["uploaded"].values())
    record("sandbox S3 start: filling the buckets / copying the kept store", starts[0] / starts[1], ">= 3",
           f"{uploaded} objects: filled and kept in {starts[0]:.1f} s, copied in {starts[1]:.1f} s")
