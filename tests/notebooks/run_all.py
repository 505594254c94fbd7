"""Execute a notebook the way JupyterLab's Run All does: every code cell sent to one kernel at once.

papermill (nbclient) and nbval wait for each cell before sending the next; JupyterLab queues them all. Output that a
background thread writes late (a progress bar's listener on a closed comm, a worker's shutdown) then lands in
a later cell, which only this way of running shows. ``make test`` runs every tutorial so twice: as stored
(tests/notebooks/run_stored.py) and, from the notebook tests, on its other backend.
"""

from __future__ import annotations

import json
import queue
import re
import time
from pathlib import Path
from typing import Any

#: what must not appear in any output of a clean run: tracebacks, errors, what Python prints about objects it could
#: not finalise, warnings logged by Dask's ``distributed`` (``distributed.scheduler - WARNING - ...``), and the
#: HTTP clients left open (aiohttp's "Unclosed client session", "Unclosed connector", aiohttp-retry's "Aiohttp
#: retry client was not closed")
PROBLEMS = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|Exception ignored|CommClosedError|BrokenPipe"
                      r"|\bdistributed(\.\w+)* - WARNING\b|\bUnclosed\b|\bwas not closed\b"
                      r"|\b\w*Warning: ")  # a Python warning: red under the cell in JupyterLab


def run_all(notebook: Path, parameters: dict[str, Any], extra: str = "", timeout: float = 600,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> list[list[dict[str, Any]]]:
    """Outputs (iopub content dicts) of every code cell, the ``parameters`` set after the parameters cell.

    ``parameters`` are sent as one more cell after the parameters cell (none when empty: the notebook as stored).
    ``extra`` is one more cell at the end (the tests' probe). The cells run in ``cwd`` (default: the notebook's
    folder), where the notebooks write what they keep beside themselves.
    """
    from jupyter_client.manager import KernelManager

    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    sources = []
    for cell in cells:
        sources.append("".join(cell["source"]))
        if parameters and "parameters" in cell["metadata"].get("tags", []):
            sources.append("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    if extra:
        sources.append(extra)
    # encrypted (CurveZMQ), as labkit's own runner: no "Kernel is running over TCP without encryption" warning
    km = KernelManager(kernel_name="python3", transport_encryption="auto")
    km.start_kernel(cwd=str(cwd or notebook.parent), **({} if env is None else {"env": env}))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        ids = [kc.execute(src, store_history=False) for src in sources]  # all at once, as Run All
        outputs: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        idle: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(idle) < len(ids):
            try:
                if time.monotonic() > deadline:
                    raise queue.Empty
                msg = kc.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{notebook.name}: {len(ids) - len(idle)} cells still running after {timeout} s") \
                    from None
            parent = msg["parent_header"].get("msg_id")
            if parent not in outputs:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                idle.add(parent)
            elif kind in ("stream", "error", "display_data", "execute_result", "update_display_data"):
                outputs[parent].append({"type": kind, **msg["content"]})
        # late output: what background threads print after the last cell finished lands in the last cell
        time.sleep(2)
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                break
            if msg["msg_type"] in ("stream", "error"):
                cell = outputs.get(msg["parent_header"].get("msg_id"), outputs[ids[-1]])
                cell.append({"type": msg["msg_type"], **msg["content"]})
        return [outputs[i] for i in ids]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def text_of(output: dict[str, Any]) -> str:
    """The text an output shows (stream text, an error's traceback, the plain/HTML of a display)."""
    if output["type"] == "stream":
        return output["text"]
    if output["type"] == "error":
        return "\n".join(output.get("traceback", [])) + f"\n{output.get('ename')}: {output.get('evalue')}"
    data = output.get("data", {})
    return data.get("text/plain", "") + data.get("text/html", "")


def problems(outputs: list[list[dict[str, Any]]]) -> list[str]:
    """Every output of a run that shows an error, a traceback or a logged ERROR (cell number and text)."""
    return [f"cell {i}: {text_of(o)[:400]}" for i, cell in enumerate(outputs) for o in cell
            if o["type"] == "error" or PROBLEMS.search(text_of(o))]


def as_notebook(notebook: Path, outputs: list[list[dict[str, Any]]], parameters: dict[str, Any], extra: str,
                dest: Path) -> Path:
    """The run as an executed notebook at ``dest`` (nbformat), for the tests and the book to read.

    Each display is kept as its last update drew it (``update_display_data``, from any cell: labkit.progress's
    bar), as JupyterLab shows it; a cell's stream output is one output a stream, as nbclient writes it. The
    parameters, when any, are a cell of their own after the parameters cell (tagged ``injected-parameters``, as
    papermill's); the probe (``extra``) is the last cell. Code cells are numbered in order.
    """
    nb = json.loads(notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) + bool(parameters) + bool(extra) == len(outputs)
    last = {o["transient"]["display_id"]: o["data"] for cell in outputs for o in cell
            if o["type"] == "update_display_data" and o.get("transient", {}).get("display_id")}
    cells, k = [], 0
    for cell in nb["cells"]:
        cells.append(cell)
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], k = _nbformat(outputs[k], last), k + 1
        if parameters and "parameters" in cell["metadata"].get("tags", []):
            cells.append({"cell_type": "code", "execution_count": None, "id": "injected-parameters",
                          "metadata": {"tags": ["injected-parameters"]}, "outputs": _nbformat(outputs[k], last),
                          "source": "\n".join(f"{key} = {v!r}" for key, v in parameters.items())})
            k += 1
    if extra:
        from .probes import CELL_ID

        cells.append({"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {},
                      "outputs": _nbformat(outputs[k], last), "source": extra})
    for n, cell in enumerate((c for c in cells if c["cell_type"] == "code"), 1):
        cell["execution_count"] = n
        for o in cell["outputs"]:
            if o["output_type"] == "execute_result":
                o["execution_count"] = n
    nb["cells"] = cells
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb))
    return dest


def _nbformat(outputs: list[dict[str, Any]], last: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A cell's outputs in nbformat; ``last``: the data of each display's last update, by display id."""
    out: list[dict[str, Any]] = []
    for o in outputs:
        if o["type"] == "stream":
            if out and out[-1]["output_type"] == "stream" and out[-1]["name"] == o["name"]:
                out[-1]["text"] += o["text"]
            else:
                out.append({"output_type": "stream", "name": o["name"], "text": o["text"]})
        elif o["type"] == "error":
            out.append({"output_type": "error", "ename": o["ename"], "evalue": o["evalue"],
                        "traceback": o["traceback"]})
        elif o["type"] in ("display_data", "execute_result"):
            display_id = o.get("transient", {}).get("display_id")
            entry = {"output_type": o["type"], "data": last.get(display_id, o["data"]),
                     "metadata": o.get("metadata", {})}
            if o["type"] == "execute_result":
                entry["execution_count"] = o.get("execution_count")
            out.append(entry)
    for entry in out:
        if entry["output_type"] == "stream":
            entry["text"] = _terminal(entry["text"])
    return out


def _terminal(text: str) -> str:
    """Stream text as a terminal shows it: a carriage return rewrites its line, a backspace erases (as nbval)."""
    while (erased := re.sub(r"[^\n]\x08", "", text)) != text:
        text = erased
    return re.sub(r"^.*\r(?=[^\n])", "", text, flags=re.MULTILINE)
