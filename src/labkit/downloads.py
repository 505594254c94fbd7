"""Copy a remote folder (an OME-Zarr ...) to disk: concurrent, verified, resumable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import NotFoundError

__all__ = ["download"]

MARKER = ".{name}.labkit-download.json"  # beside the folder, so the folder holds exactly the source's files


def download(
    url: str, dest: str | Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    workers: int = 16, progress: bool = True,
) -> Any:
    """Copy a remote folder (an OME-Zarr ...) to ``dest/<its name>``: concurrent, verified, resumable.

    Files already complete (same size) are skipped, partial ones are replaced; every file is written
    under a temporary name and moved into place, so an interrupted download never leaves a truncated
    file. A marker beside the folder records the source, and a non-empty folder that holds something else
    is refused.

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

    Examples
    --------
    >>> download("s3://idr/zarr/v0.1/6001240.zarr", "images")  # doctest: +SKIP
    PosixPath('images/6001240.zarr')
    """
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from labkit.storage import filesystem, write_local_atomic

    tqdm = attempt_import("tqdm.auto")
    fs, root = filesystem(url, storage_options, endpoint_url=endpoint_url)
    root = root.rstrip("/")
    target = Path(dest) / root.rsplit("/", 1)[-1]
    marker = target.parent / MARKER.format(name=target.name)
    if target.exists() and any(target.iterdir()):
        recorded = json.loads(marker.read_text()).get("source") if marker.exists() else None
        if recorded != str(url):
            raise FileExistsError(
                f"{target} is not empty and holds {'a download of ' + recorded if recorded else 'other data'}; "
                f"choose another destination or remove it before downloading {url}"
            )
    try:
        listing = fs.find(root, detail=True)
    except FileNotFoundError:
        listing = {}
    files = {p: info for p, info in listing.items() if info.get("type", "file") == "file"}
    if not files:
        raise NotFoundError(f"nothing to download at {url}")
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"source": str(url)}))
    todo = []
    for path, info in files.items():
        local = target / path[len(root) + 1 :]
        if local.is_file() and local.stat().st_size == info.get("size"):
            continue
        todo.append((path, local, info.get("size") or 0))

    def fetch(item: tuple[str, Any, int]) -> int:
        path, local, size = item
        data = fs.cat_file(path)
        if size and len(data) != size:
            raise OSError(f"{path}: got {len(data)} bytes, expected {size}")
        write_local_atomic(local, data)
        return len(data)

    total = sum(size for _, _, size in todo)
    with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}",
                   disable=not progress) as bar, ThreadPoolExecutor(workers) as pool:
        for n in pool.map(fetch, todo):
            bar.update(n)
    return target
