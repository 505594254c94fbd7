"""Set-up of the worker processes of labkit's local clusters (a Dask preload: ``dask_setup`` runs in each).

A worker that is closing shuts its connections to the scheduler while a heartbeat may still wait on one of them;
distributed then logs "Failed to communicate with scheduler during heartbeat" at ERROR with a traceback, and a
local worker's log goes to the notebook: red text in the cell that closed the cluster, after a run that went well
(seen on a busy machine). The message is dropped only while the worker closes; a running worker's still shows.
"""

from __future__ import annotations

import logging
from typing import Any

#: distributed's message (distributed.worker.Worker.heartbeat)
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"


class HeartbeatAtClose(logging.Filter):
    """Drops :data:`HEARTBEAT_FAILED` records logged while ``worker`` closes."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        closing = getattr(self.worker.status, "name", "") in {"closing", "closing_gracefully", "closed"}
        return not (closing and str(record.msg).startswith(HEARTBEAT_FAILED))


def dask_setup(worker: Any) -> None:
    """Called by distributed in each worker process as it starts."""
    logging.getLogger("distributed.worker").addFilter(HeartbeatAtClose(worker))
