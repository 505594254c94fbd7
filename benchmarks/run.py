"""Run every benchmark and print a table of ratios measured in the same run (``make bench``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_cells  # noqa: E402
import bench_flood  # noqa: E402
import bench_idr  # noqa: E402
import bench_ipfs  # noqa: E402
import bench_nuclei  # noqa: E402
import bench_plates  # noqa: E402
import bench_s3  # noqa: E402
import bench_sandbox  # noqa: E402
import bench_scale  # noqa: E402
import bench_slurm  # noqa: E402
import bench_versioned  # noqa: E402
from common import print_table, sandbox  # noqa: E402

from labkit.sandbox.core import slurm_missing  # noqa: E402


def main() -> None:
    bench_sandbox.run()
    with sandbox(["s3", "ipfs"]) as sb:
        bench_s3.run(sb)
        bench_idr.run(sb)
        bench_ipfs.run(sb)
        bench_plates.run(sb)
        bench_scale.run(sb)
        bench_versioned.run_cells(sb)
    with sandbox(["s3", "stac", "gateway"], flood_size=4096, flood_dates=4) as sb:
        bench_flood.run(sb)
        bench_versioned.run_flood(sb)
    if not slurm_missing():  # Debian's SLURM packages (make setup installs them as root)
        with sandbox(["s3", "slurm"]) as sb:
            bench_slurm.run(sb)
    bench_cells.run()
    bench_nuclei.run()
    print_table(Path("build/bench/results.json"))


if __name__ == "__main__":
    main()
