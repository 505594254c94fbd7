"""What the SLURM test files share: SLURM's commands against a sandbox (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from labkit.sandbox import Sandbox
from labkit.sandbox.core import slurm_missing

#: skip a module whose tests need SLURM where its packages are missing
needs_slurm = pytest.mark.skipif(bool(slurm_missing()), reason=f"SLURM is not installed ({', '.join(slurm_missing())} "
                                 "missing): apt-get install slurmctld slurmd slurm-client, or make setup as root")
PATH = os.environ.get("PATH", "")  # as it was: a test takes SLURM's commands off it


def run(args: list[str], sb: Sandbox, check: bool = True) -> subprocess.CompletedProcess:
    """A SLURM command against the sandbox's SLURM."""
    env = {**os.environ, **sb.slurm.env(), "PATH": PATH}
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def squeue(sb: Sandbox) -> dict[str, str]:
    """Job id -> state (``PENDING``, ``RUNNING`` ...) of every job in the sandbox's queue."""
    lines = run(["squeue", "-h", "-o", "%i %T"], sb).stdout.split("\n")
    return dict(line.split() for line in lines if line.strip())


def wait_for(condition, timeout: float = 60, what: str = "") -> None:
    """Poll ``condition`` until it holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def submit(sb: Sandbox, *args: str) -> str:
    """``sbatch`` a job; its id."""
    out = run(["sbatch", "--parsable", *args], sb)
    return out.stdout.strip().split(";")[0]
