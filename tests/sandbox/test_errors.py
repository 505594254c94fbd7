"""Errors that point the right way: not found, refused and unreachable told apart, each with its fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import labkit
from labkit.errors import AccessDeniedError, ConfigurationError, NotFoundError, ServiceUnavailableError
from labkit.results import ResultStore
from tests.connections import clean_env, run_cli


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


def test_a_missing_bucket_is_not_found_not_refused(sandbox_env):
    """SeaweedFS refuses anonymous requests for a missing bucket (AWS says 404): labkit asks again, signed."""
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' does not exist|nothing found at s3://no-such"):
        labkit.info("s3://no-such-bucket/x.zarr", endpoint_url=sandbox_env.s3.endpoint_url.replace("127.0.0.1",
                                                                                                 "localhost"))
    with pytest.raises(AccessDeniedError):  # a bucket that exists stays refused
        labkit.info("s3://results/x.zarr", endpoint_url=sandbox_env.s3.endpoint_url.replace("127.0.0.1", "localhost"))


def test_an_unreachable_server_is_unreachable(tmp_path):
    dead = _dead_endpoint()
    for call in (lambda: labkit.download("s3://idr/zarr/v0.1/6001240.zarr", tmp_path, endpoint_url=dead,
                                         progress=False),
                 lambda: labkit.info("s3://idr/zarr/v0.1/6001240.zarr", endpoint_url=dead)):
        with pytest.raises(ServiceUnavailableError, match="cannot read"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_protocol_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match=r"unknown protocol 's4://'.*s3://"):
        labkit.open_image("s4://bucket/x.zarr")


def test_the_cli_says_an_s3_url_without_endpoint_went_to_aws(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1",
               LABKIT_SANDBOX_DIR=str(tmp_path))  # no sandbox runs there (one running elsewhere is not asked)
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "info", "s3://idr/zarr/v0.1/6001240.zarr"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--endpoint-url" in out.stderr and "AWS" in out.stderr, out.stderr


def test_a_second_download_says_it_is_complete(sandbox, tmp_path, capsys):
    url, ep = "s3://idr/zarr/v0.1/6001240.zarr/2", sandbox.s3.endpoint_url
    first = labkit.download(url, tmp_path, endpoint_url=ep)
    capsys.readouterr()
    assert labkit.download(url, tmp_path, endpoint_url=ep) == first
    out = capsys.readouterr()
    assert "already complete" in out.out and "0.00B" not in out.err + out.out


def test_a_failed_write_says_write(sandbox, s3_users):
    reader = s3_users["users"]["reader"]
    opts = {"key": reader["key"], "secret": reader["secret"], "endpoint_url": sandbox.s3.endpoint_url}
    with pytest.raises(AccessDeniedError, match="write"):
        ResultStore("s3://results/refused", opts).write_bytes("a.txt", b"x")
    dead = {"key": "k", "secret": "s", "endpoint_url": _dead_endpoint()}
    with pytest.raises(ServiceUnavailableError, match="cannot write") as failed:
        ResultStore("s3://results/x", dead).write_bytes("a.txt", b"x")
    assert "read" not in str(failed.value).split(":")[0]
    with pytest.raises(ServiceUnavailableError, match="cannot write"):  # also where zarr opens the group
        labkit.write_image("s3://results/x.ome.zarr", np.zeros((2, 4, 4), np.uint16), axes="cyx",
                           storage_options=dead)


def test_the_cli_without_endpoint_while_a_sandbox_runs_says_how_to_use_it(sandbox, tmp_path):
    """Not sent to AWS at all: the sandbox has the bucket, the error says so and how to point the command at it."""
    env = clean_env(tmp_path / "home", sandbox.root)
    out, reached = run_cli(["info", "s3://idr/zarr/v0.1/6001240.zarr"], tmp_path, env)
    assert out.returncode == 2, out
    message = out.stderr
    assert "a labkit sandbox is running" in message and sandbox.s3.endpoint_url in message, message
    assert 'eval "$(labkit sandbox env)"' in message and f"--endpoint-url {sandbox.s3.endpoint_url}" in message
    assert "your connection" not in message
    assert [host for _, host in reached if host not in ("127.0.0.1", "localhost", "::1")] == [], reached
    # a bucket the sandbox does not have still goes where the URL says, and the failure names the sandbox too
    out, _ = run_cli(["info", "s3://not-in-the-sandbox/x.zarr", "--anon"], tmp_path,
                     {**env, "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true"})
    assert out.returncode == 2 and "asked AWS" in out.stderr and "labkit sandbox env" in out.stderr, out.stderr


def test_writing_to_a_bucket_that_does_not_exist_says_so(sandbox_env, s3_users):
    ep = sandbox_env.s3.endpoint_url
    with pytest.raises(NotFoundError) as missing:  # icechunk: the server says NoSuchBucket
        ResultStore("s3://no-such-bucket-v/x", versioned=True)
    message = str(missing.value)
    assert "the bucket 'no-such-bucket-v' does not exist" in message and "NoSuchBucket" in message, message
    assert f"aws s3 mb s3://no-such-bucket-v --endpoint-url {ep}" in message and "your connection" not in message
    reader = s3_users["users"]["reader"]  # SeaweedFS refuses a write it may not make; the bucket is asked about
    opts = {"key": reader["key"], "secret": reader["secret"], "endpoint_url": ep}
    with pytest.raises(NotFoundError, match="cannot write .*the bucket 'no-such-bucket-w' does not exist"):
        ResultStore("s3://no-such-bucket-w/x", opts).write_bytes("a.txt", b"x")
    with pytest.raises(NotFoundError, match="cannot read .*the bucket 'no-such-bucket-r' does not exist"):
        labkit.info("s3://no-such-bucket-r/x.zarr")
    with pytest.raises(NotFoundError, match="the bucket 'no-such-bucket-d' does not exist"):
        labkit.download("s3://no-such-bucket-d/x.zarr", sandbox_env.root / "dl", progress=False)
    with pytest.raises(NotFoundError, match=r"^s3://results/no-such-package: not found"):
        labkit.verify("s3://results/no-such-package")
