from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import tutorials

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: what library clean-up failures print into a cell (often from Dask workers exiting)
SHUTDOWN_NOISE = ("Unclosed client session", "Unclosed connector", "was not closed", "Exception ignored")
PROBE = "LABKIT-PROBE:"


def shutdown_noise(executed: Path) -> list[str]:
    """Stream outputs of an executed notebook that carry shutdown warnings."""
    cells = json.loads(executed.read_text())["cells"]
    return [f"cell {i}: {''.join(o['text'])[:300]}" for i, c in enumerate(cells) for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and any(n in "".join(o["text"]) for n in SHUTDOWN_NOISE)]


def with_probe(source: Path, dest: Path, probe: dict[str, str]) -> Path:
    """A copy of a notebook with one more cell at the end that prints ``probe``'s expressions, evaluated, as JSON.

    The stored notebooks carry no cells for the tests: the tests read the notebook's own variables this way.
    """
    nb = json.loads(source.read_text())
    values = "{" + ", ".join(f"{name!r}: {expr}" for name, expr in probe.items()) + "}"
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "labkit-probe", "metadata": {},
                        "outputs": [], "source": f"import json\nprint({PROBE!r} + json.dumps({values}, default=str))"})
    dest.mkdir(parents=True, exist_ok=True)
    (dest / source.name).write_text(json.dumps(nb))
    return dest / source.name


def probed(executed: Path) -> dict:
    """The values the probe cell printed."""
    for cell in json.loads(executed.read_text())["cells"]:
        for o in cell.get("outputs", []):
            text = "".join(o.get("text", ""))
            if o.get("output_type") == "stream" and PROBE in text:
                return json.loads(text.split(PROBE, 1)[1])
    raise AssertionError(f"the probe cell printed nothing in {executed}")


@pytest.fixture(params=["local", "gateway"])
def backend(request) -> str:
    """Each parallel tutorial runs on both backends, with the same assertions."""
    return request.param


@pytest.fixture
def run_notebook(sandbox_env, tmp_path, monkeypatch):
    """Execute a tutorial with papermill against the test sandbox; return the probed values and the executed path."""

    def run(name: str, probe: dict[str, str] | None = None, **parameters):
        # ipykernel stops forwarding what subprocesses (Dask workers) print when it sees this variable;
        # without it the cells show what a user would see
        monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
        source = with_probe(NOTEBOOKS / name, tmp_path / "source", probe or {}) if probe else NOTEBOOKS / name
        outcome = tutorials.run([source], tmp_path / "executed", {"mode": "sandbox", **parameters})[0]
        assert outcome.status == "ok", outcome.error
        executed = tmp_path / "executed" / name
        assert shutdown_noise(executed) == []
        return (probed(executed) if probe else {}), executed

    return run
