from __future__ import annotations

import json

import pytest

#: the default backend's run is make test's stored one (tests/notebooks/conftest.py)
pytestmark = pytest.mark.stored_runs


def test_tour_runs_and_prints_no_secret(run_notebook, sandbox):
    executed = run_notebook("00_sandbox_tour.ipynb").executed
    text = executed.read_text()
    assert "6001240" in text and "GFM" in text
    for secret in (sandbox.s3.secret, sandbox.s3.key, sandbox.gateway.password):
        assert secret not in text
    nb = json.loads(text)
    assert all(o.get("output_type") != "error" for c in nb["cells"] for o in c.get("outputs", []))
