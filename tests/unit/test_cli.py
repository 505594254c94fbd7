"""The ``labkit`` command without a sandbox: what it says when there is none, or no credentials, and whom it asks.

Each case runs the real command in a child process (see :mod:`tests.connections`).
"""

from __future__ import annotations

import pytest

from labkit import storage
from tests.connections import INSTANCE_METADATA, Trap, clean_env, run_cli


@pytest.fixture
def trap():
    """Where the instance-metadata service is said to be, for the clients that honour a variable for it."""
    t = Trap()
    yield t
    t.close()


@pytest.fixture
def env(tmp_path, trap):
    env = clean_env(tmp_path / "home", tmp_path / "no-sandbox")
    # botocore's and obstore's (object_store's) variables for the instance-metadata address: a trap, so that a
    # client in native code asking it is seen too
    env.update(AWS_EC2_METADATA_SERVICE_ENDPOINT=trap.url, AWS_METADATA_ENDPOINT=trap.url)
    return env


def test_sandbox_env_without_a_sandbox_says_how_to_start_one(tmp_path, env):
    out, _ = run_cli(["sandbox", "env"], tmp_path, env)
    assert out.returncode == 2 and out.stdout == "", out
    assert "no sandbox is running in" in out.stderr and str(tmp_path / "no-sandbox") in out.stderr
    assert "labkit sandbox up" in out.stderr and 'eval "$(labkit sandbox env)"' in out.stderr


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"], ids=["aws", "another-endpoint"])
def test_signed_without_credentials_says_where_labkit_looked_and_never_asks_instance_metadata(
        tmp_path, env, trap, endpoint):
    args = ["info", "s3://results/me/x.ome.zarr", "--signed"] + (["--endpoint-url", endpoint] if endpoint else [])
    out, reached = run_cli(args, tmp_path, env)
    assert out.returncode == 2, out
    message = out.stderr
    assert "no S3 credentials were found" in message, message
    for place in ("AWS_ACCESS_KEY_ID", str(tmp_path / "home" / ".aws" / "credentials"),
                  str(tmp_path / "home" / ".aws" / "config"), "profile 'default'", "AWS_EC2_METADATA_DISABLED=false"):
        assert place in message, (place, message)
    assert 'eval "$(labkit sandbox env)"' in message and "--anon" in message
    assert "your connection" not in message and "asked AWS" not in message
    assert not [host for _, host in reached if host == INSTANCE_METADATA], reached
    assert trap.connections() == 0
    assert not [host for _, host in reached if host not in ("127.0.0.1", "localhost", "::1")], reached


def test_signed_reads_the_profile_of_the_aws_files(tmp_path, env, trap):
    """Credentials in ~/.aws/credentials are found (and used: the dead endpoint is then what fails)."""
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text("[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = s3cret\n")
    out, reached = run_cli(["info", "s3://results/x.zarr", "--signed", "--endpoint-url", "http://127.0.0.1:9"],
                           tmp_path, {**env, "AWS_PROFILE": "work"})
    assert out.returncode == 2 and "no S3 credentials" not in out.stderr and "cannot read" in out.stderr, out.stderr
    assert trap.connections() == 0 and not [h for _, h in reached if h == INSTANCE_METADATA]


def test_the_library_does_not_ask_instance_metadata_either(tmp_path, monkeypatch):
    """storage_options_for(anon=False) with nothing found raises; nothing is left to the clients' own chains."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    assert not storage.instance_metadata_allowed()
    with pytest.raises(labkit_errors().CredentialsNotFoundError, match="no S3 credentials were found") as err:
        storage.storage_options_for("s3://b/x", {"anon": False}, endpoint_url="http://127.0.0.1:9")
    assert isinstance(err.value, PermissionError) and str(tmp_path / "none") in str(err.value)
    # unasked, no credentials means anonymous (a public bucket still reads)
    assert storage.storage_options_for("s3://b/x")["anon"] is True
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    assert storage.instance_metadata_allowed()


def labkit_errors():
    import labkit.errors

    return labkit.errors
