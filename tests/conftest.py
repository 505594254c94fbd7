"""Fixtures shared by the whole suite: one real sandbox per session, started in a temporary folder."""

from __future__ import annotations

import collections
import gc
import socket
import sys

import pytest

from labkit.sandbox import Sandbox
from tests.notebooks.probes import (
    gateway_clusters,  # noqa: F401  (the tests' and the notebook probes' one)
    wait_for_stored_runs,
)

#: the host the network tests need first (IDR's OME-Zarr on EBI's S3), probed for at most PROBE_SECONDS
PROBE_HOST, PROBE_SECONDS = ("livingobjects.ebi.ac.uk", 443), 3.0


def _offline() -> str:
    """Why the internet is out of reach ("" when the probe host answers): a TCP connect, name lookup included,
    given ``PROBE_SECONDS`` in all (a lookup that hangs, as behind some firewalls, does not hold the run)."""
    import threading

    said: list[str] = []

    def probe() -> None:
        try:
            socket.create_connection(PROBE_HOST, timeout=PROBE_SECONDS).close()
            said.append("")
        except OSError as exc:
            said.append(f"{exc.__class__.__name__}: {exc}")

    thread = threading.Thread(target=probe, name="labkit-network-probe", daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    return said[0] if said else f"no answer in {PROBE_SECONDS:.0f} s"


# files that take over 100 s of make test's suite (measured 2026-12-07, 4 workers on 2 cores): started first, so
# that short files fill the end (tutorial 01 on a cluster among them: 125-145 s); then the tests that read the
# stored runs, and so come last, longest first (45-95 s each): one that started last kept a worker busy a minute
# after the others were done
LONG_FILES = ("tests/unit/test_nuclei_model.py", "tests/unit/test_nuclei_method.py", "tests/browser/test_jupyterlab.py",
              "tests/sandbox/test_lifecycle.py", "tests/notebooks/test_01_on_a_cluster.py",
              "tests/faults/test_faults.py", "tests/unit/test_segment.py", "tests/sandbox/test_slurm_runs.py",
              "tests/sandbox/test_ipfs.py", "tests/notebooks/test_05_screen.py", "tests/browser/test_site.py",
              "tests/notebooks/test_03_eodc_flood.py", "tests/notebooks/test_04_cell_pipeline.py",
              "tests/notebooks/test_02_ipfs_zarr.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the long files first, then files with more tests first (as pytest-xdist's loadfile orders them by default),
    # those that read make test's stored runs last: make test runs the suite with --no-loadscope-reorder, beside
    # the stored runs
    per_file = collections.Counter(item.path for item in items)
    long = {config.rootpath / name: rank for rank, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: (item.get_closest_marker("stored_runs") is not None,
                                 long.get(item.path, len(long)), -per_file[item.path]))
    if any("network" in item.keywords for item in items) and (why := _offline()):
        skip = pytest.mark.skip(reason=f"needs the internet: {PROBE_HOST[0]}:{PROBE_HOST[1]} (IDR's OME-Zarr on "
                                       f"EBI's S3) is unreachable from here ({why})")
        for item in items:
            if "network" in item.keywords:
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A test marked ``stored_runs`` waits for make test's stored runs before its timeout starts (pytest-timeout's)."""
    if item.get_closest_marker("stored_runs"):
        wait_for_stored_runs()
    return (yield)


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list:
    """What Python reports as "Exception ignored" (e.g. in ``__del__``) from here on, after collecting garbage."""
    gc.collect()  # what earlier tests left
    ignored: list = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    return ignored


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    """Every sandbox service that can run here, for the whole session (small synthetic data)."""
    root = tmp_path_factory.mktemp("sandbox")
    with Sandbox(root=root, flood_size=2048, flood_dates=4) as sb:
        yield sb


@pytest.fixture
def sandbox_env(sandbox, monkeypatch: pytest.MonkeyPatch):
    """The sandbox's client environment (AWS_* credentials, LABKIT_SANDBOX_DIR) for one test."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    yield sandbox


@pytest.fixture(scope="session")
def s3_users(sandbox):
    """The sandbox S3's signed identities: ``admin`` (the sandbox's own key) and a read-only ``reader``."""
    s3 = sandbox.s3
    return {"endpoint_url": s3.endpoint_url, "users": {"admin": {"key": s3.key, "secret": s3.secret},
                                                       "reader": {"key": s3.reader_key, "secret": s3.reader_secret}}}
