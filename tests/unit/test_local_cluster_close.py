"""Closing a local cluster while a worker's heartbeat is in flight prints nothing into the notebook.

A closing worker shuts its connections to the scheduler; a heartbeat that waits on one then fails, and distributed
logs "Failed to communicate with scheduler during heartbeat" with a traceback into the cell that closed the cluster
(tutorial 03 under Run All, on a busy machine). The test makes that race certain: a worker plugin holds each
worker's heartbeat call until the worker closes (the plugin's teardown), then fails it as a cut connection does.
A heartbeat that fails while the worker runs is still reported.
"""

from __future__ import annotations

import asyncio

import pytest

import labkit
from labkit._worker_preload import HEARTBEAT_FAILED

distributed = pytest.importorskip("distributed")


class CutHeartbeat(distributed.WorkerPlugin):
    """In each worker: one heartbeat whose call to the scheduler fails, at once or when the worker closes."""

    def __init__(self, at_close: bool) -> None:
        self.at_close = at_close

    async def setup(self, worker) -> None:
        from distributed.comm.core import CommClosedError

        self.closing = asyncio.Event()
        if not self.at_close:
            self.closing.set()

        async def heartbeat_worker(**kwargs):
            await self.closing.wait()
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")

        worker.scheduler.heartbeat_worker = heartbeat_worker
        self.heartbeat = asyncio.ensure_future(worker.heartbeat())

    async def teardown(self, worker) -> None:  # the worker is closing
        self.closing.set()
        await self.heartbeat  # it logs what failed and returns


@pytest.mark.timeout(240)
def test_a_heartbeat_cut_by_closing_is_not_shown_one_cut_while_running_is(capfd):
    panel = labkit.start_cluster("local", workers=2)
    try:
        panel.client.wait_for_workers(2)
        panel.client.register_plugin(CutHeartbeat(at_close=False), name="cut-now")
        running = ""
        for _ in range(100):  # what the worker processes log reaches stderr
            running += capfd.readouterr().err
            if running.count(HEARTBEAT_FAILED) >= 2:
                break
            panel.client.run(lambda: None)
        assert running.count(HEARTBEAT_FAILED) >= 2, running  # real failures are still shown
        panel.client.register_plugin(CutHeartbeat(at_close=True), name="cut-at-close")
    finally:
        panel.close()
    closing = capfd.readouterr().err
    assert HEARTBEAT_FAILED not in closing and "Traceback" not in closing, closing
