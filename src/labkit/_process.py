"""Run one server as a subprocess: free port, logs, readiness probe, clean stop of the whole tree."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from labkit.errors import ServerError

HOST = "127.0.0.1"


#: the ports servers are given: below the system's range for the local ports of outgoing connections
_SERVER_PORTS = (15000, 32768)


def _any_port() -> int:
    """A port no socket holds now, outside the range the system draws outgoing connections' local ports from.

    A port from that range (what binding port 0 gives) can become the local port of some process's outgoing
    connection in the second before the server listens on it ("address already in use", seen under load when a
    Node.js server took two seconds to start).
    """
    low, high = _SERVER_PORTS
    with contextlib.suppress(OSError, ValueError):
        low_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, low_ephemeral)
    for _ in range(100 if high - low >= 1000 else 0):
        port = random.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, contextlib.suppress(OSError):
            s.bind((HOST, port))
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # no room below that range: the system's choice
        s.bind((HOST, 0))
        return s.getsockname()[1]


#: ports handed out by any labkit process in the last :data:`_HELD` seconds, shared through a locked file
_GIVEN = Path(tempfile.gettempdir()) / "labkit-ports.json"
_HELD = 120.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now and that no labkit process was given lately.

    The system hands the port of a closed socket out again at once, so two sandboxes starting side by side
    (a second ``make tutorials``, test processes) were given the same port and one server failed to listen.
    Every port given is kept for two minutes in a file that all labkit processes share, under a lock.

    Examples
    --------
    >>> 1024 < free_port() < 65536
    True
    """
    import fcntl

    try:
        fh = open(_GIVEN, "a+")  # noqa: SIM115 - closed below
    except OSError:  # another user's file: no shared record
        return _any_port()
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        try:
            given = {int(k): t for k, t in json.loads(fh.read() or "{}").items() if time.time() - t < _HELD}
        except (ValueError, AttributeError):
            given = {}
        for _ in range(100):
            if (port := _any_port()) not in given:
                break
        given[port] = time.time()
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(given))
        return port


def alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists and is not a zombie.

    Examples
    --------
    >>> alive(os.getpid()), alive(None)
    (True, False)
    """
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


class ManagedProcess:
    """A server subprocess in its own session, logging to ``log_path``.

    Parameters
    ----------
    name : str
        Short name used in messages and as the log file stem.
    cmd : sequence of str
        The command line.
    log_dir : Path
        Folder for ``{name}.log``.
    env : dict, optional
        Extra environment variables.
    cwd : Path, optional
        Working directory.
    """

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.log_path = Path(log_dir) / f"{name}.log"
        self.env = env or {}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id, or ``None`` before start."""
        return self.proc.pid if self.proc else None

    def start(self) -> ManagedProcess:
        """Start the process (non-blocking)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ServerError(
                f"cannot start the sandbox {self.name}: {self.cmd[0]!r} was not found. "
                'Install the sandbox extra: pip install "labkit[sandbox]"'
            ) from exc
        finally:
            log.close()
        return self

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 60.0) -> None:
        """Call ``probe`` until it returns True; raise with the log's tail on failure or timeout.

        A server that exits is reported at once; one that is alive gets ``timeout`` seconds, which a busy machine
        needs (the OpenID Connect provider was not ready after 20 s once, while a test run started four sandboxes).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(
                    f"the sandbox {self.name} exited with code {self.proc.returncode} while starting.\n"
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.1)
        raise ServerError(
            f"the sandbox {self.name} was not ready after {timeout:.0f} s.\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 20) -> str:
        """The last ``n`` lines of the log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process and every descendant it started."""
        if self.proc is None:
            return
        stop_tree(self.proc.pid, timeout=timeout)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=1)


def stop_tree(pid: int, timeout: float = 10.0) -> None:
    """Terminate ``pid`` and all its descendants: SIGTERM, wait, then SIGKILL what remains.

    Descendants are collected *before* signalling, because servers such as
    dask-gateway start their children in new sessions.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    # a graceful shutdown may have started more children (or left grandchildren)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            alive.extend(c for c in p.children(recursive=True) if c not in alive)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
