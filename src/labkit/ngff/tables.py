"""Feature tables' metadata inside an OME-Zarr image, as Fractal and its ``ngio`` library write and read them.

The ``tables`` group lists the names (``{"tables": [...]}``); each table is a group typed ``feature_table``,
linked to its label image (``region: {"path": "../labels/<labels>"}``), indexed by ``label``. This is the
table specification of ngio 1.x (``ngio.tables.v1.FeatureTableV1``), derived from fractal-tasks-core's.

Examples
--------
>>> meta = table_attrs("nuclei", "parquet", {"measurement_columns": ["area"]})
>>> meta["type"], region_labels(meta), table_names_of(tables_attrs(["nuclei"]))
('feature_table', 'nuclei', ['nuclei'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.ngff.labels import label_path

#: the group of an image holding its tables (and listing them)
TABLES = "tables"
#: the table type and version labkit writes (ngio's ``FeatureTableV1``)
TABLE_TYPE = "feature_table"
TABLE_VERSION = "1"
#: backend names read, ngio's and their older aliases -> the way to read them
READ_BACKENDS = {"parquet": "parquet", "experimental_parquet_v1": "parquet", "csv": "csv",
                 "experimental_csv_v1": "csv", "json": "json", "experimental_json_v1": "json",
                 "anndata": "anndata", "anndata_v1": "anndata"}
#: the backend of a table whose metadata names none (Fractal's first)
DEFAULT_BACKEND = "anndata_v1"
#: the column (or index) naming each row's label
INDEX = "label"


def table_path(name: str) -> str:
    """The path of the table ``name`` inside its image: ``tables/<name>``."""
    return f"{TABLES}/{name}"


def table_names_of(attrs: Mapping[str, Any]) -> list[str]:
    """The table names a ``tables`` group's attributes list (``[]`` if none)."""
    names = attrs.get(TABLES, [])
    return [str(n) for n in names] if isinstance(names, list) else []


def tables_attrs(names: Sequence[str]) -> dict[str, Any]:
    """The attributes of a ``tables`` group listing ``names``."""
    return {TABLES: [str(n) for n in names]}


def table_attrs(labels: str, backend: str, columns: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A feature table's attributes: its type, the label image it describes, its backend and column kinds.

    ``columns`` holds ngio's ``measurement_columns``, ``categorical_columns`` and ``metadata_columns``.
    """
    return {
        "type": TABLE_TYPE, "table_version": TABLE_VERSION, "fractal_table_version": TABLE_VERSION,
        "region": {"path": f"../{label_path(labels)}"}, "instance_key": INDEX,
        "backend": backend, "index_key": INDEX, "index_type": "int",
        **{k: list(v) for k, v in columns.items()},
    }


def column_kinds(measurement: Sequence[str], categorical: Sequence[str]) -> dict[str, list[str]]:
    """The column kinds of a table, as ngio names them: measurements (numbers), categories, no metadata columns."""
    return {"categorical_columns": list(categorical), "measurement_columns": list(measurement),
            "metadata_columns": []}


def backend_of(meta: Mapping[str, Any]) -> str | None:
    """How to read a table (``parquet``, ``csv``, ``json``, ``anndata``; ``None``: a backend labkit does not read)."""
    return READ_BACKENDS.get(str(meta.get("backend", DEFAULT_BACKEND)))


def index_key(meta: Mapping[str, Any]) -> str | None:
    """The column (or index) naming each row's object."""
    return meta.get("index_key") or meta.get("instance_key")


def index_is_int(meta: Mapping[str, Any]) -> bool:
    """Whether the index holds integers (the default)."""
    return meta.get("index_type", "int") == "int"


def region_labels(meta: Mapping[str, Any]) -> str | None:
    """The name of the label image a table describes (from its ``region``), ``None`` if it names none."""
    region = meta.get("region") if isinstance(meta.get("region"), Mapping) else {}
    return str(region.get("path", "")).rstrip("/").split("/")[-1] if region.get("path") else None
