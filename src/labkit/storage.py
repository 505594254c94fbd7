"""Where bytes live: a URL (path, ``s3://``, ``http(s)://``, ``ipfs://``, ``memory://``) to a filesystem or zarr store.

The one place that builds storage options: anonymous S3 reads unless credentials are given (or
writing), the endpoint from ``$AWS_ENDPOINT_URL_S3``, proxies from the environment for HTTP.
Results stores (:class:`labkit.results.ResultStore`) and downloads stand on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit._lazy import attempt_import

_PROTOCOL_MODULES = {"s3": "s3fs", "ipfs": "ipfsspec", "http": "aiohttp", "https": "aiohttp"}


def protocol(url: str | os.PathLike[str]) -> str:
    """The URL's protocol, ``"file"`` for local paths.

    Examples
    --------
    >>> protocol("s3://idr/zarr"), protocol("/tmp/x.zarr"), protocol("ipfs://bafy.../a.zarr")
    ('s3', 'file', 'ipfs')
    """
    s = str(url)
    return s.split("://", 1)[0].lower() if "://" in s else "file"


def s3_credentials() -> dict[str, str]:
    """S3 credentials from the environment or the standard AWS config files (``~/.aws``), as botocore finds them.

    Returned so they can travel, inside a store object, to Dask workers that do not share
    this process's environment. Never print them.
    """
    botocore_session = attempt_import("botocore.session")
    creds = botocore_session.get_session().get_credentials()
    if creds is None:
        return {}
    frozen = creds.get_frozen_credentials()
    out = {"key": frozen.access_key, "secret": frozen.secret_key}
    if frozen.token:
        out["token"] = frozen.token
    return out


def write_local_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a local file so that it appears whole or not at all (temporary name, fsync, rename)."""
    import uuid

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def storage_options_for(
    url: str, storage_options: Mapping[str, Any] | None = None, *, endpoint_url: str | None = None,
    write: bool = False,
) -> dict[str, Any]:
    """Fsspec options for ``url``: S3 is anonymous for reads unless credentials are given or in the environment.

    Examples
    --------
    >>> storage_options_for("s3://idr/x.zarr", endpoint_url="https://uk1s3.embassy.ebi.ac.uk")
    {'endpoint_url': 'https://uk1s3.embassy.ebi.ac.uk', 'anon': True}
    >>> storage_options_for("https://example.org/x.zarr")
    {'client_kwargs': {'trust_env': True}}
    """
    opts = dict(storage_options or {})
    proto = protocol(url)
    if proto in ("http", "https"):
        opts["client_kwargs"] = {"trust_env": True, **opts.get("client_kwargs", {})}
    if proto == "s3":
        if endpoint_url:
            opts["endpoint_url"] = endpoint_url
        if write and not opts.get("anon") and "key" not in opts and "profile" not in opts:
            opts.update(s3_credentials())
        opts.setdefault("anon", "key" not in opts and "profile" not in opts)
        if not opts.get("endpoint_url") and os.environ.get("AWS_ENDPOINT_URL_S3"):
            opts["endpoint_url"] = os.environ["AWS_ENDPOINT_URL_S3"]
    return opts


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """The fsspec filesystem and the path inside it for ``url``."""
    fsspec = attempt_import("fsspec")
    proto = protocol(url)
    if proto in _PROTOCOL_MODULES:
        attempt_import(_PROTOCOL_MODULES[proto])
    fs, path = fsspec.core.url_to_fs(str(url), **storage_options_for(str(url), storage_options, **kwargs))
    return fs, path


def open_store(
    url: str | os.PathLike[str] | Any,
    storage_options: Mapping[str, Any] | None = None,
    *,
    mode: str = "r",
    endpoint_url: str | None = None,
) -> Any:
    """A zarr store for ``url`` (already a store: returned as is).

    Parameters
    ----------
    url : str, path or zarr store
    storage_options : mapping, optional
        fsspec options (``anon``, ``key``, ``secret``, ``endpoint_url`` ...).
    mode : str
        ``"r"`` to read; anything else opens for writing.
    endpoint_url : str, optional
        S3 endpoint (shortcut for ``storage_options={"endpoint_url": ...}``).
    """
    if not isinstance(url, (str, os.PathLike)):
        return url
    from labkit import _zarr

    read_only = mode == "r"
    if protocol(url) == "file":
        return _zarr.local_store(Path(str(url).removeprefix("file://")).expanduser(), read_only)
    proto = protocol(url)
    if proto in _PROTOCOL_MODULES:
        attempt_import(_PROTOCOL_MODULES[proto])
    opts = storage_options_for(str(url), storage_options, endpoint_url=endpoint_url, write=not read_only)
    return _zarr.fsspec_store(str(url).rstrip("/"), opts, read_only)


def du(url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """Total size in bytes of everything under ``url``.

    Examples
    --------
    >>> du("s3://results/flood.zarr", {"anon": False})  # doctest: +SKIP
    2113536
    """
    fs, path = filesystem(url, storage_options)
    return int(fs.du(path, total=True))
