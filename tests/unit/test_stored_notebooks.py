"""The tutorials as stored: no outputs but the expected ones, one parameters cell, one notebook for two backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARALLEL = [nb for nb in NOTEBOOKS if nb.name[:2] in ("01", "02", "03", "04", "05")]


def _code(nb: Path) -> list[dict]:
    return [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_but_the_checked_ones(nb):
    for cell in _code(nb):
        checked = "".join(cell["source"]).startswith("# NBVAL_CHECK_OUTPUT")
        if checked:  # make test-notebooks compares them (as nbval-lax): stored as run, with their output
            assert cell["outputs"] and cell["execution_count"], f"{nb.name}: a checked cell without its output"
        else:
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{nb.name}: stored with outputs"
    assert not any("report(" in "".join(c["source"]) for c in _code(nb)), "cells that only feed tests"


@pytest.mark.parametrize("nb", PARALLEL, ids=lambda p: p.stem)
def test_one_parameters_cell_with_a_backend(nb):
    params = [c for c in _code(nb) if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    assert "backend = " in "".join(params[0]["source"])
    assert not any("LocalCluster(" in "".join(c["source"]) for c in _code(nb)), "a cluster built by hand"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_labels_drawn_on_images_are_outlined(nb):
    """White text on a bright image (04's scale bars on cyan) is unreadable without a dark outline."""
    for cell in _code(nb):
        source = "".join(cell["source"])
        for line in (s for s in source.splitlines() if "ax.text(" in s and 'color="white"' in s):
            assert "path_effects" in source[source.index(line):].split("\n\n")[0], f"{nb.name}: {line.strip()}"
