"""One protocol for many tasks writing results at once: fork the store, send the forks, merge them, commit once.

It is icechunk's cooperative write (``Session.fork``, ``ForkSession`` pickled to workers and back,
``Session.merge``, one ``commit``) for any result store, and both :meth:`labkit.results.Checkpointed.map` and
:func:`labkit.map_images` drive their Dask tasks through it:

1. ``with store.batch(message) as batch:`` opens the batch: on a versioned store one run, committed once at the
   end of the block (or, when a run is open on the store already, the batch joins that run and commits nothing
   itself);
2. ``batch.fork()`` for each task: what the task writes into, picklable (a plain store has nothing to fork:
   ``None``, and its tasks write straight into the store, each result atomically);
3. on the worker, :func:`in_fork` runs a checkpointed function writing into that fork and sends the fork back
   with the task's output;
4. ``batch.take((output, fork))`` merges each fork as its task ends and gives the output.

An exception in the block commits nothing: the forks merged so far are discarded with the run and the branch
stays at its last commit (what was committed before is untouched); a task whose fork never comes back (a worker
lost) only loses its own writes. A process killed midway commits nothing either, so a checkpointed run started
again computes what is not in the last commit.

Examples
--------
>>> from labkit.results import ResultStore, checkpoint
>>> @checkpoint("memory://doc-batch", target="{i}.npy", versioned=True)
... def square(i):
...     return np.arange(3) ** i
>>> import dask, numpy as np
>>> with square.store.batch("two squares") as batch:
...     done = dask.compute(*[dask.delayed(in_fork)(call, square, batch.fork(), (i,)) for i in (1, 2)])
...     outputs = [batch.take(d) for d in done]
>>> [c.message for c in square.store.history()]
['two squares']
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any


class Batch:
    """The writes of many tasks into one store (made by :meth:`labkit.results.ResultStore.batch`).

    A plain store's batch: every task writes straight into the store, nothing to fork, merge or commit.

    Parameters
    ----------
    store : ResultStore
        The store written to.
    message : str
        What the batch does (a versioned store's commit message).
    metadata : mapping, optional
        More to record in the commit (JSON-able).
    """

    def __init__(self, store: Any, message: str, metadata: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.message = message
        self.metadata = dict(metadata or {})

    def fork(self) -> Any:
        """What one task writes into: ``None`` here (the store itself)."""
        return None

    def merge(self, *forks: Any) -> None:
        """Take in the writes of forks that came back (``None``: nothing to take in)."""

    def take[T](self, done: tuple[T, Any]) -> T:
        """The output of a task that returned ``(output, fork)`` (:func:`in_fork`), its fork merged."""
        output, fork = done
        if fork is not None:
            self.merge(fork)
        return output

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        return None


class SessionBatch(Batch):
    """A versioned store's batch: each task writes into a fork of the store's session; one commit at the end.

    ``join``: a run is open on the store already (or the store is itself a fork): the forks are merged into it and
    its end commits them.
    """

    def __init__(self, store: Any, message: str, metadata: Mapping[str, Any] | None = None, *,
                 join: bool = False) -> None:
        super().__init__(store, message, metadata)
        self.join = join
        self._run: contextlib.AbstractContextManager[Any] | None = None

    def fork(self) -> Any:
        """A copy of the store writing into a fork of its session (picklable: send it to a task)."""
        return self.store.fork()

    def merge(self, *forks: Any) -> None:
        """Merge the forks' writes and provenance records into the store's session."""
        self.store.merge(*[f for f in forks if f is not None])

    def __enter__(self) -> SessionBatch:
        if not self.join:
            self._run = self.store.run(self.message, metadata=self.metadata)
            self._run.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        run, self._run = self._run, None
        return run.__exit__(kind, exc, tb) if run is not None else None


def in_fork[T](task: Callable[..., T], ck: Any, fork: Any, *args: Any) -> tuple[T, Any]:
    """A Dask task of a batch: ``task(ck, *args)`` with the checkpointed ``ck`` writing into ``fork``.

    Returns the task's output and the fork, for :meth:`Batch.take` (``fork`` ``None``: ``ck`` as it is).
    """
    if fork is not None:
        ck = copy.copy(ck)
        ck.store = fork
    return task(ck, *args), fork


def call(ck: Any, args: tuple[Any, ...]) -> Any:
    """``ck(*args)``: the task of :meth:`labkit.results.Checkpointed.map`."""
    return ck(*args)
