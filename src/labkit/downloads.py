"""Copy a remote folder (an OME-Zarr ...) to disk: concurrent, verified, resumable, complete or saying it is not."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit._bars import progress_bar
from labkit._text import plural
from labkit.errors import IncompleteDownloadError, IntegrityError, LabkitError, NotFoundError

__all__ = ["check_complete", "download"]

MARKER = ".{name}.labkit-download.json"  # beside the folder, so the folder holds exactly the source's files
_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')  # an S3 ETag that is the MD5 of the object (not multipart)


def _marker(folder: Path) -> Path:
    return folder.parent / MARKER.format(name=folder.name)


def _md5_of(info: Mapping[str, Any]) -> str | None:
    match = _MD5.match(str(info.get("ETag") or info.get("etag") or "").lower())
    return match.group(1) if match else None


def _is_complete(local: Path, size: int | None, md5: str | None) -> bool:
    if not local.is_file() or (size is not None and local.stat().st_size != size):
        return False
    return md5 is None or hashlib.md5(local.read_bytes()).hexdigest() == md5  # noqa: S324 - S3's own checksum


def check_complete(path: str | os.PathLike[str]) -> None:
    """Raise :class:`~labkit.errors.IncompleteDownloadError` if ``path`` is a download that did not finish.

    A folder not made by :func:`download` passes.

    Examples
    --------
    >>> check_complete("some/folder/made/by/hand")
    """
    folder = Path(path).expanduser()
    marker = _marker(folder)
    if not marker.is_file():
        return
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        record = {}
    if not record.get("complete"):
        source = record.get("source", "its source")
        raise IncompleteDownloadError(
            f"{folder} is an unfinished download of {source} (it was interrupted): its files are not all there. "
            f"Run labkit.download({source!r}, {str(folder.parent)!r}) again to finish it (files already complete "
            "are kept)."
        )


def download(
    url: str, dest: str | Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    workers: int = 16, progress: bool = True,
) -> Path:
    """Copy a remote folder (an OME-Zarr ...) to ``dest/<its name>``: concurrent, verified, resumable.

    Every file is checked against the source's listing (its size, and its MD5 where the server gives one
    as an S3 ETag) and written under a temporary name moved into place, so no file is ever truncated.
    A marker beside the folder records the source, and says "complete" only once every file is in place
    and checked: until then :func:`labkit.open_image` and :func:`labkit.info` refuse the folder. A rerun
    keeps the files that pass the check and fetches the others; a non-empty folder that holds something
    else is refused.

    Parameters
    ----------
    url : str
        ``s3://...``, ``https://...``, ``ipfs://...`` or a local path.
    dest : path
        Parent folder (as ``ome_zarr download --output``).
    workers : int
        Concurrent transfers.

    Returns
    -------
    pathlib.Path
        The downloaded folder.

    Raises
    ------
    FileExistsError
        ``dest/<name>`` is not empty and was not downloaded from ``url``.
    labkit.errors.IntegrityError
        A file arrived different from the source's listing twice (size or MD5).

    Examples
    --------
    >>> download("s3://idr/zarr/v0.1/6001240.zarr", "images")  # doctest: +SKIP
    PosixPath('images/6001240.zarr')
    """
    from concurrent.futures import ThreadPoolExecutor

    from labkit.storage import (
        filesystem,
        missing_bucket_error,
        protocol,
        storage_error,
        storage_options_for,
        write_local_atomic,
    )

    fs, root = filesystem(url, storage_options, endpoint_url=endpoint_url)
    root = root.rstrip("/")
    target = Path(dest).expanduser() / root.rsplit("/", 1)[-1]
    marker = _marker(target)
    if target.exists() and any(target.iterdir()):
        try:
            recorded = json.loads(marker.read_text()).get("source") if marker.exists() else None
        except ValueError:
            recorded = None
        if recorded != str(url):
            raise FileExistsError(
                f"{target} is not empty and holds {'a download of ' + recorded if recorded else 'other data'}; "
                f"choose another destination or remove it before downloading {url}"
            )
    try:
        listing = fs.find(root, detail=True)
    except FileNotFoundError:
        listing = {}
    except Exception as exc:  # noqa: BLE001 - s3fs, aiohttp and botocore raise their own kinds
        raise storage_error(exc, url, storage_options, endpoint_url=endpoint_url) from None
    files = {p: info for p, info in listing.items() if info.get("type", "file") == "file"}
    if not files:  # nothing there, or a server that answered nothing: ask it once more, plainly
        try:
            fs.info(root)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - an unreachable server, a refusal ...
            raise storage_error(exc, url, storage_options, endpoint_url=endpoint_url) from None
        if protocol(str(url)) == "s3" and (missing := missing_bucket_error(
                str(url), storage_options_for(str(url), storage_options, endpoint_url=endpoint_url))):
            raise missing
        raise NotFoundError(f"nothing to download at {url}: check the URL (and endpoint_url for S3)")
    target.mkdir(parents=True, exist_ok=True)
    for leftover in target.rglob(".*.tmp-*"):  # temporary files of a download that was killed
        leftover.unlink(missing_ok=True)
    write_local_atomic(marker, json.dumps({"source": str(url), "complete": False}).encode())
    todo = []
    for path, info in files.items():
        local = target / path[len(root) + 1 :]
        if not _is_complete(local, info.get("size"), _md5_of(info)):
            todo.append((path, local, info.get("size"), _md5_of(info)))

    def fetch(item: tuple[str, Path, int | None, str | None]) -> int:
        path, local, size, md5 = item
        for _ in range(2):  # a file that arrives damaged is fetched once more
            data = fs.cat_file(path)
            problem = (f"got {plural(len(data), 'byte')}, expected {size}" if size is not None and len(data) != size
                       else "its MD5 is not the server's ETag" if md5 and hashlib.md5(data).hexdigest() != md5  # noqa: S324
                       else None)
            if problem is None:
                write_local_atomic(local, data)
                return len(data)
        raise IntegrityError(f"{url}: {path} arrived damaged twice ({problem}); run the download again")

    if not todo and progress:
        print(f"{target}: already complete ({plural(len(files), 'file')}, nothing to fetch)")
    total = sum(size or 0 for _, _, size, _ in todo)
    try:
        with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {target.name}",
                       disable=not progress or not todo) as bar, ThreadPoolExecutor(workers) as pool:
            for n in pool.map(fetch, todo):
                bar.update(n)
    except Exception as exc:  # noqa: BLE001 - the transfer's own errors, in labkit's words
        err = exc if isinstance(exc, LabkitError) else storage_error(exc, url, storage_options,
                                                                     endpoint_url=endpoint_url)
        raise type(err)(f"{err} The download into {target} is not complete: run it again to finish it.") from None
    write_local_atomic(marker, json.dumps({"source": str(url), "complete": True, "files": len(files)}).encode())
    return target
