"""What a versioned result store's history shows: its commits (:class:`Commit`) as a compact table (:class:`History`).

Examples
--------
>>> history = History([Commit("1CECHNK", dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc), "first run")])
>>> history.table()[["id", "message", "results"]]
        id    message  results
0  1CECHNK  first run        0
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from labkit._lazy import attempt_import

#: the metadata key of a commit that holds the provenance records of the results it wrote
RESULTS_KEY = "results"


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

    @classmethod
    def of(cls, info: Any, tags: tuple[str, ...] = ()) -> Commit | None:
        """The commit an icechunk ``SnapshotInfo`` describes; ``None`` for the repository's own root commit."""
        meta = dict(info.metadata or {})
        if (meta.get("__icechunk") or {}).get("is_root") or meta.get("labkit") == "root":
            return None
        provenance = dict(meta.pop(RESULTS_KEY, None) or {})
        meta = {k: v for k, v in meta.items() if not k.startswith("__")}
        return cls(info.id, info.written_at, info.message, provenance, meta, tags)


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
