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

_KEY = "labkit_display_id"  # marks a kept display with its id, until its last update is applied
_LAST: dict[str, dict] = {}  # display_id -> the data of its last update


def _apply_display_updates() -> None:
    """nbval keeps displays but drops their updates (``update_display_data``): keep them too, as JupyterLab and
    nbclient do, so a display redrawn in place (labkit.progress's bar) is kept as last drawn
    (:func:`_updated`)."""
    from nbval.plugin import IPyNbFile

    if getattr(IPyNbFile.get_kernel_message, "applies_updates", False):
        return
    original = IPyNbFile.get_kernel_message

    def get_kernel_message(self, timeout=None, stream="iopub"):
        msg = original(self, timeout=timeout, stream=stream)
        display_id = msg.get("content", {}).get("transient", {}).get("display_id")
        if display_id and msg["msg_type"] == "display_data":
            msg["content"].setdefault("metadata", {})[_KEY] = display_id  # nbval copies the metadata
        elif display_id and msg["msg_type"] == "update_display_data":
            _LAST[display_id] = msg["content"]["data"]
            msg = {**msg, "msg_type": "comm_update"}  # handled: nbval skips comm messages
        return msg

    get_kernel_message.applies_updates = True
    IPyNbFile.get_kernel_message = get_kernel_message


def _updated(outputs: list) -> list:
    """The outputs with each display as its last update drew it."""
    for out in outputs:
        display_id = out.get("metadata", {}).pop(_KEY, None)
        if display_id in _LAST:
            out["data"] = _LAST[display_id]
    return outputs


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
    _apply_display_updates()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when == "call" and hasattr(item, "test_outputs") and hasattr(item, "cell"):
        item.cell.outputs = _updated(list(item.test_outputs or []))
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
