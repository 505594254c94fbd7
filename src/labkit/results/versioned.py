"""Versioned result stores: an icechunk repository where every run is one commit, readable as of any version.

``ResultStore(url, versioned=True)`` opens (or creates) an icechunk repository at ``url`` (a local folder or
``s3://bucket/prefix``); every result lives inside it as zarr (:mod:`labkit.results.nodes`), so a whole run goes in
one atomic commit and a checkout as of any version reads every result of that version.

:class:`VersionedResultStore` is the :class:`~labkit.results.ResultStore` interface over the parts icechunk itself
has: the repository (:class:`~labkit.results.repository.ResultRepository`: branches, tags, history, reads as of a
version), a writable session (:class:`~labkit.results.session.ResultSession`: writes, commit, conflicts) and, for
many tasks at once, a batch of forked sessions (:mod:`labkit.results.batch`).

Writes go to the store's session and become visible to others at a commit: :meth:`~VersionedResultStore.commit`,
the end of a ``with store.run(message):`` block or of a batch, or, outside a run, the end of each call of a
checkpointed function. A process killed before that leaves the branch at its last commit.

Examples
--------
>>> store = ResultStore("memory://doc-versioned", versioned=True)  # doctest: +SKIP
>>> with store.run("first results"):  # doctest: +SKIP
...     store.write_bytes("a.txt", b"one")
>>> store.tag("v1")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from labkit.errors import ConfigurationError, NotFoundError, ReadOnlyVersionError
from labkit.results import nodes
from labkit.results.batch import Batch, SessionBatch
from labkit.results.diff import Change, compare
from labkit.results.history import Commit, History
from labkit.results.nodes import FILE_ATTRIBUTE, FILE_CHUNK, _exists, _sync, _sync_list, node_name  # noqa: F401
from labkit.results.repository import _MEMORY, DEFAULT_BRANCH, ResultRepository, _icechunk, icechunk_storage  # noqa: F401
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore, checked_name
from labkit.results.session import ResultSession
from labkit.storage import protocol, storage_options_for

__all__ = ["Change", "Commit", "History", "VersionedResultStore"]


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
                 versioned: bool = True, version: str | None = None, branch: str | None = None) -> None:
        self.url = str(url).rstrip("/")
        self.storage_options = storage_options_for(self.url, storage_options, write=version is None)
        self.local = protocol(self.url) == "file"
        self.version = version
        self.branch = branch or DEFAULT_BRANCH
        self._lock = threading.RLock()
        self._repo = ResultRepository(self.url, self.storage_options, create=version is None)
        self._session: ResultSession | None = None  # writes on the branch (or into a fork of its session)
        self._reader: Any = None  # the icechunk session as of ``version``
        self._run: str | None = None
        if version is not None:
            self._reader = self._repo.readonly_session(version)
        else:
            self._repo.ensure_root(self.branch)

    # ----------------------------------------------------------------- repository and sessions
    @property
    def repository(self) -> Any:
        """The :class:`icechunk.Repository` (opened on first use)."""
        return self._repo.icechunk

    @property
    def session(self) -> Any:
        """The icechunk session reads and writes go through: writable on the branch, or read-only at a version."""
        return self._reader if self._reader is not None else self._writes().icechunk

    def _writes(self) -> ResultSession:
        """The session writes go to (opened on first use, and again after each commit)."""
        with self._lock:
            if self._session is None:
                self._session = ResultSession(self._repo.writable_session(self.branch), url=self.url,
                                              branch=self.branch)
            return self._session

    @property
    def _fork(self) -> bool:
        return self._session is not None and self._session.is_fork

    @property
    def read_only(self) -> bool:
        """Whether the store was opened as of a version (then it cannot be written)."""
        return self.version is not None

    @property
    def has_changes(self) -> bool:
        """Whether there are writes not committed yet."""
        return self._session is not None and self._session.has_changes

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
        return nodes.exists(self._store(), checked_name(name, self.url))

    def read_bytes(self, name: str) -> bytes:
        """The bytes of the single-file result ``name`` (or of a key inside a folder result)."""
        data = nodes.read_file(self._store(), checked_name(name, self.url))
        if data is None:
            raise NotFoundError(f"{self.url_of(name)} does not exist{self._where()}")
        return data

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` as the single-file result ``name`` (in the session: visible to others at the commit)."""
        self._writable(name)
        nodes.write_file(self._store(), checked_name(name, self.url), data)

    def write_provenance(self, name: str, record: Mapping[str, Any]) -> None:
        """Write the provenance record of ``name``; it also goes into the metadata of the next commit."""
        super().write_provenance(name, record)
        self._writes().record(name, record)

    def settle(self, message: str) -> str | None:
        """After a call of a checkpointed function: commit it, unless a run is open (or this is a fork)."""
        if self._run is not None or self._fork or not self.has_changes:
            return None
        return self.commit(message)

    def list(self, prefix: str = "") -> list[str]:
        """Names of single-file results under ``prefix`` and keys inside folder results (records excluded)."""
        return nodes.list_names(self._store(), prefix)

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
        return sorted(n[: -len(PROVENANCE_SUFFIX)] for n in self.files(prefix) if n.endswith(PROVENANCE_SUFFIX))

    def _file_attributes(self) -> dict[str, dict[str, Any]]:
        """Every single-file result (provenance records included) -> its size and SHA-256, from one listing."""
        return nodes.file_attributes(self._store())

    def _where(self) -> str:
        return f" (as of version {self.version!r})" if self.version else f" (on branch {self.branch!r})"

    # ----------------------------------------------------------------- runs and commits (the session)
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
        with self._lock:
            session = self._writes()
            commit_id = session.commit(message, metadata=metadata, rebase=rebase)
            if commit_id is not None:
                self._session = None  # the next writes open a session on the new commit
            return commit_id

    def discard(self) -> None:
        """Drop the writes not committed yet."""
        with self._lock:
            self._session = None

    # ----------------------------------------------------------------- many tasks at once (forked sessions)
    def batch(self, message: str, metadata: Mapping[str, Any] | None = None) -> Batch:
        """Many tasks' writes as one commit: see :mod:`labkit.results.batch`.

        Joins the run open on the store (or the fork this store is) instead of committing by itself.
        """
        self._writable()
        return SessionBatch(self, message, metadata, join=self._run is not None or self._fork)

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
        twin = self._twin()
        twin._session = self._writes().fork()
        return twin

    def merge(self, *forks: VersionedResultStore) -> None:
        """Take in the writes of forks (and their provenance records), to be committed with this store's."""
        self._writes().merge(*[fork._writes() for fork in forks])

    # ----------------------------------------------------------------- versions (the repository)
    def tag(self, name: str, version: str | None = None, *, exist_ok: bool = False) -> str:
        """Tag the branch's last commit (or ``version``) as ``name``; return the commit id.

        With ``exist_ok=True`` a tag that exists is left where it is (tags never move) and its commit returned:
        a notebook run twice keeps the tags of its first run.

        Raises
        ------
        labkit.errors.VersionExistsError
            The tag exists (tags never move), and ``exist_ok`` is false.
        """
        if self.has_changes:
            raise ConfigurationError(f"{self.url} has writes not committed: commit them first (store.commit(...)), "
                                     "then tag")
        if version is not None:
            snapshot = self._repo.snapshot_of(version)
        elif self.version is not None:
            snapshot = self.session.snapshot_id
        else:
            snapshot = self.repository.lookup_branch(self.branch)
        return self._repo.tag(name, snapshot, exist_ok=exist_ok)

    def tags(self) -> dict[str, str]:
        """Tag -> commit id."""
        return self._repo.tags()

    def history(self, version: str | None = None) -> History:
        """The commits of the branch (or before ``version``), newest first, shown as a table (``.table()``).

        The repository's own first commit (its root group) is left out.
        """
        if version is not None:
            return self._repo.history(**self._repo.resolve(version))
        if self.version is not None:
            return self._repo.history(snapshot_id=self.session.snapshot_id)
        return self._repo.history(branch=self.branch)

    def diff(self, before: str, after: str | None = None) -> list[Change]:
        """What differs between two versions: each result added, removed or changed, and why, by name.

        A result is changed when its bytes are; remade when it was computed again to the same bytes. Its
        provenance records say which parameters and whether the code differ. Files without a record (manifest
        tables, READMEs) are compared by their bytes only. Only what differs is read.

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
        new = self.at(after) if after is not None else self.at(self.version) if self.version else self
        return compare(self.at(before), new)

    def at(self, version: str) -> VersionedResultStore:
        """The store as of ``version`` (a tag, branch or commit id), read-only, sharing the open repository.

        Examples
        --------
        >>> store.at("v1").read_bytes("cells/a.txt")  # doctest: +SKIP
        b'one'
        """
        twin = self._twin()
        twin.version = version
        twin._reader = self._repo.readonly_session(version)
        return twin

    _at = at  # its name before it was public

    def _twin(self) -> VersionedResultStore:
        """A copy sharing the repository, with no session, run or reader of its own yet."""
        twin = object.__new__(VersionedResultStore)
        twin.__dict__.update(self.__dict__)
        twin._lock = threading.RLock()
        twin._session = twin._reader = None
        twin._run = None
        return twin

    # ----------------------------------------------------------------- pickling, repr
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        if not self._fork:
            state["_session"] = None  # a writable session is not shared: a copy opens its own (use fork())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        at = f"version={self.version!r}" if self.version else f"versioned=True, branch={self.branch!r}"
        return f"ResultStore({self.url!r}, {at})"
