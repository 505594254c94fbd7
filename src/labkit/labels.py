"""OME-NGFF labels: segmentations written beside their image (``labels/<name>``) and read back aligned with it.

A label image is an integer image in which each value is one object (0: background). NGFF stores it under
the image, in ``labels/<name>``, as a multiscale with the image's levels and ``image-label`` metadata
(a colour and properties per object, the ``source`` image). The ``labels`` group lists the names.

* :func:`write_labels` writes one (numpy, dask or xarray; dask is written block by block) into an image,
  or, for an image you cannot write to (a public one), into a new OME-Zarr holding a copy of the image;
* :func:`open_labels` reads one as an ``xarray.DataArray`` with the coordinates of
  :func:`labkit.open_image`; :func:`label_names` lists them.

Label images have the image's axes without ``c``: one segmentation for all channels, as ome-zarr-py writes
its own examples (a ``cyx`` image with ``yx`` labels). The NGFF spec (0.4, 0.5) asks only that labels have
as many levels as the image; ome-zarr-models and ome-zarr-py accept labels without the channel axis.

Examples
--------
>>> import numpy as np
>>> from labkit import ngff
>>> _ = ngff.write_image("memory://doc-labels", np.zeros((2, 16, 16), np.uint16), axes="cyx",
...                      channel_names=["Dapi", "GFP"], n_levels=2, overwrite=True)
>>> seg = np.zeros((16, 16), np.uint32); seg[2:6, 2:6] = 1; seg[8:12, 8:14] = 2
>>> write_labels("memory://doc-labels", seg, "nuclei")
'memory://doc-labels/labels/nuclei'
>>> label_names("memory://doc-labels")
['nuclei']
>>> lab = open_labels("memory://doc-labels", "nuclei", level=1)
>>> lab.dims, lab.shape, sorted(lab.attrs["colors"])
(('y', 'x'), (8, 8), [1, 2])
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit import _zarr, ngff, tables
from labkit._lazy import attempt_import
from labkit.errors import AlreadyExistsError, ConfigurationError, FormatError, NotFoundError
from labkit.ngff import labels as ngff_labels
from labkit.ngff.labels import LABELS, label_path

__all__ = ["label_colors", "label_names", "open_labels", "write_labels"]

#: versions of NGFF labkit writes labels in
WRITABLE = ngff.WRITABLE


# --------------------------------------------------------------------------- helpers
def _join(url: Any, *parts: str) -> Any:
    if not isinstance(url, (str, os.PathLike)):  # a zarr StorePath (a versioned result store's): one below
        return url / "/".join(parts)
    return "/".join([str(url).rstrip("/"), *parts])


def label_colors(values: Sequence[int]) -> dict[int, list[int]]:
    """An opaque RGBA colour per label value: the viewers' colour of that id (a function of the id alone).

    Examples
    --------
    >>> label_colors([1, 2])[1] == label_colors([1, 5, 9])[1]
    True
    """
    from labkit._images import label_colors as rgb

    values = [int(v) for v in values]
    if not values:
        return {}
    return {v: [*(int(c) for c in row), 255] for v, row in zip(values, (rgb(values) * 255).round(), strict=True)}


def _rgba(value: Any) -> list[int]:
    """A user's colour: ``"FF00FF"``, ``"#FF00FF80"`` or 3/4 numbers 0-255."""
    if isinstance(value, str):
        h = value.lstrip("#")
        if len(h) in (6, 8) and all(c in "0123456789abcdefABCDEF" for c in h):
            parts = [int(h[i:i + 2], 16) for i in range(0, len(h), 2)]
            return parts + [255] * (4 - len(parts))
    elif isinstance(value, Sequence) and len(value) in (3, 4) and all(
            isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in value):
        return [int(v) for v in value] + [255] * (4 - len(value))
    raise ConfigurationError(f"colour {value!r}: pass a hex string ('FF00FF' or 'FF00FF80') or 3-4 integers 0-255")


class LabelColors(dict):
    """Label value -> RGBA, as :func:`open_labels` puts it in ``attrs``: shown as a count, not one line per label.

    Examples
    --------
    >>> colors = LabelColors({1: [255, 0, 0, 255], 7: [0, 255, 0, 255]})
    >>> str(colors), colors[7]
    ('2 label colours (values 1-7)', [0, 255, 0, 255])
    """

    def __str__(self) -> str:
        return _count_of(self, "label colour")


class LabelProperties(dict):
    """Label value -> its properties (a dict), as :func:`open_labels` puts it in ``attrs``: shown as a summary.

    Examples
    --------
    >>> str(LabelProperties({1: {"area": 3.0}, 2: {"area": 5.0, "kind": "b"}}))
    '2 labels with properties (values 1-2): area, kind'
    """

    def __str__(self) -> str:
        columns = list(dict.fromkeys(k for props in self.values() for k in props))
        shown = ", ".join(columns[:8]) + (f" ... ({len(columns)} in all)" if len(columns) > 8 else "")
        return f"{_count_of(self, 'label', 'with properties')}: {shown or 'none'}"


class ImageLabel(dict):
    """The ``image-label`` metadata as stored (colours, properties, source): shown as a summary.

    Examples
    --------
    >>> str(ImageLabel({"colors": [{"label-value": 1, "rgba": [1, 2, 3, 255]}], "source": {"image": "../../"}}))
    "image-label: 1 colour, source '../../'"
    """

    def __str__(self) -> str:
        return ngff_labels.describe_image_label(self)


def _count_of(values: Mapping[int, Any], noun: str, after: str = "") -> str:
    from labkit._text import plural

    if not values:
        return f"no {noun}s"
    keys = sorted(values)
    where = f"value {keys[0]}" if len(keys) == 1 else f"values {keys[0]}-{keys[-1]}"
    return f"{plural(len(keys), noun)}{' ' + after if after else ''} ({where})"


def _json_value(value: Any) -> Any:
    """A table cell as JSON: plain ints, floats, bools and strings; ``None`` for a missing value (NaN, None)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, str):
        return value
    try:
        pandas = attempt_import("pandas")
        if pandas.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    return str(value)  # timestamps, categories ...


def _properties(table: Any) -> dict[int, dict[str, Any]]:
    """``image-label`` properties from a measurement table: label value -> its columns (NaN dropped)."""
    columns = getattr(table, "columns", None)
    if columns is None or "label" not in list(columns):
        raise ConfigurationError(
            "properties must be a pandas DataFrame with a 'label' column (one row per label value), as "
            f"measurement tables have; got {type(table).__name__}"
            + (f" with columns {list(columns)}" if columns is not None else "")
        )
    out: dict[int, dict[str, Any]] = {}
    for row in table.to_dict(orient="records"):
        raw = row.pop("label")
        if isinstance(raw, (float, np.floating)) and not float(raw).is_integer() or raw is None:
            raise ConfigurationError(f"properties: label {raw!r} is not an integer label value")
        value = int(raw)
        if value in out:
            raise ConfigurationError(f"properties: label {value} has more than one row; give one row per label")
        cells = {str(key): _json_value(cell) for key, cell in row.items()}
        out[value] = ngff_labels.property_row(value, {k: v for k, v in cells.items() if v is not None})
    return out


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") or \
            name.startswith("."):
        raise ConfigurationError(
            f"label name {name!r}: a label image is one group under labels/, so its name is one path element "
            "without '/' (e.g. 'nuclei' or 'nuclei_cellpose')"
        )
    return name


def _as_label_array(labels: Any, meta: ngff.Multiscale, source: str) -> tuple[Any, tuple[str, ...]]:
    """The labels as a numpy or dask array in the order of the image's axes without ``c``, checked against it."""
    names = tuple(n for n in meta.axis_names if n != "c")
    shape0 = meta.levels[0].shape
    expected = tuple(s for n, s in zip(meta.axis_names, shape0, strict=True) if n != "c")
    dims = getattr(labels, "dims", None)
    if dims is not None:  # xarray
        dims = tuple(str(d) for d in dims)
        if "c" in dims and labels.sizes["c"] == 1:
            labels = labels.isel(c=0, drop=True)
            dims = tuple(d for d in dims if d != "c")
        single = [n for n, size in zip(names, expected, strict=True) if n not in dims and size == 1]
        if single:  # e.g. the labels of the one time point of a (t, c, z, y, x) image
            labels = labels.expand_dims(single)
            dims = tuple(str(d) for d in labels.dims)
        if set(dims) != set(names):
            raise FormatError(
                f"labels have dims {dims}; the image {source} has {meta.axis_names}, so its labels have dims "
                f"{names} (no channel axis: one label image for all channels). Pass labels with those dims."
            )
        labels = labels.transpose(*names).data
    if not hasattr(labels, "dtype") or not hasattr(labels, "shape"):
        labels = np.asarray(labels)
    if len(labels.shape) == len(meta.axis_names) and "c" in meta.axis_names:
        c = meta.axis_names.index("c")
        if labels.shape[c] == 1:
            labels = labels[(slice(None),) * c + (0,)]
    dtype = np.dtype(labels.dtype)
    if dtype == np.bool_ or not np.issubdtype(dtype, np.integer):
        raise FormatError(
            f"labels of dtype {dtype}: a label image holds integer object ids (0 = background). "
            "Pass an integer array, e.g. labels.astype('uint32') (after rounding, if they are whole numbers)."
        )
    if tuple(labels.shape) != expected:
        raise FormatError(
            f"labels of shape {tuple(labels.shape)} do not match the image {source}: its level 0 is "
            f"{shape0} ({''.join(meta.axis_names)}), so its labels are {expected} ({''.join(names)}). Pass labels "
            "of the full-resolution image (level 0)."
        )
    return labels, names


def _level_of(labels: Any, shape: tuple[int, ...]) -> Any:
    """``labels`` at a smaller level's ``shape``: nearest pixel, by stride where the factor is whole."""
    out = labels
    for axis, (n0, n) in enumerate(zip(labels.shape, shape, strict=True)):
        if n0 == n:
            continue
        factor = n0 / n
        index: Any
        if float(factor).is_integer() or -(-n0 // round(factor)) == n:
            index = slice(None, None, max(1, round(factor)))
        else:
            index = np.minimum(np.floor((np.arange(n) + 0.5) * factor).astype(int), n0 - 1)
        out = out[(slice(None),) * axis + (index,)]
        if out.shape[axis] != n:
            out = out[(slice(None),) * axis + (slice(0, n),)]
    return out


def _multiscale_json(meta: ngff.Multiscale, keep: Sequence[int], name: str, version: str,
                     kind: str, description: str) -> dict[str, Any]:
    datasets = [ngff.spec.dataset_json(lv.path, [lv.scale[i] for i in keep], [lv.translation[i] for i in keep])
                for lv in meta.levels]
    return ngff.multiscale_json(name, [meta.axes[i] for i in keep], datasets, version, kind, description,
                                "labkit.labels.write_labels")


def _exists(group: Any, key: str) -> bool:
    try:
        group[key]
        return True
    except KeyError:
        return False


def _open_image(url: Any, storage_options: Mapping[str, Any] | None, hint: str) -> tuple[Any, ngff.Multiscale]:
    from labkit.load_remote import open_multiscale

    try:
        return open_multiscale(url, storage_options=storage_options)
    except FormatError as exc:
        raise FormatError(f"{exc}. {hint}") from None
    except NotFoundError as exc:
        raise NotFoundError(f"{exc} {hint}") from None


def _written_dims(attrs: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The dims the labels had when labkit wrote them (``None``: not recorded, written by another tool or before)."""
    dims = attrs.get("labkit", {}).get("dims") if isinstance(attrs.get("labkit"), Mapping) else None
    return tuple(str(d) for d in dims) if dims else None


# --------------------------------------------------------------------------- writing
def write_labels(
    url: Any,
    labels: Any,
    name: str = "nuclei",
    *,
    image: Any = None,
    properties: Any = None,
    colors: Mapping[int, Any] | None = None,
    version: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    image_storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write a label image as the OME-NGFF labels ``name`` of the OME-Zarr image at ``url``.

    The labels get the image's levels (each the labels at that level's shape, nearest pixel by stride),
    its coordinate transformations and chunks, and ``image-label`` metadata: a distinct colour per label
    value, the ``properties`` table's columns per label, and ``source: {"image": "../../"}``. The name is
    added to ``labels/``'s list. Everything is checked before anything is written.

    A public image is read-only (IDR's S3, say): pass its URL as ``image`` and a writable ``url`` (your
    results store). ``url`` then becomes a new OME-Zarr holding a copy of the image (metadata and every
    level, copied block by block with dask) and the labels, and its root attributes record the source
    (``"labkit": {"source_image": image, ...}``). NGFF has no reference from labels to an image in another
    store, and readers and validators (napari, ome-zarr-py, ome-zarr-models) need the image beside its
    labels. Writing more labels of the same image to that ``url`` adds them to the copy.

    Parameters
    ----------
    url : str or path
        The image (local path, ``s3://...``), or with ``image``, where to write the copy with the labels.
    labels : numpy array, dask array or xarray.DataArray
        Integer object ids (0 = background), of the level-0 image's shape without its channel axis (or with
        a channel axis of size 1); a DataArray has the image's dims (e.g. from :func:`labkit.open_image`).
        Dask arrays are written block by block, never loaded whole.
    name : str
        The labels' name: one path element (``labels/<name>``).
    image : str or path, optional
        The source image, when ``url`` is another, writable location.
    properties : pandas.DataFrame, optional
        One row per label with a ``label`` column (a measurement table): its other columns become each
        label's properties (numbers as JSON numbers, missing values left out). Then the labels' values
        listed in ``colors`` and ``properties`` are the table's labels; else the values in the image.
        The table is also written into the image as the labels' feature table, ``tables/<name>``, as
        Fractal and ngio keep one (:mod:`labkit.tables`; read it with :func:`labkit.open_table`). An index
        named ``label`` (ngio's tables) serves as the column. Every row must name a label in the image
        (lazy labels that replace existing ones are computed once more to check it before anything is replaced).
    colors : mapping, optional
        Label value -> colour (``"FF00FF"``, ``"FF00FF80"`` or 3-4 integers 0-255), replacing the
        generated ones (:func:`label_colors`).
    version : {"0.4", "0.5"}, optional
        Default: the image's. Labels in an image are in its version; a copy (``image=``) may be either.
    overwrite : bool
        Replace labels of that name; otherwise an existing one is an error.
    storage_options : mapping, optional
        Options for ``url`` (credentials, ``endpoint_url``).
    image_storage_options : mapping, optional
        Options to read ``image`` (default: labkit's, anonymous for a public endpoint).

    Returns
    -------
    str
        The URL of the labels' group, ``<url>/labels/<name>``.

    Raises
    ------
    labkit.errors.FormatError
        Labels that are not integers or not of the image's shape; ``url`` not an OME-Zarr image (without
        ``image``), or of an NGFF version labkit cannot add labels to.
    labkit.errors.ConfigurationError
        A ``name`` with ``/``; ``properties`` without a ``label`` column (or index), naming labels that are not
        in the image, or a label twice; a bad colour. Nothing is written then (new lazy labels, whose values
        are known once written, are removed again).
    labkit.errors.AlreadyExistsError
        Labels ``name`` exist (pass ``overwrite=True``), or with ``properties`` a table ``name``; with
        ``image``, ``url`` holds something else.

    Examples
    --------
    >>> write_labels("cells.ome.zarr", seg, "nuclei", properties=table)  # doctest: +SKIP
    'cells.ome.zarr/labels/nuclei'

    Labels of a public image, into your results store:

    >>> write_labels("s3://results/6001240.ome.zarr", seg, "nuclei",
    ...              image="s3://idr/zarr/v0.1/6001240.zarr")  # doctest: +SKIP
    """
    from labkit.storage import open_store, storage_errors

    name = _check_name(name)
    if version is not None and version not in WRITABLE:
        raise FormatError(f"labkit writes labels as OME-NGFF 0.4 or 0.5, not {version!r}: pass version='0.4' or '0.5'")
    if image is not None and str(image).rstrip("/") == str(url).rstrip("/"):
        image = None
    source = url if image is None else image
    if image is None:
        hint = ("labels are written into an OME-Zarr image; to write labels of an image stored elsewhere "
                "(a public, read-only one), pass image=<its URL> and url=<a writable location>")
        src_group, meta = _open_image(url, storage_options, hint)
    else:
        src_group, meta = _open_image(image, image_storage_options, "image= must name an OME-Zarr image.")
        meta = _physical(meta, labels)
    arr, names = _as_label_array(labels, meta, str(source))
    keep = [i for i, n in enumerate(meta.axis_names) if n != "c"]
    table = tables.labelled(properties) if properties is not None else None  # ngio's index or labkit's column
    props = _properties(table) if table is not None else None
    own = {int(k): _rgba(v) for k, v in (colors or {}).items()}
    if image is None:
        if meta.version not in WRITABLE:
            raise FormatError(
                f"{url} is an OME-NGFF {meta.version} image; labkit adds labels to 0.4 and 0.5 images. Pass "
                f"image={str(url)!r} and url=<a new location> to write a 0.4/0.5 copy of it with the labels"
            )
        if version is not None and version != meta.version:
            raise FormatError(
                f"{url} is OME-NGFF {meta.version} (zarr v{meta.zarr_format}); its labels are {meta.version} too. "
                f"Pass version=None, or image={str(url)!r} and a new url for a {version} copy"
            )
        version = meta.version
    else:
        version = version or (meta.version if meta.version in WRITABLE else ngff.spec.DEFAULT_VERSION)
    zarr_format = ngff.zarr_format_of(version)

    # what is at url, before writing anything
    with storage_errors(url, storage_options, action="write"):
        if image is None:
            root = _zarr.open_group(open_store(url, storage_options, mode="a"), mode="a")
        else:
            root = _existing_copy(url, image, storage_options, zarr_format)
        if root is not None:
            listed = ngff_labels.labels_listed_in(root[LABELS].attrs, version) if _exists(root, LABELS) else []
            if not overwrite and (name in listed or _exists(root, label_path(name))):
                raise AlreadyExistsError(
                    f"{_join(url, label_path(name))} already exists: pass overwrite=True to replace it, or another name"
                )
            if table is not None:
                tables.check_free(root, name, overwrite, url)

    def image_label_json(values: list[int]) -> dict[str, Any]:
        unknown = sorted(set(own) - set(values))
        if unknown:
            raise ConfigurationError(f"colors given for label values {unknown[:10]} that are not "
                                     f"{'in properties' if props is not None else 'in the labels'}")
        palette = label_colors(values)
        palette.update(own)
        return ngff_labels.image_label_json(values, palette, version, props)

    if props is not None:
        image_label_json(sorted(props))  # a bad colour is refused before anything is written
        if not hasattr(arr, "dask") or (root is not None and _exists(root, label_path(name))):
            tables.check_labels(table, _values(arr), str(_join(url, label_path(name))))  # before a write
    elif own and not hasattr(arr, "dask"):
        image_label_json([int(v) for v in np.unique(arr) if v != 0])

    with storage_errors(url, storage_options, action="write"):
        if root is None:
            root = _copy_image(url, image, src_group, meta, version, storage_options)
        labels_group = root.require_group(LABELS)
        group = labels_group.create_group(name, overwrite=True) if overwrite else labels_group.create_group(name)
        found: list[int] = []
        for k, lv in enumerate(meta.levels):
            shape = tuple(lv.shape[i] for i in keep)
            chunks = tuple(min(lv.chunks[i], s) for i, s in zip(keep, shape, strict=True))
            shards = tuple(min(lv.shards[i], -(-s // c) * c) for i, s, c in zip(keep, shape, chunks, strict=True)) \
                if lv.shards and zarr_format == 3 else None
            out = _zarr.create_array(group, lv.path, shape, arr.dtype, chunks, dimension_names=names, shards=shards)
            if k == 0:  # written once, listing its values on the way: a lazy segmentation is computed once
                found = _store_listing_values(arr, out, shards or chunks)
                if table is not None and hasattr(arr, "dask"):
                    _check_table_or_remove(table, found, labels_group, name, _join(url, label_path(name)))
                level0 = attempt_import("dask.array").from_zarr(_zarr.readable(out)) if hasattr(arr, "dask") else arr
            else:  # smaller levels from the stored level 0
                ngff._store_array(_level_of(level0, shape), out, shards or chunks)
        image_label = image_label_json(sorted(props) if props is not None else found)
        multiscale = _multiscale_json(meta, keep, name, version, "nearest",
                                      "the labels at each level of the image: nearest pixel (stride), no smoothing")
        group.attrs.update(ngff_labels.label_image_attrs(version, multiscale, image_label))
        record: dict[str, Any] = {}
        made_by = getattr(labels, "attrs", {}).get("method")
        if isinstance(made_by, Mapping):  # what segmented them (segment_nuclei: a trained model's id and URL)
            record["method"] = {str(k): str(v) for k, v in made_by.items()}
        # the labels' own dims: those of the image's axes of size 1 that were added (a time point's t) are taken
        # off again when the labels are read back as a result (NgffLabels)
        record["dims"] = [str(d) for d in getattr(labels, "dims", names) if d != "c"]
        group.attrs["labkit"] = record
        if table is not None:  # the feature table in the image (tables/<name>), as Fractal and ngio read it
            tables.write_into(root, table, name, name, overwrite=overwrite)
        listed = [n for n in ngff_labels.labels_listed_in(labels_group.attrs, version) if n != name] + [name]
        labels_group.attrs.update(ngff_labels.labels_attrs(version, listed))
    return _join(url, label_path(name))


def _physical(meta: ngff.Multiscale, labels: Any) -> ngff.Multiscale:
    """A v0.1-0.3 source (no physical scales) in micrometres, from the labels' coordinates, for its copy."""
    from dataclasses import replace

    coords = getattr(labels, "coords", {})
    vs = ngff.voxel_size(labels, [a.name for a in meta.axes if a.type == ngff.SPACE and a.name in coords])
    sizes = {d: s for d, s in vs.sizes.items() if coords[d].size > 1}
    if meta.scales_known or not vs.known or not sizes:  # pixels stay pixels: no physical scale is made up
        return meta
    def physical(values: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(v * sizes.get(a.name, 1.0) for v, a in zip(values, meta.axes, strict=True))

    levels = tuple(replace(lv, scale=physical(lv.scale), translation=physical(lv.translation)) for lv in meta.levels)
    axes = tuple(replace(a, unit=vs.unit) if a.name in sizes else a
                 for a in meta.axes)
    return replace(meta, levels=levels, axes=axes, scales_known=True)


def _values(arr: Any) -> list[int]:
    """The non-zero values of a label image (numpy, or dask: computed)."""
    values = attempt_import("dask.array").unique(arr).compute() if hasattr(arr, "dask") else np.unique(arr)
    return [int(v) for v in values if v != 0]


def _check_table_or_remove(table: Any, found: list[int], labels_group: Any, name: str, where: Any) -> None:
    """Lazy labels, new: their table is checked once they are written; refused, the new labels are removed."""
    try:
        tables.check_labels(table, found, str(where))
    except ConfigurationError:
        del labels_group[name]
        raise


def _store_listing_values(src: Any, arr: Any, block: Sequence[int]) -> list[int]:
    """Write ``src`` (numpy or dask) into ``arr`` in whole blocks; return its non-zero values, found on the way."""
    if not hasattr(src, "dask"):
        arr[...] = np.asarray(src)
        values = np.unique(src)
    elif _zarr.in_session(arr):  # a versioned store: written through forks of its session, then read back
        da = attempt_import("dask.array")
        _zarr.store_dask(src.rechunk(tuple(block)), arr)
        values = da.unique(da.from_zarr(_zarr.readable(arr))).compute()
    else:
        da = attempt_import("dask.array")
        stored = src.rechunk(tuple(block)).store(arr, lock=False, return_stored=True, compute=False)
        values = da.unique(stored).compute()
    return [int(v) for v in values if v != 0]


def _existing_copy(url: Any, image: Any, storage_options: Mapping[str, Any] | None, zarr_format: int) -> Any:
    """The group at ``url`` when it is labkit's copy of ``image`` (labels are added to it); ``None`` when empty."""
    from labkit.storage import holds_anything, open_store

    store = open_store(url, storage_options, mode="a")
    try:
        group = _zarr.open_group(store, mode="r")
    except _zarr.GROUP_NOT_FOUND:
        if not holds_anything(url, storage_options):
            return None
        group = None
    recorded = {} if group is None else dict(group.attrs).get("labkit", {})
    if isinstance(recorded, Mapping) and recorded.get("source_image") == str(image):
        if _zarr.zarr_format(group) != zarr_format:
            raise FormatError(f"{url} is a zarr v{_zarr.zarr_format(group)} copy of {image}; its labels are too: "
                              "pass version=None")
        return _zarr.open_group(store, mode="a")
    raise AlreadyExistsError(
        f"{url} already holds data that is not labkit's copy of {image}: pass a new url for the copy with the "
        "labels (labkit does not replace it)"
    )


def _copy_image(url: Any, image: Any, src_group: Any, meta: ngff.Multiscale, version: str,
                storage_options: Mapping[str, Any] | None) -> Any:
    """Write a copy of the image at ``url`` (its multiscale and omero metadata, its levels block by block)."""
    from labkit.storage import open_store

    da = attempt_import("dask.array")
    zarr_format = ngff.zarr_format_of(version)
    root = _zarr.open_group(open_store(url, storage_options, mode="w-"), mode="w-", zarr_format=zarr_format)
    for lv in meta.levels:
        shards = lv.shards if zarr_format == 3 else None
        out = _zarr.create_array(root, lv.path, lv.shape, lv.dtype, lv.chunks, dimension_names=meta.axis_names,
                                 shards=shards)
        ngff._store_array(da.from_zarr(src_group[lv.path]), out, shards or lv.chunks)
    attrs = ngff.copied_image_attrs(dict(src_group.attrs), meta, version, meta.name or ngff._default_name(image),
                                    f"copy of {image} (levels as there)", "labkit.labels.write_labels")
    attrs["labkit"] = {"source_image": str(image), "source_version": meta.version,
                       "note": "a copy of source_image, made to hold its labels (labels/)",
                       "labkit_version": ngff._labkit_version()}
    root.attrs.update(attrs)
    return root


def write_label_properties(url: Any, properties: Any, name: str = "nuclei", *,
                           storage_options: Mapping[str, Any] | None = None) -> None:
    """Record a measurement table as the ``properties`` of labels already written (the arrays are not touched).

    Measure the labels as stored (:func:`labkit.measure` of :func:`open_labels`), then keep the table with
    them: viewers that read NGFF labels show each object's properties. Colours are kept, or made for labels
    that have none.

    Parameters
    ----------
    url : str or path
        The OME-Zarr image holding the labels.
    properties : pandas.DataFrame
        One row per label with a ``label`` column (e.g. from :func:`labkit.measure`).
    name : str
        The labels' name.
    storage_options : mapping, optional
        Options for ``url``.

    Examples
    --------
    >>> write_label_properties("cells.ome.zarr", labkit.measure(open_labels("cells.ome.zarr"), image))  # doctest: +SKIP
    """
    from labkit.load_remote import open_multiscale
    from labkit.storage import open_store

    props = _properties(tables.labelled(properties))
    where = _join(url, label_path(_check_name(name)))
    if name not in label_names(url, storage_options):
        raise NotFoundError(f"{url} has no labels {name!r} to describe: write them first with write_labels")
    tables.write_table(url, properties, labels=name, overwrite=True, storage_options=storage_options)
    _, meta = open_multiscale(where, storage_options=storage_options)
    group = _zarr.open_group(open_store(where, storage_options, mode="a"), mode="a")
    image_label = ngff_labels.image_label_of(dict(group.attrs))
    values = sorted(props)
    palette = label_colors(values) | ngff_labels.colors_of(image_label)
    image_label = ngff_labels.with_colors_and_properties(image_label, values, palette, props)
    group.attrs.update(ngff_labels.image_label_attrs(meta.version, image_label))


# --------------------------------------------------------------------------- reading
def label_names(url: Any, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The names of the labels of the image at ``url`` (``[]`` if it has none).

    Examples
    --------
    >>> label_names("cells.ome.zarr")  # doctest: +SKIP
    ['nuclei', 'cells']
    """
    from labkit.load_remote import open_multiscale

    group, meta = open_multiscale(url, storage_options=storage_options)
    if not _exists(group, LABELS):
        return []
    return ngff_labels.label_names_of(dict(group[LABELS].attrs))


def open_labels(url: Any, name: str = "nuclei", level: int = 0,
                storage_options: Mapping[str, Any] | None = None) -> Any:
    """Open the labels ``name`` of an OME-Zarr image as a lazy ``xarray.DataArray``, aligned with the image.

    Dims are the image's without ``c``, coordinates those of ``labkit.open_image(url, level)``; ``attrs``
    hold the ``image-label`` metadata: ``colors`` (label value -> RGBA) and ``properties`` (label value ->
    dict), and ``image_label`` as stored. They are dicts that print as a summary (``25 label colours
    (values 1-25)``), so displaying the labels shows a few lines whatever their number; index them, or
    ``dict(...)`` them, for the values. ``written_dims`` are the dims the labels had when written: labels of
    one time point of a ``(t, c, z, y, x)`` image were written with a ``t`` axis of size 1 that
    ``labels.isel(t=0)`` takes off (:class:`labkit.results.NgffLabels` does it when it reads a result back);
    ``None`` when nothing recorded them (labels written by another tool, or by labkit before 2026-12-07).

    Examples
    --------
    >>> lab = open_labels("cells.ome.zarr", "nuclei", level=1)  # doctest: +SKIP
    >>> lab.attrs["properties"][3]["area"]  # doctest: +SKIP
    412.0
    """
    from labkit.load_remote import array_token, open_image, open_multiscale

    xr = attempt_import("xarray")
    da = attempt_import("dask.array")
    _check_name(name)
    img = open_image(url, level, storage_options=storage_options, chunks="storage")
    names = label_names(url, storage_options)
    where = _join(url, label_path(name))
    if name not in names:
        raise NotFoundError(f"{url} has no labels {name!r}; its labels: {names or 'none'}")
    group, meta = open_multiscale(where, storage_options=storage_options)
    if not 0 <= level < len(meta.levels):
        raise IndexError(f"{where} has levels 0-{len(meta.levels) - 1}; level {level} does not exist")
    lv = meta.levels[level]
    dims = tuple(d for d in img.dims if d != "c")
    expected = tuple(img.sizes[d] for d in dims)
    # a label image may keep the image's channel axis with one channel (IDR's, written by omero-zarr: c, z, y, x)
    one_channel = "c" in meta.axis_names and lv.shape[meta.axis_names.index("c")] == 1
    own = tuple(n for n in meta.axis_names if not (one_channel and n == "c"))
    own_shape = tuple(n for a, n in zip(meta.axis_names, lv.shape, strict=True) if not (one_channel and a == "c"))
    if own != dims or own_shape != expected:
        raise FormatError(f"{where} level {level} is {lv.shape} ({''.join(meta.axis_names)}), not aligned with "
                          f"the image's {expected} ({''.join(dims)})")
    arr = group[lv.path]
    data = da.from_zarr(arr, chunks=lv.shards or lv.chunks, inline_array=True,
                        name=f"labels-{array_token(arr, where, level, lv.shards or lv.chunks)}")
    if one_channel:
        data = data[tuple(0 if a == "c" else slice(None) for a in meta.axis_names)]
    coords = {d: img.coords[d] for d in dims if d in img.coords}
    out = xr.DataArray(data, dims=dims, coords=coords, name=name)
    image_label = ngff_labels.image_label_of(dict(group.attrs))
    out.attrs.update({
        "source": where, "image": str(url), "ngff_version": meta.version, "level": level,
        "colors": LabelColors(ngff_labels.colors_of(image_label)),
        "properties": LabelProperties(ngff_labels.properties_of(image_label)),
        "image_label": ImageLabel(image_label),
        "written_dims": _written_dims(dict(group.attrs)),
    })
    return out

