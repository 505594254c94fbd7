from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import tutorials

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: what library clean-up failures print into a cell (often from Dask workers exiting)
SHUTDOWN_NOISE = ("Unclosed client session", "Unclosed connector", "was not closed", "Exception ignored")


def shutdown_noise(executed: Path) -> list[str]:
    """Stream outputs of an executed notebook that carry shutdown warnings."""
    cells = json.loads(executed.read_text())["cells"]
    return [f"cell {i}: {''.join(o['text'])[:300]}" for i, c in enumerate(cells) for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and any(n in "".join(o["text"]) for n in SHUTDOWN_NOISE)]


@pytest.fixture
def run_notebook(sandbox_env, tmp_path, monkeypatch):
    """Execute a tutorial with papermill against the test sandbox; return its report and the executed path."""

    def run(name: str, **parameters):
        # ipykernel stops forwarding what subprocesses (Dask workers) print when it sees this variable;
        # without it the cells show what a user would see
        monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
        outcome = tutorials.run([NOTEBOOKS / name], tmp_path, {"mode": "sandbox", **parameters})[0]
        assert outcome.status == "ok", outcome.error
        executed = tmp_path / name
        assert shutdown_noise(executed) == []
        return tutorials.read_report(executed), executed

    return run
