"""Tutorial 01 on a cluster: SLURM's where SLURM is installed (its blockwise 3D nuclei on jobs, as on HPC), else the
gateway's (which tutorials 03 and 05 run too), with the assertions of its local run.

01 is the longest tutorial (about 3 min idle). This run executes it anew, so it needs nothing from make test's
stored runs and is scheduled among the suite's long files: waiting for them, it ended make test 2.5 min after
the other notebook tests had started.
"""

from __future__ import annotations

import pytest

from labkit.sandbox.core import slurm_missing

from .conftest import on_slurm_too
from .test_01_idr_segmentation import check_counts_and_nuclei


# On SLURM, 01 took 8.5 min on two cores with a load average of 15: a longer timeout.
@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.timeout(900)) if not slurm_missing() else "gateway"])
def backend(request) -> str:
    return on_slurm_too(request)


def test_counts_the_nuclei_of_every_plane_on_a_cluster(run_notebook, backend):
    check_counts_and_nuclei(run_notebook("01_idr_segmentation.ipynb", backend=backend).values)
