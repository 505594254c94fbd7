"""``Manifest``: the targets of a step listed in a table (Parquet) with a README, next to them."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterable, Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit.results import provenance as prov
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore

MANIFEST = "manifest.parquet"
README = "README.md"


class Manifest:
    """The manifest of one step's results: one row per item with file-path columns, metadata and provenance.

    Parameters
    ----------
    store : str, path or ResultStore
    name : str
        Folder of the step inside the store (where its targets live, and its manifest goes).
    description : str
        One paragraph for the README.

    Examples
    --------
    >>> m = Manifest("memory://doc-ds", "projections", "Maximum projections of single cells.")
    >>> m.add(cell_id=1, path="projections/1.png")
    >>> m.rows[0]["cell_id"]
    1
    """

    def __init__(self, store: ResultStore | str | os.PathLike[str], name: str, description: str = "") -> None:
        self.store = ResultStore.of(store)
        self.name = name.rstrip("/")
        self.description = description
        self.rows: list[dict[str, Any]] = []

    def add(self, path: str | Iterable[str] | Mapping[str, str] | None = None, **metadata: Any) -> None:
        """Add one item: its target name(s) in the store and its metadata.

        ``path`` may be one name (column ``path``), or a mapping of column name to target
        name for items with several files.
        """
        paths = {"path": path} if isinstance(path, str) else dict(path or {})
        row: dict[str, Any] = dict(metadata)
        for column, target in paths.items():
            row[column] = target
            row[f"{column}_url"] = self.store.url_of(target)
            record = self.store.read_json(target + PROVENANCE_SUFFIX) or {}
            for key in ("function", "code_hash", "computed_at", "sha256", "git_commit", "git_dirty"):
                if key in record:
                    row[key if column == "path" else f"{column}_{key}"] = record[key]
        self.rows.append(row)

    def targets(self) -> list[str]:
        """The target names its rows list (every file-path column), in order, each once."""
        columns = {c[: -len("_url")] for row in self.rows for c in row if c.endswith("_url")}
        names = [row[c] for row in self.rows for c in row if c in columns]
        return list(dict.fromkeys(names))

    def own_files(self) -> list[str]:
        """Its table and README in the store, those written (:meth:`write`)."""
        return [n for n in (f"{self.name}/{MANIFEST}", f"{self.name}/{README}") if self.store.exists(n)]

    def dataframe(self) -> Any:
        """The manifest as a pandas DataFrame."""
        pd = attempt_import("pandas")
        return pd.DataFrame(self.rows)

    def write(self) -> Any:
        """Write ``<name>/manifest.parquet`` and ``<name>/README.md``; return the DataFrame."""
        df = self.dataframe()
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        self.store.write_bytes(f"{self.name}/{MANIFEST}", buf.getvalue())
        git = prov.git_state(os.getcwd())
        lines = [
            f"# {self.name}", "", self.description or "A labkit results dataset.", "",
            f"- items: {len(df)}",
            f"- columns: {', '.join(map(str, df.columns))}",
            f"- written: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by labkit {prov.labkit_version()}",
        ]
        if git:
            dirty = " (uncommitted changes)" if git["git_dirty"] else ""
            lines.append(f"- code: {git['git_repository']} at {git['git_commit']}{dirty}")
        lines += ["", f"Read it with `labkit.results.Manifest.read({self.store.url!r}, {self.name!r})`.", ""]
        self.store.write_bytes(f"{self.name}/{README}", "\n".join(lines).encode())
        return df

    @staticmethod
    def read(store: ResultStore | str | os.PathLike[str], name: str) -> Any:
        """Read a manifest back as a pandas DataFrame."""
        pd = attempt_import("pandas")
        return pd.read_parquet(io.BytesIO(ResultStore.of(store).read_bytes(f"{name.rstrip('/')}/{MANIFEST}")))

