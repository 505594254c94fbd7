"""GFM-like flood scenes: COGs of flood extent and likelihood for several dates, with their truth and STAC items.

The scenes are in an Equi7Grid-like azimuthal equidistant projection; the ground truth holds the maximum
extent, the mean likelihood and the flooded area per date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from labkit._lazy import attempt_import
from labkit.catalog import GFM

#: An Equi7Grid-like projection (azimuthal equidistant, Equi7 Asia's centre and false origin).
EQUI7_AS_PROJ4 = (
    "+proj=aeqd +lat_0=47 +lon_0=94 +x_0=4340913.84808 +y_0=4812712.92347 +datum=WGS84 +units=m +no_defs"
)
GSD = int(GFM.pixel_size_m)
NODATA = GFM.nodata
BANDS = GFM.bands
COLLECTION = GFM.id


@dataclass(frozen=True)
class FloodTruth:
    """Ground truth of :func:`flood_scenes`.

    Attributes
    ----------
    max_extent : numpy.ndarray
        uint8, 1 where any date is flooded, 0 where observed and never flooded, 255 never observed.
    mean_likelihood : numpy.ndarray
        uint8 mean of the likelihood values other than 0 and 255, 255 where there are none.
    flooded_area_m2 : dict
        Flooded area per date (ISO date -> square metres).
    transform : tuple
        Affine ``(a, b, c, d, e, f)`` of the scene grid in the projection.
    """

    max_extent: np.ndarray
    mean_likelihood: np.ndarray
    flooded_area_m2: dict[str, float]
    transform: tuple[float, ...]

    def on_grid(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The truth at pixel centres ``x``, ``y`` (metres in the scene projection), 255 outside the scene."""
        a, _, c, _, e, f = self.transform
        cols = np.floor((np.asarray(x, float) - c) / a).astype(int)
        rows = np.floor((np.asarray(y, float) - f) / e).astype(int)
        ny, nx = self.max_extent.shape
        inside = (rows[:, None] >= 0) & (rows[:, None] < ny) & (cols[None, :] >= 0) & (cols[None, :] < nx)
        r, k = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
        pick = np.ix_(r, k)
        return (np.where(inside, self.max_extent[pick], NODATA).astype(np.uint8),
                np.where(inside, self.mean_likelihood[pick], NODATA).astype(np.uint8))


def equi7_wkt2() -> str:
    """The WKT2 of the Equi7Grid-like projection the flood scenes use."""
    pyproj = attempt_import("pyproj")
    return pyproj.CRS.from_proj4(EQUI7_AS_PROJ4).to_wkt("WKT2_2019")


def _flood_arrays(size: int, n_dates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flood extent and likelihood stacks ``(date, y, x)`` with nodata, deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    # a river along a sine curve that floods more and more, plus ponds that come and go
    river = np.abs(yy - 0.5 - 0.15 * np.sin(2 * np.pi * xx * 1.5))
    ponds = [(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.03, 0.08)) for _ in range(5)]
    extent = np.empty((n_dates, size, size), np.uint8)
    likelihood = np.empty((n_dates, size, size), np.uint8)
    never_seen = xx > 0.95  # a strip no date observes: tests the nodata handling
    for t in range(n_dates):
        width = 0.02 + 0.06 * (t + 1) / n_dates
        flooded = river < width
        for k, (py, px, pr) in enumerate(ponds):
            if (t + k) % 2 == 0:
                flooded |= (yy - py) ** 2 + (xx - px) ** 2 < pr**2
        like = np.where(flooded, rng.integers(50, 101, (size, size)), rng.integers(0, 50, (size, size)))
        like[~flooded & (rng.random((size, size)) < 0.5)] = 0  # GFM's many zero likelihoods
        cloud_y, cloud_x = rng.uniform(0, 1, 2)
        missing = ((yy - cloud_y) ** 2 + (xx - cloud_x) ** 2 < 0.02) | never_seen
        extent[t] = np.where(missing, NODATA, flooded)
        likelihood[t] = np.where(missing, NODATA, like)
    return extent, likelihood


def flood_truth(extent: np.ndarray, likelihood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum extent and mean likelihood of stacks ``(date, y, x)``, the EODC arithmetic with nodata kept.

    Examples
    --------
    >>> e = np.array([[[0, 255]], [[1, 255]]], np.uint8)
    >>> l = np.array([[[40, 255]], [[90, 255]]], np.uint8)
    >>> [a.tolist() for a in flood_truth(e, l)]
    [[[1, 255]], [[65, 255]]]
    """
    valid_e = extent != NODATA
    max_extent = np.where(valid_e.any(0), (extent == 1).any(0), NODATA).astype(np.uint8)
    valid_l = (likelihood != NODATA) & (likelihood != 0)
    n = valid_l.sum(0)
    total = np.where(valid_l, likelihood, 0).sum(0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), NODATA)
    return max_extent, mean.astype(np.uint8)


def _write_cog(path: Path, data: np.ndarray, wkt: str, transform: tuple[float, ...]) -> None:
    rasterio = attempt_import("rasterio")
    rio_shutil = attempt_import("rasterio.shutil")
    from rasterio.transform import Affine

    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": "uint8",
        "crs": rasterio.crs.CRS.from_wkt(wkt),
        "transform": Affine(*transform),
        "nodata": NODATA,
    }
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(data, 1)
        with mem.open() as src:
            rio_shutil.copy(src, path, driver="COG", blocksize=512, compress="DEFLATE", overviews="NONE")


def flood_scenes(
    folder: str | Path,
    *,
    size: int = 1024,
    n_dates: int = 6,
    seed: int = 0,
    start: str = "2022-09-01",
    centre_lonlat: tuple[float, float] = (68.2, 26.9),
) -> dict[str, Any]:
    """Write GFM-like flood scenes and STAC items describing them, with their ground truth.

    Files land in ``folder``: one ``<item id>/<band>.tif`` per date and band,
    ``items.json`` (a STAC ItemCollection whose asset hrefs are relative, see
    :func:`stac_documents`), and ``truth.npz``. Existing output with the same
    parameters is reused.

    Parameters
    ----------
    folder : path
        Output folder.
    size : int
        Scene width and height in pixels (20 m each); a multiple of 512 keeps whole blocks.
    n_dates : int
        Number of acquisition dates, 5 days apart from ``start``.
    seed : int
        Seed of the random generator.
    start : str
        ISO date of the first acquisition.
    centre_lonlat : tuple of float
        Scene centre (longitude, latitude); the default lies in the EODC tutorial's Pakistan box.

    Returns
    -------
    dict
        ``folder``, ``items`` (list of STAC item dicts), ``truth`` (:class:`FloodTruth`), ``bbox``.

    Examples
    --------
    >>> out = flood_scenes("/tmp/flood-doc", size=512, n_dates=2)
    >>> len(out["items"]), out["truth"].max_extent.shape
    (2, (512, 512))
    """
    pyproj = attempt_import("pyproj")
    folder = Path(folder)
    params = {"size": size, "n_dates": n_dates, "seed": seed, "start": start, "centre": list(centre_lonlat)}
    stamp = folder / "params.json"
    wkt = equi7_wkt2()
    to_proj = pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_wkt(wkt), always_xy=True)
    cx, cy = to_proj.transform(*centre_lonlat)
    x0 = GSD * np.floor((cx - size * GSD / 2) / GSD)
    y0 = GSD * np.ceil((cy + size * GSD / 2) / GSD)
    transform = (float(GSD), 0.0, float(x0), 0.0, -float(GSD), float(y0))

    extent, likelihood = _flood_arrays(size, n_dates, seed)
    max_extent, mean_like = flood_truth(extent, likelihood)
    dates = [datetime.fromisoformat(start).replace(tzinfo=UTC) + timedelta(days=5 * t, hours=1)
             for t in range(n_dates)]
    areas = {d.date().isoformat(): float((extent[t] == 1).sum() * GSD * GSD) for t, d in enumerate(dates)}
    truth = FloodTruth(max_extent, mean_like, areas, transform)

    to_ll = pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(wkt), "EPSG:4326", always_xy=True)
    edge = np.linspace(0, size * GSD, 9)
    ring_xy = (
        [(x0 + e, y0) for e in edge] + [(x0 + size * GSD, y0 - e) for e in edge[1:]]
        + [(x0 + size * GSD - e, y0 - size * GSD) for e in edge[1:]] + [(x0, y0 - size * GSD + e) for e in edge[1:]]
    )
    ring = [list(to_ll.transform(x, y)) for x, y in ring_xy]
    lons, lats = zip(*ring, strict=True)
    bbox = [min(lons), min(lats), max(lons), max(lats)]

    items = []
    for date in dates:
        item_id = f"GFM_{date:%Y%m%dT%H%M%S}_E7AS020M_{seed:03d}"
        assets = {
            band: {
                "href": f"{item_id}/{band}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "raster:bands": [{"nodata": NODATA, "data_type": "uint8"}],
            }
            for band in BANDS
        }
        items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "stac_extensions": [
                    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
                    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                ],
                "id": item_id,
                "collection": COLLECTION,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "bbox": bbox,
                "properties": {
                    "datetime": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "proj:wkt2": wkt,
                    "proj:shape": [size, size],
                    "proj:transform": list(transform),
                    "gsd": GSD,
                },
                "links": [],
                "assets": assets,
            }
        )
    if not (stamp.is_file() and json.loads(stamp.read_text()) == params):
        folder.mkdir(parents=True, exist_ok=True)
        for t, item in enumerate(items):
            (folder / item["id"]).mkdir(exist_ok=True)
            _write_cog(folder / item["id"] / f"{BANDS[0]}.tif", extent[t], wkt, transform)
            _write_cog(folder / item["id"] / f"{BANDS[1]}.tif", likelihood[t], wkt, transform)
        np.savez_compressed(folder / "truth.npz", max_extent=max_extent, mean_likelihood=mean_like)
        stamp.write_text(json.dumps(params))
    return {"folder": folder, "items": items, "truth": truth, "bbox": bbox}


def stac_documents(items: list[dict[str, Any]], asset_root: str, bbox: list[float]) -> dict[str, Any]:
    """The ``GFM`` collection and the items with asset hrefs made absolute under ``asset_root``."""
    out_items = []
    for item in items:
        item = json.loads(json.dumps(item))
        for asset in item["assets"].values():
            asset["href"] = f"{asset_root.rstrip('/')}/{asset['href']}"
        out_items.append(item)
    times = sorted(i["properties"]["datetime"] for i in items)
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "title": "Global Flood Monitoring (labkit sandbox, synthetic)",
        "description": "Synthetic GFM-like ensemble flood extent and likelihood with known ground truth.",
        "license": "CC-BY-4.0",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[times[0], times[-1]]]}},
        "links": [],
    }
    return {"collection": collection, "items": {"type": "FeatureCollection", "features": out_items}}


