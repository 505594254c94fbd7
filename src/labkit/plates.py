"""Studies of many images: OME-NGFF HCS plates (0.4 and 0.5) and bioformats2raw collections.

:func:`open_plate` reads a plate's metadata and every well's metadata (one request per well, all in flight
at once); a field's multiscale metadata is read only when its image is asked for, and :meth:`Plate.stack`
reads all of them concurrently. Every image is what :func:`labkit.open_image` gives for its URL.

Examples
--------
>>> plate = open_plate("s3://idr/zarr/v0.4/labkit-hcs/plate-96.zarr")  # doctest: +SKIP
>>> plate.wells.head()  # doctest: +SKIP
>>> plate.image("B3", field=1).sel(c="DAPI")  # doctest: +SKIP
>>> plate.stack().sizes  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit import _zarr, ngff
from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import FormatError, LabkitError, NotFoundError

__all__ = ["Collection", "ImageRef", "Plate", "open_collection", "open_plate"]

#: requests kept in flight when a plate's metadata is read
CONCURRENCY = 32
_WELL_NAME = re.compile(r"^\s*([A-Za-z]+)\s*[/_-]?\s*0*(\d+)\s*$")


def _join(url: Any, *parts: str) -> str:
    """``url/part/...`` for a URL or a local path."""
    base = str(url)
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


def _read_json_keys(store: Any, keys: Sequence[str], url: Any, storage_options: Any,
                    endpoint_url: str | None) -> list[dict[str, Any] | None]:
    """The JSON documents at ``keys`` of ``store`` (``None`` where there is none), all requested at once."""
    from labkit import storage

    try:
        return _zarr.read_documents(store, keys, CONCURRENCY, str(url), "write the plate again")
    except LabkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the store's own errors in labkit's words
        raise storage.storage_error(exc, url, storage_options, endpoint_url=endpoint_url) from None


_attributes, _prefix, _attrs_key = _zarr.attributes, _zarr.key_prefix, _zarr.attrs_key


def _open_root(url: Any, storage_options: Any, endpoint_url: str | None, engine: str) -> Any:
    from labkit.load_remote import _open_group

    return _open_group(url, storage_options, endpoint_url, engine)


def _open_image(root: Any, url: Any, path: str, level: int, chunks: Any = None) -> Any:
    """What ``open_image(url/path, level)`` gives, from the plate's own store."""
    from labkit.load_remote import image_of

    meta = _multiscale(root, url, path)
    return image_of(meta[0], meta[1], _join(url, *path.split("/")), level, chunks=chunks)


def _multiscale(root: Any, url: Any, path: str) -> tuple[Any, ngff.Multiscale]:
    where = _join(url, *path.split("/"))
    try:
        group = _zarr.open_child_group(root, path)
    except _zarr.GROUP_NOT_FOUND:
        raise NotFoundError(f"{where}: the metadata lists this image, but there is no zarr group there") from None
    return group, ngff.read(group, source=where)


# --------------------------------------------------------------------------- plates
@dataclass
class Plate:
    """An OME-NGFF HCS plate: rows, columns, wells and their fields, each field an OME-Zarr image.

    Attributes
    ----------
    url : str
        Where the plate was opened from.
    version : str
        NGFF version (``"0.4"``, ``"0.5"``).
    name : str or None
    rows, columns : list of str
        Row and column names (``["A", "B", ...]``, ``["1", "2", ...]``).
    acquisitions : list of dict
        The plate's acquisitions, as in its metadata.
    wells : pandas.DataFrame
        One row per well with images: ``well`` (``"B3"``), ``row`` (``"B"``), ``column`` (its name, an int
        when the names are numbers), ``row_index``, ``column_index``, ``path`` (``"B/3"``), ``fields`` (count)
        and ``field_paths``.
    attrs : dict
        The plate group's attributes (e.g. ``labkit_truth`` of :func:`labkit.synthetic.hcs_plate`).
    """

    url: str
    version: str
    name: str | None
    rows: list[str]
    columns: list[str]
    acquisitions: list[dict[str, Any]]
    wells: Any
    attrs: dict[str, Any] = field(repr=False)
    _root: Any = field(repr=False, default=None)

    # ------------------------------------------------------------------ wells
    def _well(self, well: Any) -> Any:
        """The row of ``wells`` for ``"B3"``, ``"B/3"``, ``("B", 3)`` or ``(1, 2)`` (0-based row and column indices)."""
        df = self.wells
        if isinstance(well, tuple) and len(well) == 2:
            r, c = well
            if isinstance(r, (int,)) and not isinstance(r, bool) and isinstance(c, int):
                hit = df[(df.row_index == r) & (df.column_index == c)]
                label = f"row index {r}, column index {c}"
            else:
                hit = df[(df.row.str.upper() == str(r).upper()) & (df.column.astype(str).str.lstrip("0")
                                                                     == str(c).lstrip("0"))]
                label = f"{r}{c}"
        else:
            text = str(well)
            m = _WELL_NAME.match(text)
            if m is None:
                hit = df[df.path == text]
            else:
                hit = df[(df.row.str.upper() == m[1].upper()) & (df.column.astype(str).str.lstrip("0") == m[2])]
            label = text
        if hit.empty:
            shown = ", ".join(df.well.head(6)) + (" ..." if len(df) > 6 else "")
            raise NotFoundError(
                f"{self.url}: no well {label} with images in this {len(self.rows)} x {len(self.columns)} plate "
                f"(wells with images: {shown}; plate.wells lists them all)"
            )
        return hit.iloc[0]

    def select(self, rows: Any = None, columns: Any = None, fields: int | None = None) -> Plate:
        """The same plate with only the wells of these rows and columns (``None``: all), e.g. to analyse a part.

        Rows by name (``["A", "B"]``), columns by name or number (``[1, 2]``); ``fields`` keeps the first
        ``fields`` fields of view of each well (``None``: all). Nothing is read; the plate's size stays, so
        :func:`labkit.plate_heatmap` still draws the whole plate (the other wells left blank).

        Examples
        --------
        >>> part = plate.select(columns=[1, 2], fields=2)  # doctest: +SKIP
        >>> len(part)  # doctest: +SKIP
        32
        """
        if fields is not None and (isinstance(fields, bool) or not isinstance(fields, int) or fields < 1):
            raise ValueError(f"fields is how many fields of each well to keep, a whole number from 1; not {fields!r}")
        df = self.wells
        keep = df.well == df.well
        if rows is not None:
            keep &= df.row.str.upper().isin([str(r).upper() for r in rows])
        if columns is not None:
            keep &= df.column.astype(str).str.lstrip("0").isin([str(c).lstrip("0") for c in columns])
        if not keep.any():
            raise NotFoundError(f"{self.url}: no well with images in rows {rows} and columns {columns} "
                                f"(rows {self.rows}, columns {self.columns})")
        from dataclasses import replace

        kept = df[keep].reset_index(drop=True)
        if fields is not None:
            kept = kept.assign(fields=kept.fields.clip(upper=fields),
                               field_paths=[list(p)[:fields] for p in kept.field_paths])
        return replace(self, wells=kept)

    def image(self, well: Any, field: int = 0, level: int = 0, *, chunks: Any = None) -> Any:
        """One field of a well, as :func:`labkit.open_image` gives it (a lazy ``xarray.DataArray``).

        Parameters
        ----------
        well : str or tuple
            ``"B3"`` (or ``"B03"``, ``"B/3"``), ``("B", 3)``, or ``(1, 2)``: 0-based row and column indices.
        field : int
            Field of view, 0 being the well's first.
        level : int
            Resolution level.
        """
        row = self._well(well)
        if not 0 <= field < row.fields:
            raise IndexError(f"well {row.well} has fields 0-{row.fields - 1}; field {field} does not exist")
        return _open_image(self._root, self.url, f"{row.path}/{row.field_paths[field]}", level, chunks)

    def images(self, level: int = 0) -> Iterator[tuple[str, int, Any]]:
        """Every image: ``(well, field, DataArray)``, well by well, each opened only when reached."""
        for row in self.wells.itertuples():
            for i in range(row.fields):
                yield row.well, i, self.image(row.well, i, level)

    __iter__ = images

    def refs(self, level: int = 0) -> list[tuple[dict[str, Any], ImageRef]]:
        """``({"well": ..., "field": ...}, ImageRef)`` for every field, no image opened.

        The fields' metadata is read concurrently; :func:`labkit.map_images` sends the references to the workers.
        """
        keys = [{"well": str(row.well), "field": f} for row in self.wells.itertuples() for f in range(row.fields)]
        paths = [f"{row.path}/{row.field_paths[f]}" for row in self.wells.itertuples() for f in range(row.fields)]
        labels = [f"well {k['well']} field {k['field']}" for k in keys]
        return list(zip(keys, _refs(self._root, self.url, paths, level, labels), strict=True))

    def __len__(self) -> int:
        """Number of images (fields) in the plate."""
        return int(self.wells.fields.sum())

    def stack(self, level: int = 0, *, fields: int | None = None, chunks: Any = None) -> Any:
        """Every field as one lazy ``xarray.DataArray`` with leading dimensions ``(well, field)``.

        The fields' metadata is read concurrently; no pixel is read. Spatial coordinates are those of the
        first field. ``fields`` takes the first ``fields`` of each well (needed when wells have different
        numbers of fields).

        Raises
        ------
        labkit.errors.FormatError
            Fields differ in shape, type or axes, or wells in their number of fields (the message names them).
        """
        xr = attempt_import("xarray")
        df = self.wells
        if df.empty:
            raise FormatError(f"{self.url}: the plate lists no wells with images; there is nothing to stack")
        if fields is None:
            counts = df.fields.unique()
            if len(counts) > 1:
                odd = df[df.fields != df.fields.iloc[0]].iloc[0]
                raise FormatError(
                    f"{self.url}: wells have different numbers of fields (well {df.well.iloc[0]} has "
                    f"{df.fields.iloc[0]}, well {odd.well} has {odd.fields}): pass fields=k to stack the first k "
                    f"of each (at most {int(df.fields.min())}), or read them one by one with plate.images()"
                )
            fields = int(counts[0])
        short = df[df.fields < fields]
        if not short.empty:
            raise FormatError(f"{self.url}: well {short.well.iloc[0]} has only {short.fields.iloc[0]} fields, "
                              f"fewer than the {fields} asked for")
        paths = [f"{row.path}/{row.field_paths[f]}" for row in df.itertuples() for f in range(fields)]
        first = _open_image(self._root, self.url, paths[0], level, chunks)
        arrays = _same_arrays(self._root, self.url, paths, level, first,
                              [f"well {w} field {f}" for w in df.well for f in range(fields)])
        from dask.base import tokenize

        data = _stacked(arrays, first.data.chunks, (len(df), fields),
                        f"plate-{tokenize(self.url, level, paths, first.data.chunks)}")
        coords = {k: v for k, v in first.coords.items()}
        coords.update({"well": list(df.well), "field": list(range(fields)),
                       "row": ("well", list(df.row)), "column": ("well", list(df.column))})
        out = xr.DataArray(data, dims=("well", "field", *first.dims), coords=coords, name=self.name or "plate")
        for name in first.dims:
            if name in first.coords:
                out[name].attrs.update(first[name].attrs)
        out.attrs.update({**first.attrs, "source": self.url})
        return out

    def __repr__(self) -> str:
        return (f"<Plate {self.name or ''} {self.url}: NGFF {self.version}, {len(self.rows)} x {len(self.columns)} "
                f"wells, {len(self.wells)} with images, {plural(len(self), 'field')}>")


def _field_metadata(root: Any, url: str, paths: list[str], level: int,
                    labels: list[str]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(array path, group attributes, array metadata)`` of ``level`` of every image at ``paths``.

    Two documents an image, all requested at once. ``labels`` name the images in errors (``"well B3 field 1"``).
    """
    fmt = _zarr.zarr_format(root)
    prefix = _prefix(root)
    docs = _read_json_keys(root.store, [prefix + _attrs_key(p, fmt) for p in paths], url, None, None)
    array_paths = []
    for path, label, doc in zip(paths, labels, docs, strict=True):
        attrs = _attributes(doc, fmt)
        if attrs is None:
            raise NotFoundError(f"{_join(url, *path.split('/'))}: the metadata lists {label} here, but there is "
                                "no zarr group there")
        try:
            dataset = ngff.spec.dataset_paths(attrs)[level]
        except IndexError:
            raise FormatError(f"{_join(url, *path.split('/'))}: {label} has no OME-NGFF multiscales metadata "
                              f"with a level {level}") from None
        array_paths.append(f"{path}/{dataset}")
    array_docs = _read_json_keys(root.store, [prefix + _zarr.array_key(p, fmt) for p in array_paths], url, None,
                                 None)
    out = []
    for path, label, attrs_doc, doc in zip(array_paths, labels, docs, array_docs, strict=True):
        if doc is None:
            raise FormatError(f"{_join(url, *path.split('/'))}: {label} names this array at level {level}, but "
                              "it is missing")
        out.append((prefix + path, attrs_doc, doc))
    return out


def _same_arrays(root: Any, url: str, paths: list[str], level: int, first: Any, labels: list[str]) -> list[Any]:
    """The zarr array of ``level`` of every image at ``paths``, each checked to match the first.

    Made from their metadata (read concurrently, two requests an image); ``first`` is the first image as
    :func:`labkit.open_image` gives it.
    """
    arrays = []
    for label, (path, _, doc) in zip(labels, _field_metadata(root, url, paths, level, labels), strict=True):
        array = _array(root.store, path, doc)
        if array.shape != first.shape or array.dtype != first.dtype:
            raise FormatError(
                f"{url}: {label} is {array.shape} {array.dtype} at level {level}, but {labels[0]} is {first.dims} "
                f"{first.shape} {first.dtype}: fields of different shapes make no stack; read them one by one "
                "with plate.images()"
            )
        arrays.append(array)
    return arrays


@dataclass(frozen=True)
class ImageRef:
    """One image of a plate or collection, opened when called (on a Dask worker, say).

    Picklable, and no request is made until it is called. ``identity`` digests the image's metadata (its
    group's attributes and the level's array metadata): what :func:`labkit.map_images` checks to tell whether
    a stored result is still fresh.

    Opening it reads only its levels' array metadata (one request each, at once): the group's attributes
    came with it.
    """

    root: Any = field(repr=False)
    url: str
    path: str
    level: int
    identity: str
    attrs: dict[str, Any] = field(repr=False, default_factory=dict)

    def __call__(self) -> Any:
        """The image, as :func:`labkit.open_image` gives it."""
        from labkit.load_remote import image_of

        fmt = _zarr.zarr_format(self.root)
        where = _join(self.url, *self.path.split("/"))
        prefix = _prefix(self.root)
        datasets = ngff.spec.dataset_paths(self.attrs)
        keys = [prefix + _zarr.array_key(f"{self.path}/{d}", fmt) for d in datasets]
        docs = _read_json_keys(self.root.store, keys, self.url, None, None)
        group = _zarr.KnownGroup(self.attrs, {
            d: _zarr.array_from_document(self.root.store, f"{prefix}{self.path}/{d}", doc)
            for d, doc in zip(datasets, docs, strict=True) if doc is not None}, fmt)
        return image_of(group, ngff.read(group, source=where), where, self.level)


_array = _zarr.array_from_document


def _refs(root: Any, url: str, paths: list[str], level: int, labels: list[str]) -> list[ImageRef]:
    """An :class:`ImageRef` for each image at ``paths``, from their metadata read concurrently."""
    import hashlib
    import json

    refs = []
    with _cycle_collector_paused():
        for path, (_, attrs_doc, doc) in zip(paths, _field_metadata(root, url, paths, level, labels), strict=True):
            digest = hashlib.sha256(json.dumps([_join(url, *path.split("/")), level, attrs_doc, doc],
                                               sort_keys=True, default=str).encode()).hexdigest()[:32]
            refs.append(ImageRef(root, str(url), path, level, digest,
                                 _attributes(attrs_doc, _zarr.zarr_format(root))))
    return refs


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a listing makes its many small objects (none of them cycles).

    Each collection rescans every object made so far: listing 98,304 fields took 55 s with it and 35 s without
    (0.56 against 0.36 ms a field; 0.42 ms at 6144 fields), i.e. it made the listing's time grow faster than linearly.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_region(array: Any, region: tuple[slice, ...]) -> Any:
    """One dask block of a stacked field: ``array[region]`` with two leading axes of length one."""
    return array[region][None, None]


def _stacked(arrays: list[Any], chunks: tuple[tuple[int, ...], ...], lead: tuple[int, int], name: str) -> Any:
    """One dask array ``(well, field, ...)`` over the zarr ``arrays``, one task per block.

    ``lead[0] * lead[1]`` arrays, each read in ``chunks``; the graph is built directly (no per-field dask array).
    """
    import itertools

    import numpy as np

    da = attempt_import("dask.array")
    offsets = [np.concatenate([[0], np.cumsum(c)]).tolist() for c in chunks]
    blocks = list(itertools.product(*(range(len(c)) for c in chunks)))
    regions = [tuple(slice(offsets[d][k], offsets[d][k + 1]) for d, k in enumerate(b)) for b in blocks]
    graph = {}
    for i, array in enumerate(arrays):
        w, f = divmod(i, lead[1])
        for block, region in zip(blocks, regions, strict=True):
            graph[(name, w, f, *block)] = (_read_region, array, region)
    dtype = arrays[0].dtype
    return da.Array(graph, name, chunks=((1,) * lead[0], (1,) * lead[1], *chunks), dtype=dtype,
                    meta=np.empty((0,) * (len(chunks) + 2), dtype))


def _plate_section(attrs: Mapping[str, Any], url: Any) -> tuple[str, Mapping[str, Any]]:
    version, plate = ngff.plate.plate_of(attrs)
    if not isinstance(plate, Mapping):
        hint = ngff.container_hint(attrs, str(url))
        if hint and "open_plate" not in hint:
            raise FormatError(hint.replace(" not an image", " not a plate"))
        if ngff.ome_attributes(attrs):
            raise FormatError(f"{url} is an OME-NGFF image, not a plate: open it with labkit.open_image({str(url)!r})")
        raise FormatError(f"{url} has no OME-NGFF {ngff.plate.PLATE!r} metadata "
                          f"(attributes: {sorted(attrs) or 'none'}): not an HCS plate")
    return version or ngff.spec.DEFAULT_VERSION, plate


def open_plate(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    engine: str = "auto",
) -> Plate:
    """Open an OME-NGFF HCS plate (0.4 on zarr v2, 0.5 on zarr v3): its metadata and its wells'.

    Reads the plate group, then every well's metadata, one request per well, all in flight at once;
    no field's image metadata and no pixel.

    Parameters
    ----------
    url : str or path
        The plate's root (``s3://``, ``https://``, ``ipfs://`` or a local path).
    storage_options, endpoint_url, engine : optional
        As for :func:`labkit.open_image`.

    Returns
    -------
    Plate

    Raises
    ------
    labkit.errors.FormatError
        Not a plate (the message says what it is), or the plate lists a well that is missing or has no fields.
    labkit.errors.NotFoundError
        Nothing at ``url``.
    """
    pd = attempt_import("pandas")
    root = _open_root(url, storage_options, endpoint_url, engine)
    attrs = dict(root.attrs)
    version, plate = _plate_section(attrs, url)
    fmt = _zarr.zarr_format(root)
    rows, columns, wells, acquisitions = ngff.plate.plate_layout(plate)
    prefix = _prefix(root)
    docs = _read_json_keys(root.store, [prefix + _attrs_key(ngff.plate.well_place(w)[0], fmt) for w in wells],
                           url, storage_options, endpoint_url)
    records = []
    numeric = all(c.isdigit() for c in columns)
    for w, doc in zip(wells, docs, strict=True):
        path, ri, ci = ngff.plate.well_place(w)
        where = _join(url, *path.split("/"))
        well_attrs = _attributes(doc, fmt)
        if well_attrs is None:
            raise FormatError(f"{url}: the plate lists well {path!r}, but {where} holds no zarr group "
                              f"({_attrs_key(path, fmt).rsplit('/', 1)[1]} is missing): the plate is incomplete")
        _, meta = ngff.plate.well_of(well_attrs)
        if not isinstance(meta, Mapping):
            raise FormatError(f"{where}: the plate lists this well, but it has no OME-NGFF {ngff.plate.WELL!r} "
                              f"metadata (attributes: {sorted(well_attrs) or 'none'})")
        images = ngff.plate.well_fields(meta)
        name = path.replace("/", "")
        if not images:
            raise FormatError(f"{where}: well {name} lists no fields (its 'images' is empty); a well without "
                              "images must be left out of the plate's 'wells'")
        r_name, _, c_name = path.partition("/")
        ri = rows.index(r_name) if ri is None and r_name in rows else ri
        ci = columns.index(c_name) if ci is None and c_name in columns else ci
        records.append({
            "well": f"{rows[ri]}{columns[ci]}" if ri is not None and ci is not None else name,
            "row": rows[ri] if ri is not None else r_name, "column": columns[ci] if ci is not None else c_name,
            "row_index": ri, "column_index": ci, "path": path, "fields": len(images),
            "field_paths": [path for path, _ in images],
            "acquisitions": [acquisition for _, acquisition in images],
        })
    df = pd.DataFrame.from_records(records, columns=["well", "row", "column", "row_index", "column_index", "path",
                                                     "fields", "field_paths", "acquisitions"])
    if numeric and not df.empty:
        df["column"] = df.column.astype(int)
    return Plate(url=str(url), version=version, name=ngff.plate.plate_name(plate), rows=rows, columns=columns,
                 acquisitions=acquisitions, wells=df, attrs=attrs, _root=root)


# --------------------------------------------------------------------------- collections
@dataclass
class Collection:
    """A bioformats2raw collection: images ``0/``, ``1/`` ... named in ``OME/METADATA.ome.xml``.

    Iterating gives ``(name, DataArray)`` pairs, each image opened when reached.
    """

    url: str
    names: list[str]
    paths: list[str]
    ome_xml: str | None = field(repr=False, default=None)
    attrs: dict[str, Any] = field(repr=False, default_factory=dict)
    _root: Any = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.paths)

    def _index(self, key: int | str) -> int:
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(self) <= key < len(self):
                raise IndexError(f"{self.url} holds images 0-{len(self) - 1}; image {key} does not exist")
            return key % len(self)
        if key in self.names:
            if self.names.count(key) > 1:
                raise FormatError(f"{self.url}: {self.names.count(key)} images are named {key!r}: ask by index "
                                  f"({[i for i, n in enumerate(self.names) if n == key]})")
            return self.names.index(key)
        if str(key) in self.paths:
            return self.paths.index(str(key))
        raise NotFoundError(f"{self.url}: no image named {key!r} (names: {self.names[:8]}"
                            f"{' ...' if len(self) > 8 else ''})")

    def image(self, key: int | str = 0, level: int = 0, *, chunks: Any = None) -> Any:
        """Image ``key`` (its index or its name), as :func:`labkit.open_image` gives it."""
        return _open_image(self._root, self.url, self.paths[self._index(key)], level, chunks)

    def images(self, level: int = 0) -> Iterator[tuple[str, Any]]:
        """Every image: ``(name, DataArray)``, each opened only when reached."""
        for i, name in enumerate(self.names):
            yield name, self.image(i, level)

    __iter__ = images

    def refs(self, level: int = 0) -> list[tuple[dict[str, Any], ImageRef]]:
        """``({"index": ..., "name": ...}, ImageRef)`` for every image, their metadata read concurrently."""
        keys = [{"index": i, "name": str(n)} for i, n in enumerate(self.names)]
        labels = [f"image {i} ({n})" for i, n in enumerate(self.names)]
        return list(zip(keys, _refs(self._root, self.url, list(self.paths), level, labels), strict=True))

    def __repr__(self) -> str:
        more = " ..." if len(self) > 4 else ""
        return f"<Collection {self.url}: {plural(len(self), 'image')} {self.names[:4]}{more}>"


def ome_xml_names(text: str) -> list[str]:
    """The ``Name`` of each ``Image`` of an OME-XML document, in order (``Image:<i>`` where it has none).

    Examples
    --------
    >>> ome_xml_names('<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
    ...               '<Image ID="Image:0" Name="a.tif"/><Image ID="Image:1"/></OME>')
    ['a.tif', 'Image:1']
    """
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FormatError(f"OME/METADATA.ome.xml is not valid XML ({exc})") from None
    images = [el for el in tree if el.tag.rsplit("}", 1)[-1] == "Image"]
    return [el.get("Name") or el.get("ID") or f"Image:{i}" for i, el in enumerate(images)]


def open_collection(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, endpoint_url: str | None = None,
    engine: str = "auto",
) -> Collection:
    """Open a bioformats2raw collection (``bioformats2raw.layout``): its images and their OME-XML names.

    The images are the series the ``OME`` group's ``series`` attribute lists, else ``0/``, ``1/`` ... one per
    ``Image`` of ``OME/METADATA.ome.xml``.

    Raises
    ------
    labkit.errors.FormatError
        Not a bioformats2raw collection (the message says what it is).
    """
    root = _open_root(url, storage_options, endpoint_url, engine)
    attrs = dict(root.attrs)
    layout = ngff.plate.collection_layout(attrs)
    if layout is None:
        hint = ngff.container_hint(attrs, str(url))
        if hint:
            raise FormatError(hint.replace(" not an image", " not a bioformats2raw collection"))
        if ngff.ome_attributes(attrs):
            raise FormatError(f"{url} is an OME-NGFF image, not a collection: open it with "
                              f"labkit.open_image({str(url)!r})")
        raise FormatError(f"{url} has no {ngff.plate.LAYOUT!r} attribute: not a bioformats2raw collection")
    fmt = _zarr.zarr_format(root)
    prefix = _prefix(root)
    keys = [prefix + _attrs_key("OME", fmt)]
    ome_doc, = _read_json_keys(root.store, keys, url, storage_options, endpoint_url)
    ome_attrs = _attributes(ome_doc, fmt) or {}
    series = ngff.plate.collection_series(ome_attrs)
    xml = _read_text(root.store, prefix + "OME/METADATA.ome.xml")
    names = ome_xml_names(xml) if xml else []
    if series:
        paths = [str(s) for s in series]
    elif names:
        paths = [str(i) for i in range(len(names))]
    else:
        paths = sorted((k for k in root.group_keys() if k.isdigit()), key=int)
    if not paths:
        raise FormatError(f"{url}: a bioformats2raw collection with no images (no 'series', no OME-XML images, "
                          "no 0/ group)")
    names = names[:len(paths)] + [f"series {p}" for p in paths[len(names):]]
    return Collection(url=str(url), names=names, paths=paths, ome_xml=xml, attrs=attrs, _root=root)


_read_text = _zarr.read_text
