from __future__ import annotations

import pytest

from labkit.synthetic.plate import EMPTY_WELLS
from tests.sandbox._slurm import needs_slurm

from .conftest import default_parameters, on_slurm_too

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py)
pytestmark = pytest.mark.stored_runs

COLUMNS = default_parameters("05_screen.ipynb")["columns"] or range(1, 13)  # as stored (None: the whole plate)
#: fields analysed in each well, as stored (None: all 6 of the plate, IDR plate 2551's number)
FIELDS = default_parameters("05_screen.ipynb")["fields"] or 6
#: wells of those columns with images (the sandbox plate has 8 rows x 12 columns, and empty wells)
WELLS = [f"{r}{c}" for r in "ABCDEFGH" for c in COLUMNS if f"{r}{c}" not in EMPTY_WELLS]


# on SLURM, 01 took 8.5 min on two cores with a load average of 15 (other test runs): a longer timeout there
@pytest.fixture(params=["local", "gateway", pytest.param("slurm", marks=[needs_slurm, pytest.mark.timeout(900)])])
def backend(request) -> str:
    """This tutorial runs on every backend, the sandbox's SLURM too, with the same assertions."""
    return on_slurm_too(request)


def test_screen_notebook_on_both_backends(run_notebook, backend, tmp_path):
    values = run_notebook("05_screen.ipynb", backend=backend, results_url=str(tmp_path / "results")).values
    assert sorted(values["counts"]) == sorted(WELLS)  # every well of the columns chosen
    assert values["wells"] == len(WELLS) and values["fields"] == FIELDS * len(WELLS)  # the fields chosen, all wells
    assert values["fields_per_well"] == [FIELDS]
    assert values["field_dims"] == ["c", "z", "y", "x"]  # 3D fields, as in IDR plate 2551
    assert values["channel"] == "Cascade blue"  # the live plate's nuclear channel, in both modes
    assert values["first_states"] == {"computed": values["fields"]}
    assert values["rerun_states"] == {"read back": values["fields"]}  # nothing recomputed
    counts, truth = values["counts"], values["truth"]
    assert set(counts) <= set(truth) and not set(counts) & set(EMPTY_WELLS)
    # nuclei per well (FIELDS fields of 1-11 nuclei) against the synthetic plate's truth
    misses = {w: (counts[w], truth[w]) for w in counts if abs(counts[w] - truth[w]) > max(2, 0.15 * truth[w])}
    assert len(misses) <= 0.05 * len(counts), misses
    agreement = values["agreement"]
    assert agreement["wells"] == len(counts) and agreement["correlation"] >= 0.95
    assert agreement["mean_abs_difference"] == pytest.approx(
        sum(abs(counts[w] - truth[w]) for w in counts) / len(counts))
    assert agreement["mean_abs_difference"] <= 1.5
    assert values["cluster"] is None  # the notebook shut its cluster down
    assert values["clusters_left"] == []  # none left on the sandbox's gateway
