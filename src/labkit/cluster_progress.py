"""A progress bar for work on a Dask cluster that shows where it is asked for, whatever runs around it.

distributed's ``progress`` draws from a background thread: with JupyterLab's Run All (every cell queued at
once) its bar stays empty while the work runs, and when the cluster closes its listener logs a screen-long
``CommClosedError`` into whichever cell runs then. :func:`progress` waits in the calling cell instead: it asks
the scheduler how many of the work's tasks are done, redraws one HTML bar in place (a text bar outside
Jupyter), and leaves nothing behind when it returns. An executed notebook keeps the bar in its final state.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["progress"]

#: task states of finished work (a forgotten task is finished too: the scheduler drops what nobody needs)
_FINISHED = ("memory", "released", "forgotten", "erred")


def progress(work: Any, *, description: str = "tasks", interval: float = 0.25) -> Any:
    """Show the progress of futures on a Dask cluster until all are done; return them.

    Parameters
    ----------
    work : distributed.Future or iterable of futures
        What ``client.compute`` or ``client.map`` returned.
    description : str
        What the bar counts.
    interval : float
        Seconds between two redraws.

    Returns
    -------
    The futures given (their results are not gathered: call ``.result()`` or ``client.gather``).

    Examples
    --------
    >>> futures = client.compute(lazy)  # doctest: +SKIP
    >>> labkit.progress(futures)  # doctest: +SKIP
    >>> results = client.gather(futures)  # doctest: +SKIP
    """
    futures = _futures(work)
    if not futures:
        return work
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # _task_states by value: no labkit on a scheduler
    client, keys = futures[0].client, [f.key for f in futures]
    seen: dict[Any, str] = {}  # every task of the work met so far, and its last state
    bar = _Bar(description)
    t0 = time.monotonic()
    while True:
        finished = all(f.done() for f in futures)
        try:
            seen.update(client.run_on_scheduler(_task_states, keys=keys))
        except Exception:  # noqa: BLE001 - the scheduler went away: the futures say the rest
            finished = True
        done = sum(state in _FINISHED for state in seen.values())
        bar.draw(len(seen) if finished else done, len(seen), time.monotonic() - t0, _errors(futures))
        if finished:
            return work
        time.sleep(interval)


def _futures(work: Any) -> list[Any]:
    if hasattr(work, "key") and hasattr(work, "done"):
        return [work]
    if isinstance(work, Iterable) and not isinstance(work, (str, bytes)):
        return [f for item in work for f in _futures(item)]
    return []


def _errors(futures: list[Any]) -> int:
    return sum(f.status == "error" for f in futures)


def _task_states(dask_scheduler: Any, keys: list[Any]) -> dict[Any, str]:
    """On the scheduler: the state of every task the futures' keys depend on."""
    states: dict[Any, str] = {}
    stack = [dask_scheduler.tasks[k] for k in keys if k in dask_scheduler.tasks]
    while stack:
        ts = stack.pop()
        if ts.key not in states:
            states[ts.key] = ts.state
            stack.extend(ts.dependencies)
    return states



class _Bar:
    """One bar redrawn in place: HTML in Jupyter (kept in the notebook as last drawn), text elsewhere."""

    def __init__(self, description: str) -> None:
        from labkit._bars import in_notebook

        self.description = description
        self.notebook = in_notebook()
        self.handle = None

    def draw(self, done: int, total: int, seconds: float, errors: int) -> None:
        text = f"{done}/{total} {self.description} · {seconds:.1f} s" + (f" · {errors} failed" if errors else "")
        if not self.notebook:
            sys.stderr.write(f"\r{text}")
            if done == total:
                sys.stderr.write("\n")
            return
        from labkit._bars import show

        self.handle = show(done, max(total, 1), text, failed=bool(errors), handle=self.handle)
