"""Stop a sandbox's servers when the process that owns them dies, even by SIGKILL.

The servers run in sessions of their own (so that a Ctrl-C meant for their owner does not reach them), which
also means nothing stops them when their owner is killed without running ``atexit``: a crashed
kernel, a test run cut short by a timeout. The owner therefore starts this small process, tells it
the pid of every server as it starts (one per line on its standard input), and terminates it after
stopping the servers itself. If the owner dies first, the watchdog removes the owner's state file and
stops every server it was told about, with all their children.

The owner starts it through :class:`Watchdog`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from labkit._process import alive, stop_tree
from labkit.sandbox.state import read_state, remove_state

POLL_SECONDS = 0.5


class Watchdog:
    """The owner's handle on its watchdog process.

    Examples
    --------
    >>> dog = Watchdog(os.getpid(), root)  # doctest: +SKIP
    >>> dog.watch(server.pid)  # doctest: +SKIP
    >>> dog.stop()  # the owner stopped the servers itself  # doctest: +SKIP
    """

    def __init__(self, owner_pid: int, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from labkit.sandbox._watchdog import main; main()", str(owner_pid), str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, text=True,
        )

    def watch(self, pid: int | None) -> None:
        """Stop ``pid`` (and its children) if the owner dies."""
        if pid and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(f"{pid}\n")
                self.proc.stdin.flush()

    def stop(self) -> None:
        """End the watchdog without touching the servers."""
        self.proc.terminate()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.wait(10)


def main(argv: list[str] | None = None) -> None:
    """Wait for the owner to die, then stop the servers it reported."""
    owner_pid, root = (argv or sys.argv[1:])[:2]
    pids: list[int] = []

    def read() -> None:
        for line in sys.stdin:
            with contextlib.suppress(ValueError):
                pids.append(int(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        owner = psutil.Process(int(owner_pid))
    except psutil.Error:
        return
    # is_running() also checks the start time, so a recycled pid does not count as the owner
    while owner.is_running() and alive(owner.pid):
        time.sleep(POLL_SECONDS)
    reader.join(2)  # the owner's death closes the pipe: every pid it wrote has arrived
    state = read_state(Path(root))
    if state and state.get("owner_pid") == owner.pid:
        remove_state(Path(root))  # first, so that nobody finds a sandbox that is going away
    for pid in list(pids):
        stop_tree(pid)
