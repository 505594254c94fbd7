"""What made a result: code, arguments, versions, repository state and time."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import os
import platform
import subprocess
import textwrap
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from labkit._version import labkit_source_digest, labkit_version

KEY_PACKAGES = ("numpy", "dask", "distributed", "xarray", "zarr", "tifffile", "pillow", "scipy", "scikit-image",
                "pandas", "pyarrow", "s3fs")
#: the key of a provenance record written before its result is (re)written: the result is unfinished until the
#: full record replaces it
WRITING = "writing_since"


def unfinished(record: dict[str, Any]) -> str | None:
    """Why a provenance record does not describe a finished result, or ``None`` when it does.

    Examples
    --------
    >>> unfinished({"target": "a.png", "writing_since": "2026-01-01T00:00:00Z"})
    'half-written: being written since 2026-01-01T00:00:00Z (or its writer stopped)'
    >>> unfinished({"target": "a.png", "code_hash": "ab12", "computed_at": "2026-01-01T00:00:00Z"}) is None
    True
    """
    if WRITING in record:
        return f"half-written: being written since {record[WRITING]} (or its writer stopped)"
    if not record.get("code_hash") or not record.get("computed_at"):
        return "its provenance record is incomplete (no code hash or time): it was not finished by labkit.checkpoint"
    return None


def code_hash(func: Any) -> str:
    """Hash of a function's source (dedented) and labkit's (its version and its sources' digest).

    A result is thus stale when its function changed, and also when labkit did (a new method behind the same
    function call), even in a clone whose version number stays the same.

    Examples
    --------
    >>> def f(x):
    ...     return x
    >>> len(code_hash(f))
    16
    """
    target = inspect.unwrap(func)
    try:
        source = textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError):  # built-ins, lambdas typed at a prompt
        source = getattr(target, "__qualname__", repr(target)) + repr(getattr(target, "__code__", b""))
    return hashlib.sha256(f"{source}\nlabkit {labkit_version()} {labkit_source_digest()}".encode()).hexdigest()[:16]


def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical encoding of ``obj`` to the hash ``h``."""
    import numpy as np

    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}[{len(obj)}](".encode())
        for item in obj:
            _feed(h, item)
        h.update(b")")
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}](".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
        h.update(b")")
    elif isinstance(obj, (np.ndarray, np.generic)) or (hasattr(obj, "__array__") and hasattr(obj, "compute")):
        arr = np.ascontiguousarray(np.asarray(obj.compute() if hasattr(obj, "compute") else obj))
        h.update(f"ndarray:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.view(np.uint8).reshape(-1) if arr.size else b"")
    elif type(obj).__module__.startswith("pandas"):
        import pandas as pd

        h.update(f"pandas:{type(obj).__name__}:{list(getattr(obj, 'columns', []))};".encode())
        h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, Path):
        h.update(f"path:{obj};".encode())
    else:  # anything else: dask's tokenizer, which refuses what it cannot hash deterministically
        from dask.base import tokenize

        h.update(f"token:{tokenize(obj, ensure_deterministic=True)};".encode())


def arguments_hash(arguments: dict[str, Any]) -> str:
    """A deterministic hash of call arguments, array and table contents included.

    Equal values give equal hashes in every process, however the arrays arrived there
    (dask's own ``tokenize`` does not guarantee that for arrays received from other workers).

    Examples
    --------
    >>> import numpy as np
    >>> arguments_hash({"a": np.arange(3)}) == arguments_hash({"a": np.arange(3).copy()})
    True
    """
    h = hashlib.sha256()
    _feed(h, dict(arguments))
    return h.hexdigest()[:32]


def describe_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """A readable, JSON-able record of arguments: scalars as they are, arrays and tables by shape."""
    out: dict[str, Any] = {}
    for k, v in arguments.items():
        if isinstance(v, (str, int, float, bool, type(None))):
            out[k] = v
        elif hasattr(v, "shape") and hasattr(v, "dtype"):
            out[k] = f"<{type(v).__name__} shape={tuple(v.shape)} dtype={v.dtype}>"
        else:
            text = repr(v)
            out[k] = text if len(text) < 200 else text[:197] + "..."
    return out


@lru_cache(maxsize=32)
def git_state(folder: str) -> dict[str, Any]:
    """Commit and dirty flag of the git repository containing ``folder`` (empty when there is none)."""
    try:
        run = lambda *a: subprocess.run(["git", "-C", folder, *a], capture_output=True, text=True,  # noqa: E731
                                        timeout=10)
        top = run("rev-parse", "--show-toplevel")
        if top.returncode != 0:
            return {}
        commit = run("rev-parse", "HEAD").stdout.strip()
        dirty = bool(run("status", "--porcelain", "--untracked-files=no").stdout.strip())
        remote = run("remote", "get-url", "origin").stdout.strip()
        return {"git_repository": top.stdout.strip(), "git_commit": commit or None, "git_dirty": dirty,
                **({"git_remote": remote} if remote else {})}
    except (OSError, subprocess.SubprocessError):
        return {}


def package_versions() -> dict[str, str]:
    """Versions of labkit (with its sources' digest as a local label), Python and the key packages installed."""
    return dict(_package_versions())


@lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    out = {"labkit": f"{labkit_version()}+{labkit_source_digest()}", "python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def notebook() -> dict[str, str]:
    """The notebook this kernel runs, as Jupyter Server tells its kernels (``JPY_SESSION_NAME``); else empty."""
    path = os.environ.get("JPY_SESSION_NAME")
    return {"notebook": path} if path else {}


def caller_folder(func: Any) -> str:
    """Folder whose repository made the result: the function's file, or the working directory."""
    try:
        file = inspect.getsourcefile(inspect.unwrap(func))
        if file and Path(file).exists():
            return str(Path(file).resolve().parent)
    except TypeError:
        pass
    return str(Path.cwd())


def now() -> str:
    """The time in ISO 8601, UTC."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
