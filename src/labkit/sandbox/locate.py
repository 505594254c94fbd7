"""Find the real IDR image the sandbox serves."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.catalog import IDR_IMAGE, IDR_S3_ENDPOINT
from labkit.errors import SandboxError

IDR_ZARR_NAME = f"{IDR_IMAGE.id}.zarr"


def idr_image_path() -> Path:
    """The local copy of IDR image 6001240 (OME-Zarr v0.1).

    Looked up in order: ``$LABKIT_IDR_DATA`` (the ``.zarr`` folder or its parent), then
    ``shared/data/idr`` next to the labkit checkout, then ``data/idr`` inside it.

    Raises
    ------
    labkit.errors.SandboxError
        When no copy is found; the message says where to put one.

    Examples
    --------
    >>> idr_image_path().name
    '6001240.zarr'
    """
    here = Path(__file__).resolve()
    candidates: list[Path] = []
    if env := os.environ.get("LABKIT_IDR_DATA"):
        candidates += [Path(env) / IDR_ZARR_NAME, Path(env)]
    for parent in here.parents:
        candidates += [parent / "shared" / "data" / "idr" / IDR_ZARR_NAME, parent / "data" / "idr" / IDR_ZARR_NAME]
    for c in candidates:
        if c.name == IDR_ZARR_NAME and (c / ".zgroup").is_file():
            return c
    raise SandboxError(
        f"the IDR image {IDR_ZARR_NAME} was not found (looked in $LABKIT_IDR_DATA and shared/data/idr "
        "next to the checkout). Copy it from the IDR's public S3 "
        f"({IDR_S3_ENDPOINT}/idr/zarr/v0.1/{IDR_ZARR_NAME}/) and set LABKIT_IDR_DATA to its folder."
    )
