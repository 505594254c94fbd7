"""A writable session of a versioned result store: its writes, the provenance records they carry, its commit.

A :class:`ResultSession` wraps an icechunk session writing on a branch (or a fork of one, on a worker). Writes
become visible to others at :meth:`~ResultSession.commit`, which records the provenance of every result written
since the last commit in the commit's metadata, and which turns icechunk's conflicts into
:class:`~labkit.errors.VersionConflictError` saying what to do. A process killed before that leaves the branch
at its last commit. It is what icechunk's ``Session`` (and ``ForkSession``) is to its ``Repository``.

Examples
--------
>>> from labkit.results.repository import ResultRepository
>>> repo = ResultRepository("memory://doc-session", create=True)
>>> repo.ensure_root("main")
>>> session = ResultSession(repo.writable_session("main"), url=repo.url, branch="main")
>>> from labkit.results import nodes
>>> nodes.write_file(session.store, "a.txt", b"one")
>>> session.commit("first") is not None
True
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from labkit.errors import ConfigurationError, VersionConflictError
from labkit.results.history import RESULTS_KEY
from labkit.results.repository import _icechunk


class ResultSession:
    """Writes to a branch of a versioned result store, committed together.

    Parameters
    ----------
    session : icechunk.Session or icechunk.ForkSession
        The icechunk session written through.
    url, branch : str
        Of the store (for messages).
    """

    def __init__(self, session: Any, *, url: str, branch: str) -> None:
        self.icechunk = session
        self.url = url
        self.branch = branch
        self.provenance: dict[str, dict[str, Any]] = {}  # records written since the last commit
        self._message: str | None = None  # of a commit that was refused, for the retry
        self._lock = threading.RLock()

    @property
    def store(self) -> Any:
        """The zarr store of the session."""
        return self.icechunk.store

    @property
    def is_fork(self) -> bool:
        """Whether this is a fork (written on a worker, merged into the session it came from, never committed)."""
        return type(self.icechunk).__name__ == "ForkSession"

    @property
    def has_changes(self) -> bool:
        """Whether there are writes not committed yet."""
        return self.icechunk.has_uncommitted_changes

    def record(self, name: str, record: Mapping[str, Any]) -> None:
        """Keep the provenance record of ``name`` for the next commit's metadata."""
        with self._lock:
            self.provenance[name] = dict(record)

    def fork(self) -> ResultSession:
        """A session writing into a fork of this one: picklable, to be merged back (:meth:`merge`)."""
        return ResultSession(self.icechunk.fork(), url=self.url, branch=self.branch)

    def merge(self, *forks: ResultSession) -> None:
        """Take in the writes of forks and their provenance records, to be committed with this session's."""
        with self._lock:
            for fork in forks:
                self.icechunk.merge(fork.icechunk)
                self.provenance.update(fork.provenance)

    def commit(self, message: str | None = None, *, metadata: Mapping[str, Any] | None = None,
               rebase: bool = False) -> str | None:
        """Commit the writes, with the provenance records kept since the last commit; the commit id.

        ``None`` when there was nothing to commit. ``message`` defaults to that of a commit that was refused.
        A refused commit (:class:`~labkit.errors.VersionConflictError`) keeps every write and record.
        """
        if self.is_fork:
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

            meta = {**dict(metadata or {}), "labkit_version": labkit_version(), RESULTS_KEY: dict(self.provenance)}
            base = self.icechunk.snapshot_id
            try:
                commit_id = self.icechunk.commit(message, metadata=meta,
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
            self.provenance = {}
            self._message = None
            return commit_id

    def __getstate__(self) -> dict[str, Any]:
        if not self.is_fork:
            raise TypeError("a writable session does not travel: send a fork (session.fork()) and merge it back")
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
