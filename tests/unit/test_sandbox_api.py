"""The sandbox's Python API without servers: argument checks, state file, secrets kept out of reprs."""

from __future__ import annotations

import pytest

from labkit.errors import ConfigurationError, SandboxError
from labkit.sandbox import Sandbox, current
from labkit.sandbox.connections import GatewayConnection, S3Connection
from labkit.sandbox.core import _resolve
from labkit.sandbox.state import read_state, write_state


def test_resolve_adds_dependencies_and_rejects_unknown():
    assert _resolve(["stac"]) == ("s3", "stac")
    assert _resolve("omero, gateway") == ("gateway", "omero")
    with pytest.raises(ConfigurationError, match="unknown sandbox service"):
        _resolve(["s4"])


def test_state_file_is_private(tmp_path):
    path = write_state(tmp_path, {"owner_pid": 1, "secrets": {"x": "y"}})
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_state(tmp_path)["secrets"] == {"x": "y"}


def test_stale_state_is_not_current(tmp_path):
    write_state(tmp_path, {"owner_pid": 2**22 + 12345, "root": str(tmp_path), "services": {}, "secrets": {}})
    assert current(tmp_path) is None


def test_secrets_not_in_reprs():
    assert "s3cr3t" not in repr(S3Connection("http://x", "KEY", "s3cr3t"))
    assert "s3cr3t" not in repr(GatewayConnection("http://x", "u", "s3cr3t"))


def test_missing_service_says_how_to_start_it(tmp_path):
    sb = Sandbox(services=["omero"], root=tmp_path)
    with pytest.raises(SandboxError, match="labkit sandbox up --services"):
        sb.stac  # noqa: B018


class _FakeSandbox:
    def env(self):
        return {"LABKIT_SANDBOX_DIR": "/nowhere", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}


@pytest.mark.parametrize("configured", [{}, {"LABKIT_AUTHORS": "Ada Lovelace"}, {"LABKIT_LICENSE": "MIT"}])
def test_sandbox_mode_publishes_as_a_demo_author_unless_one_is_configured(monkeypatch, configured):
    import labkit
    from labkit import config, modes, sandbox

    for var in ("LABKIT_AUTHORS", "LABKIT_LICENSE", "AWS_ENDPOINT_URL_S3", "LABKIT_SANDBOX_DIR"):
        monkeypatch.delenv(var, raising=False)
    for var, value in configured.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(sandbox, "ensure", lambda services=None, progress=None: _FakeSandbox())
    try:
        labkit.endpoints("sandbox")
        labkit.endpoints("sandbox")  # twice: the demo values it exported are not taken for configuration
        people = config.authors()
        assert people == [{"name": configured.get("LABKIT_AUTHORS", modes.SANDBOX_PUBLISHER["authors"])}]
        assert config.resolve("license") == configured.get("LABKIT_LICENSE", "CC0-1.0")
        labkit.endpoints("live")
        assert config.authors() == ([{"name": "Ada Lovelace"}] if "LABKIT_AUTHORS" in configured else [])
        assert config.resolve("license") == configured.get("LABKIT_LICENSE")
    finally:
        config.restore_environment()


def test_servers_get_ports_no_outgoing_connection_can_take():
    """Ports below the range the system draws outgoing connections' local ports from, free, never given twice."""
    import socket
    from pathlib import Path

    from labkit._process import free_port

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    if low > 16000:
        assert all(15000 <= p < low for p in ports), (low, ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
