from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .probes import EXECUTED, NOTEBOOKS, PROBES, ROOT, probe_json, probed
from .run_all import as_notebook, problems, run_all

#: what library clean-up failures print into a cell (often from Dask workers exiting)
SHUTDOWN_NOISE = ("Unclosed client session", "Unclosed connector", "was not closed", "Exception ignored")


def shutdown_noise(executed: Path) -> list[str]:
    """Stream outputs of an executed notebook that carry shutdown warnings."""
    cells = json.loads(executed.read_text())["cells"]
    return [f"cell {i}: {''.join(o['text'])[:300]}" for i, c in enumerate(cells) for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and any(n in "".join(o["text"]) for n in SHUTDOWN_NOISE)]


def default_parameters(name: str) -> dict[str, Any]:
    """The values a notebook's ``parameters`` cell assigns (what ``make test-notebooks`` runs it with)."""
    cell = next(c for c in json.loads((NOTEBOOKS / name).read_text())["cells"]
                if "parameters" in c["metadata"].get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
            if isinstance(node, ast.Assign)}


def recorded(name: str) -> dict | None:
    """What the probe printed when ``make test-notebooks`` ran notebook ``name``, when that run is up to date.

    Up to date: run in this Python environment (not the itk profile's), newer than the notebook, the probes and
    every file of labkit's source, and its executed copy not replaced since (e.g. by ``make tutorials``).
    """
    path, executed = probe_json(name), EXECUTED / name
    if not (path.is_file() and executed.is_file()):
        return None
    record = json.loads(path.read_text())
    sources = [NOTEBOOKS / name, Path(__file__).with_name("probes.py")]
    for folder, dirs, files in os.walk(ROOT / "src" / "labkit"):
        dirs[:] = [d for d in dirs if d != "__pycache__"]  # written by whatever imports labkit
        sources += [Path(folder) / f for f in files]
    newest = max(p.stat().st_mtime for p in sources)
    fresh = newest < path.stat().st_mtime and executed.stat().st_mtime <= path.stat().st_mtime
    return record["values"] if fresh and record["python"] == sys.prefix else None


class Run(NamedTuple):
    values: dict  # what the probe printed
    executed: Path  # the executed notebook
    sandbox: Any  # the test sandbox it ran on; None for make test-notebooks' (gone, with its secrets)


@pytest.fixture(params=["local", "gateway"])
def backend(request) -> str:
    """Each parallel tutorial runs on both backends, with the same assertions."""
    return request.param


@pytest.fixture
def sandbox_slurm(sandbox):
    """The test sandbox with its SLURM running (started when first needed); no job may be left in its queue."""
    from tests.sandbox._slurm import squeue

    if "slurm" not in sandbox.records:
        sandbox.add(["slurm"])
    yield sandbox
    assert squeue(sandbox) == {}, "the tutorial left SLURM jobs in the queue"


def on_slurm_too(request) -> str:
    """A ``backend`` fixture's body for the tutorials that also run on the sandbox's SLURM (``make test``)."""
    if request.param == "slurm":
        request.getfixturevalue("sandbox_slurm")
    return request.param


@pytest.fixture
def run_notebook(request, tmp_path, monkeypatch):
    """A tutorial's probed values, executed on a backend.

    On the notebook's default backend, ``make test-notebooks`` already executed it as stored (Run All): its values
    are taken when up to date (:func:`recorded`), so a tutorial runs twice a ``make test`` (as stored, then on the
    other backend). Else the tutorial runs now, as JupyterLab's Run All does, against the test sandbox and with
    ``parameters``.
    """

    def run(name: str, **parameters) -> Run:
        if "backend" in parameters and parameters["backend"] == default_parameters(name).get("backend"):
            if (values := recorded(name)) is not None:
                assert shutdown_noise(EXECUTED / name) == []
                return Run(values, EXECUTED / name, None)
        sandbox = request.getfixturevalue("sandbox_env")
        # ipykernel stops forwarding what subprocesses (Dask workers) print when it sees this variable;
        # without it the cells show what a user would see
        monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
        # as JupyterLab's Run All: every cell sent at once, so what background threads print late shows
        parameters = {"mode": "sandbox", **parameters}
        probe = PROBES[name].source() if name in PROBES else ""
        outputs = run_all(NOTEBOOKS / name, parameters, probe, env=dict(os.environ), cwd=tmp_path)
        assert problems(outputs) == []
        executed = as_notebook(NOTEBOOKS / name, outputs, parameters, probe, tmp_path / "executed" / name)
        assert shutdown_noise(executed) == []
        return Run(probed(executed) if name in PROBES else {}, executed, sandbox)

    return run
