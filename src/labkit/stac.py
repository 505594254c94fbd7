"""Search a STAC API and load the items' bands lazily with odc-stac (the ``geo`` extra).

Examples
--------
>>> from labkit.stac import load_stac
>>> ds = load_stac("https://stac.eodc.eu/api/v1", "GFM", bbox=(67.4, 26.2, 69.0, 27.6),
...                datetime=("2022-09-01", "2022-10-01"), bands=["ensemble_likelihood"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import ConfigurationError, FormatError, NotFoundError, ServiceUnavailableError

__all__ = ["load_stac"]


def _items_crs_and_resolution(items: Any) -> tuple[Any, float]:
    """CRS and resolution the items declare: ``proj:wkt2``, ``proj:code`` or ``proj:epsg``, and ``gsd``."""
    pyproj = attempt_import("pyproj")
    props = items[0].properties
    if "proj:wkt2" in props:
        crs = pyproj.CRS.from_wkt(props["proj:wkt2"])
    elif "proj:code" in props:
        crs = pyproj.CRS.from_user_input(props["proj:code"])
    elif "proj:epsg" in props:
        crs = pyproj.CRS.from_epsg(int(props["proj:epsg"]))
    else:
        raise FormatError(
            f"item {items[0].id} declares no projection (proj:wkt2, proj:code or proj:epsg): pass crs=... to load_stac"
        )
    if "gsd" not in props:
        raise FormatError(f"item {items[0].id} declares no gsd: pass resolution=... to load_stac")
    return crs, float(props["gsd"])


def load_stac(
    api: str,
    collection: str,
    *,
    intersects: Any = None,
    bbox: tuple[float, float, float, float] | None = None,
    datetime: Any = None,
    bands: Any,
    chunks: Mapping[str, int] | None = None,
    crs: Any = None,
    resolution: float | None = None,
    max_items: int | None = 1000,
    dtype: str | None = None,
    show: bool = True,
) -> Any:
    """Search a STAC API and load the items' bands lazily with odc-stac.

    Parameters
    ----------
    api : str
        STAC API URL.
    collection : str
        Collection id, e.g. ``"GFM"``.
    intersects : shapely geometry or GeoJSON dict, optional
        Area of interest (lon/lat); the load is clipped to its bounds.
    bbox : tuple, optional
        ``(west, south, east, north)`` in lon/lat, instead of ``intersects``.
    datetime : str or tuple, optional
        Time range, as pystac-client takes it.
    bands : str or list of str
        Asset names to load.
    chunks : mapping, optional
        Dask chunks, e.g. ``{"x": 1000, "y": 1000, "time": -1}``.
    crs, resolution : optional
        Output grid. Default: the first item's ``proj:wkt2`` (or ``proj:code``/``proj:epsg``) and ``gsd``,
        as the EODC tutorial does.
    max_items : int
        At most this many items.
    dtype : str, optional
        Output dtype (e.g. ``"uint8"``).
    show : bool
        Print how many items were found.

    Returns
    -------
    xarray.Dataset
        Lazy (dask) when ``chunks`` is given; ``attrs["stac_items"]`` holds the item count.

    Raises
    ------
    labkit.errors.NotFoundError
        The search found no item: the message repeats the query.
    labkit.errors.ServiceUnavailableError
        The API does not answer.

    Examples
    --------
    >>> ds = load_stac("https://stac.eodc.eu/api/v1", "GFM", bbox=(67.4, 26.2, 69.0, 27.6),
    ...                datetime=("2022-09-01", "2022-10-01"), bands=["ensemble_likelihood"],
    ...                chunks={"x": 1000, "y": 1000, "time": -1})  # doctest: +SKIP
    """
    pystac_client = attempt_import("pystac_client")
    odc_stac = attempt_import("odc.stac")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise ConfigurationError(f"max_items must be a positive number of items or None (no limit), not {max_items!r}")
    if bbox is not None:
        try:
            west, south, east, north = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise ConfigurationError(f"bbox must be (west, south, east, north) in degrees, not {bbox!r}") from None
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ConfigurationError(
                f"bbox {tuple(bbox)} is not (west, south, east, north) in lon/lat degrees with west < east and "
                "south < north (is it inverted, or in another order?)"
            )
    if intersects is not None and bbox is None:
        shape = intersects if hasattr(intersects, "bounds") else attempt_import("shapely.geometry").shape(intersects)
        bbox = tuple(shape.bounds)
    try:
        catalog = pystac_client.Client.open(api)
        try:  # builds the query, asks nothing yet: what fails here is the input
            search = catalog.search(collections=[collection], intersects=intersects,
                                    bbox=None if intersects is not None else bbox, datetime=datetime,
                                    max_items=max_items)
        except Exception as exc:  # noqa: BLE001 - pystac-client raises bare Exception and ValueError alike
            raise ConfigurationError(
                f"datetime={datetime!r} is not a time or a range, or intersects is not a geometry: give e.g. "
                f"datetime='2022-09-01/2022-10-01' or ('2022-09-01', '2022-10-01') ({exc})"
            ) from None
        items = search.item_collection()
    except pystac_client.exceptions.APIError as exc:
        raise ServiceUnavailableError(f"the STAC API at {api} refused the search: {exc}") from exc
    except OSError as exc:
        raise ServiceUnavailableError(f"cannot reach the STAC API at {api}: {exc}") from exc
    if len(items) == 0:
        raise NotFoundError(
            f"the STAC search found no item in collection {collection!r} for bbox={bbox}, datetime={datetime} "
            f"at {api}. Widen the area or the time range, or check the collection id."
        )
    if show:
        print(f"found {plural(len(items), 'item')} in {collection} at {api}")
    if crs is None or resolution is None:
        item_crs, item_res = _items_crs_and_resolution(items)
        crs = item_crs if crs is None else crs
        resolution = item_res if resolution is None else resolution
    ds = odc_stac.load(items, bands=bands, bbox=bbox, crs=crs, resolution=resolution, chunks=chunks, dtype=dtype)
    ds.attrs["stac_items"] = len(items)
    return ds
