"""labkit.write.write_zarr: region-by-region writes, on local stores, with and without a Dask cluster."""

from __future__ import annotations

import itertools
import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import labkit
from labkit.write import regions, write_zarr


def _dataset() -> xr.Dataset:
    """Several lazy variables of different dims, a lazy coordinate, a lazy scalar and uneven last chunks."""
    rng = np.random.default_rng(3)
    t, y, x = 3, 300, 260
    return xr.Dataset(
        {
            "a": (("y", "x"), da.from_array(rng.random((y, x)), chunks=64)),
            "b": (("t", "y", "x"), da.from_array(rng.integers(0, 200, (t, y, x), dtype=np.uint8), chunks=(3, 64, 64))),
            "row_mean": (("y",), da.from_array(rng.random(y), chunks=64)),
            "scale": ((), da.from_array(np.array(2.5))),
        },
        coords={"y": np.arange(y) * 20.0, "x": np.arange(x) * 20.0, "t": [1, 2, 3],
                "quality": (("y", "x"), da.from_array(rng.integers(0, 9, (y, x), dtype=np.int16), chunks=64))},
        attrs={"title": "synthetic"},
    )


@pytest.mark.parametrize("grid,budget", [
    ({"y": (2, 2, 1), "x": (3, 3)}, 4),
    ({"t": (3,), "y": (64,) * 4 + (44,), "x": (64,) * 4 + (4,)}, 3),
    ({"t": (3,), "y": (64,) * 4 + (44,), "x": (64,) * 4 + (4,)}, 12),
    ({"z": (1,) * 7, "y": (5, 5), "x": (2,) * 9}, 1),
    ({"x": (10,) * 5}, 100),
])
def test_regions_cover_the_grid_once_in_aligned_batches(grid, budget):
    parts = regions(grid, budget)
    edges = {d: set(itertools.accumulate(sizes, initial=0)) for d, sizes in grid.items()}
    covered = np.zeros(tuple(sum(s) for s in grid.values()), dtype=int)
    for region in parts:
        assert set(region) == set(grid)
        n_chunks = 1
        for dim, part in region.items():
            assert part.start in edges[dim] and part.stop in edges[dim]  # aligned to the chunks
            n_chunks *= sum(part.start <= e < part.stop for e in sorted(edges[dim])[:-1])
        assert 1 <= n_chunks <= budget
        covered[tuple(region[d] for d in grid)] += 1
    assert (covered == 1).all()  # every element written exactly once
    assert len(parts) >= math.ceil(math.prod(len(s) for s in grid.values()) / budget)


@pytest.mark.parametrize("per_batch", [1, 5, None])
def test_batched_write_equals_a_plain_to_zarr(tmp_path, per_batch):
    ds = _dataset()
    ds.to_zarr(tmp_path / "plain.zarr", zarr_format=2, consolidated=True)
    write_zarr(ds, str(tmp_path / "batched.zarr"), chunks_per_batch=per_batch, progress=False)
    plain = xr.open_zarr(tmp_path / "plain.zarr", consolidated=True).compute()
    batched = xr.open_zarr(tmp_path / "batched.zarr", consolidated=True).compute()
    xr.testing.assert_identical(batched, plain)
    xr.testing.assert_identical(batched, ds.compute())
    assert batched.a.encoding["chunks"] == (64, 64)  # stored with the dask chunks


def test_the_scheduler_never_holds_the_whole_graph(tmp_path):
    distributed = pytest.importorskip("distributed")
    from distributed.diagnostics.plugin import SchedulerPlugin

    class MaxTasks(SchedulerPlugin):
        name = "max-tasks"

        def __init__(self):
            self.scheduler, self.most = None, 0

        async def start(self, scheduler):
            self.scheduler = scheduler

        def transition(self, key, start, finish, *args, **kwargs):
            self.most = max(self.most, len(self.scheduler.tasks))

    ds = _dataset()[["a", "b"]]
    total = len(dict(ds.to_zarr(tmp_path / "count.zarr", compute=False, zarr_format=2).__dask_graph__()))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        client.register_plugin(MaxTasks())
        write_zarr(ds, str(tmp_path / "out.zarr"), chunks_per_batch=4, progress=False)
        most = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["max-tasks"].most)
    assert 0 < most < total / 3, (most, total)
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "out.zarr").compute(), ds.compute())


def test_w_minus_refuses_an_existing_store_and_keeps_it(tmp_path):
    ds = _dataset()
    url = str(tmp_path / "kept.zarr")
    write_zarr(ds, url, progress=False)
    before = xr.open_zarr(url).compute()
    with pytest.raises(Exception, match="(?i)exist|contains"):
        write_zarr(ds * 0, url, mode="w-", progress=False)
    xr.testing.assert_identical(xr.open_zarr(url).compute(), before)


def test_compute_false_returns_one_delayed_write(tmp_path):
    ds = _dataset()
    url = str(tmp_path / "later.zarr")
    job = write_zarr(ds, url, compute=False)
    assert hasattr(job, "compute")
    job.compute()
    xr.testing.assert_identical(xr.open_zarr(url).compute(), ds.compute())


def test_an_array_is_sent_to_write_image(tmp_path):
    from labkit.errors import FormatError

    with pytest.raises(FormatError, match=r"numpy.ndarray.*labkit.write_image"):
        labkit.write_zarr(np.zeros((2, 4, 4)), str(tmp_path / "x.zarr"))
    assert not (tmp_path / "x.zarr").exists()
    assert "write_image" in dir(labkit)
