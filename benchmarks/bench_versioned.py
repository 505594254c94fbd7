"""Versioned results (icechunk) on the sandbox S3: what a version costs.

- the cell pipeline run into a versioned store, again with nothing to recompute, against its first run (target:
  at most 0.1);
- publishing that version of the cell pipeline's results as an RO-Crate (a zip on S3; a package on IPFS) and
  verifying it, against the pipeline itself (report);
- tutorial 03's flood result written into a versioned store (icechunk's distributed write, one commit) against the
  same result written as tutorial 03 writes it (``labkit.write.write_zarr``, plain Zarr), both to the sandbox S3
  from the same result held by the workers, so that only the writes differ (target: at most 1.5).

``python benchmarks/bench_versioned.py`` runs it alone, with sandboxes of its own.
"""

from __future__ import annotations

import contextlib
import tempfile
import time

from bench_cells import fields, steps
from common import best_of, record
from dask.distributed import Client, LocalCluster

import labkit
from labkit.config import restore_environment, use_environment
from labkit.results import ResultStore

#: who the benchmark's packages credit (configuration, as for any publisher)
PUBLISHER = {"LABKIT_AUTHORS": "labkit benchmarks", "LABKIT_LICENSE": "CC0-1.0"}


@contextlib.contextmanager
def _environment(sb):
    """The sandbox's environment (and a publisher) in this process and the workers it starts."""
    use_environment({**PUBLISHER, **sb.env()})
    try:
        yield
    finally:
        restore_environment()


def run_cells(sb) -> None:
    """The cell pipeline of ``bench_cells`` into a versioned store on S3: first run, re-run, publish and verify."""
    with tempfile.TemporaryDirectory(prefix="labkit-versioned-") as tmp, _environment(sb):
        cells, bboxes = fields(f"{tmp}/fields")
        store = ResultStore(f"s3://results/bench-versioned-cells-{time.time_ns()}", versioned=True)
        select, norm, proj = steps(store)
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            client.run(lambda: (__import__("labkit.results"), __import__("icechunk")))  # imports are not timed

            def pipeline(message: str) -> float:
                t0 = time.perf_counter()
                with store.run(message):
                    selected = select.map(cells.cell_id, cells.fov_path, cells.labels_path, cells.label, bboxes)
                    proj.map(cells.cell_id, norm.map(cells.cell_id, selected))
                return time.perf_counter() - t0

            first = pipeline("first run")
            commits = len(store.history())
            second = pipeline("re-run")
        assert len(store.history()) == commits == 1, store.history()  # the re-run wrote nothing: no commit
        record("versioned cell pipeline: re-run / first run", second / first, "<= 0.10",
               f"{len(cells)} cells into an icechunk store on S3: first {first:.2f} s, re-run {second:.2f} s "
               "(every target fresh, no commit)")

        store.tag("v1")
        version = ResultStore(store.url, version="v1")
        published = {}
        for where, to in [("S3 zip", f"s3://results/bench-packages-{time.time_ns()}/cells-v1.zip"),
                          ("IPFS", "ipfs://")]:
            t0 = time.perf_counter()
            package = labkit.publish(version, to, name="Cells, version v1")
            report = labkit.verify(package)
            published[where] = time.perf_counter() - t0
            assert report.ok and len(package.files) == 3 * len(cells), report
        for where, seconds in published.items():
            record(f"publish + verify the cell pipeline's v1 ({where}) / the pipeline", seconds / first, "report",
                   f"{3 * len(cells)} results: {seconds:.2f} s against the pipeline's first run, {first:.2f} s")


def run_flood(sb) -> None:
    """Tutorial 03's flood result, written plain (``write_zarr``) and into a versioned store, to the sandbox S3."""
    from bench_flood import _aoi
    from icechunk.xarray import to_icechunk

    from labkit import recipes
    from labkit.results.versioned import node_name
    from labkit.stac import load_stac
    from labkit.write import write_zarr

    with _environment(sb), LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster):
        ds = load_stac(sb.stac.url, "GFM", bbox=_aoi(sb, 4), dtype="uint8", show=False,
                       bands=["ensemble_flood_extent", "ensemble_likelihood"], chunks={"x": 512, "y": 512, "time": -1})
        result = recipes.flood_summary(ds).persist()  # held by the workers: the writes alone are timed
        for var in result.variables.values():
            var.encoding = {}  # as computed, nothing carried over from the scenes' files
        chunks = sum(v.data.npartitions for v in result.data_vars.values())
        nbytes = sum(v.nbytes for v in result.data_vars.values())
        plain_url = f"s3://results/bench-flood-plain-{time.time_ns()}.zarr"
        store = ResultStore(f"s3://results/bench-flood-versions-{time.time_ns()}", versioned=True)

        def plain() -> None:
            write_zarr(result, plain_url, progress=False)

        def versioned() -> None:
            to_icechunk(result, store.session, group=node_name("flood.zarr"), mode="w")
            store.commit("flood result")

        plain(), versioned()  # the first of each warms connections and imports up
        t_plain, t_versioned = best_of(plain), best_of(versioned)
    assert len(store.history()) == 4, store.history()  # each versioned write was one commit
    record("versioned / plain write of the flood result (S3)", t_versioned / t_plain, "<= 1.5",
           f"{result.sizes['x']} x {result.sizes['y']} px, {len(result.data_vars)} variables, {chunks} chunks, "
           f"{nbytes / 2**20:.1f} MiB: icechunk (zarr 3, one commit) {t_versioned:.2f} s, write_zarr (zarr 2, "
           f"consolidated) {t_plain:.2f} s, best of 3")


def run(sb) -> None:
    """Both parts on one sandbox with S3, IPFS and the STAC API."""
    run_cells(sb)
    run_flood(sb)


if __name__ == "__main__":
    from pathlib import Path

    from common import print_table, sandbox

    with sandbox(["s3", "ipfs", "stac"], flood_size=4096, flood_dates=4) as sb:
        run(sb)
    print_table(Path("build/bench/versioned.json"))
