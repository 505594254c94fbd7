"""The icechunk repository under a versioned result store: open or create it, its branches, tags and history.

A :class:`ResultRepository` knows where the repository is (a local folder, ``s3://bucket/prefix`` or
``memory://name``), opens it on first use, resolves a version (a tag, a branch or a commit id) and opens sessions:
read-only as of a version, or writable on a branch (:class:`~labkit.results.session.ResultSession` wraps those).
It is what icechunk's ``Repository`` is to its ``Session``.

Examples
--------
>>> repo = ResultRepository("memory://doc-repository", create=True)
>>> repo.ensure_root("main")
>>> sorted(repo.icechunk.list_branches())
['main']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit._lazy import attempt_import
from labkit.errors import ConfigurationError, NotFoundError, VersionExistsError, VersionNotFoundError
from labkit.results.history import Commit, History
from labkit.results.nodes import has_root
from labkit.storage import missing_bucket_error, obstore_config, protocol

#: the branch a versioned store writes to unless told otherwise
DEFAULT_BRANCH = "main"
#: icechunk's in-memory repositories by URL, so that ``memory://name`` names one repository in a process
_MEMORY: dict[str, Any] = {}


def _icechunk() -> Any:
    ic = attempt_import("icechunk")
    if "ICECHUNK_LOG" not in os.environ and not getattr(ic, "_labkit_quiet", False):
        ic.set_logs_filter("error")  # its warnings go to stderr from Rust, past Python's warning filters
        ic._labkit_quiet = True
    return ic


def icechunk_storage(url: str, storage_options: Mapping[str, Any]) -> Any:
    """Icechunk's storage for a local folder, ``s3://bucket/prefix`` or ``memory://name``.

    S3 endpoint and credentials are labkit's (:func:`labkit.storage.storage_options_for`: the environment's).
    """
    ic = _icechunk()
    proto = protocol(url)
    if proto == "file":
        return ic.local_filesystem_storage(str(Path(url.removeprefix("file://")).expanduser().absolute()))
    if proto == "memory":
        return _MEMORY.setdefault(url, ic.in_memory_storage())
    if proto == "s3":
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        config = obstore_config(storage_options)
        if config is None or not prefix:
            raise ConfigurationError(
                f"a versioned store on S3 needs s3://bucket/prefix (not the bucket's root) and options labkit can "
                f"pass to icechunk (endpoint, region, key, secret, token): got {url!r} with {sorted(storage_options)}"
            )
        endpoint = config.get("endpoint")
        return ic.s3_storage(
            bucket=bucket, prefix=prefix, region=config.get("region"), endpoint_url=endpoint,
            allow_http=str(endpoint or "").startswith("http://"), access_key_id=config.get("access_key_id"),
            secret_access_key=config.get("secret_access_key"), session_token=config.get("token"),
            anonymous=True if config.get("skip_signature") else None, force_path_style=endpoint is not None,
        )
    raise ConfigurationError(f"a versioned store lives in a local folder, on s3:// or in memory://, not on {url!r}")


class ResultRepository:
    """The icechunk repository at ``url``: sessions, versions, tags and history.

    Parameters
    ----------
    url : str
        A local folder, ``s3://bucket/prefix`` or ``memory://name``.
    storage_options : mapping, optional
        Resolved storage options (:func:`labkit.storage.storage_options_for`).
    create : bool
        Create the repository if there is none (else a missing one is :class:`~labkit.errors.NotFoundError`).

    Examples
    --------
    >>> repo = ResultRepository("memory://doc-repo-tags", create=True)
    >>> repo.ensure_root("main")
    >>> repo.tags()
    {}
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None, *, create: bool = False) -> None:
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.create = create
        self._icechunk: Any = None

    @property
    def icechunk(self) -> Any:
        """The :class:`icechunk.Repository` (opened on first use)."""
        if self._icechunk is None:
            ic = _icechunk()
            storage = icechunk_storage(self.url, self.storage_options)
            try:
                self._icechunk = (ic.Repository.open_or_create if self.create else ic.Repository.open)(storage)
            except ic.IcechunkError as exc:
                if not self.create and not ic.Repository.exists(storage):
                    raise NotFoundError(f"there is no versioned result store at {self.url}") from None
                if protocol(self.url) == "s3" and "NoSuchBucket" in str(exc):
                    raise missing_bucket_error(self.url, self.storage_options, action="open", certain=True) from None
                raise ConfigurationError(f"cannot open the versioned result store at {self.url}: {exc}") from None
        return self._icechunk

    def ensure_root(self, branch: str) -> None:
        """A new repository gets its root group in a first commit (results are its children)."""
        ic = _icechunk()
        zarr = attempt_import("zarr")
        if has_root(self.icechunk.readonly_session(branch=branch).store):
            return
        session = self.icechunk.writable_session(branch)
        zarr.open_group(session.store, mode="a", zarr_format=3)
        try:
            session.commit("labkit: a versioned result store", metadata={"labkit": "root"})
        except ic.ConflictError:
            pass  # another process made it first

    def resolve(self, version: str) -> dict[str, str]:
        """Icechunk's keyword for a version: ``{"tag": ...}``, ``{"branch": ...}`` or ``{"snapshot_id": ...}``.

        Raises
        ------
        labkit.errors.VersionNotFoundError
            No tag, branch or commit has that name (the message lists the tags and branches).
        """
        ic = _icechunk()
        repo = self.icechunk
        tags, branches = repo.list_tags(), repo.list_branches()
        if version in tags:
            return {"tag": version}
        if version in branches:
            return {"branch": version}
        try:
            repo.lookup_snapshot(version)
            return {"snapshot_id": version}
        except (ic.IcechunkError, ValueError, KeyError):
            raise VersionNotFoundError(
                f"{self.url} has no version {version!r}: its tags are {sorted(tags) or 'none'}, its branches "
                f"{sorted(branches)}; a commit id is one of store.history()'s ids"
            ) from None

    def snapshot_of(self, version: str) -> str:
        """The commit id of a tag, a branch (its last commit) or a commit id."""
        where = self.resolve(version)
        if "tag" in where:
            return self.icechunk.lookup_tag(version)
        if "branch" in where:
            return self.icechunk.lookup_branch(version)
        return version

    def readonly_session(self, version: str) -> Any:
        """An icechunk session reading the repository as of ``version``."""
        return self.icechunk.readonly_session(**self.resolve(version))

    def writable_session(self, branch: str) -> Any:
        """A new icechunk session writing on ``branch``."""
        return self.icechunk.writable_session(branch)

    def tags(self) -> dict[str, str]:
        """Tag -> commit id, by tag."""
        repo = self.icechunk
        return {t: repo.lookup_tag(t) for t in sorted(repo.list_tags())}

    def tag(self, name: str, snapshot: str, *, exist_ok: bool = False) -> str:
        """Tag the commit ``snapshot`` as ``name``; return the tag's commit (tags never move)."""
        ic = _icechunk()
        repo = self.icechunk
        if name in repo.list_tags():
            if exist_ok:
                return repo.lookup_tag(name)
            raise VersionExistsError(f"{self.url} has a tag {name!r} already (at commit {repo.lookup_tag(name)}); "
                                     "tags never move: choose another name")
        try:
            repo.create_tag(name, snapshot)
        except ic.IcechunkError as exc:
            if "exist" in str(exc).lower():
                raise VersionExistsError(f"{self.url}: the tag {name!r} exists or existed (a deleted tag's name is "
                                         "not used again): choose another name") from None
            raise
        return snapshot

    def history(self, **where: str) -> History:
        """The commits before ``where`` (icechunk's ``branch=``, ``tag=`` or ``snapshot_id=``), newest first.

        The repository's own first commit (its root group) is left out.
        """
        tags: dict[str, list[str]] = {}
        for tag, commit in self.tags().items():
            tags.setdefault(commit, []).append(tag)
        commits = (Commit.of(info, tuple(tags.get(info.id, ()))) for info in self.icechunk.ancestry(**where))
        return History(c for c in commits if c is not None)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_icechunk": None}  # a copy opens the repository again where it is used
