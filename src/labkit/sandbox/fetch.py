"""Fetch the sandbox's real IDR image from the IDR's public S3 into the cache: checked, resumable, once.

Every file is checked against the SHA-256 that labkit ships (``data/idr_6001240.sha256``, pooch's registry
format), downloaded under a temporary name and moved into place only once it matches, so a file in the
cache is whole and right; a rerun keeps those and fetches the rest. The folder counts as complete (and
:func:`labkit.sandbox.locate.idr_image_path` uses it) only after every file is in place.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from labkit import catalog
from labkit._bars import progress_bar
from labkit._lazy import attempt_import
from labkit.errors import IntegrityError, ServiceUnavailableError

IDR_ZARR_NAME = f"{catalog.IDR_IMAGE.id}.zarr"
REGISTRY = Path(__file__).with_name("data") / f"idr_{catalog.IDR_IMAGE.id}.sha256"
URL_ENV = "LABKIT_IDR_URL"  #: where to fetch the image's files from instead of the IDR (a mirror, a test server)
_MARKER = ".{name}.labkit-fetch.json"  # beside the folder: written once every file is in place and checked
_local = threading.local()


def idr_url() -> str:
    """The base URL of the image's files: ``$LABKIT_IDR_URL``, else the IDR's public S3 (anonymous HTTPS).

    Examples
    --------
    >>> idr_url()  # doctest: +SKIP
    'https://livingobjects.ebi.ac.uk/idr/zarr/v0.1/6001240.zarr/'
    """
    url = os.environ.get(URL_ENV) or f"{catalog.IDR_S3_ENDPOINT}/{catalog.IDR_BUCKET}/zarr/v0.1/{IDR_ZARR_NAME}"
    return url.rstrip("/") + "/"


def registry() -> dict[str, str]:
    """``{path in the image: sha256}`` of every file of the image, as labkit ships it.

    Examples
    --------
    >>> len(registry()), registry()[".zgroup"][:8]
    (1425, '6aee8510')
    """
    return dict(_registry())


@functools.cache
def _registry() -> dict[str, str]:
    pooch = attempt_import("pooch")
    p = pooch.create(path=".", base_url="")
    p.load_registry(REGISTRY)
    return p.registry


def cache_path() -> Path:
    """Where the image is fetched to: ``$LABKIT_DATA_DIR/idr/6001240.zarr`` (default ``~/.cache/labkit/data``).

    Unlike generated data, it does not follow ``$LABKIT_SANDBOX_DIR``: every sandbox (``make``'s in ``build/``,
    a test's, yours) shares the one download, and ``make clean`` keeps it.

    Examples
    --------
    >>> cache_path().name
    '6001240.zarr'
    """
    base = os.environ.get("LABKIT_DATA_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "labkit/data")
    return Path(base).expanduser() / "idr" / IDR_ZARR_NAME


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a fetch of the image that finished (every file in place and checked)."""
    try:
        record = json.loads((folder.parent / _MARKER.format(name=folder.name)).read_text())
    except (OSError, ValueError):
        return False
    from labkit._zarr import is_local_group

    return record.get("complete") is True and is_local_group(folder)


def _download(url: str, output_file: str, _pooch: Any) -> None:
    """A pooch downloader with one kept-alive ``requests`` session per thread (1425 small files)."""
    import requests

    if (session := getattr(_local, "session", None)) is None:
        session = _local.session = requests.Session()
    with session.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        with open(output_file, "wb") as fh:
            for chunk in response.iter_content(1 << 16):
                fh.write(chunk)


def fetch_idr_image(
    dest: str | os.PathLike[str] | None = None, *, url: str | None = None, files: Iterable[str] | None = None,
    workers: int = 8, retries: int = 2, progress: bool = True,
) -> Path:
    """Fetch IDR image 6001240 (OME-Zarr v0.1, 1425 files, ~45 MB) into ``dest``; files already there are kept.

    Parameters
    ----------
    dest : path, optional
        The ``.zarr`` folder to fill (default :func:`cache_path`).
    url : str, optional
        Base URL of the image's files (default :func:`idr_url`).
    files : iterable of str, optional
        Only these files of the image (paths as in :func:`registry`); the folder is then not marked complete.
    workers : int
        Concurrent downloads.
    retries : int
        Further attempts per file after a network error or a wrong checksum.
    progress : bool
        Show one progress bar (in files) for the whole image.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    labkit.errors.IntegrityError
        A file arrived different from the checksum labkit ships (named, with both hashes); it is not kept.
    labkit.errors.ServiceUnavailableError
        The server could not be reached or refused a file; the message says what was tried.

    Examples
    --------
    >>> fetch_idr_image()  # doctest: +SKIP
    PosixPath('/home/me/.cache/labkit/data/idr/6001240.zarr')
    """
    import fcntl

    dest = Path(dest).expanduser() if dest is not None else cache_path()
    base = (url.rstrip("/") + "/") if url else idr_url()
    names = list(registry()) if files is None else list(files)
    if unknown := [n for n in names if n not in registry()]:
        raise ValueError(f"not files of {IDR_ZARR_NAME}: {unknown[:5]}; see labkit.sandbox.fetch.registry()")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time into a folder (two sandboxes starting at once)
        _fetch(dest, base, names, complete=files is None, workers=workers, retries=retries, progress=progress)
    return dest


def _fetch(dest: Path, base: str, names: list[str], *, complete: bool, workers: int, retries: int,
           progress: bool) -> None:
    pooch = attempt_import("pooch")
    requests = attempt_import("requests")
    known = registry()
    marker = dest.parent / _MARKER.format(name=dest.name)
    marker.unlink(missing_ok=True)
    if dest.exists():  # temporary files of a fetch that was killed (pooch writes tmpXXXX beside the file)
        for leftover in dest.rglob("tmp*"):
            if leftover.is_file() and leftover.relative_to(dest).as_posix() not in known:
                leftover.unlink()
    for folder in {(dest / n).parent for n in names}:  # here, not in pooch's threads (its makedirs races)
        folder.mkdir(parents=True, exist_ok=True)
    store = pooch.create(path=dest, base_url=base, registry={n: known[n] for n in names}, retry_if_failed=retries)
    logger = pooch.get_logger()
    level, done, failed = logger.level, 0, ""
    logger.setLevel("WARNING")  # pooch says a line per file downloaded: the bar says it once
    try:
        with ThreadPoolExecutor(workers) as pool, progress_bar(
            total=len(names), unit="file", desc=f"IDR {IDR_ZARR_NAME}", disable=not progress
        ) as bar:
            futures = {pool.submit(store.fetch, n, downloader=_download): n for n in names}
            try:
                for fut in as_completed(futures):
                    failed = futures[fut]
                    fut.result()
                    done += 1
                    bar.update()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    except ValueError as exc:  # pooch: the checksum does not match
        got = m.group(1) if (m := re.search(r"got ([0-9a-f]{64})", str(exc))) else "another hash"
        raise IntegrityError(
            f"{failed} of the IDR image, fetched from {base}{failed}, is not the file labkit expects: SHA-256 "
            f"expected {known[failed]}, got {got}. It was not kept ({dest / failed}). The server (or something "
            f"between) sent a changed or damaged file: run again to retry; if it persists, check that "
            f"${URL_ENV} (now {base}) serves the IDR's {IDR_ZARR_NAME}, or give a copy with $LABKIT_IDR_DATA."
        ) from None
    except requests.RequestException as exc:
        raise ServiceUnavailableError(
            f"could not fetch the IDR image {IDR_ZARR_NAME} from {base} (fetching {failed}: {exc}). {done} of its "
            f"{len(names)} files are in {dest}; run again to fetch the rest (they are kept). Without network, "
            f"give a copy of {IDR_ZARR_NAME} (e.g. from another machine's {cache_path()}): set LABKIT_IDR_DATA "
            f"to the folder holding it, or set ${URL_ENV} to a server that has its files."
        ) from None
    finally:
        logger.setLevel(level)
    if complete:
        from labkit.storage import write_local_atomic

        write_local_atomic(marker, json.dumps({"source": base, "complete": True, "files": len(names)}).encode())
