"""Credentials of the environment: used where they are for the endpoint, anonymous elsewhere, the fix named."""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
import pytest

import labkit
from labkit import ngff
from labkit.errors import AccessDeniedError
from labkit.results import ResultStore
from tests.connections import INSTANCE_METADATA, clean_env, run_cli

PUBLIC = "s3://idr/zarr/v0.1/6001240.zarr"


@pytest.fixture
def private(sandbox_env):
    """An image of one's own in the private bucket, written with the environment's credentials."""
    url = "s3://results/me/mine.ome.zarr"
    data = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    ngff.write_image(url, data, axes="cyx", overwrite=True)
    return url, data


def test_credentials_of_the_environment_read_what_they_wrote(private, sandbox_env, tmp_path):
    url, data = private
    np.testing.assert_array_equal(labkit.open_image(url).values, data)
    assert labkit.info(url, show=False).levels[0].shape == data.shape
    assert (labkit.download(url, tmp_path, progress=False) / "zarr.json").exists() or \
        (tmp_path / "mine.ome.zarr").exists()
    assert ResultStore("s3://results/me").exists("mine.ome.zarr/zarr.json") or \
        ResultStore("s3://results/me").exists("mine.ome.zarr/.zattrs")
    cli = subprocess.run([sys.executable, "-m", "labkit.cli", "info", url], capture_output=True, text=True)
    assert cli.returncode == 0 and "16" in cli.stdout, cli.stderr


def test_another_endpoint_is_read_anonymously_and_the_refusal_names_the_fix(private, sandbox_env):
    url, data = private
    other = sandbox_env.s3.endpoint_url.replace("127.0.0.1", "localhost")  # the same server under another name
    assert labkit.open_image(PUBLIC, endpoint_url=other, level=2).sizes["c"] == 2  # public: no credentials needed
    with pytest.raises(AccessDeniedError) as refused:
        labkit.open_image(url, endpoint_url=other)
    message = str(refused.value)
    assert "anonymous" in message and "{'anon': False}" in message and "--signed" in message
    assert len(message) < 600 and "<?xml" not in message and refused.value.__cause__ is None
    signed = labkit.open_image(url, endpoint_url=other, storage_options={"anon": False})
    np.testing.assert_array_equal(signed.values, data)
    cli = subprocess.run([sys.executable, "-m", "labkit.cli", "info", url, "--endpoint-url", other, "--signed"],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr


def test_sandbox_env_gives_a_shell_the_sandbox_and_its_results_bucket(private, sandbox, tmp_path):
    """``eval "$(labkit sandbox env)"`` in a shell with nothing configured, then ``labkit info`` on one's own image."""
    url, data = private
    env = clean_env(tmp_path / "home", sandbox.root)
    out, _ = run_cli(["sandbox", "env"], tmp_path, env)
    assert out.returncode == 0, out.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()
                   if line.startswith("export "))
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                "AWS_DEFAULT_REGION", "LABKIT_SANDBOX_DIR"):
        assert key in exports, key
    assert {k: shlex.split(v)[0] for k, v in exports.items()} == sandbox.env()  # what a notebook kernel gets
    shell = subprocess.run(["bash", "-c", f'eval "$({shlex.quote(sys.executable)} -m labkit.cli sandbox env)" && '
                            f"{shlex.quote(sys.executable)} -m labkit.cli info {url}"],
                           env=env, capture_output=True, text=True, timeout=180)
    assert shell.returncode == 0 and str(data.shape[-1]) in shell.stdout, shell.stderr
    assert sandbox.s3.secret not in shell.stdout + shell.stderr  # info itself never prints it


def test_signed_without_credentials_against_the_sandbox_says_where_labkit_looked(private, sandbox, tmp_path):
    url, _ = private
    env = clean_env(tmp_path / "home", tmp_path / "no-sandbox")
    out, reached = run_cli(["info", url, "--endpoint-url", sandbox.s3.endpoint_url, "--signed"], tmp_path, env)
    assert out.returncode == 2 and "no S3 credentials were found" in out.stderr, out.stderr
    assert "AWS_ACCESS_KEY_ID" in out.stderr and ".aws/credentials" in out.stderr
    assert "your connection" not in out.stderr
    assert INSTANCE_METADATA not in {host for _, host in reached}, reached
