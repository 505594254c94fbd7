"""labkit's progress bars (downloads, ``ipfs add``, region writes) as a saved notebook keeps them: in their final state.

tqdm.auto's widget left only its first drawing in executed notebooks (the book showed ``0%| 0/42`` for tutorial 03
and ``ipfs add 0%| 0.00/43.2M`` for 02). Both ways labkit executes notebooks are checked: papermill
(``labkit tutorials run``, ``make tutorials``) and the Run All runner (``make test-notebooks``, which makes the book).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labkit import tutorials
from tests.notebooks.run_all import as_notebook, run_all

CELLS = [
    'mode = "sandbox"',
    # a write of 42 chunks, as tutorial 03's, in batches of 4
    "import dask.array as da\nimport xarray as xr\nimport labkit\nfrom labkit._bars import progress_bar\n"
    "ds = xr.Dataset({'v': (('y', 'x'), da.zeros((42, 8), chunks=(1, 8)))})\n"
    "labkit.write_zarr(ds, 'written.zarr', chunks_per_batch=4)",
    # bytes, as tutorial 02's ipfs add
    "with progress_bar(total=45_282_370, unit='B', unit_scale=True, unit_divisor=1024, desc='ipfs add x.zarr') as b:\n"
    "    for _ in range(10):\n        b.update(4_528_237)",
    # a failure part way
    "try:\n    with progress_bar(total=10, desc='fails') as bar:\n        bar.update(3)\n"
    "        raise OSError('gone')\nexcept OSError:\n    pass",
]


@pytest.fixture
def notebook(tmp_path) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(CELLS)]
    cells[0]["metadata"]["tags"] = ["parameters"]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "00_bars.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _bars(executed: Path) -> list[tuple[str, str, str, str]]:
    """Each bar the saved notebook shows: (value, max, colour, text), in order."""
    found = []
    for cell in json.loads(executed.read_text())["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data  # no widget that needs its state
            page = "".join(data.get("text/html", ""))
            for value, top, colour, text in re.findall(r"<progress value='([\d.]+)' max='([\d.]+)' style='[^']*"
                                                       r"accent-color: (#\w+)'></progress> <code>([^<]*)</code>", page):
                assert text.startswith("".join(data["text/plain"]).split(" [")[0])  # the same text, for text frontends
                found.append((value, top, colour, text))
    return found


def _check(bars: list[tuple[str, str, str, str]]) -> None:
    (v1, m1, c1, t1), (v2, m2, c2, t2), (v3, m3, c3, t3) = bars
    assert (v1, m1) == ("42", "42") and t1.startswith("write written.zarr: 100% 42/42 ") and c1 == "#2e7d32"
    assert (v2, m2) == ("45282370", "45282370") and t2.startswith("ipfs add x.zarr: 100% 43.2M/43.2M ")
    assert (v3, m3) == ("3", "10") and t3.startswith("fails: 30% 3/10 ") and c3 == "#c0392b"  # stopped: red


def test_papermill_keeps_each_bar_as_it_ended(notebook, tmp_path):
    [outcome] = tutorials.run([notebook], tmp_path / "out", echo=None)  # run in the notebook's folder
    assert outcome.status == "ok", outcome.error
    _check(_bars(tmp_path / "out" / notebook.name))


def test_run_all_keeps_each_bar_as_it_ended(notebook, tmp_path):
    outputs = run_all(notebook, {}, cwd=tmp_path)
    _check(_bars(as_notebook(notebook, outputs, {}, "", tmp_path / "executed.ipynb")))


def test_outside_jupyter_the_bar_is_tqdm_text(capsys):
    from labkit._bars import progress_bar

    with progress_bar(total=4, desc="steps") as bar:
        bar.update(4)
    assert "steps: 100%" in capsys.readouterr().err
