"""IPFS: add data through the Kubo RPC API, find the gateway as ipfsspec does, and give Dask workers their own node.

Works with a real kubo daemon or labkit's own node (:mod:`labkit.ipfs.node`, which the sandbox runs too).

Examples
--------
>>> cid = add("images/6001240.zarr", api="http://127.0.0.1:5001")  # doctest: +SKIP
>>> open_image(f"ipfs://{cid}/6001240.zarr")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from distributed.diagnostics.plugin import WorkerPlugin

from labkit._bars import progress_bar
from labkit._lazy import attempt_import
from labkit.config import resolve
from labkit.errors import ConfigurationError, FormatError, NotFoundError, ServiceUnavailableError
from labkit.ipfs.traffic import Traffic


def api_address(api: str | None = None) -> str:
    """The Kubo RPC address: ``api``, else ``$IPFS_API``, else kubo's default ``http://127.0.0.1:5001``.

    Examples
    --------
    >>> api_address("http://127.0.0.1:5002/")
    'http://127.0.0.1:5002'
    """
    return str(resolve("ipfs_api", api)).rstrip("/")


def gateway() -> str:
    """The HTTP gateway ipfsspec will use: ``$IPFS_GATEWAY``, then ``$IPFS_PATH/gateway``, ``~/.ipfs/gateway`` ...

    Raises
    ------
    labkit.errors.ConfigurationError
        No gateway is configured anywhere.
    """
    ipfsspec = attempt_import("ipfsspec.async_ipfs")
    try:
        gw = ipfsspec.get_gateway.__wrapped__()  # the configuration now, not ipfsspec's memo of it
    except Exception as exc:  # ipfsspec raises a bare error when nothing is configured
        raise ConfigurationError(
            "no IPFS gateway is configured: set IPFS_GATEWAY (e.g. http://127.0.0.1:8080) or write it to "
            f"~/.ipfs/gateway ({exc})"
        ) from None
    return str(gw.url)


def use_gateway(url: str) -> None:
    """Point ipfsspec at ``url`` from now on in this process (it memoises its lookup, so clear that too)."""
    ipfsspec = attempt_import("ipfsspec.async_ipfs")
    from labkit._sessions import retire
    from labkit.ipfs.gateway_fs import IPFSFileSystem

    os.environ["IPFS_GATEWAY"] = url
    ipfsspec.get_gateway.cache_clear()
    for cls in (ipfsspec.AsyncIPFSFileSystem, IPFSFileSystem):
        retire(list(vars(cls).get("_cache", {}).values()))  # their sessions are closed at exit, with the others'
        cls.clear_instance_cache()


def parse_cid(text: str) -> Any:
    """Parse a CID, or raise a :class:`labkit.errors.FormatError` that shows it."""
    multiformats = attempt_import("multiformats")
    try:
        return multiformats.CID.decode(text)
    except Exception as exc:  # noqa: BLE001 - multiformats raises several kinds
        raise FormatError(f"{text!r} is not a valid CID ({exc})") from None


def _rpc(api: str, command: str, **kwargs: Any) -> requests.Response:
    url = f"{api}/api/v0/{command}"
    try:
        r = requests.post(url, timeout=kwargs.pop("timeout", 600), **kwargs)
    except requests.ConnectionError:
        raise ServiceUnavailableError(
            f"no IPFS node answers at {api}: start one (`labkit sandbox up --services ipfs`, or `ipfs daemon`) "
            "or pass api=..."
        ) from None
    if r.status_code != 200:
        try:
            message = r.json().get("Message", r.text)
        except ValueError:
            message = r.text
        kind = FormatError if r.status_code == 400 else ServiceUnavailableError
        raise kind(f"the IPFS node at {api} refused {command}: {str(message).strip()}")
    return r


def _entries(root: Path, hidden: bool) -> list[tuple[str, Path | None]]:
    """(path in the upload, file or None for a directory), sorted bytewise as kubo's clients send them."""
    top = root.name
    if root.is_file():
        return [(top, root)]
    out: list[tuple[str, Path | None]] = [(top, None)]
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if not hidden and any(part.startswith(".") for part in rel.parts):
            continue
        out.append((f"{top}/{rel.as_posix()}", p if p.is_file() else None))
    return sorted(out, key=lambda e: e[0].encode())


def _multipart(entries: list[tuple[str, Path | None]], boundary: str, progress: Any) -> Iterator[bytes]:
    for name, path in entries:
        kind = "application/x-directory" if path is None else "application/octet-stream"
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quote(name, safe='')}\""
               f"\r\nContent-Type: {kind}\r\n\r\n").encode()
        if path is not None:
            data = path.read_bytes()
            yield data
            progress.update(len(data))
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def add(
    path: str | os.PathLike[str],
    *,
    api: str | None = None,
    wrap: bool = True,
    hidden: bool = True,
    chunker: str = "size-1000000",
    cid_version: int = 1,
    raw_leaves: bool = True,
    pin: bool = True,
    progress: bool = True,
) -> str:
    """Add a file or folder to IPFS through the Kubo RPC API; return the root CID.

    The defaults are the flags of ``ipfs add -r --hidden -s size-1000000 --raw-leaves --cid-version 1 -w``:
    the same data gives the same CID as kubo.

    Parameters
    ----------
    path : path
        File or folder to add.
    api : str, optional
        Kubo RPC address (default: ``$IPFS_API``, then ``http://127.0.0.1:5001``).
    wrap : bool
        Wrap in a directory, so the result is reachable as ``<cid>/<name>``.
    hidden : bool
        Include files whose names start with a dot (``.zattrs``, ``.zarray`` ...).
    chunker, cid_version, raw_leaves, pin : optional
        As kubo's flags.
    progress : bool
        Show a progress bar of the bytes sent.

    Returns
    -------
    str
        The root CID (of the wrapping directory when ``wrap``).

    Examples
    --------
    >>> add("images/6001240.zarr")  # doctest: +SKIP
    'bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u'
    """
    root = Path(path)
    if not root.exists():
        raise NotFoundError(f"{root} does not exist: nothing to add")
    entries = _entries(root, hidden)
    total = sum(p.stat().st_size for _, p in entries if p is not None)
    boundary = uuid.uuid4().hex
    params = {"cid-version": cid_version, "raw-leaves": str(raw_leaves).lower(), "chunker": chunker,
              "wrap-with-directory": str(wrap).lower(), "pin": str(pin).lower(), "progress": "false"}
    with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"ipfs add {root.name}",
                   disable=not progress) as bar:
        r = _rpc(api_address(api), "add", params=params, data=_multipart(entries, boundary, bar),
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    if not lines:
        raise ServiceUnavailableError("the IPFS node answered the add with nothing")
    return lines[-1]["Hash"]


def import_car(path: str | os.PathLike[str], *, api: str | None = None, pin: bool = True) -> list[str]:
    """Import a CAR file (how IPFS data sets are shipped) into a node (``/api/v0/dag/import``); return its roots.

    Every block is checked against its CID by the node; a damaged file is refused and nothing of it is pinned.

    Examples
    --------
    >>> import_car("6001240.car")  # doctest: +SKIP
    ['bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u']
    """
    car = Path(path)
    if not car.is_file():
        raise NotFoundError(f"{car} is not a file: give the path of a .car file")
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quote(car.name)}\"\r\n"
            f"Content-Type: application/vnd.ipld.car\r\n\r\n").encode() + car.read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    r = _rpc(api_address(api), "dag/import", params={"pin-roots": str(pin).lower()}, data=body,
             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    roots = [json.loads(line)["Root"] for line in r.text.splitlines() if line.strip()]
    failed = [f"{root['Cid']['/']}: {root['PinErrorMsg']}" for root in roots if root.get("PinErrorMsg")]
    if failed:
        raise ServiceUnavailableError(f"{car}: imported, but not pinned: {'; '.join(failed)}")
    return [root["Cid"]["/"] for root in roots]


def node_id(api: str | None = None) -> dict[str, Any]:
    """The node's peer id and addresses (``/api/v0/id``)."""
    return _rpc(api_address(api), "id", timeout=30).json()


def swarm_connect(address: str, api: str | None = None) -> None:
    """Connect the node to a peer (``/api/v0/swarm/connect``)."""
    _rpc(api_address(api), "swarm/connect", params={"arg": address}, timeout=60)


def publisher_addresses(api: str | None = None) -> list[str]:
    """The swarm addresses (with ``/p2p/<id>``) of the node at ``api``, to give workers as peers."""
    info = node_id(api)
    return [a if "/p2p/" in a else f"{a}/p2p/{info['ID']}" for a in info["Addresses"]]


def stats(api: str | None = None) -> dict[str, int]:
    """Counters of a sandbox node: gateway requests, blocks added and stored (``/api/v0/labkit/stats``)."""
    return _rpc(api_address(api), "labkit/stats", timeout=30).json()


class IPFSWorkerPlugin(WorkerPlugin):
    """A Dask worker plugin: every worker runs its own IPFS node, connected to ``peers``, and reads through it.

    On setup the worker starts a labkit IPFS node (:class:`labkit.ipfs.node.IpfsNode`) in its local
    directory, or reuses the one it started before, dials every peer, and sets ``IPFS_GATEWAY`` to its own gateway, so ``ipfs://``
    reads on that worker fetch blocks peer to peer (bitswap) instead of asking the publisher's gateway.

    Parameters
    ----------
    peers : list of str
        Multiaddrs of the publishing node(s), e.g. from :func:`publisher_addresses`.

    Examples
    --------
    >>> client.register_plugin(IPFSWorkerPlugin(publisher_addresses()))  # doctest: +SKIP
    """

    name = "labkit-ipfs"
    idempotent = True

    def __init__(self, peers: list[str]) -> None:
        self.peers = list(peers)
        self._node: Any = None

    def setup(self, worker: Any) -> None:
        """Start (or reuse) the worker's node, connect it, and point ipfsspec at it."""
        from labkit.ipfs.node import IpfsNode

        root = Path(worker.local_directory) / "labkit-ipfs"
        state = root / "node.json"
        record = json.loads(state.read_text()) if state.exists() else None
        if record is None or not _answers(record["api"]):
            self._node = IpfsNode(root)
            record = self._node.start()
            state.write_text(json.dumps(record))
        for peer in self.peers:
            swarm_connect(peer, api=record["api"])
        use_gateway(record["gateway"])
        os.environ["IPFS_API"] = record["api"]
        worker.labkit_ipfs = record

    def teardown(self, worker: Any) -> None:
        """Stop the node this plugin started."""
        if self._node is not None:
            self._node.stop()
            self._node = None


def _answers(api: str) -> bool:
    try:
        return requests.post(f"{api}/api/v0/id", timeout=2).ok
    except requests.RequestException:
        return False


class TrafficMeter:
    """Counts what a publishing IPFS node served from now on, and what the workers' nodes fetched.

    Needs labkit's IPFS node (the sandbox's): a kubo daemon has no such counters.

    Parameters
    ----------
    api : str, optional
        The publishing node's RPC API (default: :func:`labkit.ipfs.api_address`).

    Examples
    --------
    >>> meter = TrafficMeter()  # doctest: +SKIP
    >>> means = client.compute(lazy_means).result()  # doctest: +SKIP
    >>> meter.read(client).worker_blocks  # doctest: +SKIP
    57
    """

    def __init__(self, api: str | None = None) -> None:
        self.api = api
        self.start = stats(api)

    def read(self, client: Any = None) -> Traffic:
        """The traffic since the meter was made; with a Dask ``client``, also the blocks its workers' nodes hold.

        The workers' nodes are those :class:`labkit.ipfs.IPFSWorkerPlugin` started.
        """
        workers = None
        if client is not None:
            workers = client.run(lambda dask_worker: stats(dask_worker.labkit_ipfs["api"])).values()
        return Traffic.between(self.start, stats(self.api), workers)
