"""SLURM against this machine: the whole-plate analysis on 2 SLURM workers against 2 local workers (the cost of the
scheduler: jobs, a scheduler the workers reach over TCP), and start_cluster to the first worker, SLURM / local.

Both clusters run on the same cores (the sandbox's SLURM node is this machine), so the ratios measure what SLURM
and dask-jobqueue add, not a bigger machine.
"""

from __future__ import annotations

import os
import tempfile
import time

from bench_plates import nuclei
from common import record

import labkit
from labkit.config import restore_environment, use_environment
from labkit.sandbox.core import PLATE_URLS


def _start(backend: str) -> tuple[float, labkit.ClusterPanel]:
    kw = {"memory": 2, "walltime": "01:00:00", "cores": 1} if backend == "slurm" else {"memory": 2}
    t0 = time.perf_counter()
    panel = labkit.start_cluster(backend, workers=1, **kw)
    return time.perf_counter() - t0, panel


def _analysis(backend: str, plate, store: str) -> tuple[float, dict]:
    """The whole plate through map_images on 2 single-threaded workers of ``backend`` (imports not timed)."""
    _, panel = _start(backend)
    try:
        panel.scale(2)
        panel.wait_for_workers(2, timeout=300)
        panel.client.run(lambda: __import__("labkit.segment") and __import__("skimage.morphology"))
        t0 = time.perf_counter()
        run = labkit.map_images(nuclei, plate, store=store, target="nuclei/{well}/{field}.parquet",
                                client=panel.client, progress=False)
        return time.perf_counter() - t0, run.state.value_counts().to_dict()
    finally:
        panel.close()


def run(sb) -> None:
    use_environment(sb.env())  # SLURM_CONF for the SLURM commands; the jobs inherit the S3 endpoint
    try:
        starts = {b: [] for b in ("local", "slurm")}
        for _ in range(3):
            for backend in starts:
                seconds, panel = _start(backend)
                panel.close()
                starts[backend].append(seconds)
        local_s, slurm_s = min(starts["local"]), min(starts["slurm"])
        record("start_cluster to the first worker: SLURM / local", slurm_s / local_s, "report",
               f"best of 3: local {local_s:.1f} s, SLURM {slurm_s:.1f} s (sbatch, the job starting, the worker "
               "connecting)")

        sb.plate_truth("0.4")
        plate = labkit.open_plate(PLATE_URLS["0.4"], endpoint_url=sb.s3.endpoint_url)
        with tempfile.TemporaryDirectory(prefix="labkit-slurm-") as tmp:
            local, states_local = _analysis("local", plate, f"{tmp}/local")
            slurm, states_slurm = _analysis("slurm", plate, f"{tmp}/slurm")
        assert states_local == states_slurm == {"computed": len(plate)}, (states_local, states_slurm)
        record("plate analysis on 2 SLURM workers / 2 local workers", local / slurm, ">= 0.9",
               f"{len(plate)} fields segmented and measured on {os.cpu_count()} cores: local {local:.1f} s, "
               f"SLURM {slurm:.1f} s")
    finally:
        restore_environment()


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from common import print_table, sandbox

    with sandbox(["s3", "slurm"]) as sb:
        run(sb)
    print_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/bench/slurm.json"))
