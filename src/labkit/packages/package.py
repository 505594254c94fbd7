"""``Package``: a published package as a scientist sees it (title, authors, licence, files), and ``open_package``.

Examples
--------
>>> pkg = open_package("s3://results/nuclei-2026.zip")  # doctest: +SKIP
>>> pkg.read_bytes("tables/nuclei.parquet")[:4]  # doctest: +SKIP
b'PAR1'
"""

from __future__ import annotations

import html
import io
import os
from typing import Any

from labkit._text import plural
from labkit.errors import NotFoundError
from labkit.packages.reading import PackageFiles, listed_files
from labkit.packages.verifying import VerifyReport, check, read_metadata
from labkit.storage import format_size


class Package:
    """A published RO-Crate package: where it is, its metadata, its files.

    Attributes
    ----------
    url : str
        Where it is (folder, ``.zip``, ``s3://...`` or ``ipfs://<cid>``).
    cid : str or None
        Its CID when it is on IPFS.
    metadata : dict
        The ``ro-crate-metadata.json`` document.
    """

    def __init__(self, files: PackageFiles, metadata: dict[str, Any], cid: str | None = None) -> None:
        self.files_source = files
        self.url = files.url
        self.metadata = metadata
        self.cid = cid or files.cid
        self._graph = {e.get("@id"): e for e in metadata.get("@graph", [])}

    def _get(self, ref: Any) -> dict[str, Any]:
        return self._graph.get(ref.get("@id"), ref) if isinstance(ref, dict) else {"name": ref}

    @property
    def root(self) -> dict[str, Any]:
        """The root dataset entity."""
        return self._graph.get("./", {})

    @property
    def title(self) -> str:
        """The package's name."""
        return str(self.root.get("name", ""))

    @property
    def authors(self) -> list[str]:
        """Names of its authors."""
        refs = self.root.get("author") or self.root.get("creator") or []
        return [str(self._get(r).get("name", r)) for r in (refs if isinstance(refs, list) else [refs])]

    @property
    def demo_author(self) -> bool:
        """Whether it credits the sandbox's demo author (sandbox mode with no authors configured)."""
        from labkit.config import DEMO_AUTHOR

        return DEMO_AUTHOR in self.authors

    def _demo_note(self) -> str:
        return ("credits the labkit sandbox's demo author, not you: no authors were configured (export "
                "LABKIT_AUTHORS='Your Name <https://orcid.org/...>', or publish(..., authors=...))")

    @property
    def license(self) -> str:
        """Its licence (SPDX identifier or URL)."""
        entity = self._get(self.root.get("license", {}))
        return str(entity.get("identifier") or entity.get("name") or entity.get("@id", ""))

    @property
    def files(self) -> list[dict[str, Any]]:
        """One row per file: ``name``, ``size`` (bytes), ``sha256``, ``format`` (MIME type)."""
        rows = []
        for name, entity in sorted(listed_files(self.metadata).items()):
            fmt = entity.get("encodingFormat", "")
            fmt = next((f for f in fmt if isinstance(f, str)), "") if isinstance(fmt, list) else fmt
            rows.append({"name": name, "size": int(entity.get("contentSize", 0)), "sha256": entity.get("sha256"),
                         "format": fmt})
        return rows

    def read_bytes(self, name: str) -> bytes:
        """The bytes of the file ``name`` of the package."""
        if name not in listed_files(self.metadata):
            raise NotFoundError(f"the package {self.url} lists no file {name!r}; see .files")
        return self.files_source.read(name)

    def open(self, name: str) -> io.BytesIO:
        """The file ``name`` as a binary file object (e.g. for ``pandas.read_parquet`` or ``tifffile``)."""
        return io.BytesIO(self.read_bytes(name))

    def verify_integrity(self) -> VerifyReport:
        """Check every file against its recorded size and SHA-256 (and the CID on IPFS); see :func:`verify`."""
        return check(self.files_source, self.metadata, self.cid)

    def __repr__(self) -> str:
        demo = f"\n  {self._demo_note()}" if self.demo_author else ""
        return f"<Package {self.title!r} at {self.url}: {plural(len(self.files), 'file')}>{demo}"

    def _repr_html_(self, max_rows: int = 30) -> str:
        files = self.files
        rows = "".join(
            f"<tr><td><code>{html.escape(f['name'])}</code></td><td style='text-align:right'>"
            f"{format_size(f['size'])}</td><td>{html.escape(str(f['format']))}</td></tr>" for f in files[:max_rows])
        more = f"<tr><td colspan=3>… and {len(files) - max_rows} more</td></tr>" if len(files) > max_rows else ""
        cid = f"<br>CID <code>{html.escape(self.cid)}</code>" if self.cid else ""
        total = format_size(sum(f["size"] for f in files))
        return (f"<div><h4 style='margin:0'>{html.escape(self.title)}</h4>"
                f"<div>{html.escape(', '.join(self.authors))} — licence {html.escape(self.license)}</div>"
                + (f"<div><b>⚠ {html.escape(self._demo_note())}</b></div>" if self.demo_author else "") +
                f"<div><code>{html.escape(self.url)}</code>{cid}</div>"
                f"<div>{html.escape(str(self.root.get('description', '')))}</div>"
                f"<table><tr><th>file</th><th>size</th><th>format</th></tr>{rows}{more}</table>"
                f"<div>{plural(len(files), 'file')}, {total}</div></div>")


def open_package(url: str | os.PathLike[str], *, verify: bool = True, cid: str | None = None) -> Package:
    """Open a published package; by default every file is checked against its recorded checksums first.

    Parameters
    ----------
    url : str or path
        A package folder or ``.zip``, local or ``s3://``, or ``ipfs://<cid>``.
    verify : bool
        Check it (:func:`labkit.verify`) and raise :class:`labkit.errors.PackageIntegrityError` naming every
        file that differs. ``False`` only reads its metadata.
    cid : str, optional
        The CID it was published under, for a copy that is not read from IPFS.

    Examples
    --------
    >>> pkg = open_package("nuclei-2026.zip")  # doctest: +SKIP
    >>> [f["name"] for f in pkg.files][:2]  # doctest: +SKIP
    ['labels/1.ome.zarr/.zattrs', 'tables/nuclei.parquet']
    """
    files = PackageFiles(url)
    package = Package(files, read_metadata(files), cid)
    if verify:
        package.verify_integrity().raise_for_problems()
    return package
