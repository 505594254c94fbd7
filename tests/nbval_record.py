"""pytest plugin for the nbval run of the stored notebooks: keep what it executed, outputs and all.

``make test`` runs every tutorial as stored, the way a user who opens it runs it (``pytest --nbval-lax``), on
copies that end with the tests' probe cell (tests/notebooks/probes.py). The book is built from those executed
copies (``build/tutorials``), without the probe cell, instead of executing every tutorial again; what the probe
printed is kept beside each (``<name>.probe.json``), for the notebook tests of its default backend.
Loaded with ``-p tests.nbval_record``; the folder is ``$LABKIT_EXECUTED_DIR`` (default ``build/tutorials``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.notebooks.probes import EXECUTED, probe_json, take_probe

_NOTEBOOKS: dict[str, object] = {}  # path -> the nbval file collector (its .nb gets the outputs)


def pytest_configure(config):
    # nbval starts a notebook's kernel while pytest's PYTEST_CURRENT_TEST is set, and ipykernel then stops
    # forwarding what subprocesses (Dask workers) print: start it without, so the cells show what a user sees
    # (and the notebook tests' check for shutdown noise sees it too)
    from nbval import kernel

    start = kernel.start_new_kernel

    def start_new_kernel(**kwargs):
        return start(env={k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}, **kwargs)

    kernel.start_new_kernel = start_new_kernel


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when == "call" and hasattr(item, "test_outputs") and hasattr(item, "cell"):
        item.cell.outputs = list(item.test_outputs or [])
        item.cell.execution_count = item.cell_num
        _NOTEBOOKS[str(item.parent.fspath)] = item.parent


def pytest_sessionfinish(session, exitstatus):
    import nbformat

    EXECUTED.mkdir(parents=True, exist_ok=True)
    for path, collector in _NOTEBOOKS.items():
        name = Path(path).name
        probe_json(name).unlink(missing_ok=True)
        if exitstatus == 0:
            values = take_probe(collector.nb)  # the book shows no probe cell
            nbformat.write(collector.nb, EXECUTED / name)
            if values is not None:  # written after the notebook: the tests check it is newer than its notebook
                probe_json(name).write_text(json.dumps({"python": sys.prefix, "values": values}))
        else:  # a failed run leaves no executed copy the book could take for a good one, nor probe values
            (EXECUTED / name).unlink(missing_ok=True)
