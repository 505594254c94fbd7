"""ClusterPanel: one object that is both the Python API and the JupyterLab widget for a Dask cluster.

Three backends: ``"local"`` (this machine), ``"gateway"`` (a dask-gateway server, e.g. on Kubernetes) and
``"slurm"`` (workers as SLURM jobs, through dask-jobqueue: :mod:`labkit.slurm`).

Headless code calls the same methods the buttons call::

    with ClusterPanel(backend="gateway", options={"worker_cores": 1}) as panel:
        panel.start()
        panel.adapt(1, 4)
        client = panel.client
        ...
    # the cluster is shut down here
"""

from __future__ import annotations

import atexit
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from labkit import cluster_versions
from labkit._lazy import attempt_import
from labkit._text import plural as _plural
from labkit.errors import ConfigurationError, LabkitError, ServiceUnavailableError

log = logging.getLogger("labkit.cluster_panel")
BACKENDS = ("local", "gateway", "slurm")
# Messages the client keeps of what it sent, for debugging only. distributed's default (1000) keeps every
# task graph under 1 MB the client submitted, and labkit.write.write_zarr submits one small graph per region.
CLIENT_MESSAGE_LOG = 0


#: seconds a local worker process has to exit once asked to close (distributed's nanny waits 4 s, then kills it)
WORKER_EXIT_TIMEOUT = 60


@functools.cache
def _patient_nanny() -> type:
    """The ``distributed.Nanny`` that gives its worker :data:`WORKER_EXIT_TIMEOUT` s to exit, and a quiet close.

    A worker that has read through zarr, aiohttp and IPFS holds some 1,800 modules; Python 3.13 takes seconds to
    finalise them, and on a busy machine more than the 4 s the nanny allows by default: it then kills the process
    and logs "Worker process still alive after 4.0 seconds, killing" into the cell that closed the cluster. And the
    worker is quiet about a heartbeat its own close cuts (:mod:`labkit._worker_preload`). And it stops its worker
    before it stops listening (:meth:`close`).
    """
    distributed = attempt_import("distributed")
    Status = distributed.core.Status

    class PatientNanny(distributed.Nanny):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # labkit's preload beside any the user configured
            preload = kwargs.pop("preload", None) or attempt_import("dask").config.get("distributed.worker.preload")
            preload = [preload] if isinstance(preload, str) else list(preload)
            super().__init__(*args, preload=[*preload, "labkit._worker_preload"], **kwargs)

        async def close(self, timeout: float = WORKER_EXIT_TIMEOUT, reason: str = "nanny-close") -> Any:
            # distributed's nanny stops listening, then stops its worker; a worker that began to close on its own
            # (the scheduler's close, or a heartbeat that found it retired, crossed ours) then tells the nanny
            # so, waits 30 s on a port no one answers, and is killed with an error and a traceback in the
            # notebook (seen under adaptive scaling on a busy machine). So the worker stops first, while its
            # nanny still answers.
            if self.process is not None and self.status not in (Status.closing, Status.closed):
                self.status = Status.closing_gracefully  # its worker's exit is no reason to start another
                try:
                    await self.kill(timeout=timeout, reason=reason)
                except TimeoutError:  # a killed worker that lingers: close all the same, as distributed does
                    log.warning("worker process of %s did not exit; the nanny closes without it", self.name)
                    self.process = None
            return await super().close(timeout=timeout, reason=reason)

    return PatientNanny


class RetiredHeartbeat(logging.Filter):
    """Drops the scheduler's warning of a heartbeat from a worker it removed on purpose (local clusters).

    Adaptive scaling retires a worker: the scheduler removes it and then tells it to close, and a heartbeat the
    worker sent in between is answered "missing" with "Received heartbeat from unregistered worker" in the
    notebook (a race distributed's own comments call common). The warning is dropped only when the scheduler's
    events show that it removed that worker as expected; a heartbeat from a worker it never knew or lost still
    shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the warning of a heartbeat from a worker that a scheduler in this process retired."""
        match = UNREGISTERED_HEARTBEAT.match(str(record.msg))
        if match is None:
            return True
        schedulers = list(getattr(attempt_import("distributed").Scheduler, "_instances", ()))  # in this process
        return not any(isinstance(event, dict) and event.get("action") == "remove-worker" and event.get("expected")
                       for scheduler in schedulers for _, event in scheduler.get_events(match["address"]))


#: distributed's message (distributed.scheduler.Scheduler.heartbeat_worker)
UNREGISTERED_HEARTBEAT = re.compile(r"Received heartbeat from unregistered worker '(?P<address>[^']+)'")


@functools.cache
def _quiet_retirements() -> None:
    """Install :class:`RetiredHeartbeat` on distributed's scheduler log (once)."""
    logging.getLogger("distributed.scheduler").addFilter(RetiredHeartbeat())


class ClusterPanel:
    """A local, dask-gateway or SLURM cluster with start, scale, adapt, close and a live status.

    Parameters
    ----------
    backend : {"local", "gateway", "slurm"}
        Where the workers run: this machine, a dask-gateway, or SLURM jobs (one job holds ``processes``
        workers; the SLURM commands read ``$SLURM_CONF``).
    address : str, optional
        Gateway address (default: :func:`labkit.connect.gateway`'s lookup). When none is
        found, ``backend="gateway"`` is an error that says what to set: a local cluster runs only
        when asked for (``backend="local"``).
    auth : dask_gateway.auth.GatewayAuth, optional
        Gateway authentication (default: from the environment, dask config or sandbox).
    options : mapping, optional
        Gateway cluster options (``worker_cores``, ``worker_memory``, ``image`` ...); for
        the local backend ``threads_per_worker`` and ``memory_limit``; for SLURM the arguments of
        :func:`labkit.slurm.slurm_cluster` (``cores``, ``memory`` GiB a worker, ``processes``, ``walltime``,
        ``queue``, ``account``, ``job_extra_directives``, ``scheduler_options`` ...), whose defaults come from
        dask's ``jobqueue.slurm`` configuration.
    refresh : float
        Seconds between status refreshes of the widget.

    Examples
    --------
    >>> panel = ClusterPanel(backend="local")
    >>> panel.status["workers"]
    0
    """

    versions: Any = None  # the last check of client, scheduler and worker versions (labkit.cluster_versions)

    def __init__(
        self,
        backend: str = "local",
        address: str | None = None,
        auth: Any = None,
        options: Mapping[str, Any] | None = None,
        *,
        refresh: float = 2.0,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigurationError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self.backend = backend
        self.address = address
        self.auth = auth
        self.options_values = dict(options or {})
        self.refresh = refresh
        self.messages: list[str] = []
        self.cluster: Any = None
        self._client: Any = None
        self._gateway: Any = None
        self._options: Any = None
        self._widgets: dict[str, Any] | None = None
        self._stop_refresh = threading.Event()
        self._lock = threading.RLock()
        self._adapt = (1, 4)  # what the panel's Min and Max show: the last adapt() asked
        if backend == "gateway":
            self._connect_gateway()
        if backend == "slurm":
            _sandbox_slurm()

    # ------------------------------------------------------------------ gateway
    def _connect_gateway(self) -> None:
        from labkit import connect

        self._gateway = connect.gateway(self.address, self.auth)  # no address: ConfigurationError, no fallback
        self.address = self._gateway.address
        self._options = self._gateway.cluster_options()
        for key, value in self.options_values.items():
            if key not in self._options:
                raise ConfigurationError(f"the gateway at {self.address} has no option {key!r}; it offers "
                                         f"{list(self._options)}")
            try:
                self._options[key] = value
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"the gateway at {self.address} refuses {key}={value!r}: {exc}") from None

    @property
    def cluster_options(self) -> Any:
        """The gateway's cluster options (typed, validated fields), or ``None`` for a local cluster."""
        return self._options

    # ------------------------------------------------------------------ life cycle
    def start(self) -> ClusterPanel:
        """Create the cluster and its client (no workers until :meth:`scale` or :meth:`adapt`)."""
        with self._lock:
            if self.cluster is not None:
                return self
            if self.backend == "gateway":
                self.cluster = _new_gateway_cluster(self._gateway, self._options)
            elif self.backend == "slurm":
                from labkit import slurm

                cluster = slurm.slurm_cluster(**self.options_values)
                try:
                    slurm.check_submission(cluster)  # sbatch --test-only: a refusal now, not a silent log later
                except BaseException:
                    cluster.close()
                    raise
                self.cluster = cluster
            else:
                distributed = attempt_import("distributed")
                _quiet_retirements()
                kw = {"threads_per_worker": 1, **self.options_values}
                self.cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                                                        worker_class=_patient_nanny(), **kw)
            with attempt_import("dask").config.set({"distributed.admin.low-level-log-length": CLIENT_MESSAGE_LOG}), \
                    cluster_versions.quiet():
                self._client = self._get_client()
            atexit.register(self.close)
            self._say(f"started a {self.backend} cluster ({self.cluster.name})")
            cluster_versions.check_panel(self)  # client against scheduler: a mismatch is said here and warned
        self._start_refresh()
        return self

    def _get_client(self) -> Any:
        if self.backend != "gateway":
            return self.cluster.get_client()
        try:
            return self.cluster.get_client()
        except (OSError, TimeoutError) as exc:  # the scheduler proxy does not lead to the scheduler
            proxy = self._gateway.proxy_address
            self.cluster.shutdown()
            self.cluster = None
            raise ServiceUnavailableError(
                f"the gateway at {self.address} started a cluster, but its scheduler cannot be reached through "
                f"the scheduler proxy {proxy} ({exc.__class__.__name__}); the cluster was shut down. Check the "
                "proxy address ($LABKIT_GATEWAY_PROXY_ADDRESS or the dask config key gateway.proxy-address; "
                "EODC's is tcp://dask.services.eodc.eu:10000)."
            ) from None

    def _require(self) -> Any:
        if self.cluster is None:
            raise LabkitError("the cluster is not running: call start() (or press Start) first")
        return self.cluster

    def scale(self, n: int) -> None:
        """Ask for exactly ``n`` workers."""
        if n < 0:
            raise ConfigurationError(f"cannot scale to {n} workers")
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._require().scale(int(n))
        limits = [str(w.message) for w in caught if type(w.message).__name__ == "GatewayWarning"]
        for w in caught:
            if str(w.message) not in limits:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._say(f"asked for {_plural(n, 'worker')}; the gateway said: {limits[0]}" if limits
                  else f"scaling to {_plural(n, 'worker')}")

    def adapt(self, minimum: int = 1, maximum: int = 4) -> None:
        """Let the number of workers follow the load, between ``minimum`` and ``maximum``."""
        if not 0 <= minimum <= maximum:
            raise ConfigurationError(f"adapt needs 0 <= minimum <= maximum, got {minimum}, {maximum}")
        self._require().adapt(minimum=minimum, maximum=maximum)
        self._adapt = (minimum, maximum)
        if self._widgets is not None:  # the panel shows what code asked for, as the buttons do
            self._widgets["minimum"].value, self._widgets["maximum"].value = minimum, maximum
        self._say(f"adapting between {minimum} and {_plural(maximum, 'worker')}")

    def wait_for_workers(self, n: int = 1, timeout: float = 120) -> None:
        """Block until ``n`` workers are connected.

        On SLURM the jobs are watched meanwhile: a job that ``sbatch`` refused, or that is pending for a reason
        no wait resolves (a walltime above the partition's limit, an account it does not accept), is an error
        at once, and the timeout's error gives each job's state and pending reason.
        """
        if self.backend == "slurm":
            from labkit import slurm

            slurm.wait_for_workers(self._require(), self.client, n, timeout=timeout)
        else:
            self.client.wait_for_workers(n, timeout=timeout)
        cluster_versions.check_panel(self)  # and against the workers

    def close(self) -> None:
        """Shut the cluster down (always safe to call; also runs at exit)."""
        self._stop_refresh.set()
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                except Exception as exc:  # noqa: BLE001 - closing must not fail
                    log.debug("closing the client: %s", exc)
                self._client = None
            if self.cluster is not None:
                name = self.cluster.name
                try:
                    if self.backend == "gateway":
                        self.cluster.shutdown()
                    else:
                        self.cluster.close()
                except Exception as exc:  # noqa: BLE001
                    log.debug("closing the cluster: %s", exc)
                if self.backend == "slurm":  # every job it submitted, also those dask-jobqueue forgot
                    from labkit import slurm

                    jobs = self.cluster.labkit_jobs
                    try:
                        try:
                            jobs = list(slurm.queue(jobs))
                        except LabkitError:  # squeue failed: cancel every job it submitted, to be sure
                            pass
                        slurm.cancel(jobs)
                    except Exception as exc:  # noqa: BLE001
                        self._say(f"could not cancel the SLURM jobs {jobs}: {exc}")
                self.cluster = None
                self._say(f"cluster {name} shut down")
            atexit.unregister(self.close)
        self._update_widget()

    def __enter__(self) -> ClusterPanel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self._gateway is not None:
            self._gateway.close()

    # ------------------------------------------------------------------ state
    @property
    def client(self) -> Any:
        """The ``distributed.Client`` of the running cluster."""
        self._require()
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        """URL of the Dask dashboard, as the browser must open it (through jupyter-server-proxy on JupyterHub).

        A gateway cluster's dashboard is served by the gateway's own proxy, at its public address.
        """
        if self.cluster is None:
            return None
        from labkit._jupyter_proxy import browser_url

        link = self.cluster.dashboard_link
        if self.backend == "slurm":  # the scheduler runs in this kernel, listening on every interface
            from urllib.parse import urlsplit

            from labkit._jupyter_proxy import proxy_prefix

            parts = urlsplit(link)
            if proxy_prefix() and parts.port:
                link = parts._replace(netloc=f"127.0.0.1:{parts.port}").geturl()
        return browser_url(link) if self.backend in ("local", "slurm") else link

    @property
    def jobs(self) -> dict[str, tuple[str, str]]:
        """SLURM only: each job of this cluster still in the queue, with its state and pending reason."""
        if self.backend != "slurm" or self.cluster is None:
            return {}
        from labkit import slurm

        return slurm.queue(self.cluster.labkit_jobs)

    @property
    def status(self) -> dict[str, Any]:
        """Workers, threads, memory (bytes) and tasks of the cluster right now."""
        if self._client is None:
            return {"running": False, "workers": 0, "threads": 0, "memory": 0, "tasks": 0}
        info = self._client.scheduler_info(n_workers=-1) if _takes_n_workers(self._client) else \
            self._client.scheduler_info()
        workers = info.get("workers", {})
        try:
            tasks = self._client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        except Exception:  # noqa: BLE001 - the gateway proxy may refuse run_on_scheduler
            tasks = sum(len(v) for v in self._client.processing().values())
        status = {
            "running": True,
            "workers": len(workers),
            "threads": sum(w.get("nthreads", 0) for w in workers.values()),
            "memory": sum(w.get("memory_limit", 0) or 0 for w in workers.values()),
            "tasks": int(tasks),
        }
        if self.backend == "slurm":
            try:
                jobs = self.jobs
            except LabkitError as exc:  # the controller went away: the panel says so, it does not fail
                log.debug("squeue: %s", exc)
                return {**status, "jobs": {"pending": "?", "running": "?"}, "reasons": [str(exc)[:200]]}
            status["jobs"] = {"pending": sum(s == "PENDING" for s, _ in jobs.values()),
                              "running": sum(s == "RUNNING" for s, _ in jobs.values())}
            status["reasons"] = sorted({r for s, r in jobs.values() if s == "PENDING"})
        return status

    def _say(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.messages.append(f"{stamp} {message}")
        log.info(message)
        self._update_widget()

    # ------------------------------------------------------------------ widget
    def _widget(self) -> Any:
        """The ipywidgets panel (made once); every button calls a public method through :meth:`_guard`."""
        if self._widgets is not None:
            return self._widgets["box"]
        w = attempt_import("ipywidgets")
        where = f"gateway {self.address}" if self.backend == "gateway" and self.address else self.backend
        title = w.HTML(f"<b>Dask cluster</b> <small>({where})</small>")
        start = w.Button(description="Start", button_style="success", icon="play")
        stop = w.Button(description="Stop", button_style="danger", icon="stop")
        n = w.BoundedIntText(value=2, min=0, max=64, description="Workers", layout=w.Layout(width="160px"))
        scale = w.Button(description="Scale")
        lo = w.BoundedIntText(value=self._adapt[0], min=0, max=64, description="Min", layout=w.Layout(width="130px"))
        hi = w.BoundedIntText(value=self._adapt[1], min=1, max=64, description="Max", layout=w.Layout(width="130px"))
        adapt = w.Button(description="Adapt")
        status = w.HTML()
        messages = w.HTML()
        start.on_click(self._guard(lambda _: self.start()))
        stop.on_click(self._guard(lambda _: self.close()))
        scale.on_click(self._guard(lambda _: self.scale(n.value)))
        adapt.on_click(self._guard(lambda _: self.adapt(lo.value, hi.value)))
        rows = [title]
        if self._options is not None:
            rows.append(self._options._widget())
        slurm_rows = [w.HTML(), w.HTML()] if self.backend == "slurm" else []
        rows += slurm_rows
        rows += [w.HBox([start, stop]), w.HBox([n, scale]), w.HBox([lo, hi, adapt]), status, messages]
        box = w.VBox(rows)
        self._widgets = {"box": box, "start": start, "stop": stop, "scale": scale, "n": n, "adapt": adapt,
                         "minimum": lo, "maximum": hi, "status": status, "messages": messages, "slurm": slurm_rows}
        self._update_widget()
        return box

    def _slurm_html(self) -> tuple[str, str]:
        """The queue, account and walltime of the jobs; their script in a collapsed section."""
        import html

        if self.cluster is None:
            return "<small>SLURM: start the cluster to see its jobs</small>", ""
        header = self.cluster.job_header
        found = dict(re.findall(r"#SBATCH -([pAt]) (\S+)", header))
        facts = [f"queue <code>{html.escape(found.get('p', '(default)'))}</code>",
                 f"walltime <code>{html.escape(found.get('t', '?'))}</code>"]
        if "A" in found:
            facts.append(f"account <code>{html.escape(found['A'])}</code>")
        script = (f"<details><summary><small>job script</small></summary>"
                  f"<pre style='font-size:smaller'>{html.escape(self.cluster.job_script())}</pre></details>")
        return "<small>SLURM " + " · ".join(facts) + "</small>", script

    def _guard(self, fn: Callable[[Any], Any]) -> Callable[[Any], None]:
        """Wrap a button callback: errors are logged into the panel, never raised into the frontend."""

        def callback(button: Any) -> None:
            try:
                fn(button)
            except Exception as exc:  # noqa: BLE001 - shown to the user instead
                self._say(f"error: {exc}")

        return callback

    def _update_widget(self) -> None:
        if self._widgets is None:
            return
        try:
            s = self.status
        except Exception as exc:  # noqa: BLE001
            s = {"running": self._client is not None, "workers": "?", "threads": "?", "memory": 0, "tasks": "?"}
            log.debug("status: %s", exc)
        link = self.dashboard_link
        dash = f" · <a href='{link}' target='_blank'>dashboard</a>" if link else ""
        state = "running" if s["running"] else "stopped"
        jobs = ""
        if "jobs" in s:
            jobs = (f" · SLURM jobs: {s['jobs']['running']} running, {s['jobs']['pending']} pending"
                    + (f" ({', '.join(s['reasons'])})" if s.get("reasons") else ""))
        self._widgets["status"].value = (
            f"<span class='labkit-status'>{state}: {_plural(s['workers'], 'worker')}, "
            f"{_plural(s['threads'], 'thread')}, "
            f"{_gib(s['memory'])} memory, {s['tasks']} tasks{jobs}</span>{dash}"
        ) + cluster_versions.status_html(self.versions)
        for widget, value in zip(self._widgets["slurm"], self._slurm_html() if self.backend == "slurm" else (),
                                 strict=True):
            if widget.value != value:
                widget.value = value
        self._widgets["messages"].value = "<br>".join(f"<small>{m}</small>" for m in self.messages[-5:])

    def _start_refresh(self) -> None:
        self._stop_refresh.clear()

        def loop() -> None:
            while not self._stop_refresh.wait(self.refresh):
                self._update_widget()

        threading.Thread(target=loop, name="labkit-cluster-panel", daemon=True).start()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        bundle = {"text/html": self._repr_html_(), "text/plain": repr(self)}  # where widgets do not show
        try:
            bundle = {**bundle, **self._widget()._repr_mimebundle_()}
        except ImportError:
            pass
        display(bundle, raw=True)

    def _repr_html_(self) -> str:
        s = self.status
        jobs = (f", SLURM jobs: {s['jobs']['running']} running, {s['jobs']['pending']} pending" if "jobs" in s
                else "")
        return (f"<b>Dask cluster</b> ({self.backend}): {'running' if s['running'] else 'stopped'}, "
                f"{_plural(s['workers'], 'worker')}, {_plural(s['threads'], 'thread')}{jobs}")

    def __repr__(self) -> str:
        s = self.status
        return (f"<ClusterPanel {self.backend}: {_plural(s['workers'], 'worker')}, {_plural(s['threads'], 'thread')}, "
                f"{_plural(s['tasks'], 'task')}>")


def start_cluster(
    backend: str = "local",
    endpoints: Any = None,
    *,
    workers: int = 2,
    adapt: tuple[int, int] | None = None,
    memory: float | None = None,
    options: Mapping[str, Any] | None = None,
    walltime: str | None = None,
    queue: str | None = None,
    account: str | None = None,
    cores: int | None = None,
    processes: int | None = None,
    job_extra_directives: list[str] | None = None,
    timeout: float = 300,
) -> ClusterPanel:
    """Start a Dask cluster, local, on a dask-gateway or on SLURM, and wait for its first worker: one call for all.

    The tutorials' ``backend`` parameter goes here; nothing else in a notebook changes between a laptop
    and a cluster. The panel it returns is the widget (status, dashboard link, buttons) and
    ``panel.client`` the ``distributed.Client``.

    Parameters
    ----------
    backend : {"local", "gateway", "slurm"}
        Where the workers run. ``"slurm"``: each worker is a SLURM job (dask-jobqueue), configured as
        dask-jobqueue's users configure it (``jobqueue.slurm`` in ``~/.config/dask/jobqueue.yaml``); the
        arguments below win over that configuration.
    endpoints : labkit.Endpoints, optional
        Where the gateway is (``endpoints.gateway``); default: :func:`labkit.connect.gateway`'s lookup. In
        sandbox mode the sandbox starts the gateway, or SLURM, when the backend needs it.
    workers : int
        Number of workers (ignored when ``adapt`` is given).
    adapt : (int, int), optional
        Adaptive scaling between these numbers of workers instead of a fixed number.
    memory : float, optional
        Memory of each worker, GiB, on every backend (the gateway's ``worker_memory``, a local cluster's
        ``memory_limit``, SLURM's ``--mem`` of a job divided by its workers); default: the gateway's default,
        the machine's memory shared by the workers, or ``jobqueue.slurm.memory``.
    options : mapping, optional
        Gateway cluster options (``worker_cores``, ``worker_memory`` ...); for a local cluster
        ``threads_per_worker`` and ``memory_limit``; for SLURM any argument of
        :func:`labkit.slurm.slurm_cluster` (``scheduler_options``, ``interface``, ``log_directory`` ...).
    walltime, queue, account : str, optional
        SLURM only: each job's time limit (``"01:00:00"``), partition and account. Workers retire a margin
        before the walltime and adaptive scaling (``adapt=``) starts new jobs in their place.
    cores, processes : int, optional
        SLURM only: cores of one job and the workers it holds.
    job_extra_directives : list of str, optional
        SLURM only: more ``#SBATCH`` lines, e.g. ``["--qos=short"]``.
    timeout : float
        Seconds to wait for the first worker (a SLURM job may wait in the queue; the error names its pending
        reason).

    Returns
    -------
    ClusterPanel

    Examples
    --------
    >>> panel = start_cluster("local", workers=1)  # doctest: +SKIP
    >>> panel.client.submit(sum, [1, 2]).result()  # doctest: +SKIP
    3
    >>> panel.close()  # doctest: +SKIP
    """
    if backend == "gateway" and endpoints is not None and endpoints.mode == "sandbox" and not endpoints.gateway:
        from labkit.modes import endpoints as find_endpoints

        endpoints = find_endpoints("sandbox", services=["gateway"])  # the sandbox starts its gateway
    if backend == "slurm" and endpoints is not None and endpoints.mode == "sandbox" and not endpoints.slurm:
        from labkit.modes import endpoints as find_endpoints

        endpoints = find_endpoints("sandbox", services=["slurm"])  # the sandbox starts its SLURM
    address = getattr(endpoints, "gateway", None) if backend == "gateway" else None
    slurm_only = {"walltime": walltime, "queue": queue, "account": account, "cores": cores, "processes": processes,
                  "job_extra_directives": job_extra_directives}
    if backend == "slurm":
        options = {**(options or {}), **{k: v for k, v in slurm_only.items() if v is not None}}
        if memory is not None:
            options["memory"] = memory
    else:
        if given := sorted(k for k, v in slurm_only.items() if v is not None):
            raise ConfigurationError(f"{', '.join(given)} apply to SLURM clusters only (backend='slurm'), "
                                     f"not to backend={backend!r}")
        if memory is not None:
            options = {**(options or {}), **({"worker_memory": memory} if backend == "gateway" else
                                             {"memory_limit": f"{memory}GiB"})}
    panel = ClusterPanel(backend=backend, address=address, options=options).start()
    try:
        if adapt is not None:
            panel.adapt(*adapt)
        else:
            panel.scale(workers)
        panel.wait_for_workers(1, timeout=timeout)
    except BaseException:
        panel.close()
        raise
    return panel


def _new_gateway_cluster(gateway: Any, options: Any, **extra: Any) -> Any:
    """``gateway.new_cluster``, with the gateway's refusal of the options as a labkit error."""
    try:
        return gateway.new_cluster(options, shutdown_on_close=True, **extra)
    except ValueError as exc:  # 422: the server's own check of the options
        raise ConfigurationError(f"the gateway at {gateway.address} refused the cluster options "
                                 f"{ {**dict(options), **extra} }: {exc}") from None


def _sandbox_slurm() -> None:
    """Start the sandbox's SLURM in sandbox mode when no ``SLURM_CONF`` is set.

    Sandbox mode: :func:`labkit.endpoints` exported a sandbox's environment. Its ``SLURM_CONF`` is exported then,
    as the gateway's address is for ``backend="gateway"``.
    """
    import os

    from labkit import config

    if "LABKIT_SANDBOX_DIR" in config._exported and not os.environ.get("SLURM_CONF"):
        from labkit.modes import endpoints

        endpoints("sandbox", services=["slurm"])


def _gib(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, (int, float)) else str(n)


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
