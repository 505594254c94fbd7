"""Dask workers as SLURM jobs: dask-jobqueue's ``SLURMCluster``, with what an HPC user needs around it.

:class:`labkit.ClusterPanel` (``backend="slurm"``) and :func:`labkit.start_cluster` build on this module. It
adds to dask-jobqueue only what keeps a run alive and a failure readable:

- workers retire before their job's walltime (``--lifetime``, with a stagger) instead of SLURM killing them in the
  middle of a task, and a job that ends (retired, cancelled, killed) is replaced by a new one, at a fixed size as
  when adapting (distributed alone replaces none);
- the scheduler listens where the jobs reach it (127.0.0.1 when every node of the cluster is this machine);
- every job submitted is remembered, so that closing the cluster cancels them all;
- ``sbatch``'s refusals and ``squeue``'s pending reasons become labkit errors that say what to change.

Everything else (cores, memory, queue, account, walltime, job directives ...) comes from the arguments, else from
dask's configuration (``jobqueue.slurm`` in ``~/.config/dask/jobqueue.yaml``), as for any dask-jobqueue user.
The SLURM commands read ``$SLURM_CONF`` like every SLURM client (the sandbox's SLURM sets it).

Examples
--------
>>> walltime_seconds("01:30:00"), walltime_seconds("2-00:00:00"), walltime_seconds("45")
(5400, 172800, 2700)
>>> lifetime_args(3600)
['--lifetime', '3000s', '--lifetime-stagger', '200s']
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import ConfigurationError, LabkitError, ServiceUnavailableError

#: SLURM commands labkit runs
COMMANDS = ("sbatch", "squeue", "scancel", "sinfo")
#: what a worker needs when neither the arguments nor dask's ``jobqueue.slurm`` configuration say
FALLBACK_CORES, FALLBACK_MEMORY_GIB = 1, 2.0
#: pending reasons (squeue ``%r``) that no waiting resolves, with what to change
HOPELESS = {
    "PartitionTimeLimit": "the walltime is longer than the partition allows: ask for a shorter walltime "
                          "(walltime=...) or choose a partition with a longer limit (queue=...; sinfo lists them)",
    "PartitionNodeLimit": "the job asks for more nodes than the partition allows: choose another queue",
    "PartitionDown": "the partition is down: choose another queue (sinfo lists them) or ask the administrators",
    "PartitionInactive": "the partition is inactive: choose another queue (sinfo lists them)",
    "InvalidAccount": "the account is not known to SLURM: give one you belong to (account=...; sacctmgr show "
                      "assoc user=$USER lists them)",
    "InvalidQOS": "the QOS is not valid for this account or partition: change the --qos directive",
    "AccountNotAllowed": "the partition does not accept this account: choose another account or queue",
    "QOSMaxWallDurationPerJobLimit": "the walltime is above the QOS limit: ask for a shorter walltime",
    "AssocMaxWallDurationPerJobLimit": "the walltime is above the account's limit: ask for a shorter walltime",
    "ReqNodeNotAvail": "the requested node is not available: remove the node directive or choose another queue",
}
#: sbatch's refusals (text it prints) and what to change
REFUSALS = (
    ("invalid partition", "no partition of that name: choose one that `sinfo` lists (queue=...)"),
    ("invalid account", "SLURM does not know the account or does not allow it on this partition: give one you "
                        "belong to (account=...; `sacctmgr show assoc user=$USER` lists them)"),
    ("requested node configuration is not available",
     "no node of the partition has that many cores or that much memory: ask for less (cores=..., memory=... "
     "GiB a worker) or choose a partition with bigger nodes (queue=...; `sinfo -o '%P %c %m'` shows them)"),
    ("memory specification can not be satisfied",
     "no node of the partition has that much memory: ask for less (memory=... GiB a worker) or choose another "
     "queue"),
    ("time limit", "the walltime is longer than the partition allows: ask for a shorter walltime (walltime=...) "
                   "or choose a partition with a longer limit (`sinfo -o '%P %l'` shows them)"),
    ("qos", "the QOS refused the job: change the --qos directive or ask for less"),
    ("unable to contact slurm controller", "the SLURM controller does not answer: is $SLURM_CONF right, and is "
                                           "slurmctld running (`scontrol ping`)?"),
)


def walltime_seconds(text: str | int | float) -> int:
    """Seconds of a SLURM time (``minutes``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``).

    Examples
    --------
    >>> walltime_seconds("00:01:00"), walltime_seconds("1-12")
    (60, 129600)
    """
    if isinstance(text, (int, float)):
        return int(text) * 60
    s = str(text).strip()
    days = 0
    if "-" in s:
        d, s = s.split("-", 1)
        days = int(d)
        parts = [int(p) for p in s.split(":")] + [0, 0]
        h, m, sec = parts[:3]
    else:
        parts = [int(p) for p in s.split(":")]
        if len(parts) == 1:
            h, m, sec = 0, parts[0], 0
        elif len(parts) == 2:
            h, m, sec = 0, parts[0], parts[1]
        else:
            h, m, sec = parts[-3:]
    return ((days * 24 + h) * 60 + m) * 60 + sec


def lifetime_args(walltime: int) -> list[str]:
    """``dask worker`` options that retire a worker before its job's walltime (``walltime`` in seconds).

    The worker retires (hands its results to others, then leaves) a margin before the walltime (a fifth of it,
    at least 15 s and at most 10 minutes), give or take a stagger of a third of the margin, so that the workers
    of jobs started together do not all leave at once.

    Examples
    --------
    >>> lifetime_args(60)
    ['--lifetime', '45s', '--lifetime-stagger', '5s']
    """
    margin = min(max(walltime / 5, 15), 600)
    stagger = max(1, int(margin / 3))
    return ["--lifetime", f"{max(5, int(walltime - margin))}s", "--lifetime-stagger", f"{stagger}s"]


def missing_commands() -> list[str]:
    """The SLURM commands labkit needs that are not on this machine's PATH."""
    return [c for c in COMMANDS if shutil.which(c) is None]


def _run(args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ServiceUnavailableError(_no_commands()) from None
    except subprocess.TimeoutExpired:
        raise ServiceUnavailableError(
            f"`{' '.join(args[:2])}` did not answer within {timeout:.0f} s: the SLURM controller is not reachable "
            f"(SLURM_CONF={os.environ.get('SLURM_CONF', '(system default)')}); check `scontrol ping`") from None


def _no_commands() -> str:
    return (f"SLURM's commands ({', '.join(missing_commands() or COMMANDS)}) are not on this machine: run on a "
            "login node of your cluster (perhaps after `module load slurm`), or in the sandbox install Debian's "
            "slurmctld, slurmd and slurm-client (make setup as root)")


def check_reachable(timeout: float = 30) -> list[str]:
    """The cluster's partitions; raise :class:`ServiceUnavailableError` when SLURM cannot be reached."""
    if missing_commands():
        raise ServiceUnavailableError(_no_commands())
    conf = os.environ.get("SLURM_CONF")
    if conf and not os.path.isfile(conf):  # SLURM's commands would retry for a minute
        raise ServiceUnavailableError(f"SLURM_CONF names {conf}, which does not exist: point it at your cluster's "
                                      "slurm.conf, or unset it to use the system's")
    out = _run(["sinfo", "-h", "-o", "%P"], timeout=timeout)
    if out.returncode != 0:
        raise ServiceUnavailableError(
            f"SLURM does not answer (SLURM_CONF={os.environ.get('SLURM_CONF', '(system default)')}): "
            f"{out.stderr.strip() or out.stdout.strip()}. Check that the controller runs (`scontrol ping`) and "
            "that SLURM_CONF names its configuration")
    return [p.rstrip("*") for p in out.stdout.split()]


def explain(message: str) -> str:
    """What to change, for an error text of ``sbatch`` (``""`` when it is not one labkit knows).

    Examples
    --------
    >>> explain("sbatch: error: invalid partition specified: gpu")[:23]
    'no partition of that na'
    """
    low = message.lower()
    return next((fix for text, fix in REFUSALS if text in low), "")


def scheduler_host() -> str | None:
    """``"127.0.0.1"`` when every node of the cluster is this machine (the sandbox's SLURM), else ``None``.

    ``None`` leaves the choice to dask-jobqueue (``interface`` or ``scheduler_options`` in the
    ``jobqueue.slurm`` configuration, else the address that routes outwards).
    """
    out = _run(["sinfo", "-h", "-N", "-o", "%o"], timeout=30)
    addresses = set(out.stdout.split()) if out.returncode == 0 else set()
    return "127.0.0.1" if addresses and addresses <= {"127.0.0.1", "localhost", "::1"} else None


def queue(job_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """State and reason (squeue ``%T``, ``%r``) of each of ``job_ids`` still in the queue.

    Raises :class:`ServiceUnavailableError` when ``squeue`` fails (the controller does not answer).
    """
    ids = [str(j) for j in job_ids if j]
    if not ids:
        return {}
    out = _run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i|%T|%r"], timeout=30)
    if out.returncode != 0:
        if "invalid job id" in out.stderr.lower():  # none of them is known any more: long gone
            return {}
        raise ServiceUnavailableError(f"squeue failed: {out.stderr.strip() or out.stdout.strip()}")
    found = {}
    for line in out.stdout.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


def cancel(job_ids: Iterable[str], timeout: float = 60) -> None:
    """Cancel ``job_ids`` and wait until none is in the queue any more."""
    ids = [str(j) for j in job_ids if j]
    if not ids:
        return
    _run(["scancel", *ids], timeout=30)
    deadline = time.monotonic() + timeout
    while queue(ids) and time.monotonic() < deadline:
        time.sleep(0.5)


def slurm_cluster(
    *,
    cores: int | None = None,
    memory: float | None = None,
    processes: int | None = None,
    walltime: str | None = None,
    queue: str | None = None,
    account: str | None = None,
    job_extra_directives: Sequence[str] | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` without workers, whose jobs retire before their walltime.

    Parameters
    ----------
    cores : int, optional
        Cores of one job (dask-jobqueue's ``cores``; default ``jobqueue.slurm.cores``, else 1).
    memory : float, optional
        Memory of one *worker*, GiB (labkit's unit on every backend; a job of ``processes`` workers asks for
        that many times it). Default: ``jobqueue.slurm.memory`` shared by the job's workers, else 2 GiB.
    processes : int, optional
        Workers in one job (default ``jobqueue.slurm.processes``, else dask-jobqueue's choice).
    walltime, queue, account : str, optional
        The job's ``-t``, ``-p`` and ``-A`` (default from ``jobqueue.slurm``).
    job_extra_directives : list of str, optional
        More ``#SBATCH`` lines, e.g. ``["--qos=short"]``.
    scheduler_options : mapping, optional
        Options of the Dask scheduler (``host``, ``interface``, ``dashboard_address``); default
        ``jobqueue.slurm.scheduler-options``, with the host chosen by :func:`scheduler_host`.
    **kwargs
        Any other ``SLURMCluster`` argument (``interface``, ``log_directory``, ``worker_extra_args`` ...).

    Returns
    -------
    dask_jobqueue.SLURMCluster
        Its ``labkit_jobs`` lists every job id it submitted; ``labkit_errors`` what ``sbatch`` refused.

    Examples
    --------
    >>> cluster = slurm_cluster(cores=1, memory=1, walltime="00:10:00")  # doctest: +SKIP
    >>> print(cluster.job_script())  # doctest: +SKIP
    """
    import asyncio

    jq = attempt_import("dask_jobqueue")
    dask = attempt_import("dask")
    from dask.utils import parse_timedelta
    from distributed.core import Status

    config = dask.config.get("jobqueue.slurm", {}) or {}
    check_reachable()
    if cores is None and config.get("cores") is None:
        cores = FALLBACK_CORES
    if processes is None:
        processes = config.get("processes")
    if memory is not None:
        job_memory = f"{memory * (processes or 1)}GiB"
    elif config.get("memory") is None:
        job_memory = f"{FALLBACK_MEMORY_GIB * (processes or 1)}GiB"
    else:
        job_memory = None
    walltime = walltime or config.get("walltime") or "00:30:00"
    extra_args = list(kwargs.pop("worker_extra_args", None) or config.get("worker-extra-args") or [])
    if not any(a.startswith("--lifetime") for a in map(str, extra_args)):
        extra_args += lifetime_args(walltime_seconds(walltime))
    options = dict(scheduler_options if scheduler_options is not None else config.get("scheduler-options") or {})
    if "host" not in options and "interface" not in options and not (kwargs.get("interface") or
                                                                     config.get("interface")):
        if host := scheduler_host():
            options["host"] = host
    options.setdefault("dashboard_address", ":0")  # jobqueue's fixed :8787 is taken by the next user
    if job_extra_directives is not None:
        kwargs["job_extra_directives"] = list(job_extra_directives)

    submitted: list[str] = []
    refused: list[str] = []

    class Job(jq.SLURMCluster.job_cls):  # remembers what it submitted, and what sbatch refused
        async def _submit_job(self, script_filename: str) -> str:
            try:
                out = await super()._submit_job(script_filename)
            except RuntimeError as exc:
                refused.append(_stderr(str(exc)))
                raise
            submitted.append(self._job_id_from_submit_output(out))
            return out

    class Cluster(jq.SLURMCluster):
        job_cls = Job

        def _update_worker_status(self, op: str, msg: Any) -> None:
            # distributed forgets a worker's job a lost-worker-timeout after the worker left (retired at its
            # lifetime, cancelled, killed at walltime) but starts no job in its place, even when adapting (its
            # plan still counts it): labkit does, so that the cluster keeps the workers asked for
            super()._update_worker_status(op, msg)
            if op == "remove":
                delay = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
                asyncio.get_running_loop().call_later(delay + 1, self._replace_lost)

        def _replace_lost(self) -> None:
            if self.status == Status.running and set(self.worker_spec) - set(self.workers):
                self._correct_state()

    args = {"cores": cores, "memory": job_memory, "processes": processes, "walltime": walltime, "queue": queue,
            "account": account, "worker_extra_args": extra_args, "scheduler_options": options, **kwargs}
    try:
        cluster = Cluster(**{k: v for k, v in args.items() if v is not None})
    except ValueError as exc:
        raise ConfigurationError(f"dask-jobqueue refused the SLURM cluster's settings: {exc}") from exc
    cluster.labkit_jobs, cluster.labkit_errors = submitted, refused
    return cluster


def _stderr(text: str) -> str:
    """The stderr part of dask-jobqueue's error of a failed command (else the whole text)."""
    _, _, err = text.partition("stderr:\n")
    return (err or text).strip()


def check_submission(cluster: Any) -> None:
    """Ask ``sbatch --test-only`` whether SLURM would accept the cluster's job; raise what it refuses and the fix.

    Nothing is queued. A refusal names the partition, account, cores, memory or walltime, as ``sbatch`` does.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as fh:
        fh.write(cluster.job_script())
    try:
        out = _run(["sbatch", "--test-only", fh.name], timeout=60)
    finally:
        os.unlink(fh.name)
    if out.returncode != 0:
        raise refusal(out.stderr.strip() or out.stdout.strip(), cluster)


def refusal(message: str, cluster: Any) -> ConfigurationError:
    """The labkit error for ``sbatch``'s ``message`` about ``cluster``'s job."""
    fix = explain(message) or "change the job's settings (see cluster.job_script())"
    header = "; ".join(line.strip() for line in cluster.job_header.splitlines() if line.startswith("#SBATCH"))
    return ConfigurationError(f"SLURM refused the workers' job ({_one_line(message)}): {fix}. The job asks: "
                              f"{header.replace('#SBATCH ', '')}")


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())


def wait_for_workers(cluster: Any, client: Any, n: int = 1, timeout: float = 300) -> None:
    """Wait until ``n`` workers are connected, watching the cluster's jobs meanwhile.

    A refusal of ``sbatch``, a pending reason no wait resolves, or the timeout is an error that names the cause
    (the jobs stay queued after a timeout: ``close`` cancels them).
    """
    deadline = time.monotonic() + timeout
    seen: dict[str, tuple[str, str]] = {}
    while True:
        if len(client.nthreads()) >= n:
            return
        if cluster.labkit_errors:
            raise refusal(cluster.labkit_errors[-1], cluster)
        seen = queue(cluster.labkit_jobs) or seen
        for job, (state, reason) in seen.items():
            code = reason.split(",")[0].strip("() ")
            fix = HOPELESS.get(code) or ("the job's account is not allowed on this partition: choose another "
                                         "account or queue" if "account" in reason.lower() else None)
            if state == "PENDING" and fix:
                raise LabkitError(f"SLURM job {job} cannot start ({reason}): {fix}")
        if time.monotonic() > deadline:
            states = ", ".join(f"job {j} {s.lower()}" + (f" ({r})" if s == "PENDING" else "")
                               for j, (s, r) in seen.items()) or "no job in the queue"
            raise LabkitError(
                f"no Dask worker connected within {timeout:.0f} s: {states}. A job pending for Priority or "
                "Resources waits for others to end: wait longer (timeout=...), or ask for less (cores, memory, "
                "walltime) or another queue; a running job whose worker never connects cannot reach the "
                "scheduler: set jobqueue.slurm.interface or scheduler_options={'host': ...}")
        time.sleep(0.5)
