from __future__ import annotations

from pathlib import Path

import pytest

from labkit import tutorials

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def run_notebook(sandbox_env, tmp_path):
    """Execute a tutorial with papermill against the test sandbox; return its report and the executed path."""

    def run(name: str, **parameters):
        outcome = tutorials.run([NOTEBOOKS / name], tmp_path, {"mode": "sandbox", **parameters})[0]
        assert outcome.status == "ok", outcome.error
        executed = tmp_path / name
        return tutorials.read_report(executed), executed

    return run
