"""Execute the tutorial notebooks headless with papermill and report how each went."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
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
    echo: Callable[[str], None] | None = print,
) -> list[Outcome]:
    """Execute each notebook into ``output`` with ``parameters`` injected; never stop at the first failure.

    ``echo`` gets a line as each notebook starts and one as it ends (its status and seconds); None: silent.
    The kernels talk to papermill encrypted (CurveZMQ) when their kernelspec allows it, so they do not warn
    that they run "over TCP without encryption".

    Examples
    --------
    >>> outcomes = run([Path("notebooks/00_sandbox_tour.ipynb")])  # doctest: +SKIP
    00_sandbox_tour.ipynb: running ...
    00_sandbox_tour.ipynb: ok in 41 s
    """
    pm = attempt_import("papermill")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for nb in notebooks:
        if echo is not None:
            echo(f"{nb.name}: running ...")
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(out / nb.name), parameters=parameters or {}, kernel_name=kernel,
                cwd=str(nb.parent), progress_bar=False, execution_timeout=timeout,
                kernel_manager_class=_encrypted_kernel_manager(),
            )
            outcomes.append(Outcome(nb.name, "ok", time.perf_counter() - t0))
        except Exception as exc:  # report every notebook, then fail
            first = str(exc).strip().splitlines()
            outcomes.append(Outcome(nb.name, "FAILED", time.perf_counter() - t0, first[-1] if first else repr(exc)))
        if echo is not None:
            done = outcomes[-1]
            echo(f"{done.notebook}: {done.status} in {done.seconds:.0f} s" + (f" ({done.error})" if done.error else ""))
    return outcomes


@cache
def _encrypted_kernel_manager() -> type:
    """jupyter_client's kernel manager with CurveZMQ keys for kernels whose kernelspec supports them.

    ipykernel otherwise logs "Kernel is running over TCP without encryption ... susceptible to eavesdropping"
    at every start (jupyter_client >= 8.10 provisions the keys; older versions ignore the setting).
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _transport_encryption_default(self) -> str:
            return "auto"

    return EncryptedKernelManager


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
