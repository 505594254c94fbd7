"""Which addresses a command reaches: an audit hook in the child process, and a listening trap for native clients.

Python's audit events ``socket.connect`` and ``socket.getaddrinfo`` see every connection and name lookup made
through Python's sockets (botocore, aiohttp, urllib3); a client in native code (obstore's Rust) does not raise
them, so the places such clients would ask for credentials are pointed at a trap that records every connection.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

INSTANCE_METADATA = "169.254.169.254"

_HOOK = textwrap.dedent("""
    import json, os, sys

    _log = os.environ["LABKIT_TEST_CONNECTIONS"]

    def _record(event, args):
        if event == "socket.connect":
            address = args[1]
            host = address[0] if isinstance(address, tuple) else str(address)
        elif event == "socket.getaddrinfo":
            host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        else:
            return
        with open(_log, "a") as fh:
            fh.write(json.dumps([event, host]) + "\\n")

    sys.addaudithook(_record)
""")


class Trap:
    """A listening socket on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def connections(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self) -> None:
        self.sock.close()


def run_cli(args: list[str], tmp_path: Path, env: dict[str, str], timeout: float = 180,
            ) -> tuple[subprocess.CompletedProcess, list[tuple[str, str]]]:
    """Run ``labkit ARGS`` in a child process with ``env``; its result and every (event, host) it reached."""
    hook_dir = tmp_path / "audit-hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(_HOOK)
    log = tmp_path / "connections.jsonl"
    log.unlink(missing_ok=True)
    child = dict(env)
    child["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook_dir), env.get("PYTHONPATH", "")) if p)
    child["LABKIT_TEST_CONNECTIONS"] = str(log)
    out = subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=child, capture_output=True, text=True,
                         timeout=timeout)
    reached = [tuple(json.loads(line)) for line in log.read_text().splitlines()] if log.exists() else []
    return out, reached


def clean_env(home: Path, sandbox_dir: Path) -> dict[str, str]:
    """This environment without any AWS, IPFS or labkit setting, with an empty home and sandbox folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LABKIT_", "IPFS_", "DASK_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), LABKIT_SANDBOX_DIR=str(sandbox_dir))
    return env
