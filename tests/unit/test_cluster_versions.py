"""Client, scheduler and worker versions: distributed's check, on a real cluster's own answers.

The comparison runs on what a real ``LocalCluster`` (worker processes) answers to ``Client.get_versions()``: as
it is (nothing differs, nothing is shown) and with one package's version changed on one side (the message names
it, its versions and the fix). distributed's own ``versions.error_message`` judges the same data, and must agree.
The panel's test makes a real mismatch: a worker process whose environment reports another dask version (a copy
of dask's installed metadata, version edited, first on its path) joins the panel's cluster.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from labkit import cluster_versions
from labkit.cluster_versions import compare
from labkit.errors import ClusterVersionWarning

distributed = pytest.importorskip("distributed")
from distributed.versions import error_message  # noqa: E402

OLD_DASK = "2025.7.0"


@pytest.fixture(scope="module")
def real_versions():
    """``get_versions()`` of a real two-process local cluster (the notebook's own environment everywhere)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        versions = client.get_versions()
    assert len(versions["workers"]) == 2
    return versions


def _distributed_says(versions) -> str:
    return error_message(versions["scheduler"], versions["workers"], versions["client"])["warning"]


def _changed(versions, package, value, sides=("scheduler", "workers")):
    changed = copy.deepcopy(versions)
    if "scheduler" in sides:
        changed["scheduler"]["packages"][package] = value
    for i, worker in enumerate(changed["workers"].values()):
        if "workers" in sides or (i == 0 and "one worker" in sides):
            worker["packages"][package] = value
    return changed


def test_a_real_cluster_in_the_notebook_s_environment_shows_nothing(real_versions):
    report = compare(real_versions)
    print(f"\npackages compared: {sorted(report.client)}")
    assert report.ok and report.mismatches == ()
    assert _distributed_says(real_versions) == ""  # distributed's own check agrees
    assert report.install_command() == "" and cluster_versions.status_html(report) == ""
    assert report.client["dask"] == metadata.version("dask")


def test_the_cluster_s_older_dask_is_named_with_both_versions_and_what_to_install(real_versions):
    mine = metadata.version("dask")
    versions = _changed(real_versions, "dask", OLD_DASK)
    report = compare(versions)
    assert "dask" in _distributed_says(versions)
    assert [m.package for m in report.mismatches] == ["dask"]
    (m,) = report.mismatches
    assert (m.client, m.scheduler, m.workers, m.cluster) == (mine, OLD_DASK, (OLD_DASK,), OLD_DASK)
    assert report.install_command() == f"pip install dask=={OLD_DASK}"
    text = report.message()
    print(f"\n{text}")
    assert f"dask: {mine} here, {OLD_DASK} on the scheduler, {OLD_DASK} on the workers" in text
    assert f"pip install dask=={OLD_DASK}" in text and "restart the kernel" in text
    assert f"image with this notebook's versions (dask=={mine}" in text
    status = cluster_versions.status_html(report)
    assert "labkit-version-mismatch" in status and f"pip install dask=={OLD_DASK}" in status


def test_dask_and_distributed_of_eodc_s_image_give_one_command_for_both(real_versions):
    versions = _changed(_changed(real_versions, "dask", OLD_DASK), "distributed", OLD_DASK)
    versions = _changed(versions, "dask-gateway", "2025.4.0")  # an extra package, as the gateway panel asks
    versions["client"]["packages"]["dask-gateway"] = "2026.3.0"
    report = compare(versions)
    assert [m.package for m in report.mismatches] == ["dask", "dask-gateway", "distributed"]
    assert report.install_command() == f"pip install dask=={OLD_DASK} dask-gateway==2025.4.0 distributed=={OLD_DASK}"


def test_workers_that_disagree_among_themselves_are_said_so_and_get_no_pin(real_versions):
    versions = _changed(real_versions, "toolz", "0.12.0", sides=("one worker",))
    report = compare(versions)
    assert "toolz" in _distributed_says(versions)
    (m,) = report.mismatches
    assert m.cluster is None and len(m.workers) == 2 and "0.12.0" in m.workers
    assert report.install_command() == ""
    assert "workers disagree among themselves on toolz" in report.fix()


def test_another_python_on_the_cluster_asks_for_a_kernel_not_pip(real_versions):
    versions = _changed(real_versions, "python", "3.12.4.final.0")
    report = compare(versions)
    (m,) = report.mismatches
    assert m.package == "python" and report.install_command() == ""
    assert "a kernel with Python 3.12.4" in report.fix()


def test_a_package_missing_on_the_workers_counts_and_the_scheduler_s_numpy_does_not(real_versions):
    missing = _changed(real_versions, "numpy", None, sides=("workers",))
    (m,) = compare(missing).mismatches
    assert (m.package, m.workers, m.scheduler) == ("numpy", (None,), "")
    assert "not installed on the workers" in m.describe()
    assert "numpy" in _distributed_says(missing)
    scheduler_only = _changed(real_versions, "numpy", "1.0.0", sides=("scheduler",))  # distributed ignores it
    assert compare(scheduler_only).ok and _distributed_says(scheduler_only) == ""


def test_a_side_that_did_not_answer_is_unknown_as_distributed_says(real_versions):
    versions = copy.deepcopy(real_versions)
    versions["workers"][next(iter(versions["workers"]))] = None
    report = compare(versions)
    assert report.mismatches and _distributed_says(versions)
    assert all("UNKNOWN" in m.workers for m in report.mismatches)


@pytest.fixture
def older_dask_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python reports dask OLD_DASK: a copy of dask's metadata, version edited, first."""
    dist = metadata.distribution("dask")
    src = Path(dist._path)  # the installed dist-info folder
    dst = tmp_path / f"dask-{OLD_DASK}.dist-info"
    shutil.copytree(src, dst)
    meta = (dst / "METADATA").read_text()
    (dst / "METADATA").write_text(meta.replace(f"Version: {dist.version}", f"Version: {OLD_DASK}", 1))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    probe = subprocess.run([sys.executable, "-c", "from importlib.metadata import version; print(version('dask'))"],
                           env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == OLD_DASK
    return env


def test_the_panel_shows_a_real_worker_s_other_dask_once(older_dask_env, tmp_path):
    from labkit.cluster_panel import ClusterPanel

    pytest.importorskip("ipywidgets")
    mine = metadata.version("dask")
    with ClusterPanel(backend="local") as panel:
        with warnings.catch_warnings(record=True) as at_start:
            warnings.simplefilter("always")
            panel.start()
        assert panel.versions is not None and panel.versions.ok  # client and scheduler: one environment
        assert not [w for w in at_start if issubclass(w.category, ClusterVersionWarning)]
        log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", panel.cluster.scheduler_address, "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1", "--no-nanny"],
            env=older_dask_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            with pytest.warns(ClusterVersionWarning) as caught:
                panel.wait_for_workers(1, timeout=120)
            said = [str(w.message) for w in caught if issubclass(w.category, ClusterVersionWarning)]
            print(f"\n{said[0]}")
            assert len(said) == 1
            assert f"dask: {mine} here, {mine} on the scheduler, {OLD_DASK} on the workers" in said[0]
            assert f"Run the cluster on an image with this notebook's versions (dask=={mine}" in said[0]
            (m,) = panel.versions.mismatches
            assert (m.package, m.client, m.scheduler, m.workers) == ("dask", mine, mine, (OLD_DASK,))
            assert any("versions differ: dask" in line for line in panel.messages)
            panel._widget()
            assert "versions differ: dask" in panel._widgets["status"].value
            with warnings.catch_warnings(record=True) as again:  # the same mismatch: not warned twice
                warnings.simplefilter("always")
                panel.wait_for_workers(1)
            assert not [w for w in again if issubclass(w.category, ClusterVersionWarning)]
        finally:
            panel.close()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            log.close()
