"""``verify``: a package's files against the sizes and SHA-256 its RO-Crate recorded, and its CID on IPFS.

Examples
--------
>>> verify("results-package.zip")  # doctest: +SKIP
<VerifyReport results-package.zip: ok, 12 files checked>
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from dataclasses import dataclass, field
from typing import Any

from labkit._text import plural
from labkit.errors import ConfigurationError, FormatError, NotFoundError, PackageIntegrityError
from labkit.packages.crate import METADATA
from labkit.packages.reading import PackageFiles, listed_files
from labkit.results.result_store import PROVENANCE_SUFFIX


@dataclass
class VerifyReport:
    """What :func:`verify` found: ``ok`` when every recorded file is there, unchanged, and nothing else is."""

    url: str
    checked: int = 0
    changed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    cid: str | None = None
    cid_problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing differs."""
        return not (self.changed or self.missing or self.extra or self.cid_problem)

    def problems(self) -> dict[str, str]:
        """Each file that differs -> how (and ``"<CID>"`` when the files do not make the package's CID)."""
        out = dict(self.changed)
        out.update({name: "missing: recorded in the package but not there" for name in self.missing})
        out.update({name: "extra: there but not recorded in the package" for name in self.extra})
        if self.cid_problem:
            out["<CID>"] = self.cid_problem
        return out

    def raise_for_problems(self) -> None:
        """Raise :class:`labkit.errors.PackageIntegrityError` naming every file that differs, when one does."""
        if self.ok:
            return
        listing = "\n".join(f"  {name}: {why}" for name, why in sorted(self.problems().items()))
        raise PackageIntegrityError(
            f"the package {self.url} is not as it was published ({plural(len(self.problems()), 'difference')}):\n"
            f"{listing}\n"
            "It was changed or damaged after publishing: get a fresh copy from where it was published.",
            self.problems())

    def __repr__(self) -> str:
        state = "ok" if self.ok else plural(len(self.problems()), "difference")
        return f"<VerifyReport {self.url}: {state}, {plural(self.checked, 'file')} checked>"

    def _repr_html_(self) -> str:
        state = "✔ as published" if self.ok else "✘ differs from what was published"
        rows = "".join(f"<tr><td><code>{html.escape(n)}</code></td><td>{html.escape(w)}</td></tr>"
                       for n, w in sorted(self.problems().items()))
        cid = f" — CID <code>{html.escape(self.cid)}</code>" if self.cid else ""
        return (f"<div><b>{html.escape(self.url)}</b>: {state} ({plural(self.checked, 'file')} checked){cid}"
                + (f"<table><tr><th>file</th><th>problem</th></tr>{rows}</table>" if rows else "") + "</div>")


def read_metadata(files: PackageFiles) -> dict[str, Any]:
    """The package's ``ro-crate-metadata.json``.

    :class:`labkit.errors.NotFoundError` when nothing is at its URL, :class:`labkit.errors.FormatError` when what
    is there is not an RO-Crate.
    """
    try:
        data = files.read(METADATA)
    except NotFoundError:
        if not files.exists():
            raise NotFoundError(f"{files.url}: not found (nothing is there). Check the path: a package is a folder "
                                f"or a .zip holding {METADATA}, as labkit.publish writes it.") from None
        raise FormatError(f"{files.url} is not an RO-Crate package: it has no {METADATA}") from None
    try:
        metadata = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{files.url}/{METADATA} is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or "@graph" not in metadata:
        raise FormatError(f"{files.url}/{METADATA} has no @graph: not RO-Crate metadata")
    return metadata


def check(files: PackageFiles, metadata: dict[str, Any], cid: str | None = None) -> VerifyReport:
    """Compare the files of a package with what its metadata recorded (and with ``cid``, or its IPFS CID)."""
    listed = listed_files(metadata)
    present = set(files.names())
    report = VerifyReport(files.url, cid=cid or files.cid)
    report.missing = sorted(set(listed) - present)
    report.extra = sorted(present - set(listed) - {METADATA})
    contents: dict[str, bytes] = {}
    for name in sorted(set(listed) & present):
        data = files.read(name)
        contents[name] = data
        report.checked += 1
        entity = listed[name]
        size, digest = entity.get("contentSize"), entity.get("sha256")
        if digest is None:
            report.changed[name] = "no SHA-256 recorded: cannot be checked"
        elif size is not None and str(size) != str(len(data)):
            report.changed[name] = f"changed: {plural(len(data), 'byte')}, {size} recorded"
        elif hashlib.sha256(data).hexdigest() != digest:
            report.changed[name] = "changed: its SHA-256 is not the one recorded"
    if report.cid:
        from labkit.ipfs.unixfs import tree_cid

        everything = {n: contents.get(n) or (lambda n=n: files.read(n)) for n in present}
        made = tree_cid(everything)
        if made != report.cid:
            report.cid_problem = f"its files make the CID {made}, not {report.cid}"
    return report


def check_versioned(store: Any) -> VerifyReport:
    """A versioned result store as of its version, checked result by result.

    Every single-file result and provenance record against the size and SHA-256 recorded when it was written,
    and each result against the SHA-256 its provenance record gives.
    """
    report = VerifyReport(f"{store.url} ({f'version {store.version}' if store.version else f'branch {store.branch}'})")
    recorded = store._file_attributes()
    for name, attributes in sorted(recorded.items()):
        data = store.read_bytes(name)
        report.checked += 1
        if len(data) != attributes.get("size") or hashlib.sha256(data).hexdigest() != attributes.get("sha256"):
            report.changed[name] = "changed: its bytes are not the ones written (size or SHA-256)"
            continue
        if name.endswith(PROVENANCE_SUFFIX):
            target = name[: -len(PROVENANCE_SUFFIX)]
            digest = json.loads(data).get("sha256")
            if target in recorded and digest and digest != recorded[target].get("sha256"):
                report.changed[target] = "changed: its SHA-256 is not the one its provenance record gives"
    return report


def verify(package: Any, *, cid: str | None = None) -> VerifyReport:
    """Check a package against its recorded checksums; raise naming each file that differs.

    Parameters
    ----------
    package : str, path, Package or versioned ResultStore
        A package folder or ``.zip``, local or ``s3://``, or ``ipfs://<cid>`` (whose files must also make that
        CID again), or a :class:`~labkit.packages.Package`; or a versioned result store
        (``ResultStore(url, version="v1")``): each of its single-file results, as of that version, against the
        SHA-256 recorded when it was written and the one its provenance record gives.
    cid : str, optional
        The CID the package was published under on IPFS, to check a downloaded copy against.

    Returns
    -------
    VerifyReport
        ``ok`` (every file present, same size and SHA-256, nothing extra, CID remade).

    Raises
    ------
    labkit.errors.PackageIntegrityError
        A file was changed, is missing or is extra (each named in the message and in ``.problems``).
    labkit.errors.NotFoundError
        Nothing is there (no such folder, zip or key).
    labkit.errors.FormatError
        It is not an RO-Crate package.

    Examples
    --------
    >>> verify("/data/packages/nuclei-2026.zip")  # doctest: +SKIP
    <VerifyReport /data/packages/nuclei-2026.zip: ok, 14 files checked>
    """
    if getattr(package, "versioned", False):
        report = check_versioned(package)
    elif hasattr(package, "verify_integrity"):  # a Package
        report = package.verify_integrity()
    elif isinstance(package, (str, os.PathLike)):
        files = PackageFiles(package)
        report = check(files, read_metadata(files), cid)
    else:
        raise ConfigurationError(f"verify takes a package (a path, a URL or a labkit Package) or a versioned "
                                 f"ResultStore, not a {type(package).__name__}")
    report.raise_for_problems()
    return report
