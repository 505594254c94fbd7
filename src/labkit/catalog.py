"""Facts about the public data the tutorials use, in one place: where it lives and what it is.

``labkit.connect``, ``labkit.endpoints``, the sandbox and the tutorials read these instead of
re-typing them. Everything here is a published fact of the public service (IDR, EBI's S3, EODC),
which the sandbox reproduces.

Examples
--------
>>> from labkit import catalog
>>> catalog.IDR_IMAGE.id, catalog.IDR_IMAGE.channel_names
(6001240, ['LaminB1', 'Dapi'])
>>> catalog.idr_zarr_url(catalog.IDR_IMAGE.id)
's3://idr/zarr/v0.1/6001240.zarr'
>>> catalog.GFM.pixel_size_m
20.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- the Image Data Resource
IDR_HOST = "https://idr.openmicroscopy.org"  #: OMERO.web of the IDR (anonymous JSON API)
#: EBI's S3 endpoint holding the IDR's OME-Zarr (since 2026: EBI retires its older S3 host; same paths)
IDR_S3_ENDPOINT = "https://livingobjects.ebi.ac.uk"
IDR_BUCKET = "idr"


def idr_zarr_url(image_id: int, study: str | None = None, ngff_version: str = "0.1", name: str | None = None) -> str:
    """Where IDR publishes an image's OME-Zarr: ``zarr/v0.1/{id}.zarr`` or ``zarr/v{version}/{study}/{name}``.

    ``name`` is the folder's name when IDR gave it another than ``{id}.zarr`` (its v0.5 samples:
    ``6001240_labels.zarr``).

    Examples
    --------
    >>> idr_zarr_url(6001240)
    's3://idr/zarr/v0.1/6001240.zarr'
    >>> idr_zarr_url(6001240, "idr0062A", "0.4")
    's3://idr/zarr/v0.4/idr0062A/6001240.zarr'
    >>> idr_zarr_url(6001240, "idr0062A", "0.5", "6001240_labels.zarr")
    's3://idr/zarr/v0.5/idr0062A/6001240_labels.zarr'
    """
    if ngff_version == "0.1" or not study:
        return f"s3://{IDR_BUCKET}/zarr/v0.1/{image_id}.zarr"
    return f"s3://{IDR_BUCKET}/zarr/v{ngff_version}/{study}/{name or f'{image_id}.zarr'}"


@dataclass(frozen=True)
class PublicImage:
    """An image published by the IDR, as its OMERO.web describes it.

    Attributes
    ----------
    id, name, study : int, str, str
    sizes : dict
        ``{"t", "c", "z", "y", "x"}`` sizes.
    pixel_sizes : dict
        Micrometres along ``x``, ``y``, ``z`` (the v0.1 OME-Zarr itself stores none).
    pixel_type : str
    channels : tuple of dict
        ``label``, ``color`` (hex RGB) and ``window`` of each channel, in order.
    default_z, default_t : int
        The planes the IDR viewer opens on.
    description, project : str
    published : dict
        The NGFF versions IDR publishes the image in: ``{version: (folder name, axes)}``; the folder is under
        ``zarr/v{version}/{study}/`` (v0.1: ``zarr/v0.1/``), the axes are the OME-Zarr's, in order.
    """

    id: int
    name: str
    study: str
    sizes: dict[str, int]
    pixel_sizes: dict[str, float]
    pixel_type: str
    channels: tuple[dict[str, Any], ...]
    default_z: int = 0
    default_t: int = 0
    description: str = ""
    project: str = ""
    licence: str = "CC BY 4.0"
    published: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def channel_names(self) -> list[str]:
        """Channel labels in order."""
        return [c["label"] for c in self.channels]

    @property
    def zarr_url(self) -> str:
        """The image's OME-Zarr (NGFF v0.1) on the IDR's S3."""
        return idr_zarr_url(self.id)

    def zarr_url_of(self, ngff_version: str) -> str:
        """The image's OME-Zarr in another NGFF version (IDR's ``zarr/v{version}/{study}/`` layout).

        Examples
        --------
        >>> IDR_IMAGE.zarr_url_of("0.5")
        's3://idr/zarr/v0.5/idr0062A/6001240_labels.zarr'
        """
        name = self.published.get(ngff_version, (None, ""))[0]
        return idr_zarr_url(self.id, self.study, ngff_version, name)

    def axes_of(self, ngff_version: str) -> str:
        """The axes of the image's OME-Zarr in ``ngff_version``, e.g. ``"czyx"`` (v0.4 and v0.5 have no time axis).

        Examples
        --------
        >>> IDR_IMAGE.axes_of("0.1"), IDR_IMAGE.axes_of("0.4")
        ('tczyx', 'czyx')
        """
        return self.published.get(ngff_version, (None, "tczyx"))[1]


#: IDR image 6001240 of study idr0062A (Blin et al., nuclear segmentation): the tutorials' image
IDR_IMAGE = PublicImage(
    id=6001240,
    name="6001240",
    study="idr0062A",
    sizes={"t": 1, "c": 2, "z": 236, "y": 275, "x": 271},
    pixel_sizes={"x": 0.3603981534640209, "y": 0.3603981534640209, "z": 0.5002025531914894},
    pixel_type="uint16",
    channels=(
        {"label": "LaminB1", "color": "0000FF", "window": {"min": 0.0, "max": 65535.0, "start": 0.0, "end": 1500.0}},
        {"label": "Dapi", "color": "FFFF00", "window": {"min": 0.0, "max": 65535.0, "start": 0.0, "end": 1500.0}},
    ),
    default_z=118,
    default_t=0,
    description="idr0062A nuclear segmentation, LaminB1 and Dapi",
    project="idr0062-blin-nuclearsegmentation/experimentA",
    # IDR's catalogue of OME-NGFF samples (https://idr.github.io/ome-ngff-samples/, github IDR/ome-ngff-samples
    # _data/table.csv): v0.1 XYZCT; v0.4 XYZC with labels (0); v0.5 XYZC under the name 6001240_labels.zarr,
    # which holds the expert labels too (labels/0, int8, 61 nuclei)
    published={"0.1": ("6001240.zarr", "tczyx"), "0.4": ("6001240.zarr", "czyx"),
               "0.5": ("6001240_labels.zarr", "czyx")},
)

#: the root CID of ``ipfs add -r --hidden -s size-1000000 --raw-leaves --cid-version 1 -w 6001240.zarr`` (2021)
IDR_IMAGE_CID = "bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u"


# --------------------------------------------------------------------------- EODC's Global Flood Monitoring
EODC_STAC = "https://stac.eodc.eu/api/v1"  #: EODC's STAC API


@dataclass(frozen=True)
class StacCollection:
    """A STAC collection the tutorials load: its id, bands, pixel size and no-data value."""

    id: str
    bands: tuple[str, ...]
    pixel_size_m: float
    nodata: int
    title: str = ""


#: GFM: Copernicus Global Flood Monitoring products on EODC's STAC API (Equi7Grid, 20 m pixels)
GFM = StacCollection(
    id="GFM",
    bands=("ensemble_flood_extent", "ensemble_likelihood"),
    pixel_size_m=20.0,
    nodata=255,
    title="Global Flood Monitoring (GFM) ensemble products",
)

#: the original EODC tutorial's area of interest (Sindh, Pakistan, floods of 2022), lon/lat
PAKISTAN_AOI = (67.398376, 26.197341, 69.027100, 27.591066)


# --------------------------------------------------------------------------- an IDR screen (HCS plate)
@dataclass(frozen=True)
class PublicPlate:
    """An HCS plate published by the IDR as OME-NGFF on EBI's S3.

    Attributes
    ----------
    name, study : str
        The plate's name and its IDR study.
    url : str
        The plate's root on the ``idr`` bucket (``s3://``; over HTTPS it is ``{endpoint}/{bucket}/...``).
    endpoint : str
        The S3 endpoint serving it.
    ngff_version : str
    rows, columns, fields : int
        Plate size and fields of view per well.
    sizes : dict
        ``{"c", "z", "y", "x"}`` sizes of a field.
    channel_names : tuple of str
        Channel labels, in order, as the fields' ``omero`` metadata gives them.
    nuclear_channel : str
        The channel the screen tutorial segments nuclei in.
    """

    name: str
    study: str
    url: str
    endpoint: str
    ngff_version: str
    rows: int
    columns: int
    fields: int
    sizes: dict[str, int]
    channel_names: tuple[str, ...]
    nuclear_channel: str
    licence: str = "CC BY 4.0"

    @property
    def https_url(self) -> str:
        """The plate over HTTPS (path-style)."""
        return f"{self.endpoint}/{self.url.removeprefix('s3://')}"


#: IDR plate 2551 of study idr0001A (Graml et al. 2014, fission yeast deletion mutants): 96 wells x 6 fields,
#: 2 channels x 16 planes of 1040 x 1376 pixels (0.1077 um), in IDR's catalogue of OME-NGFF samples
#: (https://idr.github.io/ome-ngff-samples/). Its channels are named after the filter sets; the tutorial
#: segments nuclei in the blue one, "Cascade blue", taken to be the DNA stain (an assumption, not yet checked
#: against the study's description); tests/live checks the layout and that both channel names are listed.
IDR_PLATE = PublicPlate(
    name="JL_120731_S6A",
    study="idr0001A",
    url=f"s3://{IDR_BUCKET}/zarr/v0.4/idr0001A/2551.zarr",
    endpoint=IDR_S3_ENDPOINT,
    ngff_version="0.4",
    rows=8,
    columns=12,
    fields=6,
    sizes={"c": 2, "z": 16, "y": 1040, "x": 1376},
    channel_names=("GFP", "Cascade blue"),
    nuclear_channel="Cascade blue",
)


# --------------------------------------------------------------------------- EODC's dask-gateway
@dataclass(frozen=True)
class PublicGateway:
    """A public dask-gateway: its API address, its scheduler proxy and the OpenID Connect login it takes.

    Attributes
    ----------
    address : str
        The gateway's HTTP API (``dask_gateway.Gateway(address=...)``).
    proxy_address : str
        The scheduler proxy clients dial for their cluster's scheduler (``proxy_address=...``); when a gateway
        serves it on another port than its API, a client without it cannot reach its cluster.
    token_url : str
        The OpenID Connect token endpoint (Keycloak) of the login.
    client_id : str
        The OpenID Connect client the gateway's users log in with (a public client: no secret).
    image : str
        The worker image the provider's examples ask for.
    sources : tuple of str
        The public files these facts come from.
    """

    address: str
    proxy_address: str
    token_url: str
    client_id: str
    image: str = ""
    sources: tuple[str, ...] = ()


#: EODC's dask-gateway as EODC's own client (eodc-connect 0.2.1, ``eodc_connect/settings.py`` and ``auth.py``)
#: reaches it: API over HTTPS, schedulers through a separate proxy on port 10000, a Keycloak password grant
#: (client ``dedl-dask-gateway``) refreshed with the refresh-token grant when the access token expires.
EODC_GATEWAY = PublicGateway(
    address="https://dask.services.eodc.eu",
    proxy_address="tcp://dask.services.eodc.eu:10000",
    token_url="https://bouncer.eodc.eu/auth/realms/EODC/protocol/openid-connect/token",
    client_id="dedl-dask-gateway",
    image="ghcr.io/eodcgmbh/cluster_image:2025.7.1",
    sources=(
        # DASK_URL, DASK_URL_TCP, KEYCLOAK_TOKEN_URL (the package on PyPI, built from this repository)
        "https://github.com/eodcgmbh/eodc-connect/blob/main/eodc_connect/settings.py",
        # DaskOIDC: grant_type password / refresh_token, client_id dedl-dask-gateway, Bearer header
        "https://github.com/eodcgmbh/eodc-connect/blob/main/eodc_connect/auth.py",
        # EODCDaskGateway(address=DASK_URL, proxy_address=DASK_URL_TCP, auth=DaskOIDC(...))
        "https://github.com/eodcgmbh/eodc-connect/blob/main/eodc_connect/dask.py",
        # the same proxy in a user's notebook: settings.DASK_URL_TCP = "tcp://dask.services.eodc.eu:10000/"
        "https://github.com/interTwin-eu/dask-flood-mapper/blob/main/README.md",
        # the tutorial the flood notebook reproduces (its dashboard link is on https://dask.services.eodc.eu)
        "https://github.com/eodcgmbh/eodc-examples/blob/main/demos/GFM/gfm_maximum_flood_extent_dask.ipynb",
    ),
)

#: gateway address -> its scheduler proxy, for the gateways whose proxy is not on their API's port
KNOWN_PROXIES = {EODC_GATEWAY.address: EODC_GATEWAY.proxy_address}
