"""The sandbox S3 server: moto in server mode, filled with the IDR layout and the flood scenes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from labkit._lazy import attempt_import
from labkit._process import HOST, ManagedProcess, free_port, port_in_use
from labkit.sandbox._service import Context, Service

REGION = "us-east-1"
#: bucket -> canned ACL. ``idr`` and ``gfm`` are public-read as on the real services.
BUCKETS = {"idr": "public-read", "gfm": "public-read", "results": "private"}
IDR_PREFIX = "zarr/v0.1"


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


def upload_tree(client: Any, bucket: str, prefix: str, folder: Path) -> int:
    """Upload every file under ``folder`` to ``bucket/prefix/<relative path>``; return the file count."""
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()]

    def put(p: Path) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(folder).as_posix()}", Body=p.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def start_moto(name: str, ctx: Context, env: dict[str, str] | None = None) -> ManagedProcess:
    """Start a moto S3 server on a free port and wait until it listens."""
    port = free_port()
    proc = ManagedProcess(
        name,
        [sys.executable, "-m", "labkit.sandbox.servers.s3", "--port", str(port),
         "--access-log", str(ctx.log_dir / f"{name}-access.jsonl")],
        ctx.log_dir,
        env={"MOTO_PORT": str(port), **(env or {})},
    ).start()
    proc.port = port  # type: ignore[attr-defined]
    proc.wait_ready(lambda: port_in_use(port), timeout=30)
    return proc


class S3Service(Service):
    """moto in its default mode: anonymous reads of public buckets, signed writes.

    moto accepts anonymous writes in this mode; permission errors are exercised
    against :class:`IamS3Service`.
    """

    name = "s3"

    def __init__(self, uploads: Iterable[tuple[str, str, Path]] = ()) -> None:
        super().__init__()
        self.uploads = list(uploads)

    def start(self, ctx: Context) -> dict[str, Any]:
        """Start moto, create the buckets and upload the sandbox data."""
        self.process = start_moto("s3", ctx)
        port = self.process.port  # type: ignore[attr-defined]
        endpoint = f"http://{HOST}:{port}"
        client = boto3_client(endpoint, ctx.secrets["s3_key"], ctx.secrets["s3_secret"])
        for bucket, acl in BUCKETS.items():
            client.create_bucket(Bucket=bucket, ACL=acl)
        counts = {f"{b}/{p}": upload_tree(client, b, p, folder) for b, p, folder in self.uploads}
        return {"pid": self.process.pid, "port": port, "endpoint_url": endpoint, "uploaded": counts,
                "access_log": str(ctx.log_dir / "s3-access.jsonl")}


class IamS3Service(Service):
    """moto with IAM checks on: an ``admin`` user who may do anything and a ``reader`` who may only read.

    Every unsigned request answers 500 in this mode (a moto limitation), so only
    signed requests are meaningful. Used to test permission and credential errors.
    """

    name = "s3-iam"

    def start(self, ctx: Context) -> dict[str, Any]:
        """Start moto, create the users and buckets, then switch authentication on."""
        self.process = start_moto("s3-iam", ctx)
        port = self.process.port  # type: ignore[attr-defined]
        endpoint = f"http://{HOST}:{port}"
        boto3 = attempt_import("boto3")
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        record: dict[str, Any] = {"pid": self.process.pid, "port": port, "endpoint_url": endpoint, "users": {}}
        policies = {
            "admin": {"Effect": "Allow", "Action": "*", "Resource": "*"},
            "reader": {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        }
        for user, statement in policies.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName=f"{user}-policy",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
            )
            k = iam.create_access_key(UserName=user)["AccessKey"]
            record["users"][user] = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        admin = record["users"]["admin"]
        client = boto3_client(endpoint, admin["key"], admin["secret"])
        client.create_bucket(Bucket="results")
        return record
