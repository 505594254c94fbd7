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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_folders_a_tutorial_writes_beside_itself_are_git_ignored(nb):
    """``results_url = "results"`` and the like: a Run All must not leave 51 MB for ``git add .`` (issue 29)."""
    import ast
    import shutil
    import subprocess

    git = shutil.which("git")
    root = nb.parents[1]
    if git is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    params = [c for c in _code(nb) if "parameters" in c["metadata"].get("tags", [])]
    folders = []
    for node in ast.walk(ast.parse("".join(params[0]["source"]) if params else "")):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id.endswith(("_url", "dest")) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            value = node.value.value
            if "://" not in value and "/" not in value.strip("/") and not value.endswith((".zarr", ".zip")):
                folders.append(value)  # a folder relative to the notebook
    for folder in folders:
        probe = f"notebooks/{folder}/x.parquet"
        out = subprocess.run([git, "check-ignore", "-q", probe], cwd=root, capture_output=True, timeout=60)
        assert out.returncode == 0, f"{nb.name} writes into notebooks/{folder}/, which .gitignore does not list"
