"""OME-NGFF multiscale images, v0.1 to v0.5, read into one model and written as v0.4 or v0.5.

The model (:class:`Multiscale`, its levels and channels), :func:`read`, :func:`write_image`, :func:`convert`
and the ``multiscales`` and ``omero`` metadata they read and write; sharding (:func:`default_shards`) and
display windows. What all NGFF metadata shares (versions, axes, transforms) is :mod:`labkit.ngff.spec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit import _zarr
from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import FormatError, LabkitError
from labkit.ngff.model import Channel, Level, Multiscale
from labkit.ngff.omero import OMERO, channel_colors, channels_of, display_windows, omero_json, rdefs_of
from labkit.ngff.shards import _level_chunks, _nbytes, _setting, default_shards
from labkit.ngff.spec import (
    _TYPES,
    MULTISCALES,
    SPACE,
    TRANSFORMS,
    Axis,
    axis_json,
    check_writable,
    dataset_json,
    ome_attributes,
    parse_axes,
    parse_transforms,
    wrap,
    zarr_format_of,
)


# --------------------------------------------------------------------------- reading
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
        from labkit.ngff.plate import container_hint

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
        ms = ome[MULTISCALES][0]
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
            meta = _zarr.ARRAY_DOC[_zarr.zarr_format(group)]
            raise FormatError(
                f"{where}: the metadata of array {ds['path']!r} ({ds['path']}/{meta}) is damaged ({exc}); "
                "download or write the image again"
            ) from None
    ndim = len(arrays[0].shape)
    axes = parse_axes(version, ms.get("axes"), ndim)
    if len(axes) != ndim:
        raise FormatError(
            f"{where}: multiscales[0].axes names {plural(len(axes), 'axis', 'axes')} "
            f"({', '.join(a.name for a in axes)}) for arrays of "
            f"{ndim} dimensions (shape {tuple(arrays[0].shape)}); the metadata must name one axis per dimension"
        )
    gscale, gtrans = parse_transforms(ms.get(TRANSFORMS), ndim, where)
    levels = []
    scales_known = version not in ("0.1", "0.2", "0.3")
    shape0 = np.asarray(arrays[0].shape, float)
    for ds, arr in zip(datasets, arrays, strict=True):
        if scales_known:
            s, t = parse_transforms(ds.get(TRANSFORMS), ndim, where)
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
    omero = ome.get(OMERO)
    return Multiscale(
        version=version,
        zarr_format=_zarr.zarr_format(group),
        axes=axes,
        levels=tuple(levels),
        channels=channels_of(omero),
        name=ms.get("name"),
        rdefs=rdefs_of(omero),
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
    check_writable(version)
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
    if shards is None and version == "0.5" and _nbytes(levels[0]) > _setting("SHARD_THRESHOLD"):
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
        datasets.append(dataset_json(str(i), (pixel * np.maximum(factor, 1)).tolist()))
    # the recommended keys (required by the strict schemas): a name, and how the levels were made
    if isinstance(data, (list, tuple)) and len(levels) > 1:
        kind, how = "unknown", "levels given to labkit.ngff.write_image by its caller"
    elif len(levels) > 1:
        kind, how = "stride", "every second pixel in y and x (numpy slicing [..., ::2, ::2], no smoothing)"
    else:
        kind, how = "none", "one level: the image as given"
    multiscale = multiscale_json(name or _default_name(dest), axis_objs, datasets, version, kind, how,
                                 "labkit.ngff.write_image")
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
        omero = omero_json(channels, dtype, shown, rdefs)
    attrs = image_attrs(version, multiscale, omero)

    from labkit.storage import is_storage_failure, open_store, storage_error

    zarr_format = zarr_format_of(version)
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


def multiscale_json(name: str, axes: Sequence[Axis], datasets: Sequence[Mapping[str, Any]], version: str,
                    kind: str, description: str, method: str) -> dict[str, Any]:
    """One ``multiscales`` entry: name, axes, levels (:func:`labkit.ngff.spec.dataset_json`) and how they were made.

    ``kind`` and ``description`` (the recommended keys, required by the strict schemas) say how the levels were
    made; ``method`` is the writer's name. In 0.4 it holds its version (in 0.5, ``ome`` does).

    Examples
    --------
    >>> from labkit.ngff.spec import dataset_json
    >>> ms = multiscale_json("a", [Axis("y", "space"), Axis("x", "space")], [dataset_json("0", [1.0, 1.0])],
    ...                      "0.4", "none", "one level", "doc")
    >>> ms["version"], ms["axes"][0]
    ('0.4', {'name': 'y', 'type': 'space'})
    """
    out: dict[str, Any] = {
        "name": name, "axes": [axis_json(a) for a in axes], "datasets": [dict(d) for d in datasets],
        "type": kind, "metadata": {"description": description, "method": method, "version": _labkit_version()},
    }
    if version != "0.5":
        out["version"] = version
    return out


def image_attrs(version: str, multiscale: Mapping[str, Any], omero: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """An image group's attributes: its multiscale and its ``omero`` rendering (versioned as ``version`` puts it)."""
    keys: dict[str, Any] = {MULTISCALES: [dict(multiscale)]}
    if omero:
        omero = {k: v for k, v in omero.items() if k != "version"}
        keys[OMERO] = {"version": version, **omero} if version != "0.5" else omero
    return wrap(version, keys)


def copied_image_attrs(src_attrs: Mapping[str, Any], meta: Multiscale, version: str, name: str,
                       description: str, method: str) -> dict[str, Any]:
    """The attributes of a copy of an image (levels as ``meta`` has them) in ``version``: its omero kept.

    How the source's levels were made (``type``, ``metadata``) is kept, marked as copied by ``method``.
    """
    found = ome_attributes(src_attrs)
    raw_ms = dict(found[1][MULTISCALES][0]) if found else {}
    axes = [Axis(a.name, a.type or _TYPES.get(a.name), a.unit) for a in meta.axes]
    datasets = [dataset_json(lv.path, lv.scale, lv.translation) for lv in meta.levels]
    multiscale = multiscale_json(name, axes, datasets, version, str(raw_ms.get("type") or "unknown"), description,
                                 method)
    if isinstance(raw_ms.get("metadata"), Mapping):
        multiscale["metadata"] = {**raw_ms["metadata"], "copied_by": method}
    omero = found[1].get(OMERO) if found else None
    return image_attrs(version, multiscale, omero if isinstance(omero, Mapping) else None)


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
    from labkit._version import labkit_version

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
