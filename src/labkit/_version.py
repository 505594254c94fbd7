"""The installed labkit's version, for what labkit writes (provenance records, NGFF ``metadata``).

Examples
--------
>>> labkit_version().count(".") >= 1
True
>>> len(labkit_source_digest())
12
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def labkit_version() -> str:
    """The installed labkit version."""
    try:
        return version("labkit")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


@cache
def labkit_source_digest() -> str:
    """A digest of labkit's own Python sources, read once per process.

    A clone updated with ``git pull`` keeps its version number while its methods change: checkpoints are tied
    to this digest, so results of an older labkit are computed again rather than read back.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if "node_modules" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]
