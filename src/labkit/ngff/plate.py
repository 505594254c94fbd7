"""HCS plates' and wells' NGFF metadata, built and parsed; what a group that holds images but is none is.

A plate group lists its rows, columns, wells (``B/3``) and acquisitions; each well group lists its fields
(images ``0``, ``1`` ...). bioformats2raw collections mark their root with ``bioformats2raw.layout``.

Examples
--------
>>> attrs = plate_attrs("0.5", plate_json("p", ["A"], ["1"], [well_json("A", "1", 0, 0)], 2))
>>> version, plate = plate_of(attrs); version, plate["wells"]
('0.5', [{'path': 'A/1', 'rowIndex': 0, 'columnIndex': 0}])
>>> well_fields(well_of(well_attrs("0.4", ["0", "1"]))[1])
[('0', 0), ('1', 0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit._text import plural
from labkit.ngff.spec import OME, ome_section, wrap

PLATE, WELL = "plate", "well"
#: the attribute marking a bioformats2raw collection (its value: the layout's version)
LAYOUT = "bioformats2raw.layout"


# --------------------------------------------------------------------------- building
def well_json(row: str, column: str, row_index: int, column_index: int) -> dict[str, Any]:
    """A plate's entry for one well: its path (``B/3``) and its row and column indices."""
    return {"path": f"{row}/{column}", "rowIndex": int(row_index), "columnIndex": int(column_index)}


def plate_json(name: str, rows: Sequence[str], columns: Sequence[str], wells: Sequence[Mapping[str, Any]],
               fields: int, acquisition: str = "synthetic") -> dict[str, Any]:
    """The ``plate`` section: rows, columns and wells (:func:`well_json`), one acquisition of ``fields`` fields."""
    return {"name": name, "rows": [{"name": n} for n in rows], "columns": [{"name": n} for n in columns],
            "wells": [dict(w) for w in wells], "field_count": int(fields),
            "acquisitions": [{"id": 0, "name": acquisition, "maximumfieldcount": int(fields)}]}


def plate_attrs(version: str, plate: Mapping[str, Any]) -> dict[str, Any]:
    """A plate group's attributes.

    The plate names its version in 0.5 too (ome-zarr-py writes it there, and ome-zarr-models warns without it).
    """
    return wrap(version, {PLATE: {"version": version, **plate}})


def well_attrs(version: str, fields: Sequence[str], acquisition: int = 0) -> dict[str, Any]:
    """A well group's attributes listing its fields (image paths), all of one acquisition."""
    images = [{"path": str(f), "acquisition": acquisition} for f in fields]
    return {WELL: {"images": images, "version": version}} if version != "0.5" else wrap(version, {WELL: {
        "images": images}})


# --------------------------------------------------------------------------- parsing
def plate_of(attrs: Mapping[str, Any]) -> tuple[str | None, Any]:
    """The NGFF version and the ``plate`` section of a group's attributes (``(None, None)`` if none)."""
    return ome_section(attrs, PLATE)


def well_of(attrs: Mapping[str, Any]) -> tuple[str | None, Any]:
    """The NGFF version and the ``well`` section of a group's attributes (``(None, None)`` if none)."""
    return ome_section(attrs, WELL)


def plate_layout(plate: Mapping[str, Any]) -> tuple[list[str], list[str], list[Mapping[str, Any]],
                                                    list[dict[str, Any]]]:
    """A plate section's row names, column names, wells (each a mapping) and acquisitions."""
    rows = [str(r.get("name")) for r in plate.get("rows", [])]
    columns = [str(c.get("name")) for c in plate.get("columns", [])]
    wells = [w for w in plate.get("wells", []) if isinstance(w, Mapping)]
    return rows, columns, wells, [dict(a) for a in plate.get("acquisitions", [])]


def well_place(well: Mapping[str, Any]) -> tuple[str, int | None, int | None]:
    """A plate's well entry: its path (``B/3``), row index and column index (``None`` where not given)."""
    return str(well.get("path", "")).strip("/"), well.get("rowIndex"), well.get("columnIndex")


def well_fields(well: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A well's fields, ``(path, acquisition)`` each (``None``: no acquisition named), from its ``well`` section."""
    return [(str(i["path"]), i.get("acquisition")) for i in well.get("images", [])
            if isinstance(i, Mapping) and "path" in i]


def plate_name(plate: Mapping[str, Any]) -> str | None:
    """The name a ``plate`` section gives the plate (``None``: none)."""
    return plate.get("name")


def collection_layout(attrs: Mapping[str, Any]) -> Any:
    """The ``bioformats2raw.layout`` of a collection's root attributes (``None``: not a collection)."""
    return attrs.get(LAYOUT, (attrs.get(OME) or {}).get(LAYOUT))


def collection_series(attrs: Mapping[str, Any]) -> Any:
    """The ``series`` a collection's ``OME`` group lists (``None`` if it lists none)."""
    return attrs.get("series", (attrs.get(OME) or {}).get("series"))


def container_hint(attrs: Mapping[str, Any], source: str) -> str | None:
    """What a group that holds images but is no image is (a plate, a well, a collection) and what opens it.

    Examples
    --------
    >>> container_hint({"plate": {"rows": [{"name": "A"}] * 8, "columns": [{"name": "1"}] * 12,
    ...                           "wells": [{"path": "B/3"}]}}, "p.zarr")[:96]
    'p.zarr is an OME-NGFF HCS plate (8 x 12 wells, 1 with images), not an image: open it with labkit'
    """
    _, plate = plate_of(attrs)
    if isinstance(plate, Mapping):
        wells = [w.get("path", "") for w in plate.get("wells", []) if isinstance(w, Mapping)]
        first = wells[0].replace("/", "") if wells else "B3"
        return (f"{source} is an OME-NGFF HCS plate ({len(plate.get('rows', []))} x {len(plate.get('columns', []))} "
                f"wells, {len(wells)} with images), not an image: open it with labkit.open_plate({source!r}), "
                f"then plate.image({first!r})")
    _, well = well_of(attrs)
    if isinstance(well, Mapping):
        fields = [i.get("path") for i in well.get("images", []) if isinstance(i, Mapping)]
        return (f"{source} is an OME-NGFF well of a plate ({plural(len(fields), 'field')}: {fields[:4]}), not an "
                f"image: open a field with labkit.open_image(url + '/{fields[0] if fields else '0'}'), or the plate "
                "(two folders up) with labkit.open_plate")
    if LAYOUT in attrs or LAYOUT in (attrs.get(OME) or {}):
        return (f"{source} is a bioformats2raw collection of images (series 0/, 1/, ... named in "
                f"OME/METADATA.ome.xml), not an image: open it with labkit.open_collection({source!r}), "
                "then collection.image(0) or collection.image('<name>')")
    return None
