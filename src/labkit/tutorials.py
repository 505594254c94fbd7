"""Execute the tutorial notebooks headless with papermill and report how each went."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._lazy import attempt_import


@dataclass(frozen=True)
class Outcome:
    """How one notebook run went."""

    notebook: str
    status: str
    seconds: float
    error: str = ""


def find_notebooks(folder: str | Path = "notebooks") -> list[Path]:
    """The tutorial notebooks in ``folder``, in order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def run(
    notebooks: list[Path],
    output: str | Path = "build/tutorials",
    parameters: dict[str, Any] | None = None,
    kernel: str = "python3",
    timeout: int = 1800,
) -> list[Outcome]:
    """Execute each notebook into ``output`` with ``parameters`` injected; never stop at the first failure."""
    pm = attempt_import("papermill")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for nb in notebooks:
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(out / nb.name), parameters=parameters or {}, kernel_name=kernel,
                cwd=str(nb.parent), progress_bar=False, execution_timeout=timeout,
            )
            outcomes.append(Outcome(nb.name, "ok", time.perf_counter() - t0))
        except Exception as exc:  # report every notebook, then fail
            first = str(exc).strip().splitlines()
            outcomes.append(Outcome(nb.name, "FAILED", time.perf_counter() - t0, first[-1] if first else repr(exc)))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """A plain-text table: notebook, status, seconds.

    Examples
    --------
    >>> print(table([Outcome("00_x.ipynb", "ok", 1.23)]))
    notebook      status   seconds
    00_x.ipynb    ok           1.2
    """
    width = max([len("notebook"), *(len(o.notebook) for o in outcomes)]) + 4
    lines = [f"{'notebook':{width}s}{'status':8s}{'seconds':>8s}"]
    for o in outcomes:
        lines.append(f"{o.notebook:{width}s}{o.status:8s}{o.seconds:8.1f}" + (f"   {o.error}" if o.error else ""))
    return "\n".join(lines)
