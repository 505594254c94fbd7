"""Result stores addressed by URL: a local path, ``s3://bucket/prefix`` or ``memory://``.

Writes are atomic: bytes go to a temporary name and are moved into place (local
files), or are sent as one object (S3 and memory, where an object appears whole or
not at all). A crash never leaves a partial file under a target's final name, and
nothing already written is touched until its replacement is complete.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labkit.errors import AccessDeniedError, ConfigurationError, FormatError, NotFoundError
from labkit.storage import (
    describe_credentials,
    filesystem,
    missing_bucket_error,
    protocol,
    storage_error,
    storage_options_for,
    write_local_atomic,
)

if TYPE_CHECKING:
    from labkit.results.batch import Batch

PROVENANCE_SUFFIX = ".prov.json"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def checked_name(name: str, store: str = "the store") -> str:
    """``name`` if it stays inside a store: relative, no ``..``, no URL scheme, no backslash.

    Examples
    --------
    >>> checked_name("cells/1.png")
    'cells/1.png'
    >>> checked_name("../x")
    Traceback (most recent call last):
    ...
    labkit.errors.ConfigurationError: the name '../x' leads outside the store ...
    """
    text = str(name)
    parts = text.replace("\\", "/").split("/")
    if (not text or text.startswith(("/", "~")) or "\\" in text or _SCHEME.match(text) or "\0" in text
            or any(part in ("..", ".") for part in parts)):
        raise ConfigurationError(
            f"the name {text!r} leads outside the store {store} (or is empty): names of results are relative "
            "paths inside the store, without '..', '.', a leading '/', '~', a backslash or a URL scheme; "
            "give one such as 'cells/1.png'"
        )
    return text


#: kinds of store that ``ResultStore(...)`` gives by its arguments, by dotted path, imported on first use (the
#: variant subclasses ResultStore, so it cannot be imported here)
VARIANTS = {"versioned": "labkit.results.versioned.VersionedResultStore"}


def _variant(kind: str) -> type:
    import importlib

    module, _, name = VARIANTS[kind].rpartition(".")
    return getattr(importlib.import_module(module), name)


class ResultStore:
    """A folder of results at ``url``; the same code works for every protocol.

    With ``versioned=True``, an icechunk repository where every run is one commit; with
    ``version="v1"`` (a tag, branch or commit id), that repository as of that version, read-only
    (:class:`~labkit.results.versioned.VersionedResultStore`; ``pip install "labkit[versioned]"``).

    Examples
    --------
    >>> store = ResultStore("memory://doc-results")
    >>> store.write_bytes("a/b.txt", b"hello")
    >>> store.read_bytes("a/b.txt")
    b'hello'
    """

    #: whether it is an icechunk repository (:class:`~labkit.results.versioned.VersionedResultStore`)
    versioned: bool = False
    #: zarr formats the store can hold (its folder results are written in one of them)
    zarr_formats: tuple[int, ...] = (2, 3)
    #: the version it is read as of (a tag, branch or commit of a versioned store); ``None``: as it is now
    version: str | None = None

    def __new__(cls, url: str | os.PathLike[str] | None = None, storage_options: Mapping[str, Any] | None = None, *,
                versioned: bool = False, version: str | None = None, branch: str | None = None) -> ResultStore:
        """A plain store, or with ``versioned=True`` or ``version=...`` a :class:`VersionedResultStore`."""
        if cls is ResultStore and (versioned or version is not None or branch is not None):
            return super().__new__(_variant("versioned"))
        return super().__new__(cls)

    def __init__(self, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None, *,
                 versioned: bool = False, version: str | None = None, branch: str | None = None) -> None:
        self.url = str(url).rstrip("/")
        # resolved once (credentials from the environment included), for this store's filesystem and for
        # the zarr stores of its folder results: what was written with them is read back with them
        self.storage_options = storage_options_for(self.url, storage_options, write=True)
        self.fs, self.root = filesystem(self.url, self.storage_options)
        self.root = self.root.rstrip("/")
        self.local = protocol(self.url) == "file"

    @classmethod
    def of(cls, store: ResultStore | str | os.PathLike[str]) -> ResultStore:
        """``store`` itself if it is a ResultStore, else the ResultStore at that URL."""
        return store if isinstance(store, ResultStore) else cls(store)

    def path(self, name: str) -> str:
        """Path of ``name`` inside the store's filesystem (a name leading outside it is refused)."""
        return f"{self.root}/{checked_name(name, self.url)}"

    def url_of(self, name: str) -> str:
        """Full URL (or local path) of ``name`` (a name leading outside the store is refused)."""
        return f"{self.url}/{checked_name(name, self.url)}"

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        path = self.path(name)
        try:
            return bool(self.fs.exists(path))
        except Exception as exc:  # noqa: BLE001 - s3fs, botocore and aiohttp raise their own kinds
            raise storage_error(exc, self.url_of(name), self.storage_options) from None

    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``name``."""
        path = self.path(name)
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFoundError(f"{self.url_of(name)} does not exist") from None
        except Exception as exc:  # noqa: BLE001 - s3fs, botocore and aiohttp raise their own kinds
            raise storage_error(exc, self.url_of(name), self.storage_options) from None

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` atomically."""
        target = self.path(name)
        try:
            if self.local:
                write_local_atomic(target, data)
            else:
                self.fs.pipe_file(target, data)
        except PermissionError:
            if not self.local and (missing := missing_bucket_error(self.url_of(name), self.storage_options,
                                                                   action="write")):
                raise missing from None
            raise AccessDeniedError(
                f"cannot write {self.url_of(name)}: permission denied for "
                f"{describe_credentials(self.storage_options)}. Choose a store you may write to, or check the "
                "credentials in the environment (AWS_ACCESS_KEY_ID, ...)."
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise AccessDeniedError(f"cannot write {self.url_of(name)}: {exc.strerror}") from None
            if self.local:
                raise
            raise storage_error(exc, self.url_of(name), self.storage_options, action="write") from None
        except Exception as exc:  # noqa: BLE001 - botocore's and aiohttp's own kinds
            raise storage_error(exc, self.url_of(name), self.storage_options, action="write") from None

    def zarr_location(self, name: str, mode: str = "r") -> Any:
        """Where a folder result's zarr group is, for zarr and :mod:`labkit.ngff`: its URL here."""
        return self.url_of(name)

    def write_provenance(self, name: str, record: Mapping[str, Any]) -> None:
        """Write the provenance record of ``name`` (``<name>.prov.json``)."""
        self.write_json(name + PROVENANCE_SUFFIX, record)

    def settle(self, message: str) -> str | None:
        """Make the writes of a checkpointed call durable: here each write already is (a versioned store commits)."""
        return None

    def batch(self, message: str, metadata: Mapping[str, Any] | None = None) -> Batch:
        """Many tasks writing results at once, as one batch (:mod:`labkit.results.batch`).

        Here each task writes straight into the store (a versioned store forks its session for each task and
        commits the batch once).

        Examples
        --------
        >>> with ResultStore("memory://doc-batch-plain").batch("squares") as batch:
        ...     batch.fork() is None
        True
        """
        from labkit.results.batch import Batch

        return Batch(self, message, metadata)

    def read_json(self, name: str) -> dict[str, Any] | None:
        """JSON at ``name``, or ``None`` if it does not exist (:class:`FormatError` if it is not JSON)."""
        try:
            data = self.read_bytes(name)
        except FileNotFoundError:
            return None
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{self.url_of(name)} is not valid JSON ({exc}); remove or rewrite it") from None
        if not isinstance(obj, dict):
            raise FormatError(f"{self.url_of(name)} holds a JSON {type(obj).__name__}, not an object")
        return obj

    def write_json(self, name: str, obj: Mapping[str, Any]) -> None:
        """Write JSON atomically."""
        self.write_bytes(name, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())

    def list(self, prefix: str = "") -> list[str]:
        """Names under ``prefix`` (files only, provenance sidecars excluded, temporary files skipped)."""
        return sorted(n for n in self.files(prefix)
                      if not n.endswith(PROVENANCE_SUFFIX) and ".tmp-" not in n.rsplit("/", 1)[-1])

    def files(self, prefix: str = "") -> set[str]:
        """Every file name under ``prefix``, provenance records included, from one listing."""
        base = self.path(prefix).rstrip("/") if prefix else self.root
        try:
            return {p[len(self.root) + 1:] for p in self.fs.find(base)}
        except FileNotFoundError:
            return set()
        except Exception as exc:  # noqa: BLE001 - s3fs, botocore and aiohttp raise their own kinds
            raise storage_error(exc, self.url_of(prefix) if prefix else self.url, self.storage_options) from None

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        """The bytes of each of ``names`` that exists (requested concurrently from object stores)."""
        paths = {self.path(n): n for n in names}
        if not paths:
            return {}
        try:
            found = self.fs.cat(list(paths), on_error="omit")
        except Exception as exc:  # noqa: BLE001
            raise storage_error(exc, self.url, self.storage_options) from None
        return {paths[p]: data for p, data in found.items() if isinstance(data, bytes)}

    def targets(self, prefix: str = "") -> list[str]:
        """Names that have a provenance record (``<name>.prov.json``), finished or not, under ``prefix``.

        Examples
        --------
        >>> store = ResultStore("memory://doc-targets")
        >>> store.write_json("a.png" + PROVENANCE_SUFFIX, {"target": "a.png"})
        >>> store.targets()
        ['a.png']
        """
        return sorted(n[: -len(PROVENANCE_SUFFIX)] for n in self.files(prefix) if n.endswith(PROVENANCE_SUFFIX))

    def __repr__(self) -> str:
        return f"ResultStore({self.url!r})"
