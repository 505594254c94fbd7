"""Find the real IDR image the sandbox serves (fetching it into the cache on first use)."""

from __future__ import annotations

import os
from pathlib import Path

from labkit._zarr import is_local_group
from labkit.catalog import IDR_IMAGE
from labkit.errors import SandboxError

IDR_ZARR_NAME = f"{IDR_IMAGE.id}.zarr"


def idr_image_path(*, beside_checkout: bool = True, fetch: bool = True, progress: bool = True) -> Path:
    """The local copy of IDR image 6001240 (OME-Zarr v0.1).

    Looked up in order: ``$LABKIT_IDR_DATA`` (the ``.zarr`` folder or its parent), then ``shared/data/idr``
    or ``data/idr`` next to the labkit checkout, then the cache (``$LABKIT_DATA_DIR/idr``, default
    ``~/.cache/labkit/data/idr``). Found nowhere, it is fetched into the cache from the IDR's public S3
    (or ``$LABKIT_IDR_URL``), ~45 MB once, each file checked: :func:`labkit.sandbox.fetch.fetch_idr_image`.

    Parameters
    ----------
    beside_checkout : bool
        Look next to the checkout (False: as in a fresh clone without ``shared/``).
    fetch : bool
        Fetch the image when no copy is found (False: raise instead).
    progress : bool
        Show the fetch's progress bar.

    Raises
    ------
    labkit.errors.SandboxError
        No copy found and ``fetch=False``; the message says where to put one.
    labkit.errors.ServiceUnavailableError, labkit.errors.IntegrityError
        The fetch failed (see :func:`~labkit.sandbox.fetch.fetch_idr_image`).

    Examples
    --------
    >>> idr_image_path().name  # doctest: +SKIP
    '6001240.zarr'
    """
    from labkit.sandbox.fetch import cache_path, fetch_idr_image, idr_url, is_complete

    candidates: list[Path] = []
    if env := os.environ.get("LABKIT_IDR_DATA"):
        candidates += [Path(env).expanduser() / IDR_ZARR_NAME, Path(env).expanduser()]
    if beside_checkout:
        for parent in Path(__file__).resolve().parents:
            candidates += [parent / "shared" / "data" / "idr" / IDR_ZARR_NAME, parent / "data" / "idr" / IDR_ZARR_NAME]
    for c in candidates:
        if c.name == IDR_ZARR_NAME and is_local_group(c):
            return c
    cached = cache_path()
    if is_complete(cached):
        return cached
    if fetch:
        return fetch_idr_image(cached, progress=progress)
    raise SandboxError(
        f"the IDR image {IDR_ZARR_NAME} was not found (looked in $LABKIT_IDR_DATA, shared/data/idr next to the "
        f"checkout and {cached}). Fetch it with labkit.sandbox.fetch.fetch_idr_image() (from {idr_url()}), or "
        "copy it there, or set LABKIT_IDR_DATA to the folder holding a copy."
    )
