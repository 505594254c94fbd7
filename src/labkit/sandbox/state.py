"""Where a running sandbox records itself, so that other processes (a notebook kernel) find it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def default_root() -> Path:
    """The sandbox folder: ``$LABKIT_SANDBOX_DIR`` or ``~/.cache/labkit/sandbox``.

    Examples
    --------
    >>> default_root().name
    'sandbox'
    """
    env = os.environ.get("LABKIT_SANDBOX_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labkit" / "sandbox"


def state_path(root: Path | None = None) -> Path:
    """Path of the state file inside the sandbox folder."""
    return Path(root or default_root()) / "state.json"


def write_state(root: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically, readable by the owner only (it holds credentials)."""
    path = state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=1)
    os.replace(tmp, path)
    return path


def read_state(root: Path | None = None) -> dict[str, Any] | None:
    """The recorded state, or ``None`` when there is none."""
    path = state_path(root)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def remove_state(root: Path | None = None) -> None:
    """Forget the recorded state."""
    state_path(root).unlink(missing_ok=True)
