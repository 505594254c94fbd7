"""The sandbox's real SLURM (Debian's slurmctld and slurmd): start, run jobs, stop without leftovers.

Every test here talks to real SLURM daemons through SLURM's own commands (``sbatch``, ``squeue``, ``sinfo``).
This file's sandbox runs SLURM only; the suite's other sandbox (another pytest process) may run its own beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from labkit._process import port_in_use
from labkit.sandbox import Sandbox
from labkit.sandbox.core import slurm_missing
from labkit.sandbox.servers.slurm import job_steps

pytestmark = pytest.mark.skipif(bool(slurm_missing()), reason=f"SLURM is not installed ({', '.join(slurm_missing())} "
                                "missing): apt-get install slurmctld slurmd slurm-client, or make setup as root")


@pytest.fixture(scope="module")
def slurm_sandbox(tmp_path_factory):
    """A sandbox running SLURM only, for this file."""
    with Sandbox(services=["slurm"], root=tmp_path_factory.mktemp("slurm-sandbox")) as sb:
        yield sb


def run(args: list[str], sb: Sandbox, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(args, env={**os.environ, **sb.slurm.env()}, capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def squeue(sb: Sandbox) -> dict[str, str]:
    """Job id -> state (``PENDING``, ``RUNNING`` ...) of every job in the sandbox's queue."""
    lines = run(["squeue", "-h", "-o", "%i %T"], sb).stdout.split("\n")
    return dict(line.split() for line in lines if line.strip())


def wait_for(condition, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def submit(sb: Sandbox, *args: str) -> str:
    out = run(["sbatch", "--parsable", *args], sb)
    return out.stdout.strip().split(";")[0]


def test_the_node_is_idle_and_a_job_runs_on_it(slurm_sandbox):
    sb = slurm_sandbox
    info = run(["sinfo", "-h", "-N", "-o", "%N %T %c %m"], sb).stdout.split()
    assert info[0] == sb.slurm.node and info[1] == "idle"
    assert int(info[2]) == os.cpu_count() and 512 <= int(info[3]) <= psutil.virtual_memory().total / 2**20
    job = submit(sb, "--wrap", f"{sys.executable} -c 'import os; print(os.environ[\"SLURM_JOB_ID\"])'")
    wait_for(lambda: job not in squeue(sb), what="the job ends")
    log = os.path.join(sb.records["slurm"]["jobs"], f"wrap-{job}.out")  # SBATCH_OUTPUT: into the sandbox folder
    wait_for(lambda: os.path.exists(log) and open(log).read().strip() == job, what=f"{log} holds the job id")


def test_status_lists_slurm(slurm_sandbox):
    env = {**os.environ, "LABKIT_SANDBOX_DIR": str(slurm_sandbox.root)}
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "sandbox", "status"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "slurm" in out.stdout and "ok" in out.stdout and slurm_sandbox.slurm.conf in out.stdout


def test_two_sandboxes_run_side_by_side_and_stopping_one_ends_its_jobs(slurm_sandbox, tmp_path):
    first = slurm_sandbox
    job_a = submit(first, "--wrap", "sleep 300")
    with Sandbox(services=["slurm"], root=tmp_path) as second:
        assert second.slurm.node != first.slurm.node and second.slurm.conf != first.slurm.conf
        assert set(second.ports()).isdisjoint(first.ports())
        job_b = submit(second, "--wrap", "sleep 300")
        wait_for(lambda: squeue(second).get(job_b) == "RUNNING", what="the second sandbox's job runs")
        wait_for(lambda: squeue(first).get(job_a) == "RUNNING", what="the first sandbox's job runs")
        steps = [psutil.Process(p) for p in job_steps(second.slurm.conf)]
        assert steps, "the running job's processes are found"
        assert not set(job_steps(first.slurm.conf)) & {p.pid for p in steps}
        tree = [p for s in steps for p in (s, *s.children(recursive=True))]
        daemons = psutil.Process(second.records["slurm"]["pid"])
        tree += [daemons, *daemons.children(recursive=True)]
        ports = second.ports()
    _, alive = psutil.wait_procs(tree, timeout=20)
    assert alive == [], f"left running: {[(p.pid, p.name()) for p in alive]}"
    assert [p for p in ports if port_in_use(p)] == []
    assert squeue(first).get(job_a) == "RUNNING"  # the other sandbox's job goes on
    run(["scancel", job_a], first)
    wait_for(lambda: job_a not in squeue(first), what="the cancelled job leaves the queue")

    # started again in the same folder: a fresh SLURM, no job of the one before comes back
    with Sandbox(services=["slurm"], root=tmp_path) as again:
        assert squeue(again) == {}
