"""Versioned result stores on the sandbox S3: runs, tags, concurrent writers, Dask workers writing one commit."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

pytest.importorskip("icechunk")

from dask.distributed import Client, LocalCluster  # noqa: E402

from labkit.errors import VersionConflictError, VersionExistsError, VersionNotFoundError  # noqa: E402
from labkit.results import OmeZarr, ResultStore, checkpoint  # noqa: E402


def _url() -> str:
    return f"s3://results/versioned-{uuid.uuid4().hex[:8]}"


def plane(i):
    return np.full((1, 8, 8), i, np.uint16)


def test_runs_tags_and_versions_on_s3(sandbox_env):
    url = _url()
    step = checkpoint(url, target="p/{i}.ome.zarr", serializer=OmeZarr(dims="zyx"), versioned=True)(plane)
    store = step.store
    with store.run("two planes"):
        step(1)
        step(2)
    store.tag("v1")
    step(3)
    with pytest.raises(VersionExistsError):
        store.tag("v1")
    with pytest.raises(VersionNotFoundError):
        ResultStore(url, version="v2")
    v1 = ResultStore(url, version="v1")
    assert v1.exists("p/2.ome.zarr") and not v1.exists("p/3.ome.zarr")
    assert int(OmeZarr(dims="zyx").load(v1, "p/2.ome.zarr").max()) == 2
    history = ResultStore(url, versioned=True).history()
    assert [c.message for c in history] == ["plane -> p/3.ome.zarr", "two planes"]
    assert sorted(history[1].provenance) == ["p/1.ome.zarr", "p/2.ome.zarr"]


def test_concurrent_writers_on_s3_one_wins_the_other_rebases(sandbox_env):
    url = _url()
    stores = [ResultStore(url, versioned=True) for _ in range(2)]
    for i, store in enumerate(stores):
        store.write_bytes(f"{i}.txt", b"x" * 1000 * (i + 1))
    barrier, outcome = threading.Barrier(2), {}

    def commit(i):
        barrier.wait()
        try:
            outcome[i] = stores[i].commit(f"writer {i}")
        except VersionConflictError as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    lost = [i for i, o in outcome.items() if isinstance(o, VersionConflictError)]
    assert len(lost) == 1, outcome  # one wins
    stores[lost[0]].commit(rebase=True)
    latest = ResultStore(url, version="main")
    assert latest.read_bytes("0.txt") == b"x" * 1000 and latest.read_bytes("1.txt") == b"x" * 2000
    assert len(latest.history()) == 2


def test_dask_workers_write_one_commit(sandbox_env):
    url = _url()
    step = checkpoint(url, target="p/{i}.ome.zarr", serializer=OmeZarr(dims="zyx"), versioned=True)(plane)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        planes = step.map(range(6), message="six planes on two workers")
    assert [int(p.max()) for p in planes] == list(range(6))
    history = step.store.history()
    assert [c.message for c in history] == ["six planes on two workers"]
    assert sorted(history[0].provenance) == [f"p/{i}.ome.zarr" for i in range(6)]
    latest = ResultStore(url, version="main")
    assert [int(OmeZarr(dims="zyx").load(latest, f"p/{i}.ome.zarr").max()) for i in range(6)] == list(range(6))
    assert step.state(4) == "fresh"
