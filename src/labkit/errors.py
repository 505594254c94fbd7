"""The one exception hierarchy of labkit.

Every error labkit raises on purpose derives from :class:`LabkitError`, and says
what went wrong *and* what to do about it. Where a builtin exception type fits
(a missing file, a refused permission) the labkit class also derives from it, so
``except FileNotFoundError`` keeps working.

Examples
--------
>>> from labkit.errors import LabkitError, MissingDependencyError
>>> issubclass(MissingDependencyError, ImportError)
True
"""

from __future__ import annotations


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class MissingDependencyError(LabkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ConfigurationError(LabkitError, ValueError):
    """A parameter, setting or environment variable is missing or invalid."""


class ServerError(LabkitError, RuntimeError):
    """A local server process (an IPFS node, a sandbox service) failed to start or to answer."""


class SandboxError(ServerError):
    """The local sandbox could not be started, found or stopped."""


class ServiceUnavailableError(LabkitError, ConnectionError):
    """A remote service (or its sandbox replica) cannot be reached."""


class NotFoundError(LabkitError, FileNotFoundError):
    """A remote object (image, key, item, path) does not exist."""


class AlreadyExistsError(LabkitError, FileExistsError):
    """Something of that name already exists where labkit would write (pass ``overwrite=True`` or another name)."""


class VersionExistsError(AlreadyExistsError):
    """A version name (a tag of a versioned result store) is taken: tags never move; choose another name."""


class AuthenticationError(LabkitError, PermissionError):
    """Credentials were refused."""


class CredentialsNotFoundError(AuthenticationError):
    """Signed requests were asked for but no credentials were found (the message lists where labkit looked)."""


class AccessDeniedError(LabkitError, PermissionError):
    """The credentials are valid but lack the permission for this operation."""


class ReadOnlyVersionError(AccessDeniedError):
    """A versioned result store opened as of a past version (a tag, a commit) is read-only."""


class VersionNotFoundError(NotFoundError):
    """No tag, branch or commit of that name in a versioned result store (the message lists what there is)."""


class VersionConflictError(LabkitError, RuntimeError):
    """Another writer committed to the branch first: the writes are kept, to be rebased and committed, or retried."""


class FormatError(LabkitError, ValueError):
    """Data is not in the format expected (not an OME-Zarr, malformed metadata, ...)."""


class IntegrityError(FormatError):
    """Stored data does not match what was recorded of it (a digest, a size): changed or corrupted."""


class PackageIntegrityError(IntegrityError):
    """A published package's files differ from its recorded checksums: ``problems`` maps each file to what differs."""

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = dict(problems or {})


class StaleResultError(LabkitError, ValueError):
    """A result is stale or unfinished (half-written): it cannot be published; ``results`` maps each to why."""

    def __init__(self, message: str, results: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.results = dict(results or {})


class IncompleteDownloadError(LabkitError, FileNotFoundError):
    """A local copy was not finished (its download was interrupted); the message says how to finish it."""


class StaleResultWarning(UserWarning):
    """A stored result or its provenance record is damaged or does not match: it is computed again."""


class DemoAuthorWarning(UserWarning):
    """A package credits the sandbox's demo author because no authors are configured (set ``LABKIT_AUTHORS``)."""


class BlockSizeWarning(UserWarning):
    """Blocks (``chunks=``) of another size than asked are used; the message says which, why and what to ask."""


class ClusterVersionWarning(UserWarning):
    """The notebook, the Dask scheduler and its workers run other package versions; the message says what to install."""


class LabkitDeprecationWarning(DeprecationWarning):
    """A labkit name was renamed or moved; the message names its replacement (tests turn it into an error)."""


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is now ``new``, pointing at the caller's caller (the user's line)."""
    import warnings

    warnings.warn(f"{old} is deprecated: use {new}", LabkitDeprecationWarning, stacklevel=3)


__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AuthenticationError",
    "BlockSizeWarning",
    "ClusterVersionWarning",
    "ConfigurationError",
    "CredentialsNotFoundError",
    "DemoAuthorWarning",
    "FormatError",
    "IncompleteDownloadError",
    "IntegrityError",
    "LabkitDeprecationWarning",
    "LabkitError",
    "MissingDependencyError",
    "NotFoundError",
    "PackageIntegrityError",
    "ReadOnlyVersionError",
    "SandboxError",
    "ServerError",
    "ServiceUnavailableError",
    "StaleResultError",
    "StaleResultWarning",
    "VersionConflictError",
    "VersionExistsError",
    "VersionNotFoundError",
]
