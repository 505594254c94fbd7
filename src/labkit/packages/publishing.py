"""``publish``: a result set as an RO-Crate package in a folder, a zip, on S3 or on IPFS, checked as it is read back."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labkit._text import plural
from labkit.config import DEMO_AUTHOR, parse_authors, resolve
from labkit.config import authors as configured_authors
from labkit.errors import ConfigurationError, DemoAuthorWarning, FormatError
from labkit.packages.collect import collect, stage
from labkit.packages.crate import METADATA, build_crate, urls_in
from labkit.packages.destinations import deliver
from labkit.packages.package import Package, open_package
from labkit.packages.reading import PackageFiles
from labkit.storage import filesystem


def publish(
    source: Any,
    to: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    license: str | None = None,
    authors: str | Sequence[str | Mapping[str, str]] | None = None,
    overwrite: bool = False,
    ipfs_api: str | None = None,
) -> Package:
    """Package finished results as an RO-Crate, with how each was made, and publish it.

    Every file is listed with its size, SHA-256 and format; every result with the code that made it
    (repository, commit, function, notebook), its parameters, inputs and software versions. Results that are
    stale or half-written are refused, and the package is read back and verified where it was published.

    Parameters
    ----------
    source : ResultStore, str, path, Manifest, Checkpointed or list of Checkpointed
        A whole result store, a manifest (its rows' files, table and README), or the targets of checkpointed
        functions in their store. A versioned store opened as of a version (``ResultStore(url, version="v1")``)
        publishes that version, named as the crate's ``version``.
    to : str or path
        A folder, a ``.zip`` (what Zenodo and journals take), ``s3://bucket/prefix`` (a folder) or
        ``s3://bucket/name.zip``, or ``ipfs://`` (added to the IPFS node at ``$IPFS_API``; the package's
        address ``ipfs://<cid>`` is printed and returned).
    name, description : str, optional
        Title and abstract (default: from the store's name and contents).
    license : str, optional
        SPDX identifier (``CC-BY-4.0``) or URL; default ``$LABKIT_LICENSE`` or the dask config ``labkit.license``.
    authors : str or list, optional
        Who made it: ``"Name <https://orcid.org/...>; Other Name"``, or a list of such strings or of mappings
        with ``name`` (and optionally ``orcid``, ``affiliation``, ``email``); default ``$LABKIT_AUTHORS`` or the
        dask config ``labkit.authors`` (:func:`labkit.config.authors`), set once per person.
    overwrite : bool
        Replace a package already at ``to``.
    ipfs_api : str, optional
        The IPFS node's RPC address (default ``$IPFS_API``).

    In sandbox mode (:func:`labkit.endpoints`) with no authors configured, packages credit a demo author: a
    :class:`labkit.errors.DemoAuthorWarning` says so, and so does the package's summary.

    Returns
    -------
    Package
        ``url``, ``cid`` (on IPFS), ``files``, ``metadata``; shown as a summary in Jupyter.

    Raises
    ------
    labkit.errors.StaleResultError
        A result is stale or half-written (each one named); nothing is written.
    labkit.errors.ConfigurationError
        No licence or no authors are given or configured (one error lists all that is missing).

    Examples
    --------
    >>> import labkit
    >>> pkg = labkit.publish("results/", "nuclei-2026.zip", name="Nuclei of IDR 6001240")  # doctest: +SKIP
    >>> pkg.url, len(pkg.files)  # doctest: +SKIP
    ('/home/me/nuclei-2026.zip', 14)
    """
    contents = collect(source)
    license = license or resolve("license", env=None, public_default=False)
    people = parse_authors(authors, "authors=") if authors else configured_authors()
    _check_credits(license, people, contents.store.url)
    if not contents.files():
        raise FormatError(f"{contents.store.url} holds no finished result: nothing to publish")
    title = name or f"Results in {contents.store.url.rstrip('/').rsplit('/', 1)[-1]}"
    abstract = description or (f"{plural(len(contents.results), 'result')} computed with labkit, each with the code, "
                               "parameters and software versions that made it.")
    with tempfile.TemporaryDirectory(prefix="labkit-publish-") as tmp:
        work = Path(tmp)
        staging = work / "staging"
        staging.mkdir()
        digests = stage(contents, staging)
        crate = build_crate(staging, contents, digests, name=title, description=abstract, license=str(license),
                            authors=people, etags=_etags(urls_in(contents)), version=contents.store.version)
        url, cid = deliver(crate, to, work, overwrite=overwrite, ipfs_api=ipfs_api)
        if cid is not None:  # the node's CID was checked against the files' (reading back needs a gateway)
            metadata = json.loads((work / "package" / METADATA).read_bytes())
            return Package(PackageFiles(url), metadata, cid)
    return open_package(url)  # read back from where it went, and verified


def _check_credits(license: str | None, people: list[dict[str, str]], url: str) -> None:
    """Refuse, in one error, a package without a licence or authors (saying how to give each); warn of a demo author.

    Examples
    --------
    >>> _check_credits(None, [], "results/")
    Traceback (most recent call last):
    labkit.errors.ConfigurationError: cannot publish results/: the package needs a licence and authors ...
    """
    missing = {}
    if not license:
        missing["a licence"] = ("pass license='CC-BY-4.0' (an SPDX identifier or a URL), or set it once: "
                                "export LABKIT_LICENSE=CC-BY-4.0 (or the dask config labkit.license)")
    if not people:
        missing["authors"] = ("pass authors='Name <https://orcid.org/...>; Other Name', or set them once: "
                              "export LABKIT_AUTHORS='Name <https://orcid.org/...>; Other Name' (or the dask config "
                              "labkit.authors, e.g. in ~/.config/dask/labkit.yaml)")
    if missing:
        listing = "".join(f"\n  - {what}: {how}" for what, how in missing.items())
        raise ConfigurationError(f"cannot publish {url}: the package needs {' and '.join(missing)} ...{listing}")
    demo = [p["name"] for p in people if p["name"] == DEMO_AUTHOR]
    if demo:
        warnings.warn(
            f"this package credits {DEMO_AUTHOR!r}, the stand-in of sandbox mode when no authors are configured: "
            "to credit yourself, export LABKIT_AUTHORS='Your Name <https://orcid.org/...>' before starting "
            "Jupyter, or pass authors=...", DemoAuthorWarning, stacklevel=3)


def _etags(urls: list[str]) -> dict[str, str]:
    """The ETags of the inputs given as URLs (S3, HTTP), as the servers answer now; none for IPFS (its CID)."""
    out: dict[str, str] = {}
    for url in urls:
        if url.lower().startswith("ipfs://"):
            continue
        try:
            fs, path = filesystem(url)
            info = fs.info(path)
        except Exception:  # noqa: BLE001 - an input that cannot be reached now is recorded by its URL only
            continue
        etag = info.get("ETag") or info.get("etag")
        if etag:
            out[url] = str(etag).strip('"')
    return out

