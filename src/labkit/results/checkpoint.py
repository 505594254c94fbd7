"""``checkpoint``: compute a result once, store it through a serializer, read it back next time."""

from __future__ import annotations

import functools
import inspect
import os
import re
import string
import warnings
from collections.abc import Callable
from typing import Any

from labkit._text import plural
from labkit.errors import ConfigurationError, FormatError, NotFoundError, StaleResultWarning
from labkit.results import provenance as prov
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore
from labkit.results.serializers import Serializer, for_target


def _fields(template: str) -> list[str]:
    return [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f]


class Checkpointed:
    """A function whose results are checkpointed in a store (made by :func:`checkpoint`).

    Calling it returns the result, computed or read back. ``target(...)`` gives the name
    a call would write, ``state(...)`` says whether that call would be read back
    (``"fresh"``), recomputed because the code or arguments changed (``"stale"``), or
    computed for the first time (``"missing"``). Picklable, so it runs on Dask workers.
    """

    def __init__(self, func: Callable[..., Any], store: ResultStore, template: str,
                 serializer: Serializer | None, overwrite: bool) -> None:
        self.func = func
        self.store = store
        self.template = template
        self.serializer = serializer or for_target(template)
        self.overwrite = overwrite
        self.signature = inspect.signature(func)
        missing = [f for f in _fields(template) if f not in self.signature.parameters]
        if missing:
            raise ConfigurationError(
                f"the target {template!r} names {missing}, which "
                f"{'is not an argument' if len(missing) == 1 else 'are not arguments'}"
                f" of {func.__name__}{self.signature}; use only its arguments in the template"
            )
        self.code_hash = prov.code_hash(func)
        self.git = prov.git_state(prov.caller_folder(func))
        functools.update_wrapper(self, func)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def target(self, *args: Any, **kwargs: Any) -> str:
        """The target name of a call; only the arguments the template uses are needed.

        Examples
        --------
        >>> normalize_cell.target(cell_id="fov0_cell01")  # doctest: +SKIP
        'normalized/fov0_cell01.ome.tiff'
        """
        arguments = dict(self.signature.bind_partial(*args, **kwargs).arguments)
        missing = [f for f in _fields(self.template) if f not in arguments]
        if missing:
            raise ConfigurationError(f"the target {self.template!r} needs {missing}")
        return self.template.format(**arguments)

    def state(self, *args: Any, **kwargs: Any) -> str:
        """``"fresh"``, ``"stale"`` or ``"missing"`` for this call, without computing anything."""
        arguments = self._bind(args, kwargs)
        return self._state(self.template.format(**arguments), prov.arguments_hash(arguments))

    def targets(self) -> list[str]:
        """The targets of this function that have a provenance record in its store (finished or not)."""
        pattern = re.compile("".join(
            re.escape(text) + ("(.+?)" if field is not None else "")
            for text, field, _, _ in string.Formatter().parse(self.template)) + "$")
        return [name for name in self.store.targets() if pattern.match(name)]

    def judge(self, name: str) -> str:
        """Whether the stored ``name`` was made by this function's code as it is now: ``"fresh"``, ``"stale"``.

        Only the code is compared (the record's own arguments hash stands for the arguments, which only a
        call gives); ``"missing"`` when there is no record.
        """
        record = self._record(name)
        return self._judge(record, (record or {}).get("arguments_hash", ""))

    def _state(self, name: str, args_hash: str) -> str:
        record = self._record(name)
        if record is None or not self.serializer.exists(self.store, name):
            return "missing"
        state = self._judge(record, args_hash)
        if state == "fresh" and record.get("sha256"):
            try:
                self.serializer.load(self.store, name, sha256=record["sha256"])
            except FormatError:
                return "stale"
        return state

    def _record(self, name: str) -> dict[str, Any] | None:
        """The provenance record of ``name``: ``None`` when there is none, empty (stale) when it is damaged."""
        try:
            return self.store.read_json(name + PROVENANCE_SUFFIX)
        except FormatError as exc:
            warnings.warn(f"{exc}: the result {name!r} is stale and will be computed again", StaleResultWarning,
                          stacklevel=3)
            return {}

    def _judge(self, record: dict[str, Any] | None, args_hash: str) -> str:
        """What a provenance record says of a call: missing, stale or fresh (the result itself not checked)."""
        if record is None:
            return "missing"
        if record.get("code_hash") != self.code_hash or record.get("arguments_hash") != args_hash:
            return "stale"
        return "fresh"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The function's result for these arguments: read back when fresh, else computed and stored.

        A fresh result costs two reads: its provenance record and the result itself.
        """
        arguments = self._bind(args, kwargs)
        name = self.template.format(**arguments)
        args_hash = prov.arguments_hash(arguments)
        record = self._record(name)
        if not self.overwrite and self._judge(record, args_hash) == "fresh":
            try:
                return self.serializer.load(self.store, name, sha256=record.get("sha256"))
            except NotFoundError:
                pass  # the record outlived its result: compute it again
            except FormatError as exc:  # changed after it was written (IntegrityError), or unreadable
                warnings.warn(f"{exc}; the result {name!r} is stale and is computed again", StaleResultWarning,
                              stacklevel=2)
        result = self.func(*args, **kwargs)
        self.serializer.check(result)
        if record is not None:
            # the record, written last, is what makes a target finished: while the result is replaced (a folder
            # cannot be swapped in at once) it says so, and a store that refuses writes refuses this first
            self.store.write_json(name + PROVENANCE_SUFFIX, {"target": name, prov.WRITING: prov.now()})
        digest = self.serializer.save(self.store, name, result)
        self.store.write_provenance(name, {
            "target": name,
            "function": f"{self.func.__module__}.{self.func.__qualname__}",
            "code_hash": self.code_hash,
            "arguments": prov.describe_arguments(arguments),
            "arguments_hash": args_hash,
            "serializer": repr(self.serializer),
            "sha256": digest,
            "computed_at": prov.now(),
            "versions": prov.package_versions(),
            **self.git,
            **prov.notebook(),
        })
        self.store.settle(f"{self.func.__name__} -> {name}")  # a versioned store commits the call, outside a run
        return result

    def map(self, *iterables: Any, message: str | None = None) -> list[Any]:
        """Call the function on each set of arguments, as Dask tasks; on a versioned store, as one commit.

        The tasks run on the current Dask scheduler (a cluster's client, if one is active). With a versioned
        store each task writes into a fork of the store's session and the forks are merged into one commit
        (or into the run open on the store). A call whose result is fresh is read back, as for a single call.

        Parameters
        ----------
        *iterables
            One iterable per positional argument, as for the builtin ``map``.
        message : str, optional
            The commit message (default: ``"<function> over <n> inputs"``); not used inside an open run.

        Examples
        --------
        >>> squares = square.map([1, 2, 3], [np.arange(3)] * 3)  # doctest: +SKIP
        """
        import dask

        from labkit.results.batch import call, in_fork

        calls = list(zip(*iterables, strict=True))
        with self.store.batch(message or f"{self.func.__qualname__} over {plural(len(calls), 'input')}") as batch:
            done = dask.compute(*[dask.delayed(in_fork, pure=False)(call, self, batch.fork(), args) for args in calls])
            return [batch.take(d) for d in done]

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("labkit-checkpoint", self.func.__qualname__, self.code_hash, self.store.url, self.template,
                self.overwrite)

    def __repr__(self) -> str:
        return f"<checkpointed {self.func.__name__} -> {self.store.url}/{self.template} ({self.serializer!r})>"


def checkpoint(
    store: ResultStore | str | os.PathLike[str],
    target: str | None = None,
    serializer: Serializer | None = None,
    *,
    location: str | None = None,
    overwrite: bool = False,
    versioned: bool = False,
) -> Callable[[Callable[..., Any]], Checkpointed]:
    """Decorate a function so its results are stored, with provenance, and read back instead of recomputed.

    Parameters
    ----------
    store : str, path or ResultStore
        Where results go: a local folder, ``s3://bucket/prefix`` or ``memory://...``. Changing this URL
        is the only change needed to move from local to remote storage.
    target : str
        Name of a call's result, formatted from its arguments, e.g. ``"{cell_id}.ome.tiff"``. A target that
        exists and was made by the same code (function source, labkit version and sources) with the same
        arguments is read back; otherwise the function runs and the result is written atomically
        with a provenance record (``<target>.prov.json``).
    serializer : Serializer, optional
        How to store the result; default from the target's suffix.
    location : str, optional
        As ``target``, but always recompute (the planning doc's ``location``).
    overwrite : bool
        Always recompute and replace.
    versioned : bool
        Keep results in an icechunk repository at ``store`` (``ResultStore(store, versioned=True)``): every
        call is one commit, with its provenance as the commit's metadata; within ``with store.run(message):``
        (or :meth:`Checkpointed.map`) every call of the run goes into the run's one commit.

    Examples
    --------
    >>> @checkpoint("memory://doc-cells", target="{cell_id}.npy")
    ... def square(cell_id, x):
    ...     return x ** 2
    >>> import numpy as np
    >>> square(1, np.arange(3))
    array([0, 1, 4])
    >>> square.state(1, np.arange(3))
    'fresh'
    """
    if (target is None) == (location is None):
        raise ConfigurationError("give exactly one of target=... (checkpointed) or location=... (always recomputed)")
    template = target if target is not None else location
    result_store = ResultStore(store, versioned=True) if versioned and not isinstance(store, ResultStore) \
        else ResultStore.of(store)
    if versioned and not getattr(result_store, "versioned", False):
        raise ConfigurationError(f"{result_store!r} is a plain store: pass its URL with versioned=True, or "
                                 "ResultStore(url, versioned=True)")

    def decorate(func: Callable[..., Any]) -> Checkpointed:
        return Checkpointed(func, result_store, template, serializer, overwrite or location is not None)

    return decorate
