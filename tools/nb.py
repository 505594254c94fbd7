"""Build a notebook from a list of (kind, source) cells: outputs empty, one cell tagged ``parameters``.

Used to author the tutorials as reviewable text: ``python tools/nb.py`` is not needed to run them.
"""

from __future__ import annotations

import json
from pathlib import Path


def build(cells: list[tuple[str, str]], path: str | Path) -> None:
    """Write ``cells`` (``"md"``, ``"code"`` or ``"parameters"``) as an nbformat 4 notebook."""
    out = []
    for i, (kind, src) in enumerate(cells):
        src = src.strip("\n")
        lines = [line + "\n" for line in src.split("\n")]
        lines[-1] = lines[-1].rstrip("\n")
        cell = {"cell_type": "markdown" if kind == "md" else "code", "id": f"cell-{i:02d}", "metadata": {},
                "source": lines}
        if kind != "md":
            cell.update(execution_count=None, outputs=[])
            if kind == "parameters":
                cell["metadata"]["tags"] = ["parameters"]
        out.append(cell)
    nb = {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
