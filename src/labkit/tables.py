"""Feature tables inside an OME-Zarr image, as Fractal and its ``ngio`` library write and read them.

A measurement table (one row per object of a label image) is kept in the image itself, in ``tables/<name>``:
the ``tables`` group lists the names (``{"tables": [...]}``), and each table is a group typed
``feature_table`` and linked to its label image (``region: {"path": "../labels/<labels>"}``, index ``label``).
This is the table specification of ngio 1.x (``docs/table_specs``, ``ngio.tables.v1.FeatureTableV1``), derived
from fractal-tasks-core's; Fractal, ngio and napari-ome-zarr-navigator find measurements there.

* :func:`write_table` writes one (the ``parquet`` backend: ``table.parquet`` in the group; into a versioned
  store, whose keys can only be zarr's, the ``json`` backend: the table in the attributes of ``table/``);
  :func:`labkit.write_labels` with ``properties=`` calls it for the labels it writes;
* :func:`open_table` reads one (``parquet``, ``csv``, ``json`` and AnnData backends: also tables written by
  ngio or Fractal), :func:`table_names` lists them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from labkit import ngff
>>> from labkit.labels import write_labels
>>> _ = ngff.write_image("memory://doc-tables", np.zeros((16, 16), np.uint16), axes="yx", overwrite=True)
>>> seg = np.zeros((16, 16), np.uint32); seg[2:6, 2:6] = 1; seg[8:12, 8:14] = 2
>>> table = pd.DataFrame({"label": [1, 2], "area": [16.0, 24.0]})
>>> _ = write_labels("memory://doc-tables", seg, "nuclei", properties=table)
>>> table_names("memory://doc-tables")
['nuclei']
>>> open_table("memory://doc-tables", "nuclei")
   label  area
0      1  16.0
1      2  24.0
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from labkit import _zarr
from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import AlreadyExistsError, ConfigurationError, FormatError, NotFoundError
from labkit.ngff import tables as spec
from labkit.ngff.labels import label_path
from labkit.ngff.tables import (  # noqa: F401 - labkit.tables.TABLE_TYPE ... as before
    INDEX,
    READ_BACKENDS,
    TABLE_TYPE,
    TABLE_VERSION,
    TABLES,
    table_path,
)

__all__ = ["open_table", "table_names", "write_table"]



# --------------------------------------------------------------------------- checking a table
def labelled(table: Any) -> Any:
    """The table with its label values in an integer ``label`` column (one row per label), or a clear error.

    Takes labkit's tables (a ``label`` column) and ngio's (the index named ``label``).

    Raises
    ------
    labkit.errors.ConfigurationError
        No ``label`` column or index, label values that are not integers or not positive, a label twice.

    Examples
    --------
    >>> import pandas as pd
    >>> labelled(pd.DataFrame({"area": [4.0]}, index=pd.Index([3], name="label")))
       label  area
    0      3   4.0
    """
    pd = attempt_import("pandas")
    columns = getattr(table, "columns", None)
    if columns is None or not isinstance(table, pd.DataFrame):
        raise ConfigurationError(
            f"a measurement table is a pandas DataFrame with a 'label' column, one row per label; got "
            f"{type(table).__name__}")
    index_name = table.index.name
    if INDEX in columns:
        if index_name == INDEX:
            raise ConfigurationError(
                "the table has a 'label' column and an index named 'label': keep one (table.reset_index(drop=True) "
                "drops the index)")
        out = table.reset_index(drop=True)
    elif index_name == INDEX:
        out = table.reset_index()
    else:
        index = f"named {index_name!r}" if index_name else "unnamed"
        raise ConfigurationError(
            f"the table has no 'label' column and its index is {index}"
            f" (columns {list(columns)[:8]}): give each row's label value in a 'label' column, as labkit.measure's "
            "tables have, or as the index named 'label' (table.rename_axis('label'), as ngio's)")
    raw = out[INDEX]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = raw[numeric.isna() | (numeric % 1 != 0)]
    if len(bad):
        raise ConfigurationError(
            f"the table's labels must be integer label values; {bad.iloc[:5].tolist()} are not (is the table indexed "
            "by something else, e.g. a row number or an object name?)")
    values = numeric.astype("int64")
    if (values <= 0).any():
        raise ConfigurationError(
            f"the table names label {int(values[values <= 0].iloc[0])}: label values are positive (0 is the "
            "background); drop that row")
    dup = values[values.duplicated()]
    if len(dup):
        raise ConfigurationError(f"the table has more than one row for labels {sorted(set(dup.tolist()))[:10]}; "
                                 "give one row per label")
    out[INDEX] = values
    return out[[INDEX, *[c for c in out.columns if c != INDEX]]]


def check_labels(table: Any, values: Iterable[int], where: str) -> None:
    """Refuse a table whose rows name labels that are not in the label image ``where``.

    Raises
    ------
    labkit.errors.ConfigurationError
        Labels in the table and not in the image (listed, with the fix).
    """
    missing = sorted(set(int(v) for v in table[INDEX]) - set(int(v) for v in values))
    if missing:
        raise ConfigurationError(
            f"the table names {plural(len(missing), 'label')} that are not in {where}: {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}. Measure the labels you write (labkit.measure(labels, image)), "
            "or drop those rows; nothing was written")


# --------------------------------------------------------------------------- writing
def _join(url: Any, *parts: str) -> Any:
    if not isinstance(url, (str, os.PathLike)):
        return url / "/".join(parts)
    return "/".join([str(url).rstrip("/"), *parts])


def _listed(tables_group: Any) -> list[str]:
    return spec.table_names_of(dict(tables_group.attrs))


def check_free(root: Any, name: str, overwrite: bool, where: Any) -> None:
    """Refuse to replace the table ``name`` of the image group ``root`` unless ``overwrite``."""
    if overwrite or not _has(root, TABLES):
        return
    tables = root[TABLES]
    if name in _listed(tables) or _has(tables, name):
        raise AlreadyExistsError(f"{_join(where, table_path(name))} already exists: pass overwrite=True to replace it, "
                                 "or write the labels under another name")


def _has(group: Any, path: str) -> bool:
    try:
        group[path]
    except (KeyError, *_zarr.GROUP_NOT_FOUND):
        return False
    return True


def _column_kinds(table: Any) -> dict[str, list[str]]:
    pd = attempt_import("pandas")
    measurement, categorical = [], []
    for col in table.columns:
        if col == INDEX:
            continue
        kind = table[col].dtype
        if pd.api.types.is_bool_dtype(kind) or not pd.api.types.is_numeric_dtype(kind):
            categorical.append(str(col))
        else:
            measurement.append(str(col))
    return spec.column_kinds(measurement, categorical)


def write_into(root: Any, table: Any, name: str, labels: str, *, overwrite: bool = False) -> str:
    """Write the checked table (:func:`labelled`) as the feature table ``name`` of the image group ``root``.

    The table's data first, then its group's attributes, then its name in ``tables``' list (the listing marks
    it complete). Returns the backend used.
    """
    tables = root.require_group(TABLES)
    if _has(tables, name):
        group = tables.create_group(name, overwrite=True) if overwrite else tables[name]
    else:
        group = tables.create_group(name)
    data = table.copy()
    data.columns = [str(c) for c in data.columns]
    if _zarr.holds_files(group):
        backend = "parquet"
        buf = io.BytesIO()
        data.to_parquet(buf, index=False)
        _zarr.put_bytes(group, "table.parquet", buf.getvalue())
    else:  # an icechunk session: zarr keys only
        backend = "json"
        sub = group.require_group("table")
        sub.attrs.update({c: json.loads(data[c].to_json(orient="values")) for c in data.columns})
    group.attrs.update(spec.table_attrs(labels, backend, _column_kinds(data)))
    listed = _listed(tables)
    if name not in listed:
        tables.attrs.update(spec.tables_attrs([*listed, name]))
    return backend


def write_table(url: Any, table: Any, name: str | None = None, *, labels: str = "nuclei", overwrite: bool = False,
                storage_options: Mapping[str, Any] | None = None) -> str:
    """Write a measurement table into an OME-Zarr image as the feature table of its labels ``labels``.

    The table goes to ``tables/<name>`` as Fractal and ngio keep one (type ``feature_table``, linked to
    ``labels/<labels>``, one row per label, Parquet). Every row must name a label of the label image: the
    label image is read once to check it, before anything is written.

    Parameters
    ----------
    url : str or path
        The OME-Zarr image (holding the labels).
    table : pandas.DataFrame
        One row per label: a ``label`` column (labkit's tables) or the index named ``label`` (ngio's).
    name : str, optional
        The table's name; default the labels' name.
    labels : str
        The label image the rows describe (``labels/<labels>``).
    overwrite : bool
        Replace a table of that name.
    storage_options : mapping, optional
        Options for ``url``.

    Returns
    -------
    str
        The table's URL, ``<url>/tables/<name>``.

    Raises
    ------
    labkit.errors.ConfigurationError
        No ``label`` column or index; labels that are not integers, twice, or not in the label image.
    labkit.errors.NotFoundError
        The image has no labels ``labels``.
    labkit.errors.AlreadyExistsError
        A table ``name`` exists (pass ``overwrite=True``).

    Examples
    --------
    >>> write_table("cells.ome.zarr", labkit.measure(labels, image), labels="nuclei")  # doctest: +SKIP
    'cells.ome.zarr/tables/nuclei'
    """
    from labkit.load_remote import open_multiscale
    from labkit.storage import open_store, storage_errors

    da = attempt_import("dask.array")
    name = _check_name(name or labels)
    checked = labelled(table)
    root, _ = open_multiscale(url, storage_options=storage_options)
    if not _has(root, label_path(labels)):
        raise NotFoundError(f"{url} has no labels {labels!r} for the table to describe: write them first "
                            "(labkit.write_labels), or pass labels=<their name>")
    where = _join(url, label_path(labels))
    lab_group, lab_meta = open_multiscale(where, storage_options=storage_options)
    check_free(root, name, overwrite, url)
    values = da.unique(da.from_zarr(lab_group[lab_meta.levels[0].path])).compute()
    check_labels(checked, [int(v) for v in values if v != 0], str(where))
    with storage_errors(url, storage_options, action="write"):
        writable = _zarr.open_group(open_store(url, storage_options, mode="a"), mode="a")
        write_into(writable, checked, name, labels, overwrite=overwrite)
    return _join(url, table_path(name))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ConfigurationError(f"a table's name is one path element (no '/'), not {name!r}")
    return name


# --------------------------------------------------------------------------- reading
def table_names(url: Any, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The names of the tables inside the OME-Zarr image at ``url`` (``[]`` if it has none).

    Examples
    --------
    >>> table_names("cells.ome.zarr")  # doctest: +SKIP
    ['nuclei']
    """
    from labkit.load_remote import open_multiscale

    root, _ = open_multiscale(url, storage_options=storage_options)
    return _listed(root[TABLES]) if _has(root, TABLES) else []


def open_table(url: Any, name: str = "nuclei", storage_options: Mapping[str, Any] | None = None) -> Any:
    """Read the table ``name`` kept inside an OME-Zarr image (``tables/<name>``, as Fractal and ngio keep them).

    Reads what labkit writes (:func:`labkit.write_labels` with ``properties=``) and what ngio and Fractal write:
    ``parquet``, ``csv``, ``json`` and AnnData backends (AnnData needs the ``anndata`` package).

    Parameters
    ----------
    url : str or path
        The OME-Zarr image.
    name : str
        The table's name (:func:`table_names`).
    storage_options : mapping, optional
        Options for ``url``.

    Returns
    -------
    pandas.DataFrame
        One row per object, its index key (``label`` for a feature table) as the first column, as
        :func:`labkit.measure` gives; ``attrs`` hold the table's metadata as stored (``type``, ``region``,
        ``backend`` ...), ``labels`` (the name of the label image it describes, if any) and ``source``.

    Raises
    ------
    labkit.errors.NotFoundError
        The image has no table ``name`` (the message lists its tables).
    labkit.errors.FormatError
        A table in a backend labkit cannot read.

    Examples
    --------
    >>> table = labkit.open_table("cells.ome.zarr", "nuclei")  # doctest: +SKIP
    >>> table.attrs["labels"]  # doctest: +SKIP
    'nuclei'
    """
    from labkit.load_remote import open_multiscale

    pd = attempt_import("pandas")
    _check_name(name)
    root, _ = open_multiscale(url, storage_options=storage_options)
    names = _listed(root[TABLES]) if _has(root, TABLES) else []
    where = _join(url, table_path(name))
    if name not in names or not _has(root[TABLES], name):
        raise NotFoundError(f"{url} has no table {name!r}; its tables: {names or 'none'}")
    group = root[TABLES][name]
    meta = dict(group.attrs)
    backend = spec.backend_of(meta)
    key = spec.index_key(meta)
    if backend in ("parquet", "csv"):
        data = _zarr.get_bytes(group, f"table.{backend}")
        if data is None:
            raise FormatError(f"{where} is a {backend} table without its table.{backend} file")
        frame = pd.read_parquet(io.BytesIO(data)) if backend == "parquet" else pd.read_csv(io.BytesIO(data))
    elif backend == "json":
        frame = pd.DataFrame.from_dict(dict(group["table"].attrs)) if _has(group, "table") else pd.DataFrame()
    elif backend == "anndata":
        frame = _anndata_frame(group, key)
    else:
        raise FormatError(f"{where} is stored with the backend {meta.get('backend')!r}; labkit reads "
                          f"{sorted(READ_BACKENDS)} (open it with ngio)")
    if key and key not in frame.columns and frame.index.name == key:
        frame = frame.reset_index()
    if key and key in frame.columns:
        if spec.index_is_int(meta):
            frame[key] = pd.to_numeric(frame[key]).astype("int64")
        frame = frame[[key, *[c for c in frame.columns if c != key]]].reset_index(drop=True)
    frame.attrs.update({"source": str(where), "labels": spec.region_labels(meta), **meta})
    return frame


def _anndata_frame(group: Any, key: str | None) -> Any:
    """An AnnData table (Fractal's first backend) as a DataFrame: ``X`` by ``var`` names, then ``obs``."""
    ad = attempt_import("anndata")
    adata = ad.io.read_elem(group) if hasattr(ad, "io") else ad.read_zarr(group.store)
    frame = adata.to_df()
    for col in adata.obs.columns:
        frame[col] = adata.obs[col].to_numpy()
    frame.index.name = key if key and key not in frame.columns else frame.index.name
    return frame
