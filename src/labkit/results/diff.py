"""What differs between two versions of a versioned result store, result by result, and why (:class:`Change`).

Examples
--------
>>> from labkit.results import ResultStore
>>> store = ResultStore("memory://doc-diff-module", versioned=True)
>>> with store.run("first"):
...     store.write_bytes("a.txt", b"one")
>>> _ = store.tag("v1")
>>> with store.run("second"):
...     store.write_bytes("a.txt", b"two")
>>> [c.change for c in compare(store.at("v1"), store)]
['changed']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.results.result_store import PROVENANCE_SUFFIX


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


def compare(old: Any, new: Any) -> list[Change]:
    """The changes from the versioned store ``old`` to ``new`` (each as of a version), in name order.

    A result is changed when its bytes are; remade when it was computed again to the same bytes. Its provenance
    records say which parameters and whether the code differ. Files without a record are compared by their bytes
    only. Only what differs is read: a record whose bytes are the same in both versions is not.
    """
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
