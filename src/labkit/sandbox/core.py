"""The sandbox: real local servers for every remote service the tutorials use."""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import psutil

from labkit import catalog
from labkit._process import alive, stop_tree
from labkit.config import Endpoints
from labkit.errors import ConfigurationError, SandboxError
from labkit.ipfs.node import available as ipfs_available
from labkit.sandbox._service import Context, Service
from labkit.sandbox._watchdog import Watchdog
from labkit.sandbox.connections import (
    GatewayConnection,
    IpfsConnection,
    OmeroConnection,
    S3Connection,
    SlurmConnection,
    StacConnection,
)
from labkit.sandbox.state import default_root, read_state, remove_state, write_state

SERVICES = ("s3", "stac", "gateway", "omero", "ipfs", "slurm")
#: services started only when asked for (a SLURM controller and node are not what most tutorials need)
ON_REQUEST = ("slurm",)
REQUIRES = {"stac": ("s3",)}
GATEWAY_USER = "labkit"
REQUESTS = "requests"  # folder where a background sandbox takes requests for more services (see daemon)
FLOOD_PREFIX = catalog.GFM.id  # the flood scenes' folder in the gfm bucket
#: the synthetic 96-well HCS plate (:func:`labkit.synthetic.hcs_plate`) in the idr bucket, IDR's layout, by version
PLATE_URLS = {v: f"s3://idr/zarr/v{v}/labkit-hcs/plate-96.zarr" for v in ("0.4", "0.5")}


def default_services() -> tuple[str, ...]:
    """Every service that can run on this machine and starts unasked (the IPFS node needs Node.js and its packages).

    ``"slurm"`` starts only when asked for (``services=[..., "slurm"]``, or ``start_cluster("slurm")`` in sandbox
    mode); it needs Debian's SLURM packages (:func:`slurm_missing`).
    """
    return tuple(s for s in SERVICES if s not in ON_REQUEST and (s != "ipfs" or ipfs_available()))


def slurm_missing() -> list[str]:
    """The SLURM commands the sandbox's ``slurm`` service needs and this machine lacks (``[]``: it can run)."""
    from labkit.sandbox.services.slurm import missing

    return missing()


def _resolve(services: Iterable[str] | str | None) -> tuple[str, ...]:
    if services is None:
        return default_services()
    if isinstance(services, str):
        services = [s.strip() for s in services.split(",") if s.strip()]
    wanted = list(services)
    unknown = sorted(set(wanted) - set(SERVICES))
    if unknown:
        raise ConfigurationError(f"unknown sandbox {'service' if len(unknown) == 1 else 'services'} {unknown}; "
                                 f"choose from {list(SERVICES)}")
    for s in list(wanted):
        wanted += [r for r in REQUIRES.get(s, ()) if r not in wanted]
    if "slurm" in wanted and (lacking := slurm_missing()):
        from labkit.sandbox.services.slurm import PACKAGES

        raise ConfigurationError(
            f"the sandbox cannot run SLURM here: {', '.join(lacking)} not found. Install Debian's packages "
            f"(sudo apt-get install {' '.join(PACKAGES)}, or `make setup` as root)")
    return tuple(s for s in SERVICES if s in wanted)


class Sandbox:
    """Real local servers speaking the protocols of IDR, S3, STAC, dask-gateway and IPFS.

    Parameters
    ----------
    services : iterable of str or str, optional
        Any of ``"s3"``, ``"stac"``, ``"gateway"``, ``"omero"``, ``"ipfs"``, ``"slurm"`` (default: all
        that can run here, except ``"slurm"``, started only when named). Dependencies are added (``stac``
        needs ``s3``).
    root : path, optional
        Sandbox folder for logs, data and the state file (default :func:`default_root`).
    seed : int
        Seed of the synthetic data.
    flood_size, flood_dates : int
        Size in pixels and number of dates of the synthetic flood scenes.
    token_lifetime : float, optional
        Seconds the access tokens of the gateway's OpenID Connect login live (default 60).

    Examples
    --------
    >>> with Sandbox(services=["s3"]) as sb:  # doctest: +SKIP
    ...     fs = sb.s3.filesystem(anon=True)
    ...     fs.ls("idr/zarr/v0.1/6001240.zarr")
    """

    def __init__(
        self,
        services: Iterable[str] | str | None = None,
        root: str | Path | None = None,
        *,
        seed: int = 0,
        flood_size: int = 2048,
        flood_dates: int = 6,
        token_lifetime: float | None = None,
    ) -> None:
        self.services = _resolve(services)
        self.root = Path(root).resolve() if root else default_root()
        self.options = {"seed": seed, "flood_size": flood_size, "flood_dates": flood_dates}
        if token_lifetime is not None:  # seconds the gateway login's access tokens live
            self.options["token_lifetime"] = token_lifetime
        self.records: dict[str, dict[str, Any]] = {}
        self._secrets: dict[str, str] = {}
        self._running: dict[str, Service] = {}
        self._watchdog: Watchdog | None = None
        self._owner = True
        self.daemon = False  #: whether a background process owns it and takes requests for more services
        self.owner_pid = os.getpid()  #: process that owns the servers
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self, progress: Callable[[str], None] | None = None) -> Sandbox:
        """Start every service and record the sandbox in its state file.

        ``progress`` is called with one line per service as it is ready (name, address, seconds).
        """
        other = current(self.root)
        if other is not None:
            raise SandboxError(
                f"a sandbox is already running in {self.root} (process {other.owner_pid}). "
                "Use labkit.sandbox.current() to reach it, or stop it with `labkit sandbox down`."
            )
        t0 = time.perf_counter()
        self._secrets = {
            "s3_key": "LK" + secrets.token_hex(8).upper(),
            "s3_secret": secrets.token_urlsafe(24),
            "s3_reader_key": "LKR" + secrets.token_hex(8).upper(),
            "s3_reader_secret": secrets.token_urlsafe(24),
            "gateway_password": secrets.token_urlsafe(16),
        }
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self._watchdog = Watchdog(os.getpid(), self.root)  # stops the servers if this process is killed
        try:
            self._start_services(self.services, progress)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        write_state(self.root, self._state())
        atexit.register(self.stop)
        return self

    def add(self, services: Iterable[str] | str, progress: Callable[[str], None] | None = None) -> list[str]:
        """Start more services in this (running, owned) sandbox; return the names started.

        Examples
        --------
        >>> sb.add(["ipfs"])  # doctest: +SKIP
        ['ipfs']
        """
        if not self._owner:
            raise SandboxError("this sandbox was started by another process: use labkit.sandbox.ensure(services)")
        new = tuple(s for s in _resolve(services) if s not in self.records)
        if not new:
            return []
        try:
            self._start_services(new, progress)
        except BaseException:
            for name in new:
                if name in self._running:
                    self._running.pop(name).stop()
                self.records.pop(name, None)
            raise
        self.services = tuple(s for s in SERVICES if s in self.records)
        write_state(self.root, self._state())
        return list(new)

    def _start_services(self, names: Iterable[str], progress: Callable[[str], None] | None) -> None:
        ctx = Context(self.root, self._secrets, self.options, self.records)
        services = self._build(ctx, tuple(names))
        first = [s for s in services if s.name not in REQUIRES]
        later = [s for s in services if s.name in REQUIRES]
        for wave in (first, later):
            with ThreadPoolExecutor(max(1, len(wave))) as pool:
                futures = {s.name: pool.submit(self._start_one, s, ctx, progress) for s in wave}
                for name, fut in futures.items():
                    self.records[name] = fut.result()

    def _start_one(self, service: Service, ctx: Context, progress: Callable[[str], None] | None) -> dict[str, Any]:
        t0 = time.perf_counter()
        self._running[service.name] = service
        record = service.start(ctx)
        for key in ("pid", "oidc_pid"):  # the gateway's identity provider runs beside it
            self._watchdog.watch(record.get(key))
        if progress is not None:
            progress(f"started {service.name:8s} {_shown_address(service.name, record)}  in "
                     f"{time.perf_counter() - t0:.1f} s")
        return record

    def health(self) -> dict[str, str | None]:
        """Each service: ``None`` when its process lives and its port accepts connections, else what is wrong.

        Examples
        --------
        >>> current().health()  # doctest: +SKIP
        {'s3': None, 'ipfs': 'process 4242 has exited'}
        """
        import socket

        out: dict[str, str | None] = {}
        for name, record in self.records.items():
            pid, port = record.get("pid"), record.get("port")
            if pid and not alive(pid):
                out[name] = f"process {pid} has exited"
                continue
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=2).close() if port else None
                out[name] = None
            except OSError as exc:
                out[name] = f"port {port} does not answer ({exc.strerror or exc})"
        return out

    def flood_truth(self) -> Any:
        """The ground truth of the flood scenes this sandbox serves (:class:`labkit.synthetic.FloodTruth`)."""
        return self._flood_scenes()["truth"]

    def plate_truth(self, version: str = "0.4") -> Any:
        """The truth of the synthetic HCS plate this sandbox serves at ``PLATE_URLS[version]``.

        A :class:`labkit.synthetic.PlateTruth`: nuclei in every field, doses, roles, empty wells.
        """
        return plate_copies(self.options["seed"])[version]

    def _flood_scenes(self) -> dict[str, Any]:
        from labkit.synthetic import flood_scenes

        o = self.options
        return flood_scenes(self.root / "data" / f"flood-{o['seed']}-{o['flood_size']}-{o['flood_dates']}",
                            size=o["flood_size"], n_dates=o["flood_dates"], seed=o["seed"])

    def _build(self, ctx: Context, names: tuple[str, ...]) -> list[Service]:
        from labkit.sandbox.idr_copies import idr_copies
        from labkit.sandbox.locate import idr_image_path
        from labkit.sandbox.services.gateway import GatewayService
        from labkit.sandbox.services.ipfs import IpfsService
        from labkit.sandbox.services.omero import OmeroService
        from labkit.sandbox.services.s3 import IDR_PREFIX, S3Service
        from labkit.sandbox.services.slurm import SlurmService
        from labkit.sandbox.services.stac import StacService
        from labkit.synthetic import data_folder

        built: list[Service] = []
        scenes = None
        if "s3" in names or "stac" in names:
            scenes = self._flood_scenes()
            scenes["prefix"] = FLOOD_PREFIX
        if "s3" in names:
            idr = idr_image_path()
            uploads = [("idr", f"{IDR_PREFIX}/{idr.name}", idr), ("gfm", FLOOD_PREFIX, scenes["folder"])]
            # kept in the data folder that outlives a sandbox (as the plate): written once (~1 min), not at each start
            for version, folder in idr_copies(idr, data_folder("idr-copies")).items():
                uploads.append(("idr", catalog.IDR_IMAGE.zarr_url_of(version).split("/", 3)[3], folder))
            for version, truth in plate_copies(self.options["seed"]).items():
                uploads.append(("idr", PLATE_URLS[version].split("/", 3)[3], Path(truth.path)))
            built.append(S3Service(uploads))
        if "stac" in names:
            built.append(StacService(scenes))
        if "gateway" in names:
            built.append(GatewayService())
        if "omero" in names:
            built.append(OmeroService())
        if "ipfs" in names:
            built.append(IpfsService())
        if "slurm" in names:
            built.append(SlurmService())
        return built

    def stop(self) -> None:
        """Stop every service this process started and forget the state file."""
        if not self._owner:
            raise SandboxError("this sandbox was started by another process: stop it with labkit.sandbox.down()")
        for name in reversed(list(self._running)):
            self._running.pop(name).stop()
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        state = read_state(self.root)
        if state and state.get("owner_pid") == os.getpid():
            remove_state(self.root)
        atexit.unregister(self.stop)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {
            "owner_pid": os.getpid(),
            "root": str(self.root),
            "services": self.records,
            "options": self.options,
            "secrets": self._secrets,
            "startup_seconds": self.startup_seconds,
            "daemon": self.daemon,
        }

    @classmethod
    def _attach(cls, state: dict[str, Any]) -> Sandbox:
        sb = cls(services=list(state["services"]), root=state["root"], **state.get("options", {}))
        sb.records = state["services"]
        sb._secrets = state["secrets"]
        sb._owner = False
        sb.owner_pid = state["owner_pid"]
        sb.startup_seconds = state.get("startup_seconds")
        sb.daemon = bool(state.get("daemon"))
        return sb

    def pids(self) -> list[int]:
        """Process ids of the servers."""
        return [r[k] for r in self.records.values() for k in ("pid", "oidc_pid") if r.get(k)]

    def ports(self) -> list[int]:
        """Every port the servers listen on."""
        return [p for r in self.records.values() for k, p in r.items() if k.endswith("port") and p]

    # ------------------------------------------------------------------ endpoints
    def _record(self, name: str) -> dict[str, Any]:
        if name not in self.records:
            raise SandboxError(
                f"the sandbox has no {name!r} service (running: {sorted(self.records)}). "
                f"Start it with Sandbox(services=[..., {name!r}]) or `labkit sandbox up --services ...,{name}`."
            )
        return self.records[name]

    @property
    def s3(self) -> S3Connection:
        """The S3 server (``endpoint_url``, credentials for the ``results`` bucket)."""
        r = self._record("s3")
        return S3Connection(r["endpoint_url"], self._secrets["s3_key"], self._secrets["s3_secret"],
                          metrics_url=r.get("metrics_url"), reader_key=self._secrets.get("s3_reader_key"),
                          reader_secret=self._secrets.get("s3_reader_secret"))

    @property
    def stac(self) -> StacConnection:
        """The STAC API."""
        r = self._record("stac")
        return StacConnection(r["url"], r["collection"], r["n_items"])

    @property
    def gateway(self) -> GatewayConnection:
        """The dask-gateway server."""
        r = self._record("gateway")
        return GatewayConnection(r["address"], GATEWAY_USER, self._secrets["gateway_password"],
                                 proxy_address=r.get("proxy_address"), token_url=r.get("token_url"),
                                 client_id=r.get("client_id"))

    @property
    def omero(self) -> OmeroConnection:
        """The OMERO.web JSON API replica."""
        r = self._record("omero")
        return OmeroConnection(r["url"], tuple(r["images"]))

    @property
    def ipfs(self) -> IpfsConnection:
        """The IPFS node."""
        r = self._record("ipfs")
        return IpfsConnection(r["api"], r["gateway"])

    @property
    def slurm(self) -> SlurmConnection:
        """The SLURM controller and its node (``SLURM_CONF`` for the clients)."""
        r = self._record("slurm")
        return SlurmConnection(r["conf"], r["node"], tuple(r.get("partitions", ("debug",))), r.get("jobs"))

    def env(self) -> dict[str, str]:
        """Environment variables that point clients at the sandbox, credentials included (never print them).

        ``labkit.endpoints("sandbox")`` exports them into the notebook's process; they are also
        how a user points labkit at services of their own.
        """
        env = {"LABKIT_SANDBOX_DIR": str(self.root)}
        for name in self.records:
            env.update(getattr(self, name).env())
        return env

    def endpoints(self) -> Endpoints:
        """Where each service lives, as ``labkit.endpoints("sandbox")`` gives it (addresses only).

        Examples
        --------
        >>> sb.endpoints().omero  # doctest: +SKIP
        'http://127.0.0.1:41234'
        """
        return Endpoints.from_environment("sandbox", self.env())

    def addresses(self) -> dict[str, str]:
        """The address of each running service by name (no secrets)."""
        ep = self.endpoints()
        keys = {"s3": "idr_s3", "stac": "stac", "gateway": "gateway", "omero": "omero", "ipfs": "ipfs_gateway",
                "slurm": "slurm"}
        return {name: getattr(ep, keys[name]) for name in self.records}

    def shown_addresses(self) -> dict[str, str]:
        """Each running service's address as labkit prints it: IPFS's two named (``gateway ...  API ...``).

        Examples
        --------
        >>> sb.shown_addresses()["ipfs"]  # doctest: +SKIP
        'gateway http://127.0.0.1:41235  API http://127.0.0.1:41234'
        """
        shown = self.addresses()
        if "ipfs" in shown:
            shown["ipfs"] = _shown_address("ipfs", self.records["ipfs"])
        return shown

    def __repr__(self) -> str:
        lines = [f"<labkit Sandbox at {self.root}>"] + [f"  {k:8s} {v}" for k, v in self.shown_addresses().items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td>{k}</td><td><code>{html.escape(v)}</code></td></tr>"
                       for k, v in self.shown_addresses().items())
        return f"<b>labkit sandbox</b> <small>{self.root}</small><table>{rows}</table>"


def _shown_address(name: str, record: Mapping[str, Any]) -> str:
    """A service's address for people: its one address, or IPFS's gateway and API, each named."""
    if name == "ipfs":
        return f"gateway {record.get('gateway', '?')}  API {record.get('api', '?')}"
    return str(next((v for k, v in record.items() if k in ("endpoint_url", "url", "address")), ""))


def plate_copies(seed: int = 0) -> dict[str, Any]:
    """The synthetic 96-well plate (2 fields a well) as NGFF 0.4 and 0.5, written once and kept.

    Kept in :func:`labkit.synthetic.data_folder` (``hcs-plate``), which outlives a sandbox: writing both
    takes about 12 s on two busy cores (once); the S3 server's filled store is made with them, once too
    (:func:`labkit.sandbox.services.s3.copy_filled_store`).
    """
    import fcntl

    from labkit import _zarr, ngff
    from labkit.synthetic import data_folder, hcs_plate

    out = {}
    folder = data_folder("hcs-plate") / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "write.lock", "w") as lock:  # sandboxes starting at once (test workers) write it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        for version in ngff.WRITABLE:
            if ngff.zarr_format_of(version) == 3 and not _zarr.ZARR3:
                continue
            with dask.config.set(scheduler="threads"):
                out[version] = hcs_plate(folder / f"v{version}" / "plate-96.zarr", version=version, seed=seed,
                                         reuse=True)
    return out


# ---------------------------------------------------------------------- process-wide helpers
def current(root: str | Path | None = None) -> Sandbox | None:
    """The sandbox running in ``root`` (started by any process), or ``None``.

    Examples
    --------
    >>> sb = current()  # doctest: +SKIP
    """
    state = read_state(Path(root) if root else None)
    if not state or not alive(state.get("owner_pid")):
        return None
    return Sandbox._attach(state)


def running(service: str, root: str | Path | None = None) -> Sandbox | None:
    """The running sandbox if it has ``service``, else ``None`` (clients use it to find default endpoints)."""
    sb = current(root)
    return sb if sb is not None and service in sb.records else None


def start_background(
    services: Iterable[str] | str | None = None, root: str | Path | None = None, timeout: float = 180,
    progress: Callable[[str], None] | None = None,
) -> Sandbox:
    """Start a sandbox in a detached process that outlives the caller; return it once ready.

    One sandbox per folder: concurrent calls wait for each other (a lock in the folder) and the later
    ones return the sandbox the first started. ``progress`` gets the daemon's lines as services start.
    """
    root_path = Path(root).resolve() if root else default_root()
    with _start_lock(root_path):
        if (sb := current(root_path)) is not None:
            return sb
        remove_state(root_path)
        _fetch_data(_resolve(services))
        names = ",".join(_resolve(services))
        (root_path / "logs").mkdir(parents=True, exist_ok=True)
        log_path = root_path / "logs" / "daemon.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.sandbox.daemon", "--root", str(root_path), "--services", names],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            offset = _follow(log_path, offset, progress)
            if (sb := current(root_path)) is not None and sb.owner_pid == proc.pid:
                return sb
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").splitlines()[-25:]
                raise SandboxError("the sandbox failed to start:\n" + "\n".join(tail))
            time.sleep(0.2)
        stop_tree(proc.pid)
        raise SandboxError(f"the sandbox was not ready after {timeout:.0f} s; see {root_path / 'logs'}")


def _fetch_data(services: Iterable[str]) -> None:
    """Fetch the IDR image the S3 service serves now, in the caller, whose notebook or terminal shows the bar.

    The background process then finds it in the cache (a fresh clone has no copy: ~45 MB, once).
    """
    if "s3" in services:
        from labkit.sandbox.locate import idr_image_path

        idr_image_path()


def _follow(log: Path, offset: int, progress: Callable[[str], None] | None) -> int:
    """Hand the lines of ``log`` after ``offset`` that say a service started to ``progress``; the new offset."""
    if progress is None or not log.exists():
        return offset
    with open(log, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if line.startswith("started "):
            progress(line)
    return offset + len(complete)


@contextlib.contextmanager
def _start_lock(root: Path) -> Iterator[None]:
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / "start.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _request_services(sb: Sandbox, missing: Iterable[str], progress: Callable[[str], None] | None,
                      timeout: float = 180) -> None:
    """Ask the background process that owns ``sb`` to start ``missing`` services; wait until it did."""
    import json
    import uuid

    wanted = sorted(missing)
    if not sb.daemon:
        raise SandboxError(
            f"the running sandbox (process {sb.owner_pid}) lacks {wanted} and was not started in the background, "
            f"so it cannot start them: call add({wanted}) on it in that process, or stop it and start it again "
            f"with `labkit sandbox up --services {','.join(sorted(set(sb.records) | set(wanted)))}`"
        )
    folder = sb.root / REQUESTS
    folder.mkdir(exist_ok=True)
    request = folder / f"{uuid.uuid4().hex}.json"
    tmp = request.with_suffix(".tmp")
    tmp.write_text(json.dumps({"services": wanted}))
    tmp.replace(request)
    log = sb.root / "logs" / "daemon.log"
    offset = log.stat().st_size if log.exists() else 0
    done = request.with_suffix(".done.json")
    deadline = time.monotonic() + timeout
    while not done.exists():
        offset = _follow(log, offset, progress)
        if time.monotonic() > deadline or not alive(sb.owner_pid):
            request.unlink(missing_ok=True)
            raise SandboxError(f"the sandbox did not start {wanted} within {timeout:.0f} s; see {log}")
        time.sleep(0.2)
    _follow(log, offset, progress)
    answer = json.loads(done.read_text())
    done.unlink(missing_ok=True)
    if "error" in answer:
        raise SandboxError(f"the sandbox could not start {wanted}: {answer['error']}")


def ensure(
    services: Iterable[str] | str | None = None, root: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sandbox:
    """The running sandbox with ``services`` (default: all), started in the background or extended if needed.

    A sandbox that lacks some of them starts them (when a background process owns it), so whichever
    notebook runs first, the others find what they need. It keeps running; stop it with :func:`down`.

    Examples
    --------
    >>> sb = ensure()  # doctest: +SKIP
    >>> sb.s3.endpoint_url  # doctest: +SKIP
    'http://127.0.0.1:41234'
    """
    root_path = Path(root).resolve() if root else default_root()
    with _start_lock(root_path):
        sb = current(root_path)
        if sb is not None:
            missing = set(_resolve(services)) - set(sb.records)
            if missing:
                _fetch_data(missing)
                _request_services(sb, missing, progress)
                sb = current(root_path)
            return sb
    return start_background(services, root_path, progress=progress)


def down(root: str | Path | None = None, timeout: float = 30) -> bool:
    """Stop the sandbox recorded in ``root``; return whether one was running."""
    root_path = Path(root).resolve() if root else default_root()
    state = read_state(root_path)
    if not state:
        return False
    owner = state.get("owner_pid")
    pids = [r.get(k) for r in state.get("services", {}).values() for k in ("pid", "oidc_pid")]
    if owner and owner != os.getpid() and alive(owner):
        os.kill(owner, signal.SIGTERM)
        try:
            psutil.Process(owner).wait(timeout)
        except psutil.TimeoutExpired:
            stop_tree(owner)
        except psutil.Error:
            pass
    for pid in pids:  # whatever the owner left behind
        if alive(pid):
            stop_tree(pid)
    remove_state(root_path)
    return True
