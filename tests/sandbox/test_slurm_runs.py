"""Long runs on the sandbox's real SLURM survive the scheduler: a job cancelled mid-run, a run past the walltime.

labkit.map_images over a small synthetic plate on SLURM workers (dask-jobqueue jobs); a recipe that pauses on each
image makes the run outlast a job. Every image must end with exactly one correct result.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.sandbox._slurm import needs_slurm, run, wait_for

pytestmark = needs_slurm


def slow_total(image):
    """The runs' recipe: the image's total intensity, after $LABKIT_TEST_PAUSE seconds (the runs must outlast a
    job); each call noted in $LABKIT_TEST_CALLS. The jobs inherit both variables from the client's environment."""
    import numpy as np
    import pandas as pd

    time.sleep(float(os.environ["LABKIT_TEST_PAUSE"]))
    pixels = np.asarray(image)
    with open(os.environ["LABKIT_TEST_CALLS"], "a") as fh:
        fh.write(f"{pixels.sum()}\n")
    return pd.DataFrame({"total": [int(pixels.sum())], "pixels": [pixels.size]})


@pytest.fixture(scope="module")
def small_plate(tmp_path_factory):
    """A 2 x 4 plate, 2 fields a well: 16 images of 64 x 64."""
    from labkit.synthetic import hcs_plate

    return hcs_plate(tmp_path_factory.mktemp("plate") / "plate.zarr", rows=2, columns=4, fields=2, size=64)


def _expected(plate) -> dict[float, int]:
    """Total intensity of each image of ``plate``, computed here, by the image's total (as the recipe notes it)."""
    import numpy as np

    import labkit

    totals = [int(np.asarray(image).sum()) for _, _, image in labkit.open_plate(plate.path).images()]
    assert len(set(totals)) == len(totals), "the images must be told apart by their totals"
    return {float(t): t for t in totals}


def _run_on_slurm(slurm_env, plate, store, calls, monkeypatch, *, walltime, pause, during=None):
    """map_images over ``plate`` on 2 SLURM workers (adapting between 2 and 2); ``during(panel)`` in a thread."""
    import threading

    import dask

    import labkit

    monkeypatch.setenv("LABKIT_TEST_CALLS", str(calls))  # the jobs inherit them
    monkeypatch.setenv("LABKIT_TEST_PAUSE", str(pause))
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"}):
        panel = labkit.start_cluster("slurm", adapt=(2, 2), memory=0.5, walltime=walltime)
        try:
            panel.wait_for_workers(2, timeout=120)
            first_jobs = set(panel.cluster.labkit_jobs)
            watcher = threading.Thread(target=during, args=(panel,), daemon=True) if during else None
            if watcher:
                watcher.start()
            t0 = time.monotonic()
            run = labkit.map_images(slow_total, labkit.open_plate(plate.path), store=store,
                                    target="{well}/{field}.parquet", client=panel.client, progress=False)
            seconds = time.monotonic() - t0
            if watcher:
                watcher.join(60)
            jobs = list(panel.cluster.labkit_jobs)
            states = {j: _job_state(slurm_env, j) for j in jobs}
        finally:
            panel.close()
    return run, seconds, first_jobs, jobs, states


def _job_state(sb, job: str) -> str:
    """A job's state as the controller remembers it (finished jobs stay known for a few minutes)."""
    out = run(["scontrol", "show", "job", job, "-o"], sb, check=False).stdout
    found = [part.split("=", 1)[1] for part in out.split() if part.startswith("JobState=")]
    return found[0] if found else "?"


def _check_results(run, store, plate, calls):
    """Every image has exactly one result, and it is right."""
    import pandas as pd

    expected = _expected(plate)
    # "read back": a task run again (its worker left) found the result its first run had stored
    assert len(run) == len(expected) and set(run["state"]) <= {"computed", "read back"}
    files = sorted(store.rglob("*.parquet"))
    assert len(files) == len(expected)  # one result an image, no leftover of a lost task
    totals = sorted(int(pd.read_parquet(f)["total"].iloc[0]) for f in files)
    assert totals == sorted(expected.values())
    noted = [float(line) for line in calls.read_text().split()]
    assert set(noted) == set(expected)
    return len(noted) - len(expected)  # images computed twice (those a lost job was working on)


def test_a_job_cancelled_mid_run_loses_nothing(slurm_env, small_plate, tmp_path, monkeypatch):
    store, calls = tmp_path / "results", tmp_path / "calls.txt"
    cancelled: list[str] = []

    def cancel_one_job(panel):  # once a quarter of the images are done, scancel one worker's job
        wait_for(lambda: len(list(store.rglob("*.parquet"))) >= 4, timeout=120, what="a quarter of the results")
        job = next(j for j, (state, _) in panel.jobs.items() if state == "RUNNING")
        run(["scancel", job], slurm_env)
        cancelled.append(job)

    result, seconds, first, jobs, states = _run_on_slurm(slurm_env, small_plate, store, calls, monkeypatch,
                                                         walltime="00:10:00", pause=1.5, during=cancel_one_job)
    again = _check_results(result, store, small_plate, calls)
    assert len(cancelled) == 1 and cancelled[0] in first
    assert states[cancelled[0]] == "CANCELLED"
    assert len(jobs) >= 3, "a job replaced the cancelled one"
    assert again <= 1, f"{again} images computed twice: only the one the cancelled worker was running may be"
    print(f"\nscancel mid-run: {len(result)} images in {seconds:.1f} s, job {cancelled[0]} cancelled, "
          f"{len(jobs)} jobs in all, {again} image(s) computed twice")


def test_a_run_longer_than_the_walltime_completes(slurm_env, small_plate, tmp_path, monkeypatch):
    store, calls = tmp_path / "results", tmp_path / "calls.txt"
    # 16 images x 7 s on 2 workers: past the 1 minute walltime (the workers retire at 45 s, give or take 5 s)
    result, seconds, first, jobs, states = _run_on_slurm(slurm_env, small_plate, store, calls, monkeypatch,
                                                         walltime="00:01:00", pause=7)
    again = _check_results(result, store, small_plate, calls)
    logs = {j: _job_log(slurm_env, j) for j in jobs}
    retired = sorted(j for j in jobs if "worker-lifetime-reached" in logs[j])
    print(f"\nwalltime 1 min: {len(result)} images in {seconds:.1f} s, jobs {states}, retired at their lifetime: "
          f"{retired}, {again} image(s) computed twice, {sum(result['state'] == 'read back')} read back")
    assert seconds > 60, "the run must outlast the jobs' walltime"
    assert set(first) <= set(retired), "the first workers retired before their walltime"
    assert "TIMEOUT" not in states.values(), f"a worker was killed at its walltime: {states}"
    assert len(jobs) > len(first), "new jobs took the retired workers' place"


def _job_log(sb, job: str) -> str:
    """What a job printed (its worker's log): SBATCH_OUTPUT puts it in the sandbox folder."""
    found = list((sb.root / "slurm" / "jobs").glob(f"*-{job}.out"))
    return found[0].read_text(errors="replace") if found else ""
