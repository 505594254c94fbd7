"""The files of a published package, wherever it is: a folder or a zip, local, on S3 or on IPFS.

Examples
--------
>>> files = PackageFiles("memory://doc-package")
>>> files.fs.pipe_file(files.root + "/a.txt", b"hi")
>>> files.names(), files.read("a.txt")
(['a.txt'], b'hi')
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator
from typing import Any

from labkit.errors import FormatError, NotFoundError
from labkit.storage import filesystem, protocol, storage_error, storage_options_for


class PackageFiles:
    """Names and bytes of the files of the package at ``url`` (a zip is read once, whole)."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self.url = str(url).rstrip("/")
        if protocol(self.url) == "file":
            self.url = os.path.abspath(os.path.expanduser(self.url))
        self.storage_options = storage_options_for(self.url)
        self.fs, self.root = filesystem(self.url, self.storage_options)
        self.root = self.root.rstrip("/")
        self._zip: zipfile.ZipFile | None = None
        if self.url.lower().endswith(".zip"):
            with self._reading(self.url, f"{self.url} does not exist: no package there"):
                data = self.fs.cat_file(self.root)
            try:
                self._zip = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile:
                raise FormatError(f"{self.url} is not a zip file (damaged, or not a package)") from None

    @property
    def cid(self) -> str | None:
        """The CID of a package on IPFS (the first part of its ``ipfs://`` address), else ``None``."""
        return self.root.split("/", 1)[0] if protocol(self.url) == "ipfs" else None

    def names(self) -> list[str]:
        """Every file's name in the package, sorted."""
        if self._zip is not None:
            return sorted(n for n in self._zip.namelist() if not n.endswith("/"))
        with self._reading(self.url, f"{self.url} does not exist: no package there"):
            found = self.fs.find(self.root)
        prefix = self.root + "/"
        return sorted(p[len(prefix) :] for p in found if p.startswith(prefix))

    def exists(self) -> bool:
        """Whether anything is at the package's URL (a folder with files, a zip, a key prefix)."""
        if self._zip is not None:
            return True
        with self._reading(self.url, f"{self.url} does not exist: no package there"):
            return bool(self.fs.exists(self.root))

    def read(self, name: str) -> bytes:
        """The bytes of the file ``name`` (:class:`labkit.errors.NotFoundError` when the package has none)."""
        if self._zip is not None:
            try:
                return self._zip.read(name)
            except KeyError:
                raise NotFoundError(f"{self.url} has no file {name!r}") from None
        with self._reading(f"{self.url}/{name}", f"{self.url} has no file {name!r}"):
            return self.fs.cat_file(f"{self.root}/{name}")

    @contextlib.contextmanager
    def _reading(self, where: str, missing: str) -> Iterator[None]:
        """Within this block, a file not found is a :class:`labkit.errors.NotFoundError` saying ``missing``.

        Any other failure reaching ``where`` becomes its labkit error.
        """
        try:
            yield
        except FileNotFoundError:
            raise NotFoundError(missing) from None
        except Exception as exc:  # noqa: BLE001 - s3fs, aiohttp and ipfsspec raise their own kinds
            raise storage_error(exc, where, self.storage_options) from None

    def __repr__(self) -> str:
        return f"PackageFiles({self.url!r})"


def listed_files(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The files an RO-Crate's metadata lists (``File`` entities inside the crate): name -> entity.

    Examples
    --------
    >>> listed_files({"@graph": [{"@id": "a%20b.png", "@type": "File", "sha256": "00"}]})
    {'a b.png': {'@id': 'a%20b.png', '@type': 'File', 'sha256': '00'}}
    """
    from urllib.parse import unquote

    out = {}
    for entity in metadata.get("@graph", []):
        types = entity.get("@type", [])
        types = [types] if isinstance(types, str) else types
        ident = str(entity.get("@id", ""))
        if "File" in types and "://" not in ident and not ident.startswith("#"):
            out[unquote(ident)] = entity
    return out
