"""Closing a local cluster, or retiring one of its workers, while a heartbeat is in flight prints nothing into the
notebook.

A closing worker shuts its connections to the scheduler; a heartbeat that waits on one then fails, and distributed
logs "Failed to communicate with scheduler during heartbeat" with a traceback into the cell that closed the cluster
(tutorial 03 under Run All, on a busy machine). The test makes that race certain: a worker plugin holds each
worker's heartbeat call until the worker closes (the plugin's teardown), then fails it as a cut connection does.
A heartbeat that fails while the worker runs is still reported.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

import labkit
from labkit._worker_preload import HEARTBEAT_FAILED, HEARTBEAT_MISSING
from tests.sandbox._slurm import wait_for

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


@pytest.mark.timeout(240)
def test_a_retired_worker_is_quiet_a_worker_the_scheduler_lost_is_not(capfd, caplog):
    """A worker the scheduler removed on purpose heartbeats into "missing": the race adaptive scaling runs into.

    ``retire_workers(close_workers=False)`` makes it certain: the worker is removed and not told to close, so its
    next heartbeat is answered "missing" and it closes itself (distributed's path for the race). A worker removed
    as lost goes the same way, and there both warnings are real and still show.
    """
    panel = labkit.start_cluster("local", workers=2)
    try:
        client = panel.client
        client.wait_for_workers(2)
        retired, lost = sorted(client.scheduler_info()["workers"])

        def nanny(address):  # the nanny learns its worker's address once the worker has registered
            return next((n for n in panel.cluster.workers.values() if n.worker_address == address), None)

        wait_for(lambda: nanny(retired) is not None, 90, "the nannies to know their workers")
        retired_nanny = nanny(retired)
        capfd.readouterr()

        client.retire_workers([retired], close_workers=False, remove=True)
        wait_for(lambda: retired_nanny.process is None or retired_nanny.process.status.name == "stopped", 90,
                 "the retired worker to close itself")
        err = capfd.readouterr().err + caplog.text  # the workers' log, and the scheduler's (in this process)
        assert "unregistered worker" not in err and HEARTBEAT_MISSING not in err and "Traceback" not in err, err

        async def lose(dask_scheduler, address=lost):
            await dask_scheduler.remove_worker(address, stimulus_id="test-lost", expected=False, close=False)

        client.run_on_scheduler(lose)
        shown = ""
        for _ in range(300):  # the lost worker's next heartbeat
            shown += capfd.readouterr().err
            if HEARTBEAT_MISSING in shown and f"unregistered worker '{lost}'" in caplog.text:
                break
            time.sleep(0.2)
        assert HEARTBEAT_MISSING in shown and f"unregistered worker '{lost}'" in caplog.text, (shown, caplog.text)
    finally:
        panel.close()


class AskNannyAtClose(distributed.WorkerPlugin):
    """As a worker that closes on its own: at its close, it calls its nanny, and says whether the nanny answered."""

    async def teardown(self, worker) -> None:
        from distributed.core import rpc

        try:
            async with rpc(worker.nanny, timeout=5) as nanny:
                await nanny.close_gracefully(reason="test")
            print("NANNY ANSWERED", file=sys.stderr, flush=True)
        except OSError as exc:
            print(f"NANNY GONE: {exc}", file=sys.stderr, flush=True)


@pytest.mark.timeout(240)
def test_a_nanny_answers_its_worker_until_the_worker_has_stopped(capfd):
    panel = labkit.start_cluster("local", workers=1)
    try:
        panel.client.wait_for_workers(1)
        panel.client.register_plugin(AskNannyAtClose(), name="ask-nanny")
    finally:
        panel.close()
    err = capfd.readouterr().err
    assert "NANNY ANSWERED" in err and "NANNY GONE" not in err and "killing" not in err, err


@pytest.mark.parametrize("status, shown", [("running", True), ("closing_gracefully", False), ("closed", False)])
def test_a_worker_process_that_closed_itself_does_not_report_its_stop_queue_closing(status, shown):
    """The worker process's own "Worker process died unexpectedly" (its nanny's stop queue, read at exit; seen once
    in make test after a worker closed itself) is dropped once the worker is closing or closed."""
    import logging
    from types import SimpleNamespace

    from labkit._worker_preload import STOP_QUEUE_CLOSED, QuietAtClose

    worker = SimpleNamespace(status=SimpleNamespace(name=status))
    record = logging.LogRecord("distributed.nanny", logging.ERROR, __file__, 1, STOP_QUEUE_CLOSED, None, None)
    assert QuietAtClose(worker).filter(record) is shown
