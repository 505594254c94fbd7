"""Where each service lives: one lookup (argument -> environment / dask config -> public default).

Clients find their services through the environment, as standard tools do (``AWS_*`` for S3,
``IPFS_*`` for IPFS, ``LABKIT_*`` for the rest): that is how you point labkit at your own
services, and how a running sandbox hands its addresses and credentials to a notebook.
:func:`labkit.endpoints` (in :mod:`labkit.modes`) is the tutorials' switch between the
sandbox and the public services.

Examples
--------
>>> resolve("omero", env={})
'https://idr.openmicroscopy.org'
>>> resolve("omero", env={"LABKIT_OMERO_URL": "http://127.0.0.1:8000"})
'http://127.0.0.1:8000'
>>> resolve("omero", "http://my-omero", env={"LABKIT_OMERO_URL": "http://127.0.0.1:8000"})
'http://my-omero'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from labkit import catalog
from labkit.errors import ConfigurationError


@dataclass(frozen=True)
class Setting:
    """How one service address is found: environment variable, dask config key, public default."""

    env: str
    dask_key: str | None = None
    default: str | None = None


#: service -> where its address comes from, in order
SETTINGS: dict[str, Setting] = {
    "omero": Setting("LABKIT_OMERO_URL", "labkit.omero", catalog.IDR_HOST),
    "idr_s3": Setting("LABKIT_IDR_S3_ENDPOINT", "labkit.idr-s3", catalog.IDR_S3_ENDPOINT),
    "stac": Setting("LABKIT_STAC_URL", "labkit.stac", catalog.EODC_STAC),
    "gateway": Setting("LABKIT_GATEWAY_ADDRESS", "gateway.address"),
    # the gateway's scheduler proxy when it is not on the API's port (EODC's: catalog.EODC_GATEWAY.proxy_address)
    "gateway_proxy": Setting("LABKIT_GATEWAY_PROXY_ADDRESS", "gateway.proxy-address"),
    # OpenID Connect login to the gateway (Keycloak): token endpoint and client (labkit.oidc.OIDCAuth)
    "oidc_token_url": Setting("LABKIT_OIDC_TOKEN_URL", "labkit.oidc.token-url"),
    "oidc_client_id": Setting("LABKIT_OIDC_CLIENT_ID", "labkit.oidc.client-id"),
    "results_s3": Setting("AWS_ENDPOINT_URL_S3"),
    "ipfs_api": Setting("IPFS_API", None, "http://127.0.0.1:5001"),
    "ipfs_gateway": Setting("IPFS_GATEWAY"),
    "s3_metrics": Setting("LABKIT_S3_METRICS"),
    # a SLURM cluster: the configuration file its commands read (else the system's, /etc/slurm/slurm.conf)
    "slurm": Setting("SLURM_CONF"),
    # who publishes (labkit.publish): set once per person, never typed into a notebook
    "authors": Setting("LABKIT_AUTHORS", "labkit.authors"),
    "license": Setting("LABKIT_LICENSE", "labkit.license"),
}
#: who is credited in sandbox mode when no authors are configured (:data:`labkit.modes.SANDBOX_PUBLISHER`); a
#: package that credits it says so (:class:`labkit.errors.DemoAuthorWarning`, and its summary)
DEMO_AUTHOR = "Demo author of the labkit sandbox"


def resolve(
    service: str, value: str | None = None, *, env: Mapping[str, str] | None = None, public_default: bool = True
) -> str | None:
    """The address of ``service``: ``value`` if given, else the environment, the dask config, the public default.

    Parameters
    ----------
    service : str
        One of :data:`SETTINGS` (``"omero"``, ``"idr_s3"``, ``"stac"``, ``"gateway"``, ``"results_s3"``,
        ``"ipfs_api"``, ``"ipfs_gateway"``, ``"s3_metrics"``, ``"slurm"``), or a publishing setting (``"authors"``,
        ``"license"``).
    value : str, optional
        An address given explicitly (wins).
    env : mapping, optional
        The environment to read (default ``os.environ``).
    public_default : bool
        Fall back to the public service (False in sandbox mode: a service the sandbox does not run is
        ``None``, not silently the internet's).

    Returns
    -------
    str or None
        ``None`` when nothing is configured and there is no public default.
    """
    if service not in SETTINGS:
        raise ConfigurationError(f"unknown service {service!r}; choose from {sorted(SETTINGS)}")
    if value:
        return value
    setting = SETTINGS[service]
    found = (os.environ if env is None else env).get(setting.env)
    if not found and setting.dask_key:
        import dask.config

        found = dask.config.get(setting.dask_key, None)
    return found or (setting.default if public_default else None)


def authors(env: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The people credited on what labkit publishes, from configuration (:func:`labkit.publish` also takes them).

    ``$LABKIT_AUTHORS`` holds ``Name <identifier>`` entries separated by ``;`` (the identifier, an ORCID URL,
    is optional); the dask config key ``labkit.authors`` (e.g. in ``~/.config/dask/labkit.yaml``) holds a list
    of such strings or of mappings with ``name`` and optionally ``orcid``, ``affiliation``, ``email``.

    Examples
    --------
    >>> authors(env={"LABKIT_AUTHORS": "Ada Lovelace <https://orcid.org/0000-0002-1825-0097>; Alan Turing"})
    [{'name': 'Ada Lovelace', 'orcid': 'https://orcid.org/0000-0002-1825-0097'}, {'name': 'Alan Turing'}]
    """
    found: Any = resolve("authors", env=env, public_default=False)
    return parse_authors(found, "LABKIT_AUTHORS (or the dask config labkit.authors)") if found else []


def parse_authors(value: Any, source: str = "authors") -> list[dict[str, str]]:
    """People from ``"Name <ORCID URL>; Other Name"``, or a list of such strings or of mappings with ``name``.

    ``source`` names where ``value`` came from, for the error an entry without a name raises.

    Examples
    --------
    >>> parse_authors(["Grace Hopper", {"name": "Alan Turing", "affiliation": "NPL"}])
    [{'name': 'Grace Hopper'}, {'name': 'Alan Turing', 'affiliation': 'NPL'}]
    """
    entries = [e for e in value.split(";") if e.strip()] if isinstance(value, str) else list(value)
    people = []
    for entry in entries:
        if isinstance(entry, Mapping):
            if not entry.get("name"):
                raise ConfigurationError(f"an author in {source} has no name: {dict(entry)}")
            people.append({k: str(v) for k, v in entry.items() if v})
            continue
        text = str(entry).strip()
        name, _, rest = text.partition("<")
        person = {"name": name.strip()}
        if rest:
            person["orcid"] = rest.rstrip(">").strip()
        if not person["name"]:
            raise ConfigurationError(f"an author in {source} has no name: {text!r}; write 'Name <ORCID URL>'")
        people.append(person)
    return people


@dataclass(frozen=True)
class Endpoints:
    """Where each service lives in one mode (addresses only: credentials stay in the environment).

    Attributes
    ----------
    mode : str
        ``"sandbox"`` or ``"live"``.
    omero : str
        OMERO.web base URL (IDR in live mode).
    idr_s3 : str
        S3 endpoint holding the ``idr`` bucket (read anonymously).
    stac : str
        STAC API URL.
    gateway : str or None
        dask-gateway address (``$LABKIT_GATEWAY_ADDRESS`` or dask config ``gateway.address``).
    gateway_proxy : str or None
        The gateway's scheduler proxy (``$LABKIT_GATEWAY_PROXY_ADDRESS`` or dask config ``gateway.proxy-address``),
        when it is not on the gateway's own port.
    results_s3 : str or None
        S3 endpoint for writing results (``$AWS_ENDPOINT_URL_S3``, else AWS).
    ipfs_api, ipfs_gateway : str or None
        Kubo RPC API and HTTP gateway of an IPFS node.
    s3_metrics : str or None
        The S3 server's Prometheus metrics (the sandbox's SeaweedFS exports them), to count what it sends.
    slurm : str or None
        The SLURM configuration file (``$SLURM_CONF``; ``None``: the system's, where SLURM's commands look).
    """

    mode: str
    omero: str | None
    idr_s3: str | None
    stac: str | None
    gateway: str | None = None
    results_s3: str | None = None
    ipfs_api: str | None = None
    ipfs_gateway: str | None = None
    s3_metrics: str | None = field(default=None, repr=False)
    gateway_proxy: str | None = None
    slurm: str | None = None

    @classmethod
    def from_environment(cls, mode: str, env: Mapping[str, str] | None = None) -> Endpoints:
        """Resolve every service with :func:`resolve` (public defaults in live mode only)."""
        return cls(mode=mode, **{f.name: resolve(f.name, env=env, public_default=mode == "live")
                                 for f in fields(cls) if f.name != "mode"})

    def transfer_meter(self) -> Any:
        """A meter of the bytes the S3 server sends from now on, when it exports metrics; else ``None``."""
        from labkit.transfer_meter import TransferMeter

        return TransferMeter(self.s3_metrics) if self.s3_metrics else None

    def idr_storage_options(self) -> dict[str, Any]:
        """Fsspec options to read the public ``idr`` bucket anonymously."""
        return {"anon": True, "endpoint_url": self.idr_s3}


#: variables an activated sandbox set in this process, with the values they replaced
_exported: dict[str, str | None] = {}


def use_environment(variables: Mapping[str, str]) -> None:
    """Export ``variables`` into this process's environment, remembering what they replace.

    This is how a sandbox (or any set of services) reaches clients that read the standard
    variables (s3fs, boto3, GDAL, ipfsspec, dask-gateway) in this process and the worker
    processes it starts.
    """
    restore_environment()
    for key, value in variables.items():
        _exported[key] = os.environ.get(key)
        os.environ[key] = value


def restore_environment() -> None:
    """Undo :func:`use_environment`."""
    for key, old in _exported.items():
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old
    _exported.clear()
