"""OME-NGFF multiscale image metadata, v0.1 to v0.5, read into one model and written as v0.4 or v0.5.

* v0.1 and v0.2 have no axes: they are TCZYX, without physical scales.
* v0.3 names its axes; v0.4 gives them types and units and every level a scale
  (and translation); v0.5 is v0.4 on zarr v3 under the attribute ``ome``, with
  sharded arrays allowed.

The units of an image's axes, once it is opened as an ``xarray.DataArray``, are read by one function,
:func:`voxel_size` (from :mod:`labkit.units`, which this module owns: it imports no I/O, so analysis modules
import it directly).

Examples
--------
>>> import numpy as np, zarr
>>> img = np.zeros((2, 4, 32, 32), np.uint16)
>>> ms = write_image("/tmp/doc.ome.zarr", img, axes="czyx", pixel_sizes={"z": 0.5, "y": 0.2, "x": 0.2},
...                  channel_names=["a", "b"], version="0.5", n_levels=2, overwrite=True)
>>> [lv.shape for lv in ms.levels], ms.levels[1].scale
([(2, 4, 32, 32), (2, 4, 16, 16)], (1.0, 0.5, 0.4, 0.4))
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit import _zarr
from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import FormatError, LabkitError
from labkit.units import VoxelSize, unit_name, voxel_size  # noqa: F401 - the one rule for units, owned here

VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")
SPACE, TIME, CHANNEL = "space", "time", "channel"
_TYPES = {"x": SPACE, "y": SPACE, "z": SPACE, "t": TIME, "c": CHANNEL}
#: an NGFF 0.5 image whose level 0 holds more bytes than this is written sharded unless ``shards`` is given
SHARD_THRESHOLD = 2**30
#: the most bytes a default shard holds (a few hundred MiB: few objects and requests, one task's memory)
SHARD_BYTES = 256 * 2**20
DEFAULT_COLORS = ("0000FF", "FFFF00", "FF00FF", "00FF00", "FF0000", "00FFFF", "FFFFFF")
#: colours of common stains and proteins, by a word of the channel name (lower case)
STAIN_COLORS = {
    **dict.fromkeys(("dapi", "hoechst", "dna", "nuclei", "bfp"), "0000FF"),
    **dict.fromkeys(("gfp", "egfp", "fitc", "488", "yfp", "venus"), "00FF00"),
    **dict.fromkeys(("mcherry", "rfp", "tdtomato", "568", "561", "texasred", "cy3", "594"), "FF00FF"),
    **dict.fromkeys(("cy5", "647", "640", "farred"), "FF0000"),
}
#: colours for channels with unknown names, in order (each used once before any repeats)
PALETTE = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF", "FFFFFF")


def channel_colors(names: Sequence[str]) -> list[str]:
    """Display colours for channels: by stain or protein where the name says it, else distinct ones.

    Examples
    --------
    >>> channel_colors(["Dapi", "GFP", "mCherry", "LaminB1"])
    ['0000FF', '00FF00', 'FF00FF', '00FFFF']
    """
    import re

    known = [next((STAIN_COLORS[w] for w in re.split(r"[^a-z0-9]+", n.lower().replace("-", "")) if w in STAIN_COLORS),
                  None) for n in names]
    free = iter([c for c in PALETTE if c not in known] + list(PALETTE) * len(names))
    return [c or next(free) for c in known]


@dataclass(frozen=True)
class Axis:
    """One dimension: name, type (space, time, channel) and unit."""

    name: str
    type: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Channel:
    """Rendering settings of one channel, from the ``omero`` metadata."""

    label: str
    color: str = "FFFFFF"
    window: Mapping[str, float] | None = None
    active: bool = True


@dataclass(frozen=True)
class Level:
    """One resolution level: its array and its place in physical space."""

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    shards: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Multiscale:
    """A multiscale image, whatever NGFF version it was written in.

    ``scales_known`` is False for v0.1-v0.3, which store no physical scales: the
    level scales are then ratios of level shapes, in pixels of level 0.
    """

    version: str
    zarr_format: int
    axes: tuple[Axis, ...]
    levels: tuple[Level, ...]
    channels: tuple[Channel, ...] = ()
    name: str | None = None
    rdefs: Mapping[str, Any] = field(default_factory=dict)
    scales_known: bool = True

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Axis names in array order, e.g. ``("t", "c", "z", "y", "x")``."""
        return tuple(a.name for a in self.axes)

    def pixel_sizes(self, level: int = 0) -> dict[str, float]:
        """Physical size of a pixel along each spatial axis at ``level``."""
        lv = self.levels[level]
        return {a.name: s for a, s in zip(self.axes, lv.scale, strict=True) if a.type == SPACE}

    def describe(self, url: str = "") -> str:
        """A text summary in the manner of ``ome_zarr info``, with channels and pixel sizes."""
        kind = "zarr.json" if self.zarr_format == 3 else "zgroup"
        lines = [f"{url} [{kind}]".strip(), " - metadata", f"   - Multiscales (OME-NGFF {self.version})"]
        if self.channels:
            lines.append("   - OMERO")
        lines.append(" - data")
        for lv in self.levels:
            extra = f", shards {lv.shards}" if lv.shards else ""
            lines.append(f"   - {lv.shape} {lv.dtype}, chunks {lv.chunks}{extra}")
        lines.append(" - axes: " + ", ".join(a.name + (f" ({a.unit})" if a.unit else "") for a in self.axes))
        if self.channels:
            chans = []
            for c in self.channels:
                w = c.window or {}
                win = f", window {w.get('start', '?'):g}-{w.get('end', '?'):g}" if w else ""
                chans.append(f"{c.label} (#{c.color}{win})")
            lines.append(" - channels: " + "; ".join(chans))
        if self.scales_known:
            units = {a.name: a.unit or "" for a in self.axes}
            sizes = ", ".join(f"{k} {v:.3g} {units[k]}".rstrip() for k, v in self.pixel_sizes(0).items())
            lines.append(f" - pixel sizes: {sizes}")
        else:
            lines.append(f" - pixel sizes: not in the metadata (OME-NGFF {self.version} stores none)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Multiscale(version={self.version!r}, axes={''.join(self.axis_names)!r}, "
                f"levels={[lv.shape for lv in self.levels]}, channels={[c.label for c in self.channels]})")


# --------------------------------------------------------------------------- reading
def ome_attributes(attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The NGFF version and the attributes holding ``multiscales``, or ``None`` when there are none."""
    if isinstance(attrs.get("ome"), Mapping) and "multiscales" in attrs["ome"]:
        ome = dict(attrs["ome"])
        return str(ome.get("version", "0.5")), ome
    if "multiscales" in attrs:
        ms = attrs["multiscales"]
        version = str(ms[0].get("version", "0.4")) if ms else "0.4"
        return version, dict(attrs)
    return None


def _axes(version: str, raw: Any, ndim: int) -> tuple[Axis, ...]:
    if version in ("0.1", "0.2") or raw is None:
        names = "tczyx"[-ndim:] if ndim <= 5 else None
        if names is None:
            raise FormatError(f"OME-NGFF {version} images are 5D (TCZYX); found {ndim} dimensions")
        return tuple(Axis(n, _TYPES[n]) for n in names)
    out = []
    for a in raw:
        if isinstance(a, str):  # v0.3
            out.append(Axis(a, _TYPES.get(a)))
        else:
            out.append(Axis(a["name"], a.get("type", _TYPES.get(a["name"])), a.get("unit")))
    return tuple(out)


def _transforms(items: Sequence[Mapping[str, Any]] | None, ndim: int,
                where: str = "this image") -> tuple[np.ndarray, np.ndarray]:
    scale, translation = np.ones(ndim), np.zeros(ndim)
    for t in items or ():
        kind = t.get("type")
        if kind in ("scale", "translation") and kind in t:
            try:
                values = np.asarray(t[kind], float)
            except (TypeError, ValueError):
                values = np.asarray([])
            if values.shape != (ndim,):
                raise FormatError(
                    f"{where}: a {kind} coordinateTransformation has {t[kind]!r}, not {ndim} numbers (one per axis)"
                )
            if kind == "scale":
                scale = scale * values
            else:
                translation = translation + values
    return scale, translation


def _window(raw: Any) -> dict[str, float] | None:
    """An omero channel window with numbers (some writers store strings); ``None`` when it has none."""
    if not isinstance(raw, Mapping):
        return None
    out = {}
    for key, value in raw.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue  # a value that is not a number is left out, not guessed
    return out


def _channels(omero: Mapping[str, Any] | None) -> tuple[Channel, ...]:
    if not omero:
        return ()
    return tuple(
        Channel(
            label=str(c.get("label", f"channel {i}")),
            color=str(c.get("color", DEFAULT_COLORS[i % len(DEFAULT_COLORS)])).upper(),
            window=_window(c.get("window")),
            active=bool(c.get("active", True)),
        )
        for i, c in enumerate(omero.get("channels", []))
    )


def ome_section(attrs: Mapping[str, Any], key: str) -> tuple[str | None, Any]:
    """The NGFF version and the ``key`` metadata (``plate``, ``well``, ...) of v0.4 (top level) or v0.5 (``ome``)."""
    ome = attrs.get("ome")
    if isinstance(ome, Mapping) and key in ome:
        return str(ome.get("version", "0.5")), ome[key]
    if key in attrs:
        value = attrs[key]
        version = value.get("version") if isinstance(value, Mapping) else None
        return (str(version) if version else None), value
    return None, None


def container_hint(attrs: Mapping[str, Any], source: str) -> str | None:
    """What a group that holds images but is no image is (a plate, a well, a collection) and what opens it.

    Examples
    --------
    >>> container_hint({"plate": {"rows": [{"name": "A"}] * 8, "columns": [{"name": "1"}] * 12,
    ...                           "wells": [{"path": "B/3"}]}}, "p.zarr")[:96]
    'p.zarr is an OME-NGFF HCS plate (8 x 12 wells, 1 with images), not an image: open it with labkit'
    """
    _, plate = ome_section(attrs, "plate")
    if isinstance(plate, Mapping):
        wells = [w.get("path", "") for w in plate.get("wells", []) if isinstance(w, Mapping)]
        first = wells[0].replace("/", "") if wells else "B3"
        return (f"{source} is an OME-NGFF HCS plate ({len(plate.get('rows', []))} x {len(plate.get('columns', []))} "
                f"wells, {len(wells)} with images), not an image: open it with labkit.open_plate({source!r}), "
                f"then plate.image({first!r})")
    _, well = ome_section(attrs, "well")
    if isinstance(well, Mapping):
        fields = [i.get("path") for i in well.get("images", []) if isinstance(i, Mapping)]
        return (f"{source} is an OME-NGFF well of a plate ({plural(len(fields), 'field')}: {fields[:4]}), not an "
                f"image: open a field with labkit.open_image(url + '/{fields[0] if fields else '0'}'), or the plate "
                "(two folders up) with labkit.open_plate")
    if "bioformats2raw.layout" in attrs or "bioformats2raw.layout" in (attrs.get("ome") or {}):
        return (f"{source} is a bioformats2raw collection of images (series 0/, 1/, ... named in "
                f"OME/METADATA.ome.xml), not an image: open it with labkit.open_collection({source!r}), "
                "then collection.image(0) or collection.image('<name>')")
    return None


def read(group: Any, source: str | None = None) -> Multiscale:
    """Read the first multiscale image of a zarr group (any NGFF version, zarr v2 or v3).

    Only metadata is read: the group's attributes and each level's array metadata.

    Parameters
    ----------
    group : zarr.Group
    source : str, optional
        Where the group was opened from, for error messages.

    Returns
    -------
    Multiscale

    Raises
    ------
    labkit.errors.FormatError
        The group has no (or malformed) multiscales metadata.
    """
    attrs = dict(group.attrs)
    found = ome_attributes(attrs)
    if found is None:
        container = container_hint(attrs, source or "this zarr group")
        if container:
            raise FormatError(container)
        children = sorted(k for k in group.keys())[:10]
        hint = " It looks like a bioformats2raw layout: open its image at URL/0." if "0" in children else ""
        raise FormatError(
            f"{source or 'this zarr group'}: a zarr group with no OME-NGFF 'multiscales' metadata "
            f"(attributes: {sorted(attrs) or 'none'}; members: {children or 'none'}).{hint}"
        )
    version, ome = found
    try:
        ms = ome["multiscales"][0]
        datasets = ms["datasets"]
    except (KeyError, IndexError, TypeError) as exc:
        raise FormatError(f"malformed OME-NGFF {version} metadata: multiscales[0].datasets is missing") from exc
    where = source or "this image"
    if not isinstance(datasets, list) or not datasets:
        raise FormatError(f"{where}: malformed OME-NGFF {version} metadata: multiscales[0].datasets is empty")
    arrays = []
    for i, ds in enumerate(datasets):
        if not isinstance(ds, Mapping) or "path" not in ds:
            raise FormatError(
                f"{where}: malformed OME-NGFF {version} metadata: multiscales[0].datasets[{i}] has no 'path' "
                "(each dataset names its array, e.g. {\"path\": \"0\", ...}); fix the metadata or rewrite the image"
            )
        try:
            arrays.append(group[str(ds["path"])])
        except KeyError as exc:
            raise FormatError(
                f"{where}: multiscales[0].datasets[{i}] names the array {ds['path']!r}, which is missing"
            ) from exc
        except ValueError as exc:  # zarr's JSON decoding of the array's metadata
            meta = "zarr.json" if _zarr.zarr_format(group) == 3 else ".zarray"
            raise FormatError(
                f"{where}: the metadata of array {ds['path']!r} ({ds['path']}/{meta}) is damaged ({exc}); "
                "download or write the image again"
            ) from None
    ndim = len(arrays[0].shape)
    axes = _axes(version, ms.get("axes"), ndim)
    if len(axes) != ndim:
        raise FormatError(
            f"{where}: multiscales[0].axes names {plural(len(axes), 'axis', 'axes')} "
            f"({', '.join(a.name for a in axes)}) for arrays of "
            f"{ndim} dimensions (shape {tuple(arrays[0].shape)}); the metadata must name one axis per dimension"
        )
    gscale, gtrans = _transforms(ms.get("coordinateTransformations"), ndim, where)
    levels = []
    scales_known = version not in ("0.1", "0.2", "0.3")
    shape0 = np.asarray(arrays[0].shape, float)
    for ds, arr in zip(datasets, arrays, strict=True):
        if scales_known:
            s, t = _transforms(ds.get("coordinateTransformations"), ndim, where)
            scale, translation = s * gscale, t * gscale + gtrans
        else:  # ratio of shapes along space axes, in level-0 pixels
            ratio = shape0 / np.asarray(arr.shape, float)
            scale = np.where([a.type == SPACE for a in axes], ratio, 1.0)
            translation = np.zeros(ndim)
        shards = getattr(arr, "shards", None)
        levels.append(
            Level(
                path=str(ds["path"]),
                shape=tuple(int(v) for v in arr.shape),
                chunks=tuple(int(v) for v in arr.chunks),
                dtype=str(arr.dtype),
                scale=tuple(float(v) for v in scale),
                translation=tuple(float(v) for v in translation),
                shards=tuple(int(v) for v in shards) if shards else None,
            )
        )
    omero = ome.get("omero")
    return Multiscale(
        version=version,
        zarr_format=_zarr.zarr_format(group),
        axes=axes,
        levels=tuple(levels),
        channels=_channels(omero),
        name=ms.get("name"),
        rdefs=dict(omero.get("rdefs", {})) if omero else {},
        scales_known=scales_known,
    )


def read_array(source: Any, level: int = 0, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Read one level of an OME-NGFF image into memory (zarr directly: no dask, no xarray).

    Parameters
    ----------
    source : str, path or zarr store
        The image group.
    level : int
        Resolution level.
    storage_options : mapping, optional
        fsspec options (credentials, endpoint).

    Examples
    --------
    >>> _ = write_image("memory://doc-read", np.arange(16, dtype=np.uint8).reshape(4, 4), axes="yx", overwrite=True)
    >>> read_array("memory://doc-read")[1]
    array([4, 5, 6, 7], dtype=uint8)
    """
    from labkit.storage import open_store, storage_error

    try:
        group = _zarr.open_group(open_store(source, storage_options, mode="r"), mode="r")
        ms = read(group, source=str(source))
        if not 0 <= level < len(ms.levels):
            raise IndexError(f"{source} has levels 0-{len(ms.levels) - 1}; level {level} does not exist")
        return np.asarray(group[ms.levels[level].path][...])
    except (IndexError, LabkitError):
        raise
    except Exception as exc:  # the store's own errors (a refusal, a missing object, ...) in labkit's words
        raise storage_error(exc, source, storage_options) from None


# --------------------------------------------------------------------------- writing
def _axis_json(axis: Axis) -> dict[str, Any]:
    out: dict[str, Any] = {"name": axis.name}
    if axis.type:
        out["type"] = axis.type
    if axis.unit:
        out["unit"] = axis.unit
    return out


def rounded_window(start: float, end: float, dtype: Any) -> tuple[float, float]:
    """A display window as people write it, for the omero metadata.

    Whole numbers for an integer image (widened to them), else 6 significant digits (more only where 6 would
    make ``start`` and ``end`` equal).

    Examples
    --------
    >>> rounded_window(102.39999999999999, 698.6010000000097, "uint16")
    (102.0, 699.0)
    >>> rounded_window(0.012345678, 0.98765432, "float32")
    (0.0123457, 0.987654)
    """
    if np.issubdtype(np.dtype(dtype), np.integer) or np.dtype(dtype) == np.bool_:
        lo, hi = float(np.floor(start)), float(np.ceil(end))
        return (lo, hi) if hi > lo else (lo, lo + 1.0)
    for digits in range(6, 18):
        lo, hi = float(f"{start:.{digits}g}"), float(f"{end:.{digits}g}")
        if hi > lo or start == end:
            return lo, hi
    return float(start), float(end)


def _channel_json(c: Channel, dtype: np.dtype, shown: tuple[float, float]) -> dict[str, Any]:
    """The omero channel: the window ``shown`` (from the data, rounded) in the dtype's range, unless ``c`` has one."""
    shown = rounded_window(*shown, dtype)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    lo, hi = (float(info.min), float(info.max)) if info else (min(0.0, shown[0]), max(1.0, shown[1]))
    window = {"start": shown[0], "end": shown[1], "min": lo, "max": hi, **dict(c.window or {})}
    return {"label": c.label, "color": c.color, "window": window, "active": c.active,
            "coefficient": 1.0, "family": "linear", "inverted": False}


def display_windows(
    level: Any, axis_names: Sequence[str], sample: int = 4, side: int = 512
) -> list[tuple[float, float]]:
    """Each channel's display window, (0.1, 99.9) percentiles of a sample of ``level``.

    The sample: up to ``sample`` evenly spaced indices along every axis but ``c``, ``y`` and ``x``, and every
    n-th pixel so that at most ``side`` x ``side`` remain: from a dask array, only those planes' chunks are read.

    Examples
    --------
    >>> img = np.zeros((2, 64, 64), np.uint16); img[0, :8] = 4000; img[1] = 100
    >>> display_windows(img, "cyx")
    [(0.0, 4000.0), (100.0, 101.0)]
    """
    names = list(axis_names)
    index: list[Any] = []
    for name, n in zip(names, level.shape, strict=True):
        if name == "c":
            index.append(slice(None))
        elif name in ("y", "x"):
            index.append(slice(None, None, max(1, -(-n // side))))
        else:
            index.append(np.unique(np.linspace(0, n - 1, min(n, sample)).round().astype(int)).tolist())
    part = level
    for axis, ix in enumerate(index):  # one axis at a time: numpy and dask take lists on one axis at once
        part = part[(slice(None),) * axis + (ix,)]
    part = np.asarray(part.compute() if hasattr(part, "compute") else part, dtype=float)
    per_channel = np.moveaxis(part, names.index("c"), 0) if "c" in names else part[None]
    windows = []
    for values in per_channel.reshape(per_channel.shape[0], -1):
        lo, hi = np.percentile(values, [0.1, 99.9]) if values.size else (0.0, 1.0)
        windows.append((float(lo), float(hi) if hi > lo else float(lo) + 1.0))
    return windows


def write_image(
    dest: Any,
    data: Any,
    *,
    axes: str | Sequence[Axis] = "tczyx",
    pixel_sizes: Mapping[str, float] | None = None,
    unit: str = "micrometer",
    channel_names: Sequence[str] | None = None,
    channels: Sequence[Channel] | None = None,
    version: str = "0.4",
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    n_levels: int = 1,
    name: str | None = None,
    rdefs: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Multiscale:
    """Write an image as an OME-NGFF v0.4 (zarr v2) or v0.5 (zarr v3) multiscale group.

    Parameters
    ----------
    dest : str, path or zarr store
        Where to write (a local path, an ``s3://`` URL, ``memory://`` ...).
    data : array or sequence of arrays
        One array (numpy or dask); ``n_levels`` levels are made by taking every
        second pixel in y and x. Or the levels themselves, largest first.
    axes : str or sequence of Axis
        Axis names in array order (``"czyx"``) or full :class:`Axis` objects.
    pixel_sizes : mapping, optional
        Level-0 pixel size per spatial axis (default 1).
    unit : str
        Unit of the spatial axes (an NGFF unit name).
    channel_names, channels : optional
        Channel labels, or full :class:`Channel` objects.
    version : {"0.4", "0.5"}
        NGFF version; 0.5 writes zarr v3.
    chunks, shards : sequence of int, optional
        Chunk shape (default: one yx plane) and, for v0.5, shard shape. Default shards: none for an image of
        at most ``SHARD_THRESHOLD`` bytes (1 GiB); for a larger one, :func:`default_shards` (whole chunks, at
        most ``SHARD_BYTES``, 256 MiB). Each write task writes whole shards (zarr rewrites a whole shard on a
        partial write: two tasks writing one shard would lose data).
    n_levels : int
        Number of levels to make from a single array.
    overwrite : bool
        Replace an existing group at ``dest``; otherwise refuse.

    Returns
    -------
    Multiscale
        The metadata as written (read back).
    """
    if version not in ("0.4", "0.5"):
        raise FormatError(f"labkit writes OME-NGFF 0.4 or 0.5, not {version!r}")
    if shards is not None and version != "0.5":
        raise FormatError("sharded arrays need OME-NGFF 0.5 (zarr v3): pass version='0.5'")
    if shards is not None and chunks is not None and (
            len(shards) != len(chunks) or any(sh % c for sh, c in zip(shards, chunks, strict=False))):
        raise FormatError(f"shards {tuple(shards)} must be whole multiples of chunks {tuple(chunks)}, axis by axis")
    levels = list(data) if isinstance(data, (list, tuple)) else [data]
    if len(levels) == 1:
        for _ in range(n_levels - 1):
            prev = levels[-1]
            levels.append(prev[(slice(None),) * (prev.ndim - 2) + (slice(None, None, 2), slice(None, None, 2))])
    ndim = levels[0].ndim
    if shards is None and version == "0.5" and _nbytes(levels[0]) > SHARD_THRESHOLD:
        shards = default_shards(levels[0].shape, _level_chunks(chunks, levels[0].shape),
                                np.dtype(levels[0].dtype).itemsize, axes=axes if isinstance(axes, str) else
                                "".join(a.name if len(a.name) == 1 else "?" for a in axes))
        chunks = chunks or _level_chunks(None, levels[0].shape)
    if isinstance(axes, str):
        axis_objs = tuple(Axis(n, _TYPES.get(n), unit if _TYPES.get(n) == SPACE else None) for n in axes)
    else:
        axis_objs = tuple(axes)
    if len(axis_objs) != ndim:
        raise FormatError(f"{plural(len(axis_objs), 'axis', 'axes')} given for a {ndim}-dimensional array")
    names = [a.name for a in axis_objs]
    pixel = np.array([float((pixel_sizes or {}).get(a.name, 1.0)) if a.type == SPACE else 1.0 for a in axis_objs])
    shape0 = np.asarray(levels[0].shape, float)
    datasets = []
    for i, lv in enumerate(levels):
        factor = np.where([a.type == SPACE for a in axis_objs], np.round(shape0 / np.asarray(lv.shape, float)), 1)
        scale = pixel * np.maximum(factor, 1)
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale.tolist()}]})
    # the recommended keys (required by the strict schemas): a name, and how the levels were made
    if isinstance(data, (list, tuple)) and len(levels) > 1:
        kind, how = "unknown", "levels given to labkit.ngff.write_image by its caller"
    elif len(levels) > 1:
        kind, how = "stride", "every second pixel in y and x (numpy slicing [..., ::2, ::2], no smoothing)"
    else:
        kind, how = "none", "one level: the image as given"
    multiscale: dict[str, Any] = {
        "name": name or _default_name(dest), "axes": [_axis_json(a) for a in axis_objs], "datasets": datasets,
        "type": kind, "metadata": {"description": how, "method": "labkit.ngff.write_image",
                                   "version": _labkit_version()},
    }
    if channels is None and "c" in names:
        n_c = levels[0].shape[names.index("c")]
        labels = list(channel_names or [f"channel {i}" for i in range(n_c)])
        if len(labels) != n_c:
            raise FormatError(f"{plural(len(labels), 'channel name')} given for {plural(n_c, 'channel')}")
        channels = [Channel(lab, color) for lab, color in zip(labels, channel_colors(labels), strict=True)]
    dtype = np.dtype(levels[0].dtype)
    omero = None
    if channels:
        shown = display_windows(levels[-1], names) if any(c.window is None for c in channels) else \
            [(0.0, 1.0)] * len(channels)
        omero = {"channels": [_channel_json(c, dtype, w) for c, w in zip(channels, shown, strict=False)]}
        if rdefs:
            omero["rdefs"] = dict(rdefs)
    if version == "0.4":
        multiscale["version"] = "0.4"
        attrs: dict[str, Any] = {"multiscales": [multiscale]}
        if omero:
            attrs["omero"] = {"version": "0.4", **omero}
    else:
        ome: dict[str, Any] = {"version": "0.5", "multiscales": [multiscale]}
        if omero:
            ome["omero"] = omero
        attrs = {"ome": ome}

    from labkit.storage import is_storage_failure, open_store, storage_error

    zarr_format = 2 if version == "0.4" else 3
    try:
        store = open_store(dest, storage_options=storage_options, mode="w" if overwrite else "w-")
        try:
            root = _zarr.open_group(store, mode="w" if overwrite else "w-", zarr_format=zarr_format)
        except Exception as exc:  # zarr raises FileExistsError, ContainsGroupError or ContainsArrayError
            if isinstance(exc, FileExistsError) or type(exc).__name__.startswith("Contains"):
                raise FileExistsError(f"{dest} already holds data; pass overwrite=True to replace it") from exc
            raise
        for i, lv in enumerate(levels):
            lv_chunks = _level_chunks(chunks, lv.shape)
            # a shard holds whole chunks: at most as many as cover the level (which may be smaller than a shard)
            lv_shards = tuple(min(sh, -(-n // c) * c) for sh, n, c in zip(shards, lv.shape, lv_chunks, strict=True)
                              ) if shards else None
            arr = _zarr.create_array(root, str(i), lv.shape, lv.dtype, lv_chunks, dimension_names=names,
                                     shards=lv_shards)
            _store_array(lv, arr, lv_shards or lv_chunks)
        root.attrs.update(attrs)
        return read(_zarr.open_group(store, mode="r", zarr_format=zarr_format))
    except Exception as exc:
        if isinstance(exc, FileExistsError) and "overwrite=True" in str(exc) or not is_storage_failure(exc):
            raise
        raise storage_error(exc, dest, storage_options, action="write") from None


def _level_chunks(chunks: Sequence[int] | None, shape: Sequence[int]) -> tuple[int, ...]:
    """The chunks of a level: ``chunks`` (default one yx plane), at most the level's shape."""
    wanted = tuple(chunks) if chunks else (1,) * (len(shape) - 2) + tuple(shape[-2:])
    return tuple(min(int(c), int(s)) for c, s in zip(wanted, shape, strict=True))


def _nbytes(array: Any) -> int:
    return int(np.prod(array.shape, dtype=np.int64)) * np.dtype(array.dtype).itemsize


def default_shards(shape: Sequence[int], chunks: Sequence[int], itemsize: int, *, axes: str | None = None,
                   max_bytes: int | None = None) -> tuple[int, ...] | None:
    """Shards of whole ``chunks`` holding at most ``max_bytes`` (default ``SHARD_BYTES``), as compact as can be.

    The number of chunks a shard holds is doubled, one axis at a time, along the spatial axis (``z``, ``y``,
    ``x``; every axis when ``axes`` is not given) where the shard is shortest, until the next doubling would pass
    ``max_bytes`` or the shard covers the whole axis; then along the other axes (``t``, ``c``). ``None`` when a
    shard would hold a single chunk (a chunk of ``max_bytes`` or more: sharding gains nothing).

    Examples
    --------
    >>> default_shards((2000, 40000, 40000), (64, 512, 512), 2)  # 6.4 TB, chunks of 32 MiB, shards of 256 MiB
    (512, 512, 512)
    >>> default_shards((1, 10, 2048, 2048), (1, 1, 2048, 2048), 2, axes="czyx")  # 8 MiB planes, 10 of them
    (1, 10, 2048, 2048)
    >>> default_shards((100, 4096, 4096), (1, 4096, 4096), 2)  # 32 MiB planes: 8 of them a shard
    (8, 4096, 4096)
    """
    limit = SHARD_BYTES if max_bytes is None else int(max_bytes)
    shape = [int(s) for s in shape]
    chunks = [min(int(c), s) for c, s in zip(chunks, shape, strict=True)]
    counts = [1] * len(shape)
    covers = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]  # chunks along each axis
    names = axes if axes and len(axes) == len(shape) else None
    spatial = [i for i in range(len(shape)) if names is None or names[i] in "zyx"]
    others = [i for i in range(len(shape)) if i not in spatial]

    def nbytes(counts: list[int]) -> int:
        return int(np.prod([min(n * c, s) for n, c, s in zip(counts, chunks, shape, strict=True)],
                           dtype=np.int64)) * itemsize

    for group in (spatial, others):
        while True:
            open_axes = [i for i in group if counts[i] < covers[i]]
            if not open_axes:
                break
            # the shortest extent first (ties: the last axis, the fastest in memory)
            i = min(open_axes, key=lambda i: (counts[i] * chunks[i], -i))
            grown = counts.copy()
            grown[i] = min(2 * counts[i], covers[i])
            if nbytes(grown) > limit:
                break
            counts = grown
    if all(n == 1 for n in counts):
        return None
    return tuple(n * c for n, c in zip(counts, chunks, strict=True))


def _default_name(dest: Any) -> str:
    """An image's name from where it is written: ``s3://b/cells/a.ome.zarr`` -> ``a``.

    Examples
    --------
    >>> _default_name("s3://results/cells/a.ome.zarr"), _default_name("/tmp/b.zarr/")
    ('a', 'b')
    """
    base = str(dest).rstrip("/").rsplit("/", 1)[-1] if isinstance(dest, (str, os.PathLike)) else "image"
    for suffix in (".ome.zarr", ".zarr"):
        base = base.removesuffix(suffix)
    return base or "image"


def _labkit_version() -> str:
    from labkit.results.provenance import labkit_version

    return labkit_version()


def _store_array(src: Any, arr: Any, block: Sequence[int]) -> None:
    """Write ``src`` (numpy or dask) into ``arr`` in whole blocks (shards must never be written twice at once)."""
    if hasattr(src, "dask"):
        _zarr.store_dask(src.rechunk(tuple(block)), arr)
    else:
        arr[...] = np.asarray(src)


def validate(group: Any) -> Any:
    """Validate a v0.4 or v0.5 image group with ome-zarr-models; return its model.

    Raises
    ------
    labkit.errors.FormatError
        With ome-zarr-models' own description of what is wrong.
    """
    models = attempt_import("ome_zarr_models")
    found = ome_attributes(dict(group.attrs))
    version = found[0] if found else None
    if version not in ("0.4", "0.5"):
        raise FormatError(f"ome-zarr-models validates OME-NGFF 0.4 and 0.5; this group is {version or 'not NGFF'}")
    image_model = attempt_import(f"ome_zarr_models.v0{version[-1]}.image").Image
    try:
        return image_model.from_zarr(group)
    except Exception as exc:
        raise FormatError(f"not a valid OME-NGFF {version} image ({models.__name__}): {exc}") from exc


def convert(
    src: Any,
    dest: Any,
    *,
    version: str = "0.4",
    pixel_sizes: Mapping[str, float] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Multiscale:
    """Copy an OME-Zarr image (any version) to NGFF 0.4 or 0.5, levels, channels and rendering kept.

    Parameters
    ----------
    src, dest : str, path or store
    version : {"0.4", "0.5"}
    pixel_sizes : mapping, optional
        Level-0 pixel sizes for sources that store none (v0.1-v0.3), e.g. from OMERO.
    chunks : sequence of int, optional
        Chunk shape of the copy (default: the source's).
    shards : sequence of int, optional
        Shard shape for v0.5.

    Examples
    --------
    >>> convert("6001240.zarr", "6001240-v05.zarr", version="0.5", pixel_sizes={"x": 0.36})  # doctest: +SKIP
    """
    dask_array = attempt_import("dask.array")
    from labkit.storage import open_store

    group = _zarr.open_group(open_store(src, storage_options), mode="r")
    meta = read(group)
    sizes = dict(pixel_sizes or {}) if not meta.scales_known else meta.pixel_sizes(0)
    levels = [dask_array.from_zarr(group[lv.path]) for lv in meta.levels]
    axes = [Axis(a.name, a.type, a.unit or ("micrometer" if a.type == SPACE and sizes else None)) for a in meta.axes]
    return write_image(
        dest, levels, axes=axes, pixel_sizes=sizes, channels=list(meta.channels) or None, version=version,
        chunks=chunks or meta.levels[0].chunks, shards=shards, name=meta.name, rdefs=meta.rdefs or None,
        overwrite=overwrite,
    )
