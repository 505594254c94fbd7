"""Versioned result stores: an icechunk repository where every run is one commit, readable as of any version.

``ResultStore(url, versioned=True)`` opens (or creates) an icechunk repository at ``url`` (a local folder or
``s3://bucket/prefix``). Every result lives inside it, as zarr:

- a folder result (:class:`~labkit.results.OmeZarr`, :class:`~labkit.results.NgffLabels`) is written as its
  zarr group, straight into the repository;
- a single-file result (OME-TIFF, PNG, Parquet, ``.npy``, a provenance record) is a one-dimensional ``uint8``
  array holding the file's bytes (chunks of :data:`FILE_CHUNK`, uncompressed: these formats compress
  themselves), marked by the attribute ``labkit_file`` (its size and SHA-256).

So a whole run goes in one atomic commit and a checkout as of any version reads every result of that version.
Each result is one node under the repository's root group, its name with ``/`` written as ``%2F``
(``cells/1.png`` is the node ``cells%2F1.png``): two writers of different results never touch the same node,
so a writer that lost the race to commit rebases cleanly.

Writes go to the store's session and become visible to others at a commit: :meth:`~VersionedResultStore.commit`,
the end of a ``with store.run(message):`` block, or, outside a run, the end of each call of a checkpointed
function. A process killed before that leaves the branch at its last commit.

Examples
--------
>>> store = ResultStore("memory://doc-versioned", versioned=True)  # doctest: +SKIP
>>> with store.run("first results"):  # doctest: +SKIP
...     store.write_bytes("a.txt", b"one")
>>> store.tag("v1")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from labkit._lazy import attempt_import
from labkit.errors import (
    ConfigurationError,
    NotFoundError,
    ReadOnlyVersionError,
    VersionConflictError,
    VersionExistsError,
    VersionNotFoundError,
)
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore, checked_name
from labkit.storage import missing_bucket_error, obstore_config, protocol, storage_options_for

#: chunk size of a single-file result's bytes in the repository
FILE_CHUNK = 4 * 2**20
#: attribute of an array that holds a single-file result
FILE_ATTRIBUTE = "labkit_file"
#: the branch a versioned store writes to unless told otherwise
DEFAULT_BRANCH = "main"
#: icechunk's in-memory repositories by URL, so that ``memory://name`` names one repository in a process
_MEMORY: dict[str, Any] = {}


def _icechunk() -> Any:
    ic = attempt_import("icechunk")
    if "ICECHUNK_LOG" not in os.environ and not getattr(ic, "_labkit_quiet", False):
        ic.set_logs_filter("error")  # its warnings go to stderr from Rust, past Python's warning filters
        ic._labkit_quiet = True
    return ic


def node_name(name: str) -> str:
    """The repository node of a result: one child of the root, ``/`` written as ``%2F``.

    Examples
    --------
    >>> node_name("cells/1 a.png")
    'cells%2F1%20a.png'
    """
    return quote(name, safe="")


def icechunk_storage(url: str, storage_options: Mapping[str, Any]) -> Any:
    """Icechunk's storage for a local folder, ``s3://bucket/prefix`` or ``memory://name``.

    S3 endpoint and credentials are labkit's (:func:`labkit.storage.storage_options_for`: the environment's).
    """
    ic = _icechunk()
    proto = protocol(url)
    if proto == "file":
        return ic.local_filesystem_storage(str(Path(url.removeprefix("file://")).expanduser().absolute()))
    if proto == "memory":
        return _MEMORY.setdefault(url, ic.in_memory_storage())
    if proto == "s3":
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        config = obstore_config(storage_options)
        if config is None or not prefix:
            raise ConfigurationError(
                f"a versioned store on S3 needs s3://bucket/prefix (not the bucket's root) and options labkit can "
                f"pass to icechunk (endpoint, region, key, secret, token): got {url!r} with {sorted(storage_options)}"
            )
        endpoint = config.get("endpoint")
        return ic.s3_storage(
            bucket=bucket, prefix=prefix, region=config.get("region"), endpoint_url=endpoint,
            allow_http=str(endpoint or "").startswith("http://"), access_key_id=config.get("access_key_id"),
            secret_access_key=config.get("secret_access_key"), session_token=config.get("token"),
            anonymous=True if config.get("skip_signature") else None, force_path_style=endpoint is not None,
        )
    raise ConfigurationError(f"a versioned store lives in a local folder, on s3:// or in memory://, not on {url!r}")


@dataclass(frozen=True)
class Commit:
    """One commit of a versioned store: a run.

    ``provenance`` maps each result the run wrote to its provenance record (function, code and
    argument hashes, SHA-256, versions, git state); ``metadata`` is what else the commit recorded (the
    run's ``metadata=``, labkit's version); ``tags`` name this commit. Its repr leaves out the records.
    """

    id: str
    time: dt.datetime
    message: str
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    tags: tuple[str, ...] = ()


class History(list):
    """The commits of a versioned store, newest first: a list of :class:`Commit` shown as a compact table.

    :meth:`table` is that table (a ``pandas.DataFrame``); each commit keeps its full provenance and metadata.
    """

    def table(self) -> Any:
        """The commits as a ``pandas.DataFrame``, one row each.

        Columns: ``id``, ``tags``, ``time``, ``message``, ``results`` (how many the run wrote), then each key of
        the runs' ``metadata=`` and ``labkit_version``.

        Examples
        --------
        >>> store.history().table()  # doctest: +SKIP
                     id tags                             time    message  results  denoise labkit_version
        0  1CECHNKREP0F   v2 2026-12-06 20:51:28.123456+00:00     second        5      2.0          0.4.0
        """
        pd = attempt_import("pandas")
        keys = list(dict.fromkeys(k for c in self for k in c.metadata if k != "labkit_version"))
        rows = [{"id": c.id, "tags": ", ".join(c.tags), "time": c.time, "message": c.message,
                 "results": len(c.provenance), **{k: c.metadata.get(k) for k in keys},
                 "labkit_version": c.metadata.get("labkit_version")} for c in self]
        return pd.DataFrame(rows, columns=["id", "tags", "time", "message", "results", *keys, "labkit_version"])

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


@dataclass(frozen=True)
class Change:
    """A result (or another file) that differs between two versions of a versioned store.

    ``change`` is ``"added"``, ``"removed"``, ``"changed"`` (other bytes), ``"remade"`` (computed again, to the
    same bytes) or ``"rewritten"`` (a folder result computed again: a folder has no single digest to compare);
    ``before`` and ``after`` are the SHA-256 of its bytes in each version (``None``: not there, or a folder);
    ``parameters`` maps each argument whose recorded value differs to its two values; ``code_changed`` says
    whether other code made it (its function's code hash differs).
    """

    name: str
    change: str
    before: str | None
    after: str | None
    parameters: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    code_changed: bool = False


class VersionedResultStore(ResultStore):
    """A result store in an icechunk repository: one commit per run, tags, history, reads as of any version.

    Made by ``ResultStore(url, versioned=True)`` (to write, on ``branch``) or ``ResultStore(url, version=...)``
    (read-only, as of a tag, a branch or a commit id).

    Parameters
    ----------
    url : str or path
        A local folder, ``s3://bucket/prefix`` or ``memory://name``.
    storage_options : mapping, optional
        As for :class:`ResultStore` (S3 endpoint and credentials default to the environment's).
    version : str, optional
        A tag, branch or commit id: the store is read-only, as of that version.
    branch : str
        The branch written to (default ``"main"``).

    Examples
    --------
    >>> store = ResultStore("memory://doc-versioned", versioned=True)
    >>> with store.run("first results"):
    ...     store.write_bytes("cells/a.txt", b"one")
    >>> first = store.tag("v1")
    >>> with store.run("second results"):
    ...     store.write_bytes("cells/a.txt", b"two")
    >>> ResultStore("memory://doc-versioned", version="v1").read_bytes("cells/a.txt")
    b'one'
    >>> [c.message for c in store.history()]
    ['second results', 'first results']
    """

    versioned = True
    zarr_formats = (3,)  # icechunk holds zarr format 3 only

    def __init__(self, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None, *,
                 versioned: bool = True, version: str | None = None, branch: str = DEFAULT_BRANCH) -> None:
        self.url = str(url).rstrip("/")
        self.storage_options = storage_options_for(self.url, storage_options, write=version is None)
        self.local = protocol(self.url) == "file"
        self.version = version
        self.branch = branch
        self._lock = threading.RLock()
        self._repository: Any = None
        self._session: Any = None
        self._fork = False
        self._run: str | None = None
        self._message: str | None = None  # of a commit that was refused, for the retry
        self._provenance: dict[str, dict[str, Any]] = {}  # records written since the last commit
        if version is not None:
            self._session = self._readonly_session(version)
        else:
            self._ensure_root()

    # ----------------------------------------------------------------- repository and sessions
    @property
    def repository(self) -> Any:
        """The :class:`icechunk.Repository` (opened on first use)."""
        if self._repository is None:
            ic = _icechunk()
            storage = icechunk_storage(self.url, self.storage_options)
            try:
                if self.version is None:
                    self._repository = ic.Repository.open_or_create(storage)
                else:
                    self._repository = ic.Repository.open(storage)
            except ic.IcechunkError as exc:
                if self.version is not None and not ic.Repository.exists(storage):
                    raise NotFoundError(f"there is no versioned result store at {self.url}") from None
                if protocol(self.url) == "s3" and "NoSuchBucket" in str(exc):
                    raise missing_bucket_error(self.url, self.storage_options, action="open", certain=True) from None
                raise ConfigurationError(f"cannot open the versioned result store at {self.url}: {exc}") from None
        return self._repository

    def _ensure_root(self) -> None:
        """A new repository gets its root group in a first commit (results are its children)."""
        ic = _icechunk()
        zarr = attempt_import("zarr")
        tip = self.repository.readonly_session(branch=self.branch)
        if _sync(tip.store.exists("zarr.json")):
            return
        session = self.repository.writable_session(self.branch)
        zarr.open_group(session.store, mode="a", zarr_format=3)
        try:
            session.commit("labkit: a versioned result store", metadata={"labkit": "root"})
        except ic.ConflictError:
            pass  # another process made it first

    def _readonly_session(self, version: str) -> Any:
        return self.repository.readonly_session(**self._resolve(version))

    def _resolve(self, version: str) -> dict[str, str]:
        """Icechunk's keyword for a version: ``tag``, ``branch`` or ``snapshot_id``."""
        ic = _icechunk()
        repo = self.repository
        tags, branches = repo.list_tags(), repo.list_branches()
        if version in tags:
            return {"tag": version}
        if version in branches:
            return {"branch": version}
        try:
            repo.lookup_snapshot(version)
            return {"snapshot_id": version}
        except (ic.IcechunkError, ValueError, KeyError):
            raise VersionNotFoundError(
                f"{self.url} has no version {version!r}: its tags are {sorted(tags) or 'none'}, its branches "
                f"{sorted(branches)}; a commit id is one of store.history()'s ids"
            ) from None

    @property
    def session(self) -> Any:
        """The icechunk session reads and writes go through: writable on the branch, or read-only at a version."""
        with self._lock:
            if self._session is None:
                self._session = self.repository.writable_session(self.branch)
            return self._session

    @property
    def read_only(self) -> bool:
        """Whether the store was opened as of a version (then it cannot be written)."""
        return self.version is not None

    @property
    def has_changes(self) -> bool:
        """Whether there are writes not committed yet."""
        return self._session is not None and not self._session.read_only and self._session.has_uncommitted_changes

    def _writable(self, name: str = "") -> None:
        if self.version is not None:
            raise ReadOnlyVersionError(
                f"cannot write {self.url_of(name) if name else self.url}: this store is opened as of version "
                f"{self.version!r}, read-only. Open ResultStore({self.url!r}, versioned=True) to write on branch "
                f"{self.branch!r}"
            )

    def _store(self) -> Any:
        return self.session.store

    # ----------------------------------------------------------------- the ResultStore interface
    def path(self, name: str) -> str:
        """The node of ``name`` in the repository (a name leading outside the store is refused)."""
        return node_name(checked_name(name, self.url))

    def zarr_location(self, name: str, mode: str = "r") -> Any:
        """The zarr location of a folder result: a ``StorePath`` in the session (``mode`` not ``"r"``: to write)."""
        from zarr.storage import StorePath

        if mode != "r":
            self._writable(name)
        return StorePath(self._store(), self.path(name))

    def exists(self, name: str) -> bool:
        """Whether ``name`` (a result, or a key inside a folder result) exists in this version."""
        checked_name(name, self.url)
        parts = name.split("/")  # a result's node, or a key inside one (e.g. "z/1.ome.zarr" + "/zarr.json")
        keys = [f"{self.path(name)}/zarr.json"] + [
            f"{node_name('/'.join(parts[:i]))}/{'/'.join(parts[i:])}" for i in range(len(parts) - 1, 0, -1)]
        store = self._store()
        return any(_exists(store, key) for key in keys)

    def read_bytes(self, name: str) -> bytes:
        """The bytes of the single-file result ``name``."""
        zarr = attempt_import("zarr")
        try:
            arr = zarr.open_array(self._store(), path=self.path(name), mode="r")
        except (FileNotFoundError, KeyError, ValueError, TypeError, zarr.errors.ContainsGroupError):
            arr = None
        if arr is None or FILE_ATTRIBUTE not in arr.attrs:
            data = self._key_bytes(name)  # a file inside a folder result (its zarr.json, a chunk), as listed
            if data is None:
                raise NotFoundError(f"{self.url_of(name)} does not exist{self._where()}")
            return data
        return arr[:].tobytes() if arr.shape[0] else b""

    def _key_bytes(self, name: str) -> bytes | None:
        """The bytes of a key inside a folder result (``"z/1.ome.zarr/zarr.json"``), ``None`` when there is none."""
        from zarr.core.buffer import default_buffer_prototype

        parts = name.split("/")
        store = self._store()
        for i in range(len(parts) - 1, 0, -1):
            try:
                found = _sync(store.get(f"{node_name('/'.join(parts[:i]))}/{'/'.join(parts[i:])}",
                                        prototype=default_buffer_prototype()))
            except ValueError:  # icechunk's InvalidInputError: not a key of this repository's layout
                continue
            if found is not None:
                return found.to_bytes()
        return None

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` as the single-file result ``name`` (in the session: visible to others at the commit)."""
        self._writable(name)
        zarr = attempt_import("zarr")
        data = bytes(data)
        size = len(data)
        arr = zarr.create_array(
            self._store(), name=self.path(name), shape=(size,), dtype="uint8", chunks=(max(1, min(size, FILE_CHUNK)),),
            compressors=None, fill_value=0, overwrite=True,
            attributes={FILE_ATTRIBUTE: {"name": name, "size": size, "sha256": hashlib.sha256(data).hexdigest()}},
        )
        if size:
            arr[:] = np.frombuffer(data, np.uint8)

    def write_provenance(self, name: str, record: Mapping[str, Any]) -> None:
        """Write the provenance record of ``name``; it also goes into the metadata of the next commit."""
        super().write_provenance(name, record)
        with self._lock:
            self._provenance[name] = dict(record)

    def settle(self, message: str) -> str | None:
        """After a call of a checkpointed function: commit it, unless a run is open (or this is a fork)."""
        if self._run is not None or self._fork or not self.has_changes:
            return None
        return self.commit(message)

    def list(self, prefix: str = "") -> list[str]:
        """Names of single-file results under ``prefix`` and keys inside folder results (records excluded).

        Only the results whose names match ``prefix`` are opened: listing one result costs one node, not all.
        """
        zarr = attempt_import("zarr")
        store = self._store()
        names = []
        for node in _sync_list(store.list_dir("")):
            name = unquote(node)
            if node == "zarr.json" or name.endswith(PROVENANCE_SUFFIX) or not (
                    name.startswith(prefix) or prefix.startswith(name + "/")):
                continue
            item = zarr.open(store, path=node, mode="r")
            if isinstance(item, zarr.Array) and FILE_ATTRIBUTE in item.attrs:
                names.append(name)
            else:
                names += [f"{name}/{key[len(node) + 1:]}" for key in _sync_list(store.list_prefix(node + "/"))]
        return sorted(n for n in names if n.startswith(prefix))

    def files(self, prefix: str = "") -> set[str]:
        """Single-file results and provenance records under ``prefix`` in this version, from one listing."""
        folder = prefix.rstrip("/")
        return {n for n in self._file_attributes() if not folder or n.startswith(folder + "/")}

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        """The bytes of each of ``names`` that exists in this version."""
        out = {}
        for name in names:
            try:
                out[name] = self.read_bytes(name)
            except NotFoundError:
                continue
        return out

    def targets(self, prefix: str = "") -> list[str]:
        """Names that have a provenance record in this version, finished or not, under ``prefix``."""
        folder = prefix.rstrip("/")
        return sorted(n[: -len(PROVENANCE_SUFFIX)] for n in self._file_attributes()
                      if n.endswith(PROVENANCE_SUFFIX) and (not folder or n.startswith(folder + "/")))

    def _file_attributes(self) -> dict[str, dict[str, Any]]:
        """Every single-file result (provenance records included) -> its size and SHA-256, from one listing."""
        zarr = attempt_import("zarr")
        try:
            root = zarr.open_group(self._store(), mode="r")
        except FileNotFoundError:
            return {}
        return {unquote(node): dict(item.attrs[FILE_ATTRIBUTE]) for node, item in root.members()
                if isinstance(item, zarr.Array) and FILE_ATTRIBUTE in item.attrs}

    def _where(self) -> str:
        return f" (as of version {self.version!r})" if self.version else f" (on branch {self.branch!r})"

    # ----------------------------------------------------------------- commits, runs, versions
    @contextlib.contextmanager
    def run(self, message: str, metadata: Mapping[str, Any] | None = None) -> Iterator[VersionedResultStore]:
        """Everything written in the block, by checkpointed functions or directly, is one commit at its end.

        An exception in the block commits nothing (the writes are discarded, the branch stays at its last
        commit); so does a process killed in it. A run that wrote nothing (every result was read back) makes
        no commit.

        Examples
        --------
        >>> with store.run("segment plate 3"):  # doctest: +SKIP
        ...     for well in wells:
        ...         segment(well)
        """
        self._writable()
        with self._lock:
            if self._run is not None:
                raise ConfigurationError(f"a run ({self._run!r}) is open on this store already; runs do not nest")
            self._run = message
        try:
            yield self
        except BaseException:
            self._run = None
            self.discard()
            raise
        self._run = None
        self.commit(message, metadata=metadata)

    def commit(self, message: str | None = None, *, metadata: Mapping[str, Any] | None = None,
               rebase: bool = False) -> str | None:
        """Commit the writes of the session, with the provenance records written since the last commit.

        Parameters
        ----------
        message : str
            The commit message (default: that of a commit that was refused, when retried).
        metadata : mapping, optional
            More to record in the commit (JSON-able).
        rebase : bool
            When another writer committed to the branch first, put these writes on top of its commit
            (refused with :class:`~labkit.errors.VersionConflictError` if both wrote the same result).

        Returns
        -------
        str or None
            The commit id; ``None`` when there was nothing to commit.

        Raises
        ------
        labkit.errors.VersionConflictError
            Another writer committed to the branch since this session began; nothing is lost: call
            ``store.commit(rebase=True)``, or ``store.discard()`` and run again.
        """
        self._writable()
        if self._fork:
            raise ConfigurationError("a fork is not committed: the store it came from merges it (store.merge(fork)) "
                                     "and commits")
        ic = _icechunk()
        with self._lock:
            message = message or self._message
            if not message:
                raise ConfigurationError("give the commit a message: store.commit('what this run did')")
            if not self.has_changes:
                return None
            from labkit.results.provenance import labkit_version

            meta = {**dict(metadata or {}), "labkit_version": labkit_version(), "results": dict(self._provenance)}
            base = self._session.snapshot_id
            try:
                commit_id = self._session.commit(message, metadata=meta,
                                                 rebase_with=ic.ConflictDetector() if rebase else None)
            except ic.RebaseFailedError as exc:
                self._message = message
                paths = sorted({unquote(c.path.lstrip("/").split("/")[0]) for c in exc.conflicts})
                raise VersionConflictError(
                    f"another writer committed the same results to branch {self.branch!r} of {self.url} ({paths}): "
                    "these writes cannot be put on top of its commit. They are kept in this store: "
                    "store.discard() and run again to compute them on top of the new commit"
                ) from None
            except ic.ConflictError:
                self._message = message
                raise VersionConflictError(
                    f"another writer committed to branch {self.branch!r} of {self.url} after this store's writes "
                    f"began (at commit {base}). Nothing is lost: these writes are kept in this store. Call "
                    "store.commit(rebase=True) to put them on top of the new commit (refused only if both wrote "
                    "the same result), or store.discard() and run again"
                ) from None
            self._session = None
            self._provenance = {}
            self._message = None
            return commit_id

    def discard(self) -> None:
        """Drop the writes not committed yet."""
        with self._lock:
            self._session = None if self.version is None else self._session
            self._provenance = {}
            self._message = None

    def tag(self, name: str, version: str | None = None, *, exist_ok: bool = False) -> str:
        """Tag the branch's last commit (or ``version``) as ``name``; return the commit id.

        With ``exist_ok=True`` a tag that exists is left where it is (tags never move) and its commit returned:
        a notebook run twice keeps the tags of its first run.

        Raises
        ------
        labkit.errors.VersionExistsError
            The tag exists (tags never move), and ``exist_ok`` is false.
        """
        ic = _icechunk()
        if self.has_changes:
            raise ConfigurationError(f"{self.url} has writes not committed: commit them first (store.commit(...)), "
                                     "then tag")
        repo = self.repository
        if version is not None:
            snapshot = self._snapshot_of(version)
        elif self.version is not None:
            snapshot = self.session.snapshot_id
        else:
            snapshot = repo.lookup_branch(self.branch)
        if name in repo.list_tags():
            if exist_ok:
                return repo.lookup_tag(name)
            raise VersionExistsError(f"{self.url} has a tag {name!r} already (at commit {repo.lookup_tag(name)}); "
                                     "tags never move: choose another name")
        try:
            repo.create_tag(name, snapshot)
        except ic.IcechunkError as exc:
            if "exist" in str(exc).lower():
                raise VersionExistsError(f"{self.url}: the tag {name!r} exists or existed (a deleted tag's name is "
                                         "not used again): choose another name") from None
            raise
        return snapshot

    def _snapshot_of(self, version: str) -> str:
        where = self._resolve(version)
        if "tag" in where:
            return self.repository.lookup_tag(version)
        if "branch" in where:
            return self.repository.lookup_branch(version)
        return version

    def tags(self) -> dict[str, str]:
        """Tag -> commit id."""
        repo = self.repository
        return {t: repo.lookup_tag(t) for t in sorted(repo.list_tags())}

    def history(self, version: str | None = None) -> History:
        """The commits of the branch (or before ``version``), newest first, shown as a table (``.table()``).

        The repository's own first commit (its root group) is left out.
        """
        if version is not None:
            where = self._resolve(version)
        elif self.version is not None:
            where = {"snapshot_id": self.session.snapshot_id}
        else:
            where = {"branch": self.branch}
        out = History()
        tags: dict[str, list[str]] = {}
        for tag, commit in self.tags().items():
            tags.setdefault(commit, []).append(tag)
        for info in self.repository.ancestry(**where):
            meta = dict(info.metadata or {})
            if (meta.get("__icechunk") or {}).get("is_root") or meta.get("labkit") == "root":
                continue
            provenance = dict(meta.pop("results", None) or {})
            meta = {k: v for k, v in meta.items() if not k.startswith("__")}
            out.append(Commit(info.id, info.written_at, info.message, provenance, meta, tuple(tags.get(info.id, ()))))
        return out

    def diff(self, before: str, after: str | None = None) -> list[Change]:
        """What differs between two versions: each result added, removed or changed, and why, by name.

        A result is changed when its bytes are; remade when it was computed again to the same bytes. Its
        provenance records say which parameters and whether the code differ. Files without a record (manifest
        tables, READMEs) are compared by their bytes only. Only what differs is read: a record whose bytes are
        the same in both versions is not.

        Parameters
        ----------
        before : str
            A tag, branch or commit id.
        after : str, optional
            Another (default: this store's version, or its branch).

        Returns
        -------
        list of Change
            In name order; ``pandas.DataFrame(...)`` makes a table.

        Examples
        --------
        >>> store = ResultStore("memory://doc-diff", versioned=True)
        >>> with store.run("first"):
        ...     store.write_bytes("a.txt", b"one")
        ...     store.write_bytes("b.txt", b"same")
        >>> _ = store.tag("v1")
        >>> with store.run("second"):
        ...     store.write_bytes("a.txt", b"two")
        >>> [(c.name, c.change) for c in store.diff("v1")]
        [('a.txt', 'changed')]
        """
        old = self._at(before)
        new = self._at(after) if after is not None else self._at(self.version) if self.version else self
        old_files, new_files = old._file_attributes(), new._file_attributes()
        records = {n for n in {*old_files, *new_files} if n.endswith(PROVENANCE_SUFFIX)}
        targets = {n[: -len(PROVENANCE_SUFFIX)] for n in records}

        def digest(files: dict[str, dict[str, Any]], name: str, record: dict[str, Any] | None) -> str | None:
            return (files.get(name) or {}).get("sha256") or (record or {}).get("sha256")

        changes = []
        for name in sorted(targets | {n for n in {*old_files, *new_files} if n not in records}):
            key = name + PROVENANCE_SUFFIX
            same_record = (old_files.get(key) or {}).get("sha256") == (new_files.get(key) or {}).get("sha256")
            if name in targets and not same_record:
                a = old.read_json(key) if key in old_files else None
                b = new.read_json(key) if key in new_files else None
            else:
                a = b = None
            was, now = digest(old_files, name, a), digest(new_files, name, b)
            if was == now and (same_record or name not in targets):
                continue
            if not (name in old_files or key in old_files):
                kind = "added"
            elif not (name in new_files or key in new_files):
                kind = "removed"
            else:
                kind = "changed" if was != now else "remade" if was else "rewritten"
            args_a, args_b = (a or {}).get("arguments") or {}, (b or {}).get("arguments") or {}
            params = {k: (args_a.get(k), args_b.get(k)) for k in sorted({*args_a, *args_b})
                      if args_a.get(k) != args_b.get(k)} if a and b else {}
            code = bool(a and b and a.get("code_hash") != b.get("code_hash"))
            changes.append(Change(name, kind, was, now, params, code))
        return changes

    def _at(self, version: str) -> VersionedResultStore:
        """The store as of ``version``, read-only, sharing the open repository."""
        twin = object.__new__(VersionedResultStore)
        twin.__dict__.update(self.__dict__)
        twin._lock = threading.RLock()
        twin.version = version
        twin._session = self._readonly_session(version)
        twin._fork = False
        twin._run = None
        twin._provenance = {}
        return twin

    # ----------------------------------------------------------------- distributed writes
    def fork(self) -> VersionedResultStore:
        """A copy writing into a fork of this store's session: pickle it to a Dask task, then :meth:`merge` it.

        Examples
        --------
        >>> def task(store, i):  # doctest: +SKIP
        ...     store.write_bytes(f"{i}.txt", b"...")
        ...     return store
        >>> store.merge(*client.gather(client.map(task, [store.fork() for i in items], items)))  # doctest: +SKIP
        """
        self._writable()
        twin = object.__new__(VersionedResultStore)
        twin.__dict__.update(self.__dict__)
        twin._lock = threading.RLock()
        twin._session = self.session.fork()
        twin._fork = True
        twin._provenance = {}
        return twin

    def merge(self, *forks: VersionedResultStore) -> None:
        """Take in the writes of forks (and their provenance records), to be committed with this store's."""
        with self._lock:
            for fork in forks:
                self.session.merge(fork._session)
                self._provenance.update(fork._provenance)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_repository")}
        if not self._fork and self._session is not None and not self._session.read_only:
            state["_session"] = None  # a writable session is not shared: a copy opens its own (use fork())
            state["_provenance"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._repository = None

    def __repr__(self) -> str:
        at = f"version={self.version!r}" if self.version else f"versioned=True, branch={self.branch!r}"
        return f"ResultStore({self.url!r}, {at})"


def _sync(coroutine: Any) -> Any:
    from zarr.core.sync import sync

    return sync(coroutine)


def _exists(store: Any, key: str) -> bool:
    try:
        return bool(_sync(store.exists(key)))
    except ValueError:  # icechunk's InvalidInputError: not a zarr key (a name inside a file result's node)
        return False


def _sync_list(iterator: Any) -> list[str]:
    async def collect() -> list[str]:
        return [key async for key in iterator]

    return _sync(collect())
