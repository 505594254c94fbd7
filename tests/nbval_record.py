"""pytest plugin for the nbval run of the stored notebooks: keep what it executed, outputs and all.

``make test`` runs every tutorial as stored, the way a user who opens it runs it (``pytest --nbval-lax``), and
the book is built from those executed copies (``build/tutorials``) instead of executing every tutorial again.
Loaded with ``-p tests.nbval_record``; the folder is ``$LABKIT_EXECUTED_DIR`` (default ``build/tutorials``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_NOTEBOOKS: dict[str, object] = {}  # path -> the nbval file collector (its .nb gets the outputs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when == "call" and hasattr(item, "test_outputs") and hasattr(item, "cell"):
        item.cell.outputs = list(item.test_outputs or [])
        item.cell.execution_count = item.cell_num
        _NOTEBOOKS[str(item.parent.fspath)] = item.parent


def pytest_sessionfinish(session, exitstatus):
    import nbformat

    out = Path(os.environ.get("LABKIT_EXECUTED_DIR", session.config.rootpath / "build" / "tutorials"))
    out.mkdir(parents=True, exist_ok=True)
    for path, collector in _NOTEBOOKS.items():
        if exitstatus == 0:
            nbformat.write(collector.nb, out / Path(path).name)
        else:  # a failed run leaves no executed copy the book could take for a good one
            (out / Path(path).name).unlink(missing_ok=True)
