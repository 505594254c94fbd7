"""Where bytes live: a URL (path, ``s3://``, ``http(s)://``, ``ipfs://``, ``memory://``) to a filesystem or zarr store.

The one place that builds storage options: S3 requests signed with the environment's credentials where they
are for the endpoint, anonymous otherwise (or
writing), the endpoint from ``$AWS_ENDPOINT_URL_S3``, proxies from the environment for HTTP.
Results stores (:class:`labkit.results.ResultStore`) and downloads stand on it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit import _zarr
from labkit._lazy import attempt_import
from labkit._retry import retrying_async
from labkit._zarr import use_codec_pipeline  # noqa: F401 - public here: labkit.storage.use_codec_pipeline
from labkit.errors import (
    AccessDeniedError,
    ConfigurationError,
    CredentialsNotFoundError,
    FormatError,
    LabkitError,
    NotFoundError,
    ServiceUnavailableError,
)

_PROTOCOL_MODULES = {"s3": "s3fs", "ipfs": "ipfsspec", "http": "aiohttp", "https": "aiohttp"}


def _prepare(proto: str) -> None:
    """Import what ``proto`` needs (ipfs: labkit's ipfsspec filesystem, which reports a 504 at once).

    Examples
    --------
    >>> _prepare("s4")
    Traceback (most recent call last):
    labkit.errors.ConfigurationError: unknown protocol 's4://': labkit reads s3://, http(s)://, ipfs://, ...
    """
    import fsspec

    if proto in _PROTOCOL_MODULES:
        attempt_import(_PROTOCOL_MODULES[proto])
    elif proto not in fsspec.available_protocols():
        raise ConfigurationError(
            f"unknown protocol '{proto}://': labkit reads s3://, http(s)://, ipfs://, memory:// and local paths "
            "(and any other protocol of an installed fsspec implementation, e.g. gs:// with gcsfs)"
        )
    if proto == "ipfs":
        from labkit.ipfs.gateway_fs import register

        register()


def protocol(url: str | os.PathLike[str]) -> str:
    """The URL's protocol, ``"file"`` for local paths.

    Examples
    --------
    >>> protocol("s3://idr/zarr"), protocol("/tmp/x.zarr"), protocol("ipfs://bafy.../a.zarr")
    ('s3', 'file', 'ipfs')
    """
    s = str(url)
    return s.split("://", 1)[0].lower() if "://" in s else "file"


#: the instance-metadata service (169.254.169.254) is asked for credentials only when this variable is "false"
IMDS_SWITCH = "AWS_EC2_METADATA_DISABLED"


def instance_metadata_allowed() -> bool:
    """Whether credentials may come from the instance-metadata service (169.254.169.254).

    Only when ``$AWS_EC2_METADATA_DISABLED`` is set to ``false``, as one would on an AWS machine with an
    instance role; labkit never asks that address otherwise.

    Examples
    --------
    >>> instance_metadata_allowed()  # doctest: +SKIP
    False
    """
    return os.environ.get(IMDS_SWITCH, "").strip().lower() == "false"


def _botocore_session() -> Any:
    """A botocore session whose credential chain skips the instance-metadata service unless it is allowed."""
    botocore_session = attempt_import("botocore.session")
    session = botocore_session.get_session()
    if not instance_metadata_allowed():
        resolver = session.get_component("credential_provider")
        with contextlib.suppress(Exception):  # botocore's names: "iam-role" asks 169.254.169.254
            resolver.remove("iam-role")
    return session


def s3_credentials() -> dict[str, str]:
    """S3 credentials from the environment or the standard AWS config files (``~/.aws``), as botocore finds them.

    The instance-metadata service (169.254.169.254) is not asked unless ``$AWS_EC2_METADATA_DISABLED`` is
    ``false`` (:func:`instance_metadata_allowed`). Returned so they can travel, inside a store object, to Dask
    workers that do not share this process's environment. Never print them.
    """
    creds = _botocore_session().get_credentials()
    if creds is None:
        return {}
    frozen = creds.get_frozen_credentials()
    out = {"key": frozen.access_key, "secret": frozen.secret_key}
    if frozen.token:
        out["token"] = frozen.token
    return out


def credential_places() -> str:
    """Where :func:`s3_credentials` looks, for messages: the variables, the files and the profile it reads.

    Examples
    --------
    >>> "AWS_ACCESS_KEY_ID" in credential_places()
    True
    """
    session = _botocore_session()
    profile = session.get_config_variable("profile") or "default"
    files = [str(Path(session.get_config_variable(v)).expanduser()) for v in ("credentials_file", "config_file")]
    imds = ("and asked the instance-metadata service" if instance_metadata_allowed() else
            f"not the instance-metadata service (set {IMDS_SWITCH}=false to let it be asked on an AWS machine)")
    return (f"the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), {files[0]} and {files[1]} "
            f"(profile {profile!r}{', from AWS_PROFILE' if os.environ.get('AWS_PROFILE') else ''}); {imds}")


def no_credentials_error(url: str, endpoint: str | None) -> LabkitError:
    """The error for signed requests to ``url`` when no credentials were found: where labkit looked, and the fix."""
    return CredentialsNotFoundError(
        f"{url}: signed requests were asked for (--signed, storage_options={{'anon': False}}) but no S3 credentials "
        f"were found for {endpoint or 'AWS'}. labkit looked in {credential_places()}. Set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials (aws configure); for the labkit sandbox's S3, "
        'run: eval "$(labkit sandbox env)". A public bucket reads without credentials (--anon).'
    )


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


def environment_endpoint() -> str | None:
    """The S3 endpoint the environment's credentials are for (``$AWS_ENDPOINT_URL_S3``, ``$AWS_ENDPOINT_URL``)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def storage_options_for(
    url: str, storage_options: Mapping[str, Any] | None = None, *, endpoint_url: str | None = None,
    write: bool = False,
) -> dict[str, Any]:
    """Fsspec options for ``url``; for S3, the credentials to use.

    S3 requests are signed with the credentials of the environment or ``~/.aws`` when there are some for the
    endpoint (the endpoint of ``$AWS_ENDPOINT_URL_S3``, or AWS when none is set), and sent anonymously
    otherwise, so a public bucket on another endpoint opens with no credentials. Writes always sign.
    ``anon=True`` or ``anon=False`` (sign with the environment's credentials whatever the endpoint), ``key``
    and ``secret``, or ``profile`` in ``storage_options`` decide instead. ``anon=False`` with no credentials
    found raises :class:`labkit.errors.CredentialsNotFoundError` naming where labkit looked (no client is left
    to search further, e.g. at the instance-metadata address).

    Examples
    --------
    >>> storage_options_for("s3://idr/x.zarr", endpoint_url="https://livingobjects.ebi.ac.uk")
    {'endpoint_url': 'https://livingobjects.ebi.ac.uk', 'anon': True}
    >>> storage_options_for("https://example.org/x.zarr")
    {'client_kwargs': {'trust_env': True}}
    """
    opts = dict(storage_options or {})
    proto = protocol(url)
    if proto in ("http", "https"):
        opts["client_kwargs"] = {"trust_env": True, **opts.get("client_kwargs", {})}
    if proto == "s3":
        env_endpoint = environment_endpoint()
        if endpoint_url:
            opts["endpoint_url"] = endpoint_url
        elif not opts.get("endpoint_url") and env_endpoint:
            opts["endpoint_url"] = env_endpoint
        if "key" not in opts and "profile" not in opts:
            for_this_endpoint = opts.get("endpoint_url") == env_endpoint  # both None: AWS
            sign = opts["anon"] is False if "anon" in opts else (write or for_this_endpoint)
            credentials = s3_credentials() if sign else {}
            if not credentials and opts.get("anon") is False:  # asked to sign: never left to a client's own chain
                raise no_credentials_error(url, opts.get("endpoint_url"))
            opts.update(credentials)
            opts["anon"] = not credentials
    return opts


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """The fsspec filesystem and the path inside it for ``url``."""
    fsspec = attempt_import("fsspec")
    proto = protocol(url)
    _prepare(proto)
    fs, path = fsspec.core.url_to_fs(str(url), **storage_options_for(str(url), storage_options, **kwargs))
    return fs, path


ENGINES = ("auto", "obstore", "fsspec")
#: obstore's retries of 5xx answers, bounded in time for interactive work (its default keeps trying for 3
#: minutes); 10 tries: a read of 500 chunks through 30 % failed answers meets 6 failures in a row on one chunk
#: about once in three reads, 11 in a row about once in a thousand (tests/faults); backoff at most 1 s, so a
#: server that is down is reported within about 8 s
_OBSTORE_RETRIES: dict[str, Any] = {
    "max_retries": 10, "retry_timeout": dt.timedelta(seconds=30),
    "backoff": {"init_backoff": dt.timedelta(milliseconds=100), "max_backoff": dt.timedelta(seconds=1), "base": 2},
}
#: fsspec options that obstore's S3 store takes, and its names for them
_OBSTORE_KEYS = {"key": "access_key_id", "secret": "secret_access_key", "token": "token",
                 "endpoint_url": "endpoint", "region": "region"}


def obstore_config(storage_options: Mapping[str, Any]) -> dict[str, Any] | None:
    """Obstore ``S3Store`` keyword arguments for fsspec-style S3 options, or ``None`` if it cannot express them.

    Examples
    --------
    >>> obstore_config({"anon": True, "endpoint_url": "http://127.0.0.1:9000"})
    {'endpoint': 'http://127.0.0.1:9000', 'region': 'us-east-1', 'skip_signature': True, \
'client_options': {'allow_http': True}}
    >>> obstore_config({"profile": "work"}) is None  # AWS profiles: fsspec (botocore) reads them
    True
    """
    opts = dict(storage_options)
    anon = bool(opts.pop("anon", False))
    client_kwargs = dict(opts.pop("client_kwargs", None) or {})
    opts.setdefault("endpoint_url", client_kwargs.pop("endpoint_url", None))
    opts.setdefault("region", client_kwargs.pop("region_name", None))
    if client_kwargs or set(opts) - set(_OBSTORE_KEYS):
        return None
    config = {_OBSTORE_KEYS[k]: v for k, v in opts.items() if v is not None}
    config.setdefault("endpoint", os.environ.get("AWS_ENDPOINT_URL_S3") or None)
    config.setdefault("region", os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    config = {k: v for k, v in config.items() if v is not None}
    if anon:
        config["skip_signature"] = True
    if str(config.get("endpoint", "")).startswith("http://"):
        config["client_options"] = {"allow_http": True}  # a local server, as the sandbox's
    return config


def open_store(
    url: str | os.PathLike[str] | Any,
    storage_options: Mapping[str, Any] | None = None,
    *,
    mode: str = "r",
    endpoint_url: str | None = None,
    engine: str = "auto",
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
    engine : {"auto", "obstore", "fsspec"}
        How ``s3://`` is reached. ``"auto"``: obstore (zarr's ``ObjectStore``, Rust, 1.7-3x the
        throughput of fsspec in published figures) on zarr 3 when the options allow it, else s3fs;
        ``"fsspec"``: always s3fs (AWS profiles, botocore settings, zarr 2.18).

    Examples
    --------
    >>> open_store("s3://idr/zarr/v0.1/6001240.zarr", {"anon": True})  # doctest: +SKIP
    object_store://S3Store(bucket="idr", prefix="zarr/v0.1/6001240.zarr")
    """
    if not isinstance(url, (str, os.PathLike)):
        return url
    from labkit import _zarr

    if engine not in ENGINES:
        raise ConfigurationError(f"engine must be one of {ENGINES}, not {engine!r}")
    read_only = mode == "r"
    if protocol(url) == "file":
        # absolute: a Dask worker that reads or writes it may run in another folder (a gateway's workers do)
        return _zarr.local_store(Path(str(url).removeprefix("file://")).expanduser().absolute(), read_only)
    proto = protocol(url)
    opts = storage_options_for(str(url), storage_options, endpoint_url=endpoint_url, write=not read_only)
    if proto == "s3" and engine != "fsspec" and _zarr.ZARR3:
        config = obstore_config(opts)
        if config is not None:
            return _object_store(str(url), config, read_only)
        if engine == "obstore":
            raise ConfigurationError(f"obstore cannot take these S3 options: {sorted(opts)}; use engine='fsspec'")
    _prepare(proto)
    return _zarr.fsspec_store(str(url).rstrip("/"), opts, read_only)


def _object_store(url: str, config: dict[str, Any], read_only: bool) -> Any:
    return shared_object_store(url, json.dumps(config, sort_keys=True), read_only)


@functools.lru_cache(maxsize=64)
def shared_object_store(url: str, config_json: str, read_only: bool) -> Any:
    """Zarr's ``ObjectStore`` over obstore's ``S3Store``, one per process and configuration.

    Unpickling an obstore store builds a new client (obstore#536: about 10 ms here, more than reading
    a chunk), and Dask unpickles the store of an array for many of its tasks. This store pickles as a
    call of this function, so a worker process builds each client once.

    Examples
    --------
    >>> import pickle
    >>> store = shared_object_store("s3://idr/x.zarr", '{"skip_signature": true}', True)
    >>> pickle.loads(pickle.dumps(store)) is store
    True
    """
    attempt_import("obstore")
    from obstore.store import S3Store

    bucket, _, prefix = url.removeprefix("s3://").strip("/").partition("/")
    config = json.loads(config_json)
    env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if env_endpoint and config.get("endpoint", env_endpoint) != env_endpoint:
        # $AWS_ENDPOINT_URL_S3 beats obstore's endpoint argument (obstore#753), not this key (which zarrs' codec
        # pipeline cannot rebuild: it leaves such a store to zarr-python's)
        config["config"] = {"aws_endpoint_url_s3": config["endpoint"]}
    store = _object_store_class()(S3Store(bucket, prefix=prefix or None, retry_config=_OBSTORE_RETRIES, **config),
                                  read_only=read_only)
    store._labkit_args = (url, config_json, read_only)
    return store


@functools.cache
def _object_store_class() -> type:
    from zarr.storage import ObjectStore  # by this name, so Dask workers unpickle it (zarr-python#4029)

    class SharedObjectStore(ObjectStore):
        """An ``ObjectStore`` that unpickles into the process's store of the same configuration.

        Requests that a dropped connection interrupted are sent again (:mod:`labkit._retry`).
        """

        def __reduce__(self) -> tuple[Any, ...]:
            return (shared_object_store, self._labkit_args)

    for name in ("get", "get_partial_values", "set", "set_if_not_exists", "delete", "delete_dir", "exists", "getsize"):
        setattr(SharedObjectStore, name, _labkit_errors(retrying_async(getattr(ObjectStore, name))))
    SharedObjectStore.__name__ = "ObjectStore"  # zarrs' codec pipeline knows the stores it reads by type name
    return SharedObjectStore


_WRITES = ("set", "set_if_not_exists", "delete", "delete_dir")


def _labkit_errors(method: Any) -> Any:
    """A store method whose storage failures (retries spent) are labkit errors naming the object and its fix.

    Missing keys stay ``FileNotFoundError`` (zarr reads them as empty chunks).
    """

    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (LabkitError, FileNotFoundError):
            raise
        except Exception as exc:
            if not is_storage_failure(exc):
                raise
            url, config_json, _ = self._labkit_args
            config = json.loads(config_json)
            key = args[0] if args and isinstance(args[0], str) else ""
            opts = {k: v for k, v in (("anon", bool(config.get("skip_signature"))),
                                      ("endpoint_url", config.get("endpoint")),
                                      ("key", config.get("access_key_id"))) if v is not None}
            raise storage_error(exc, f"{url.rstrip('/')}/{key}".rstrip("/"), opts,
                                action="write" if method.__name__ in _WRITES else "read") from None

    return call


def describe_credentials(storage_options: Mapping[str, Any]) -> str:
    """Which credentials a request used, for error messages: never the secret.

    Examples
    --------
    >>> describe_credentials({"anon": True})
    'anonymous requests (no credentials)'
    >>> describe_credentials({"key": "AKIA123", "secret": "s3cr3t"})
    'access key AKIA123'
    """
    if storage_options.get("anon"):
        return "anonymous requests (no credentials)"
    if storage_options.get("key"):
        return f"access key {storage_options['key']}"
    if storage_options.get("profile"):
        return f"AWS profile {storage_options['profile']!r}"
    return "the credentials of the environment"


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is a server's refusal (403/401) as s3fs, botocore or obstore raise it."""
    return isinstance(exc, PermissionError) or type(exc).__name__ in ("PermissionDeniedError", "UnauthenticatedError")


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` came from reaching storage (a refusal, a network or server failure), not from the data.

    Examples
    --------
    >>> is_storage_failure(ConnectionResetError()), is_storage_failure(ValueError("bad shape"))
    (True, False)
    """
    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError) or is_refusal(exc) or module in ("obstore", "aiohttp", "botocore", "aiobotocore",
                                                                      "s3fs", "urllib3", "requests")


def storage_error(
    exc: BaseException, url: Any, storage_options: Mapping[str, Any] | None = None, *, endpoint_url: str | None = None,
    action: str = "read",
) -> LabkitError:
    """The labkit error for what reading or writing (``action="write"``) ``url`` raised (s3fs, botocore, obstore).

    A refusal names the bucket and the credentials used (never the secret), a missing object says
    so, anything else is reported as the service being unreachable.
    """
    opts = storage_options_for(str(url), storage_options, endpoint_url=endpoint_url, write=action == "write")
    name = type(exc).__name__
    where = str(url)
    if protocol(where) == "s3":
        bucket = where.removeprefix("s3://").split("/", 1)[0]
        where = f"{url} (bucket {bucket!r} at {opts.get('endpoint_url') or 'AWS'})"
    if isinstance(exc, LabkitError):
        return exc
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return FormatError(
            f"{where}: its zarr metadata ({_zarr.GROUP_FILES_TEXT}) is not valid JSON ({exc}); the copy is "
            "damaged: download or write it again"
        )
    if is_refusal(exc):
        if protocol(str(url)) == "s3" and (missing := missing_bucket_error(str(url), opts, action=action)):
            return missing
        if opts.get("anon"):
            fix = ("To sign with the credentials of the environment or ~/.aws, pass storage_options={'anon': False} "
                   "(CLI: --signed); or give storage_options={'key': ..., 'secret': ...}.")
        else:
            fix = ("Use credentials that may read it (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, or "
                   "storage_options={'key': ..., 'secret': ...}), or storage_options={'anon': True} for a public "
                   "bucket (CLI: --anon).")
        return AccessDeniedError(f"{where}: access denied for {describe_credentials(opts)}. {fix}")
    if protocol(where) == "ipfs" and getattr(exc, "status", None) == 504:
        return NotFoundError(
            f"{url}: not found on IPFS: the gateway {opts.get('gateway_addr') or os.environ.get('IPFS_GATEWAY', '')} "
            "found no node that has it in its time. Check the CID, and that a node holding it is running and "
            "connected (ipfs swarm connect)."
        )
    if protocol(str(url)) == "s3" and (_says_no_such_bucket(exc) or isinstance(exc, FileNotFoundError)
                                       or name in ("NotFoundError", "NoSuchKey")):
        missing = missing_bucket_error(str(url), opts, action=action, certain=_says_no_such_bucket(exc))
        if missing is not None:
            return missing
    if isinstance(exc, FileNotFoundError) or name in ("NotFoundError", "NoSuchKey", "NoSuchBucket"):
        return NotFoundError(f"{where}: not found. Check the URL (and endpoint_url for S3).")
    return ServiceUnavailableError(
        f"cannot {action} {where}: {name}: {str(exc).splitlines()[0][:300] if str(exc) else ''}. "
        "Check the address and your connection."
    )


@contextlib.contextmanager
def storage_errors(url: Any, storage_options: Mapping[str, Any] | None = None, *, action: str = "read") -> Any:
    """Within this block, a failure reaching storage becomes its labkit error (:func:`storage_error`).

    Examples
    --------
    >>> with storage_errors("s3://results/x.zarr", action="write"):  # doctest: +SKIP
    ...     write_blocks()
    """
    try:
        yield
    except LabkitError:
        raise
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        raise storage_error(exc, url, storage_options, action=action) from None


def _says_no_such_bucket(exc: BaseException) -> bool:
    """Whether the server answered "NoSuchBucket" (botocore's error code, or the text obstore and icechunk carry)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "NoSuchBucket" or type(exc).__name__ == "NoSuchBucket" or "NoSuchBucket" in str(exc)


def missing_bucket_error(
    url: str, storage_options: Mapping[str, Any], *, action: str = "read", certain: bool = False,
) -> LabkitError | None:
    """A :class:`labkit.errors.NotFoundError` saying that the bucket of ``url`` does not exist, and what to do.

    ``None`` when the bucket exists or the server will not say. ``certain``: the server already answered
    NoSuchBucket (it is not asked again).

    Examples
    --------
    >>> print(missing_bucket_error("s3://no-such/x", {"endpoint_url": "http://127.0.0.1:9000"}, certain=True))
    cannot read s3://no-such/x: the bucket 'no-such' does not exist at http://127.0.0.1:9000 (the server says \
NoSuchBucket). Check the bucket's name in the URL (and the endpoint), or create the bucket first (aws s3 mb \
s3://no-such --endpoint-url http://127.0.0.1:9000, or s3fs's mkdir('no-such')).
    """
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not certain and _bucket_exists(bucket, storage_options) is not False:
        return None
    endpoint = storage_options.get("endpoint_url")
    mb = f"aws s3 mb s3://{bucket}" + (f" --endpoint-url {endpoint}" if endpoint else "")
    return NotFoundError(
        f"cannot {action} {url}: the bucket {bucket!r} does not exist at {endpoint or 'AWS'} (the server says "
        f"NoSuchBucket). Check the bucket's name in the URL (and the endpoint), or create the bucket first ({mb}, "
        f"or s3fs's mkdir({bucket!r}))."
    )


def _bucket_exists(bucket: str, opts: Mapping[str, Any]) -> bool | None:
    """Whether ``bucket`` exists, asked with the credentials at hand; ``None`` when the server will not say.

    Some S3 servers (SeaweedFS) refuse an anonymous request for a bucket that does not exist instead of
    answering 404, so a refusal is checked once more, signed, when there are credentials.
    """
    creds = {k: opts[k] for k in ("key", "secret", "token") if opts.get(k)} or s3_credentials()
    if not creds.get("key"):
        return None
    try:
        import botocore.session
        from botocore.config import Config

        client = botocore.session.get_session().create_client(
            "s3", endpoint_url=opts.get("endpoint_url"), aws_access_key_id=creds["key"],
            aws_secret_access_key=creds.get("secret"), aws_session_token=creds.get("token"),
            region_name=opts.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=5))
        client.head_bucket(Bucket=bucket)
        return True
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError carries the status
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return False if status == 404 else True if status == 403 else None


def format_size(n: float) -> str:
    """A byte count for people: binary units, one decimal.

    Examples
    --------
    >>> format_size(45_298_304), format_size(1843), format_size(512)
    ('43.2 MiB', '1.8 KiB', '512 B')
    """
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def du(url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """Total size in bytes of everything under ``url``.

    Examples
    --------
    >>> du("s3://results/flood.zarr", {"anon": False})  # doctest: +SKIP
    2113536
    """
    fs, path = filesystem(url, storage_options)
    return int(fs.du(path, total=True))


def holds_anything(url: Any, storage_options: Mapping[str, Any] | None) -> bool:
    """Whether anything is stored at ``url`` (a URL, or a zarr store location)."""
    if not isinstance(url, (str, os.PathLike)):
        from labkit import _zarr

        store, path = (url.store, url.path) if hasattr(url, "path") else (url, "")
        try:
            return _zarr.group_exists(store, path)
        except ValueError:  # icechunk: no node there
            return False
    fs, path = filesystem(str(url), storage_options)
    return bool(fs.exists(path))
