"""What a package holds: the finished results of a store, a manifest or a checkpointed function, with provenance.

Nothing is published that labkit would not read back as it is: a result whose provenance record is
missing, damaged or half-written (:func:`labkit.results.provenance.unfinished`), whose bytes are not the
ones recorded, or that other code than its function's present code made (``Checkpointed.judge``) stops
the whole package, and the error names every such result.

Examples
--------
>>> from labkit.results import ResultStore, checkpoint
>>> @checkpoint("memory://doc-collect", target="{i}.npy")
... def square(i):
...     return __import__("numpy").arange(3) ** i
>>> _ = square(2)
>>> [r.name for r in collect(square).results]
['2.npy']
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labkit._text import plural
from labkit.errors import FormatError, StaleResultError
from labkit.packages.formats import folder_of
from labkit.results import provenance as prov
from labkit.results.manifest import MANIFEST, README
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore


@dataclass
class Result:
    """One result of a package: a file, or a folder (``files`` lists its files), with its provenance record."""

    name: str
    files: list[str]
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Contents:
    """The results of a source in its store, and the files without provenance that belong to them (manifests)."""

    store: ResultStore
    results: list[Result]
    extra_files: list[str]

    def files(self) -> list[str]:
        """Every file name, results' and extra."""
        return [f for r in self.results for f in r.files] + self.extra_files


def collect(source: Any) -> Contents:
    """The publishable contents of ``source``, or :class:`labkit.errors.StaleResultError` naming what is not.

    Parameters
    ----------
    source : ResultStore, str, path, Manifest or Checkpointed (or a list of Checkpointed on one store)
        A whole store (every recorded result, and manifest tables); a manifest (its rows' targets, its table and
        README); the targets of checkpointed functions (each judged against the function's present code).
    """
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    stores = {getattr(s, "store", None) or ResultStore.of(s) for s in sources}
    urls = {s.url for s in stores}
    if len(urls) != 1:
        raise FormatError(f"a package comes from one store; these sources are in {sorted(urls)}")
    store = next(iter(stores))
    names: list[str] = []
    extra: list[str] = []
    judges: dict[str, Callable[[str], str]] = {}
    whole_store = False
    for s in sources:
        if hasattr(s, "targets") and hasattr(s, "store"):  # a manifest or a checkpointed function
            found = s.targets()
            names += found
            extra += s.own_files() if hasattr(s, "own_files") else []
            judges.update(dict.fromkeys(found, s.judge) if hasattr(s, "judge") else {})
        else:
            whole_store = True
            names += store.targets()
            extra += _manifest_files(store)
    names = list(dict.fromkeys(names))
    problems: dict[str, str] = {}
    results = [r for r in (_result(store, n, judges.get(n), problems) for n in names) if r is not None]
    if whole_store:
        taken = {f for r in results for f in r.files} | set(extra)
        for name in store.list():
            if name not in taken and name not in names and not _inside_result(name, names):
                problems[name] = ("no provenance record: unfinished (its first write stopped before its record) "
                                  "or not written by labkit.checkpoint")
    if problems:
        listing = "\n".join(f"  {name}: {why}" for name, why in sorted(problems.items()))
        raise StaleResultError(
            f"{store.url}: {plural(len(problems), 'result')} cannot be published:\n{listing}\n"
            "Compute them again (call the checkpointed function), remove them, or publish a Manifest or the "
            "functions whose results are finished.", problems)
    return Contents(store, results, list(dict.fromkeys(extra)))


def _inside_result(name: str, targets: list[str]) -> bool:
    return any(name.startswith(t + "/") for t in targets)


def _manifest_files(store: ResultStore) -> list[str]:
    names = store.list()
    tables = [n for n in names if n == MANIFEST or n.endswith("/" + MANIFEST)]
    readmes = [t[: -len(MANIFEST)] + README for t in tables]
    return tables + [r for r in readmes if r in names]


def _result(store: ResultStore, name: str, judge: Callable[[str], str] | None,
            problems: dict[str, str]) -> Result | None:
    try:
        record = store.read_json(name + PROVENANCE_SUFFIX) or {}
    except FormatError:
        problems[name] = "its provenance record is damaged (not JSON)"
        return None
    why = prov.unfinished(record)
    if why is None and judge is not None and judge(name) != "fresh":
        why = f"stale: made by other code than {record.get('function', 'its function')} is now"
    files = store.list(name)  # the file itself, or a folder's files
    if why is None and not files:
        why = "half-written: its provenance record is there but the result is not"
    if why is None and files != [name] and folder_of(name + "/x") != name:
        why = "its provenance record names a folder that is not an OME-Zarr or Zarr dataset"
    if why is not None:
        problems[name] = why
        return None
    return Result(name, files, record)


def stage(contents: Contents, folder: str | os.PathLike[str]) -> dict[str, str]:
    """Copy every file of ``contents`` into ``folder``; return name -> SHA-256.

    A file whose bytes are not the ones its provenance recorded (changed after it was written) is refused:
    :class:`labkit.errors.StaleResultError` names every such file once all are read.
    """
    digests: dict[str, str] = {}
    recorded = {r.name: r.record.get("sha256") for r in contents.results if r.files == [r.name]}
    changed: dict[str, str] = {}
    for name in contents.files():
        data = contents.store.read_bytes(name)
        digests[name] = hashlib.sha256(data).hexdigest()
        if recorded.get(name) and digests[name] != recorded[name]:
            changed[name] = "stale: changed after it was written (its SHA-256 is not the one its provenance recorded)"
            continue
        target = os.path.join(folder, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
    if changed:
        listing = "\n".join(f"  {name}: {why}" for name, why in sorted(changed.items()))
        raise StaleResultError(f"{contents.store.url}: {plural(len(changed), 'result')} cannot be published:\n"
                               f"{listing}\n"
                               "Compute them again (call the checkpointed function with overwrite=True) or remove "
                               "them.", changed)
    return digests
