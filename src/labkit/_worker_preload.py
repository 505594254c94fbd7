"""Set-up of the worker processes of labkit's local clusters (a Dask preload: ``dask_setup`` runs in each).

Two races of a worker's heartbeat with its own end print red text into a notebook after a run that went well
(each seen on a busy machine), because a local worker's log goes to the notebook:

- a worker that is closing shuts its connections to the scheduler while a heartbeat may still wait on one of them;
  distributed then logs "Failed to communicate with scheduler during heartbeat" at ERROR with a traceback;
- a worker being retired (adaptive scaling) is removed by the scheduler before it is told to close; a heartbeat in
  between is answered "missing" and distributed logs "Scheduler was unaware of this worker; shutting down."

And a worker that closed on its own (told by the scheduler, not by its nanny) ends its process while a thread still
waits for the nanny's stop message; that thread then reads a closed pipe and logs "Worker process died unexpectedly"
at ERROR with a traceback.

These messages are dropped only while the worker is being retired or closes, or once it has closed; a running
worker's still show.
"""

from __future__ import annotations

import logging
from typing import Any

#: distributed's messages (distributed.worker.Worker.heartbeat)
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"
HEARTBEAT_MISSING = "Scheduler was unaware of this worker"
#: distributed's message (distributed.nanny.WorkerProcess._run's watch_stop_q, in the worker process)
STOP_QUEUE_CLOSED = "Worker process died unexpectedly"


class QuietAtClose(logging.Filter):
    """Drops the messages above while ``worker`` is retired or closes, and once it has closed."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        closing = getattr(self.worker.status, "name", "") in {"closing", "closing_gracefully", "closed"}
        return not (closing and str(record.msg).startswith((HEARTBEAT_FAILED, HEARTBEAT_MISSING, STOP_QUEUE_CLOSED)))


def dask_setup(worker: Any) -> None:
    """Called by distributed in each worker process as it starts."""
    quiet = QuietAtClose(worker)
    logging.getLogger("distributed.worker").addFilter(quiet)
    logging.getLogger("distributed.nanny").addFilter(quiet)  # the worker process's side of its nanny
