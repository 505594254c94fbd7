"""Sessions with remote services: OMERO.web (IDR) and dask-gateway."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from labkit import catalog
from labkit._lazy import attempt_import
from labkit.config import SETTINGS, resolve
from labkit.errors import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    LabkitError,
    NotFoundError,
    ServiceUnavailableError,
)

TOKEN_ENV = "LABKIT_GATEWAY_TOKEN"
ADDRESS_ENV = SETTINGS["gateway"].env
USER_ENV, PASSWORD_ENV = "LABKIT_GATEWAY_USER", "LABKIT_GATEWAY_PASSWORD"
PROXY_ENV = SETTINGS["gateway_proxy"].env
OIDC_TOKEN_URL_ENV = SETTINGS["oidc_token_url"].env


def _bearer_auth(token: str) -> Any:
    auth_mod = attempt_import("dask_gateway.auth")

    class BearerAuth(auth_mod.GatewayAuth):
        """Send ``Authorization: Bearer <token>`` (Keycloak/OIDC tokens, as EODC uses)."""

        def __init__(self, token: str) -> None:
            self._token = token

        def pre_request(self, resp: Any) -> tuple[dict[str, str], None]:
            return {"Authorization": f"Bearer {self._token}"}, None

        def __repr__(self) -> str:
            return "BearerAuth(token=***)"

    return BearerAuth(token)


def _default_auth(address: str | None = None) -> Any:
    dask_gateway = attempt_import("dask_gateway")
    if token := os.environ.get(TOKEN_ENV):
        return _bearer_auth(token)
    known = catalog.EODC_GATEWAY if address == catalog.EODC_GATEWAY.address else None
    if os.environ.get(OIDC_TOKEN_URL_ENV) or known:  # an OpenID Connect login (EODC's Keycloak, the sandbox's)
        from labkit import oidc

        login = oidc.configured(token_url=known.token_url if known else None,
                                client_id=known.client_id if known else None)
        if login is not None:
            return login
    if os.environ.get(PASSWORD_ENV):
        return dask_gateway.BasicAuth(os.environ.get(USER_ENV) or os.environ.get("USER", "labkit"),
                                      os.environ[PASSWORD_ENV])
    return None  # dask config `gateway.auth`, as dask_gateway.Gateway does it


def _proxy_address(address: str, configured_address: str | None) -> str | None:
    """The scheduler proxy of ``address``: configured for it, or known (EODC's), else dask-gateway's default."""
    if address == configured_address and (proxy := resolve("gateway_proxy")):
        return proxy
    return catalog.KNOWN_PROXIES.get(address.rstrip("/"))


def _check_proxy(proxy: str | None) -> None:
    """Fail now, clearly, when nothing listens at the scheduler proxy (no cluster would be reachable)."""
    import socket
    from urllib.parse import urlparse

    if not proxy:
        return
    parsed = urlparse(proxy if "://" in proxy else f"tcp://{proxy}")
    try:
        socket.create_connection((parsed.hostname, parsed.port or 443), timeout=10).close()
    except OSError as exc:
        raise ServiceUnavailableError(
            f"nothing answers at the gateway's scheduler proxy {proxy} ({exc.strerror or exc.__class__.__name__}): "
            f"clusters would start but stay unreachable. Check ${PROXY_ENV} (or the dask config key "
            f"gateway.proxy-address); EODC's is {catalog.EODC_GATEWAY.proxy_address}"
        ) from None


@functools.cache
def _gateway_class() -> type:
    """``dask_gateway.Gateway`` with a ``close()`` that may run twice, for its clusters' Gateways too.

    dask-gateway's ``__del__`` closes the gateway again; with current distributed a second close
    fails (its event loop is stopped) and prints "Exception ignored ..." into whichever notebook
    cell runs when the object is collected. A ``GatewayCluster`` makes a Gateway of its own.
    """
    base = attempt_import("dask_gateway").Gateway

    class Gateway(base):
        _closed = False

        async def _request(self, method: str, url: str, json: Any = None) -> Any:
            # a 401 although a token was sent (expired early, revoked): the auth refreshes it, one retry
            try:
                return await super()._request(method, url, json=json)
            except attempt_import("aiohttp").ClientResponseError as exc:
                if exc.status != 401 or not getattr(self.auth, "_stale", False):
                    raise
            return await super()._request(method, url, json=json)

        def close(self) -> None:
            if not self._closed:
                self._closed = True
                super().close()

        def new_cluster(self, *args: Any, **kwargs: Any) -> Any:
            cluster = super().new_cluster(*args, **kwargs)
            cluster.gateway.__class__ = type(self)  # same class, plus the close-once
            return cluster

    return Gateway


def gateway(address: str | None = None, auth: Any = None, *, proxy_address: str | None = None,
            check: bool = True) -> Any:
    """A ``dask_gateway.Gateway``, with address, scheduler proxy and credentials from outside the notebook.

    Parameters
    ----------
    address : str, optional
        Gateway address. Default: ``$LABKIT_GATEWAY_ADDRESS``, then dask config ``gateway.address``
        (``labkit.endpoints("sandbox")`` sets the first to the sandbox's gateway).
    auth : dask_gateway.auth.GatewayAuth, optional
        Any authenticator (``BasicAuth``, :class:`labkit.oidc.OIDCAuth`, ...). Default: a bearer token from
        ``$LABKIT_GATEWAY_TOKEN``; else an OpenID Connect login (:mod:`labkit.oidc`) when
        ``$LABKIT_OIDC_TOKEN_URL`` is set or the address is EODC's; else
        ``$LABKIT_GATEWAY_USER``/``$LABKIT_GATEWAY_PASSWORD``; else dask config ``gateway.auth``.
    proxy_address : str, optional
        The gateway's scheduler proxy, when it is not on the API's port (EODC's is
        ``tcp://dask.services.eodc.eu:10000``). Default: ``$LABKIT_GATEWAY_PROXY_ADDRESS`` or dask config
        ``gateway.proxy-address`` for the configured gateway, the known proxy of a known gateway
        (``labkit.catalog.KNOWN_PROXIES``), else dask-gateway's own default (the API's host and port).
    check : bool
        Contact the server once now, so a wrong password, address or proxy fails here, clearly.

    Returns
    -------
    dask_gateway.Gateway

    Raises
    ------
    labkit.errors.ConfigurationError
        No address anywhere.
    labkit.errors.AuthenticationError
        The server or the OpenID Connect provider refused the credentials.
    labkit.errors.ServiceUnavailableError
        Nothing answers at the address, or at the scheduler proxy.

    Examples
    --------
    >>> gw = gateway()  # doctest: +SKIP
    >>> gw.cluster_options()  # doctest: +SKIP
    >>> gw = gateway(catalog.EODC_GATEWAY.address)  # doctest: +SKIP
    """
    configured_address = resolve("gateway")
    address = address or configured_address
    if address is None:
        raise ConfigurationError(
            f"no dask-gateway address: pass address=..., set ${ADDRESS_ENV} or the dask config key "
            f"gateway.address (EODC's is {catalog.EODC_GATEWAY.address}), or use the sandbox's "
            "(labkit.endpoints('sandbox')); for a cluster on this machine ask for backend='local'."
        )
    address = address.rstrip("/")
    proxy_address = proxy_address or _proxy_address(address, configured_address)
    if auth is None:
        auth = _default_auth(address)
    gw = _gateway_class()(address, proxy_address=proxy_address, auth=auth)
    if check:
        aiohttp = attempt_import("aiohttp")
        try:
            gw.list_clusters()
            _check_proxy(proxy_address)
        except LabkitError:
            gw.close()
            raise
        except aiohttp.ClientResponseError as exc:
            gw.close()
            if exc.status in (401, 403):
                raise AuthenticationError(
                    f"the dask-gateway at {address} refused the credentials ({exc.status}). Check the user name "
                    f"and password (${USER_ENV}/${PASSWORD_ENV}), the token (${TOKEN_ENV}) or the OpenID "
                    "Connect login (labkit.oidc)."
                ) from None
            raise ServiceUnavailableError(
                f"the dask-gateway at {address} answered {exc.status}: {exc.message}"
            ) from None
        except ValueError as exc:  # an answer that is not the gateway's JSON: another server
            gw.close()
            said = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
            raise ServiceUnavailableError(
                f"{address} answered, but not as a dask-gateway does ({said}). Check the "
                "address (the gateway's, e.g. http://host:8000, not its dashboard or another service)."
            ) from None
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
            gw.close()
            raise ServiceUnavailableError(
                f"no dask-gateway answers at {address} ({exc.__class__.__name__}). Check the address, or use "
                "a local cluster (ClusterPanel(backend='local'))."
            ) from None
    return gw


# --------------------------------------------------------------------------- OMERO.web JSON API


@dataclass(frozen=True)
class ChannelMeta:
    """One channel of an OMERO image: label, colour (hex RGB), display window, active flag."""

    label: str
    color: str
    window: tuple[float, float]
    active: bool = True


@dataclass(frozen=True)
class ImageMeta:
    """What OMERO knows about an image, and where its OME-Zarr lives.

    Attributes
    ----------
    id, name : int, str
    sizes : dict
        ``{"t", "c", "z", "y", "x"}`` sizes.
    pixel_sizes : dict
        Pixel size in micrometres along ``x``, ``y``, ``z`` (``None`` when unknown).
    pixel_type : str
        e.g. ``"uint16"``.
    channels : tuple of ChannelMeta
    default_z, default_t : int
    zarr_url : str
        ``s3://idr/zarr/v0.1/{id}.zarr`` by IDR's layout (or as overridden).
    zarr_endpoint : str
        The S3 endpoint serving ``zarr_url``.
    """

    id: int
    name: str
    sizes: dict[str, int]
    pixel_sizes: dict[str, float | None]
    pixel_type: str
    channels: tuple[ChannelMeta, ...]
    default_z: int
    default_t: int
    zarr_url: str
    zarr_endpoint: str

    @property
    def channel_names(self) -> list[str]:
        """Channel labels in order."""
        return [c.label for c in self.channels]


idr_zarr_url = catalog.idr_zarr_url  # kept here too: where OMERO's images live on S3

#: one of each OMERO length unit is 10**n micrometres (the ``Unit`` names of OMERO's ``UnitsLength``
#: enumeration, which omero-marshal writes into the JSON API: ``{"Unit": "NANOMETER", "Symbol": "nm", ...}``)
_MICROMETRE_EXPONENT = {
    "ATTOMETER": -12, "FEMTOMETER": -9, "PICOMETER": -6, "ANGSTROM": -4, "NANOMETER": -3, "MICROMETER": 0,
    "MILLIMETER": 3, "CENTIMETER": 4, "DECIMETER": 5, "METER": 6,
}
#: the same by the ``Symbol`` OMERO gives (a reply that carries only a symbol, as some clients' fixtures do)
_SYMBOLS = {"Å": "ANGSTROM", "pm": "PICOMETER", "nm": "NANOMETER", "µm": "MICROMETER", "μm": "MICROMETER",
            "um": "MICROMETER", "mm": "MILLIMETER", "cm": "CENTIMETER", "dm": "DECIMETER", "m": "METER",
            "fm": "FEMTOMETER", "am": "ATTOMETER"}


def length_in_micrometres(value: Any, what: str = "a length") -> float | None:
    """An OMERO JSON length (``{"Unit": "NANOMETER", "Symbol": "nm", "Value": 360.4}``) in micrometres.

    The unit is read from ``Unit`` (OMERO's enumeration name), else from ``Symbol``; a bare number, or a
    length without a unit, is taken as micrometres (OMERO's default). ``None`` when there is no value.

    Raises
    ------
    labkit.errors.FormatError
        A unit that is not a length labkit can convert (pixels, reference frame ...), named with the fix.

    Examples
    --------
    >>> length_in_micrometres({"Unit": "NANOMETER", "Symbol": "nm", "Value": 360.4})
    0.3604
    >>> length_in_micrometres({"Unit": "MICROMETER", "Symbol": "µm", "Value": 0.5}), length_in_micrometres(None)
    (0.5, None)
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        return float(value)
    if value.get("Value") is None:
        return None
    unit = str(value.get("Unit") or _SYMBOLS.get(str(value.get("Symbol") or "µm"), value.get("Symbol"))).upper()
    exponent = _MICROMETRE_EXPONENT.get(unit)
    if exponent is None:
        raise FormatError(
            f"{what} is stated in {value.get('Unit') or value.get('Symbol')!r}, which labkit cannot convert to "
            f"micrometres (it knows {', '.join(_MICROMETRE_EXPONENT)}). Set the image's physical pixel "
            "sizes in OMERO, or pass pixel sizes to the analysis yourself."
        )
    v = float(value["Value"])
    return v / 10 ** -exponent if exponent < 0 else v * 10**exponent  # dividing keeps 360.4 nm at 0.3604


class OmeroSession:
    """A session with an OMERO.web JSON API (anonymous, as IDR allows). Use :func:`omero` to open one."""

    def __init__(self, host: str, *, zarr_endpoint: str | None = None, timeout: float = 30) -> None:
        import requests

        self.host = host.rstrip("/")
        self.timeout = timeout
        self.zarr_endpoint = zarr_endpoint or catalog.IDR_S3_ENDPOINT
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "labkit"
        self.api_version = self._discover()

    def _get(self, path: str) -> Any:
        import requests

        url = f"{self.host}{path}"
        try:
            return self._http.get(url, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ServiceUnavailableError(
                f"cannot reach the OMERO server at {self.host} ({exc.__class__.__name__}). Check the host name "
                "and your connection; without internet use mode='sandbox'."
            ) from None
        except requests.Timeout:
            raise ServiceUnavailableError(
                f"the OMERO server at {self.host} did not answer in {self.timeout} s"
            ) from None

    def _discover(self) -> str:
        r = self._get("/api/")
        try:
            versions = r.json()["data"]
            return str(versions[-1]["version"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise FormatError(
                f"{self.host} does not serve the OMERO.web JSON API (GET /api/ answered {r.status_code} "
                f"{r.headers.get('Content-Type', '')}). Check the host: it should be the OMERO.web address, "
                f"e.g. {catalog.IDR_HOST}"
            ) from None

    def image(self, image_id: int, *, zarr_url: str | None = None) -> ImageMeta:
        """The metadata of image ``image_id``.

        Parameters
        ----------
        image_id : int
        zarr_url : str, optional
            Override where the image's OME-Zarr lives (default: IDR's layout).

        Raises
        ------
        labkit.errors.NotFoundError
            No such image, or not readable anonymously.
        labkit.errors.ConfigurationError
            ``image_id`` is not a whole number.
        """
        raw = image_id
        try:
            image_id = int(str(raw).strip()) if not isinstance(raw, (bool, float)) else -1
        except ValueError:
            image_id = -1
        if image_id < 0:
            raise ConfigurationError(f"an OMERO image id is a whole number such as 6001240, not {raw!r}")
        r = self._get(f"/api/v{self.api_version}/m/images/{int(image_id)}/")
        if r.status_code in (403, 404):
            raise NotFoundError(
                f"image {image_id} was not found on {self.host} (HTTP {r.status_code}). Check the id, and "
                "that the image is public (try it in the web client)."
            )
        r.raise_for_status()
        data = r.json()["data"]
        px = data["Pixels"]
        rd = self._get(f"/webgateway/imgData/{int(image_id)}/")
        img = rd.json() if rd.ok else {}

        def size(key: str) -> float | None:
            return length_in_micrometres(px.get(key), f"{key} of image {image_id}")

        channels = []
        for i, c in enumerate(img.get("channels") or px.get("Channels", [])):
            if "label" in c:  # imgData
                w = c.get("window", {})
                channels.append(ChannelMeta(c["label"], c.get("color", "FFFFFF").upper(),
                                            (float(w.get("start", 0)), float(w.get("end", 0))), c.get("active", True)))
            else:  # API: signed RGBA colour
                rgba = int(c.get("Color", -1)) & 0xFFFFFFFF
                channels.append(ChannelMeta(c.get("Name") or f"channel {i}", f"{rgba >> 8:06X}", (0.0, 0.0)))
        rdefs = img.get("rdefs", {})
        sizes = {"t": px["SizeT"], "c": px["SizeC"], "z": px["SizeZ"], "y": px["SizeY"], "x": px["SizeX"]}
        return ImageMeta(
            id=int(image_id),
            name=data.get("Name", str(image_id)),
            sizes={k: int(v) for k, v in sizes.items()},
            pixel_sizes={"x": size("PhysicalSizeX"), "y": size("PhysicalSizeY"), "z": size("PhysicalSizeZ")},
            pixel_type=px.get("Type", {}).get("value", img.get("meta", {}).get("pixelsType", "")),
            channels=tuple(channels),
            default_z=int(rdefs.get("defaultZ", sizes["z"] // 2)),
            default_t=int(rdefs.get("defaultT", 0)),
            zarr_url=zarr_url or idr_zarr_url(int(image_id)),
            zarr_endpoint=self.zarr_endpoint,
        )

    def close(self) -> None:
        """Close the session."""
        self._http.close()

    def __enter__(self) -> OmeroSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OmeroSession {self.host} (anonymous, API v{self.api_version})>"


def omero(host: str | None = None, *, zarr_endpoint: str | None = None) -> OmeroSession:
    """Open an anonymous OMERO.web JSON API session; use it as a context manager to close it.

    Parameters
    ----------
    host : str, optional
        OMERO.web address. Default: ``$LABKIT_OMERO_URL``, else the IDR (``labkit.endpoints(mode).omero``
        gives the sandbox's or the IDR's).
    zarr_endpoint : str, optional
        S3 endpoint holding the images' OME-Zarr. Default: ``$LABKIT_IDR_S3_ENDPOINT``, else EBI's.

    Examples
    --------
    >>> with omero("https://idr.openmicroscopy.org") as conn:  # doctest: +SKIP
    ...     meta = conn.image(6001240)
    >>> meta.channel_names  # doctest: +SKIP
    ['LaminB1', 'Dapi']
    """
    return OmeroSession(str(resolve("omero", host)), zarr_endpoint=resolve("idr_s3", zarr_endpoint))
