"""Where a package goes: a folder, a ``.zip`` (what Zenodo and journals take), S3 (folder or zip) or IPFS.

The crate is written to a local temporary folder first; a destination then receives it whole: a local folder
or zip is moved into place, an S3 folder gets ``ro-crate-metadata.json`` last (a reader finds a package only
once all its files are there), IPFS adds the folder and answers its CID, which is checked against the CID
computed here from the same files (:func:`labkit.ipfs.unixfs.tree_cid`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from labkit.errors import AlreadyExistsError, ConfigurationError, IntegrityError
from labkit.packages.crate import METADATA
from labkit.results.result_store import ResultStore
from labkit.storage import protocol


def is_zip(url: str) -> bool:
    """Whether a package URL names a zip file."""
    return str(url).lower().rstrip("/").endswith(".zip")


def deliver(crate: Any, to: str | os.PathLike[str], work: Path, *, overwrite: bool = False,
            ipfs_api: str | None = None) -> tuple[str, str | None]:
    """Write ``crate`` to ``to``; return the package's URL and its CID (IPFS only, else ``None``)."""
    url = str(to)
    proto = protocol(url)
    folder = work / "package"
    crate.write(folder)
    if proto == "ipfs":
        return _to_ipfs(folder, url, ipfs_api)
    if is_zip(url):
        archive = zip_folder(folder, work / "package.zip")
        if proto == "file":
            return _move_into_place(archive, Path(url), overwrite), None
        return _upload_zip(archive, url, overwrite), None
    if proto == "file":
        return _move_into_place(folder, Path(url), overwrite), None
    return _upload_folder(folder, url, overwrite), None


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip a written crate: ``ro-crate-metadata.json`` first, then every folder (as its own entry) and file.

    Folders get entries, as ``zip -r`` makes them: a crate's folder datasets (``cells.ome.zarr/``) are then in the
    zip as in a folder, where validators look for them.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> crate = Path(tempfile.mkdtemp())
    >>> (crate / "a.ome.zarr").mkdir(); _ = (crate / "a.ome.zarr" / "zarr.json").write_text("{}")
    >>> _ = (crate / METADATA).write_text("{}")
    >>> zipfile.ZipFile(zip_folder(crate, crate.with_suffix(".zip"))).namelist()
    ['ro-crate-metadata.json', 'a.ome.zarr/', 'a.ome.zarr/zarr.json']
    """
    paths = sorted(folder.rglob("*"), key=lambda p: (p.name != METADATA or p.parent != folder, p.as_posix()))
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in paths:
            name = path.relative_to(folder).as_posix()
            if path.is_dir():
                z.mkdir(name)
            else:
                z.write(path, name)
    return archive


def _move_into_place(made: Path, target: Path, overwrite: bool) -> str:
    target = target.expanduser().absolute()
    if target.exists() and (target.is_file() or any(target.iterdir())):
        if not overwrite:
            raise AlreadyExistsError(f"{target} already exists: pass overwrite=True or another destination")
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, old / target.name)
        shutil.rmtree(old, ignore_errors=True)
    elif target.is_dir():
        target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(made), str(target))
    return str(target)


def _remote(url: str) -> tuple[ResultStore, str]:
    parent, _, name = url.rstrip("/").rpartition("/")
    if not name or "://" not in parent:
        raise ConfigurationError(f"{url!r} names no object inside a bucket: give s3://bucket/prefix or "
                                 "s3://bucket/name.zip")
    return ResultStore(parent), name


def _upload_zip(archive: Path, url: str, overwrite: bool) -> str:
    store, name = _remote(url)
    if store.exists(name) and not overwrite:
        raise AlreadyExistsError(f"{url} already exists: pass overwrite=True or another destination")
    store.write_bytes(name, archive.read_bytes())
    return store.url_of(name)


def _upload_folder(folder: Path, url: str, overwrite: bool) -> str:
    store = ResultStore(url)
    if store.exists(METADATA) and not overwrite:
        raise AlreadyExistsError(f"{url} already holds a package: pass overwrite=True or another destination")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for name in [f for f in files if f != METADATA] + [METADATA]:
        store.write_bytes(name, (folder / name).read_bytes())
    return store.url


def _to_ipfs(folder: Path, url: str, api: str | None) -> tuple[str, str]:
    from labkit import ipfs
    from labkit.ipfs.unixfs import tree_cid

    if url.rstrip("/") not in ("ipfs:", "ipfs://"):
        raise ConfigurationError(f"publish to IPFS with to='ipfs://' (the package's CID is its address), not {url!r}")
    cid = ipfs.add(folder, api=api, wrap=False, progress=False)
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    expected = tree_cid(files)
    if cid != expected:
        raise IntegrityError(f"the IPFS node at {ipfs.api_address(api)} answered the CID {cid} for the package, "
                             f"whose files make {expected}: it stored something else")
    print(f"published to IPFS: ipfs://{cid}")
    return f"ipfs://{cid}", cid
