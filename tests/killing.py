"""A Python process killed in the middle of its work (SIGKILL: no clean-up), for the tests of what survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def child_env() -> dict[str, str]:
    """This environment, with this process's ``sys.path``: the child imports the same labkit and tests."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def kill_when_it_says(script: str, *args: str, says: str = "writing", timeout: float = 60) -> None:
    """Run ``script`` (Python source) with ``args`` and SIGKILL it as soon as it prints the line ``says``."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True,
                            env=child_env())
    try:
        assert proc.stdout.readline().strip() == says
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=timeout)
