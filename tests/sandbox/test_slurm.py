"""The sandbox's real SLURM (Debian's slurmctld and slurmd), and start_cluster("slurm") on it.

Every test here talks to real SLURM daemons through SLURM's own commands (``sbatch``, ``squeue``, ``sinfo``) and
dask-jobqueue. This file's sandbox runs SLURM only; other test files (other pytest processes) run their own beside
it. Long runs on SLURM: test_slurm_runs.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from labkit._process import port_in_use
from labkit.sandbox import Sandbox
from labkit.sandbox.servers.slurm import job_steps
from tests.sandbox._slurm import needs_slurm, run, squeue, submit, wait_for

pytestmark = needs_slurm


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


# ---------------------------------------------------------------------- start_cluster("slurm") and its panel
def test_start_cluster_runs_workers_as_jobs_and_close_cancels_them(slurm_env):
    import labkit

    panel = labkit.start_cluster("slurm", workers=2, memory=0.5, cores=1, walltime="00:10:00")
    try:
        panel.wait_for_workers(2, timeout=120)
        assert panel.client.submit(sum, [1, 2]).result() == 3
        jobs = panel.jobs
        assert len(jobs) == 2 and {s for s, _ in jobs.values()} == {"RUNNING"}
        assert set(jobs) <= set(squeue(slurm_env))
        s = panel.status
        assert s["workers"] == 2 and s["jobs"] == {"pending": 0, "running": 2}
        assert s["memory"] == 2 * 2**29
        script = panel.cluster.job_script()
        assert "#SBATCH -t 00:10:00" in script and "--mem=512M" in script
        assert "--lifetime 480s --lifetime-stagger 40s" in script  # retire 2 minutes before the walltime
        assert "tcp://127.0.0.1:" in script  # the node is this machine: the scheduler listens on loopback
        panel.adapt(1, 3)
        pytest.importorskip("ipywidgets")
        panel._widget()
        panel._update_widget()
        facts, details = (w.value for w in panel._widgets["slurm"])
        assert "queue <code>(default)</code>" in facts and "walltime <code>00:10:00</code>" in facts
        assert details.startswith("<details>") and "dask_worker" in details
        assert "2 running, 0 pending" in panel._widgets["status"].value
        assert panel.dashboard_link in panel._widgets["status"].value
        assert (panel._widgets["minimum"].value, panel._widgets["maximum"].value) == (1, 3)
        submitted = list(panel.cluster.labkit_jobs)
    finally:
        panel.close()
    assert not set(submitted) & set(squeue(slurm_env))


def test_a_job_of_the_sandbox_sees_its_environment(slurm_env, monkeypatch):
    """The sandbox's S3 credentials and the like reach the workers: sbatch exports the environment."""
    import labkit

    monkeypatch.setenv("LABKIT_TEST_MARK", "from-the-client")
    panel = labkit.start_cluster("slurm", workers=1, memory=0.5, walltime="00:05:00")
    try:
        assert set(panel.client.run(lambda: os.environ.get("LABKIT_TEST_MARK")).values()) == {"from-the-client"}
        assert set(panel.client.run(lambda: os.environ.get("SLURM_JOB_ID")).values()) <= set(panel.cluster.labkit_jobs)
    finally:
        panel.close()


def test_no_sbatch_is_a_clear_error(slurm_env, monkeypatch, tmp_path):
    import labkit
    from labkit.errors import ServiceUnavailableError

    monkeypatch.setenv("PATH", str(tmp_path))  # no SLURM command here
    with pytest.raises(ServiceUnavailableError, match="sbatch.*not on this machine.*login node"):
        labkit.start_cluster("slurm", workers=1, memory=0.5)


def test_a_controller_that_does_not_answer_is_a_clear_error(slurm_env, monkeypatch, tmp_path):
    import labkit
    from labkit._process import free_port
    from labkit.errors import ServiceUnavailableError

    conf = open(slurm_env.slurm.conf).read().replace(
        f"SlurmctldPort={slurm_env.records['slurm']['port']}", f"SlurmctldPort={free_port()}")
    (tmp_path / "slurm.conf").write_text(conf)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    with pytest.raises(ServiceUnavailableError, match="SLURM does not answer.*Unable to contact.*scontrol ping"):
        labkit.start_cluster("slurm", workers=1, memory=0.5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"queue": "nope"}, r"invalid partition.*no partition of that name: choose one that `sinfo` lists"),
    ({"memory": 100_000}, r"Requested node configuration is not available.*ask for less.*memory"),
    ({"cores": 512}, r"Requested node configuration is not available.*ask for less \(cores"),
])
def test_what_sbatch_refuses_is_a_clear_error_and_nothing_is_queued(slurm_env, kwargs, match):
    import labkit
    from labkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=match):
        labkit.start_cluster("slurm", workers=1, **{"memory": 0.5, **kwargs})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"queue": "short", "walltime": "00:05:00"}, r"cannot start \(PartitionTimeLimit\).*shorter walltime"),
    ({"queue": "lab", "account": "nobody"}, r"cannot start \(.*account.*\).*choose another account or queue"),
])
def test_a_job_that_can_never_start_is_an_error_at_once(slurm_env, kwargs, match):
    import labkit
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match=match):
        labkit.start_cluster("slurm", workers=1, memory=0.5, timeout=120, **kwargs)
    # the slurm_env fixture checks that the refused job left the queue


def test_a_job_that_stays_pending_is_a_bounded_wait_naming_the_reason(slurm_env):
    import labkit
    from labkit.errors import LabkitError

    blocker = submit(slurm_env, f"--cpus-per-task={os.cpu_count()}", "--wrap", "sleep 300")  # the whole node
    try:
        wait_for(lambda: squeue(slurm_env).get(blocker) == "RUNNING", what="the job that fills the node runs")
        with pytest.raises(LabkitError, match=r"no Dask worker connected within 5 s: job \d+ pending \(Resources\)"):
            labkit.start_cluster("slurm", workers=1, memory=0.5, timeout=5)
    finally:
        run(["scancel", blocker], slurm_env)
    wait_for(lambda: squeue(slurm_env) == {}, what="the queue empties")


def test_slurm_arguments_on_another_backend_are_refused():
    import labkit
    from labkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="walltime apply to SLURM clusters only"):
        labkit.start_cluster("local", walltime="01:00:00")


def test_in_sandbox_mode_start_cluster_has_the_sandbox_start_its_slurm(tmp_path, monkeypatch):
    """A background sandbox without SLURM (as `labkit sandbox up` leaves it) starts it when a notebook asks."""
    import labkit
    from labkit.config import restore_environment
    from labkit.sandbox import current, down, start_background

    monkeypatch.setenv("LABKIT_SANDBOX_DIR", str(tmp_path))
    monkeypatch.delenv("SLURM_CONF", raising=False)
    start_background(["omero"], tmp_path)
    try:
        ep = labkit.endpoints("sandbox", services=["omero"])
        assert ep.slurm is None
        panel = labkit.start_cluster("slurm", ep, workers=1, memory=0.5, walltime="00:05:00")
        try:
            assert panel.client.submit(sum, [2, 3]).result() == 5
            sb = current(tmp_path)
            assert "slurm" in sb.records and os.environ["SLURM_CONF"] == sb.slurm.conf
            steps = [psutil.Process(p) for p in job_steps(sb.slurm.conf)]
            assert steps
        finally:
            panel.close()
        job = submit(sb, "--wrap", "sleep 300")  # left running: `down` must end it
        wait_for(lambda: squeue(sb).get(job) == "RUNNING", what="the job runs")
        steps = [psutil.Process(p) for p in job_steps(sb.slurm.conf)]
        tree = [p for s in steps for p in (s, *s.children(recursive=True))]
    finally:
        restore_environment()
        down(tmp_path)
    _, alive = psutil.wait_procs(tree, timeout=20)
    assert alive == [], f"left running after `labkit sandbox down`: {[(p.pid, p.name()) for p in alive]}"
