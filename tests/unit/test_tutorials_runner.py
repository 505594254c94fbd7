"""``labkit tutorials run`` (what ``make tutorials`` and ``make site`` use): a line per notebook as it starts and as it
ends, and no kernel warning about unencrypted TCP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _notebook(path: Path, cells: list[str]) -> Path:
    code = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
             "source": source} for i, source in enumerate(cells)]
    code[0]["metadata"]["tags"] = ["parameters"]
    nb = {"cells": code, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_each_notebook_is_announced_as_it_starts_and_ends_without_kernel_warnings(tmp_path):
    ok = _notebook(tmp_path / "00_fine.ipynb", ['mode = "sandbox"', "print(mode, 1 + 1)"])
    bad = _notebook(tmp_path / "01_fails.ipynb", ['mode = "sandbox"', "1 / 0"])
    run = subprocess.run([sys.executable, "-m", "labkit.cli", "tutorials", "run", str(ok), str(bad), "--live",
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    lines = run.stdout.splitlines()
    assert run.returncode == 1, run.stdout + run.stderr
    assert lines[0] == "00_fine.ipynb: running ..."
    assert lines[1].startswith("00_fine.ipynb: ok in ") and lines[1].endswith(" s")
    assert lines[2] == "01_fails.ipynb: running ..."
    assert lines[3].startswith("01_fails.ipynb: FAILED in ") and "ZeroDivisionError" in lines[3]
    assert "eavesdropping" not in run.stdout + run.stderr and "without encryption" not in run.stdout + run.stderr
    executed = json.loads((tmp_path / "out" / "00_fine.ipynb").read_text())
    assert "live 2" in "".join(executed["cells"][-1]["outputs"][0]["text"])


def test_run_all_refuses_a_python_warning_and_passes_plain_output(tmp_path):
    """A warning shows red under its cell in JupyterLab: the Run All check of the tutorials refuses it."""
    from tests.notebooks.run_all import problems, run_all

    nb = _notebook(tmp_path / "w.ipynb", ["x = 1", "import warnings\nwarnings.warn('shown in red', UserWarning)",
                                          "print('a warning is no problem in plain words')"])
    found = problems(run_all(nb, {}, cwd=tmp_path))
    assert len(found) == 1 and "UserWarning: shown in red" in str(found[0])
