"""Run a single-node SLURM (``slurmctld`` and ``slurmd`` in the foreground) and take its jobs down with it.

Run as ``python -m labkit.sandbox.servers.slurm --conf slurm.conf --node NAME``. SLURM starts each job's
``slurmstepd`` outside the daemons' process tree (its parent becomes init), so stopping ``slurmd`` leaves the
jobs running. This supervisor finds them (:func:`job_steps`) and, when it is told to stop (SIGTERM, SIGINT) or
one daemon exits, stops every job of this SLURM with all its processes, then the daemons.

Examples
--------
>>> job_steps("/nonexistent/slurm.conf")
[]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from labkit._process import stop_tree

POLL_SECONDS = 0.5


def job_steps(conf: str | Path) -> list[int]:
    """Process ids of the job steps of the SLURM configured by ``conf``: its ``slurmstepd`` processes and job scripts.

    A ``slurmstepd`` overwrites its environment (with its title), so it is known by the folder ``slurmd`` started
    it in (the configuration's, see :func:`main`); a job script by its path in the node's spool folder, which
    also finds a job whose ``slurmstepd`` was killed.
    """
    folder = Path(conf).resolve().parent
    spool = f"{folder / 'spool'}{os.sep}job"
    found = []
    for proc in psutil.process_iter(["name", "pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "slurmstepd" and Path(proc.cwd()) == folder or \
                    any(part.startswith(spool) for part in proc.info["cmdline"] or ()):
                found.append(proc.info["pid"])
    return found


def stop_jobs(conf: str | Path, timeout: float = 3.0) -> int:
    """Stop every job step of this SLURM (``slurmstepd`` and the job's processes) at once; return how many steps."""
    steps = job_steps(conf)
    procs: list[psutil.Process] = []
    for pid in steps:
        with contextlib.suppress(psutil.Error):
            step = psutil.Process(pid)
            procs += [step, *step.children(recursive=True)]
    for p in procs:  # the job's processes end on SIGTERM; slurmstepd ignores it
        with contextlib.suppress(psutil.Error):
            p.kill() if p.name() == "slurmstepd" else p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(steps)


def main(argv: list[str] | None = None) -> None:
    """Start both daemons, wait until asked to stop or one exits, then stop the jobs and the daemons."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conf", required=True, type=Path)
    parser.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    conf = str(args.conf.resolve())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # -i: start with whatever state is readable (the sandbox clears it before each start)
    folder = args.conf.resolve().parent  # the daemons' working folder: how job_steps knows their steps
    daemons = [subprocess.Popen(["slurmctld", "-D", "-i", "-f", conf], cwd=folder),
               subprocess.Popen(["slurmd", "-D", "-N", args.node, "-f", conf], cwd=folder)]
    try:
        while not stop.wait(POLL_SECONDS):
            exited = [d for d in daemons if d.poll() is not None]
            if exited:
                print(f"{Path(exited[0].args[0]).name} exited with code {exited[0].returncode}", file=sys.stderr,
                      flush=True)
                break
    finally:
        n = stop_jobs(conf)
        if n:
            print(f"stopped {n} job process(es) of running jobs", flush=True)
        for d in daemons:
            if d.poll() is None:
                stop_tree(d.pid, timeout=5)
        stop_jobs(conf)  # a step slurmd started while it was stopping


if __name__ == "__main__":
    main()
