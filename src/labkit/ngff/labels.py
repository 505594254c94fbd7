"""Label images' NGFF metadata, built and parsed: the ``labels`` list, ``image-label`` (colours, properties, source).

An image's label images live in its ``labels/`` group, which lists their names; each is a multiscale image
with an ``image-label`` section: a colour (RGBA) per label value, optional properties per label value, and
the image it labels (``source``).

Examples
--------
>>> meta = image_label_json([1, 2], {1: [255, 0, 0, 255], 2: [0, 0, 255, 255]}, "0.4")
>>> meta["colors"][0], meta["source"]
({'label-value': 1, 'rgba': [255, 0, 0, 255]}, {'image': '../../'})
>>> colors_of(meta)[2], label_names_of(labels_attrs("0.5", ["nuclei"]))
([0, 0, 255, 255], ['nuclei'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.ngff.spec import MULTISCALES, ome_attributes, ome_keys, ome_section, wrap

#: the group of an image holding its label images (and listing them)
LABELS = "labels"
#: the section of a label image's metadata
IMAGE_LABEL = "image-label"
#: the key naming the label value of a colour or of properties
VALUE = "label-value"


def label_path(name: str) -> str:
    """The path of the label image ``name`` inside its image: ``labels/<name>``."""
    return f"{LABELS}/{name}"


# --------------------------------------------------------------------------- the labels group
def label_names_of(attrs: Mapping[str, Any]) -> list[str]:
    """The label image names a ``labels`` group lists (v0.4 top level or v0.5 ``ome``; ``[]`` if none)."""
    _, listed = ome_section(attrs, LABELS)
    return [str(n) for n in listed] if isinstance(listed, list) else []


def labels_attrs(version: str, names: Sequence[str]) -> dict[str, Any]:
    """The attributes of a ``labels`` group listing ``names``."""
    return wrap(version, {LABELS: [str(n) for n in names]})


# --------------------------------------------------------------------------- one label image
def image_label_json(values: Sequence[int], colors: Mapping[int, Sequence[int]], version: str,
                     properties: Mapping[int, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The ``image-label`` section for label ``values``: a colour each, their properties, the image labelled.

    ``properties`` maps a label value to its properties (each holding ``label-value``). Its ``version`` is
    written in 0.5 too (inside ``ome``), as ome-zarr-py writes it.
    """
    out: dict[str, Any] = {"colors": [{VALUE: int(v), "rgba": list(colors[v])} for v in values],
                           "source": {"image": "../../"}}
    if properties is not None:
        out["properties"] = [dict(properties[v]) for v in values]
    out["version"] = version
    return out


def label_image_attrs(version: str, multiscale: Mapping[str, Any], image_label: Mapping[str, Any]
                      ) -> dict[str, Any]:
    """A label image's attributes: its multiscale and its ``image-label`` section."""
    return wrap(version, {MULTISCALES: [dict(multiscale)], IMAGE_LABEL: dict(image_label)})


def image_label_attrs(version: str, image_label: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes replacing a label image's ``image-label`` section alone."""
    return wrap(version, {IMAGE_LABEL: dict(image_label)})


def image_label_of(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``image-label`` section of a label image's attributes (``{}`` if it has none)."""
    found = ome_attributes(attrs)
    section = found[1].get(IMAGE_LABEL, {}) if found else {}
    return dict(section) if isinstance(section, Mapping) else {}


def colors_of(image_label: Mapping[str, Any]) -> dict[int, list[int]]:
    """Label value -> RGBA, from an ``image-label`` section."""
    return {int(c[VALUE]): list(c.get("rgba") or []) for c in image_label.get("colors", [])}


def properties_of(image_label: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Label value -> its properties (without ``label-value``), from an ``image-label`` section."""
    return {int(p[VALUE]): {k: v for k, v in p.items() if k != VALUE} for p in image_label.get("properties", [])}


def describe_image_label(image_label: Mapping[str, Any]) -> str:
    """A one-line summary of an ``image-label`` section: counts of colours and properties, other keys, source.

    Examples
    --------
    >>> describe_image_label(image_label_json([1, 2], {1: [1, 2, 3, 255], 2: [4, 5, 6, 255]}, "0.4"))
    "image-label: 2 colours, source '../../'"
    """
    from labkit._text import plural

    parts = []
    if isinstance(image_label.get("colors"), list):
        parts.append(plural(len(image_label["colors"]), "colour"))
    if isinstance(image_label.get("properties"), list):
        parts.append(f"properties of {plural(len(image_label['properties']), 'label')}")
    parts += [str(k) for k in image_label if k not in ("colors", "properties", "source", "version")]
    source = image_label["source"].get("image") if isinstance(image_label.get("source"), Mapping) else None
    return f"{IMAGE_LABEL}: " + ", ".join(parts + ([f"source {source!r}"] if source is not None else []))


def with_colors_and_properties(image_label: Mapping[str, Any], values: Sequence[int],
                               colors: Mapping[int, Sequence[int]],
                               properties: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """``image_label`` with new colours and properties for ``values`` (its other keys kept)."""
    out = dict(image_label)
    out["colors"] = [{VALUE: int(v), "rgba": list(colors[v])} for v in values]
    out["properties"] = [dict(properties[v]) for v in values]
    return out


def property_row(value: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """One label's properties as ``image-label`` holds them: ``label-value`` first."""
    return {VALUE: int(value), **{k: v for k, v in row.items() if k != VALUE}}


def converted_label_attrs(attrs: Mapping[str, Any], version: str) -> dict[str, Any]:
    """A label image's attributes (any version) rewritten in ``version`` (its multiscale and ``image-label``)."""
    found = ome_attributes(attrs)
    if found is None:
        return {}
    multiscale, image_label = dict(found[1][MULTISCALES][0]), image_label_of(attrs)
    if version == "0.5":
        multiscale.pop("version", None)
    else:  # the sections carry their version (a version the source's image-label names stays)
        multiscale, image_label = {**multiscale, "version": version}, {"version": version, **image_label}
    return label_image_attrs(version, multiscale, image_label)


def labels_listed_in(attrs: Mapping[str, Any], version: str) -> list[str]:
    """The names a ``labels`` group of ``version`` lists (read where that version puts them)."""
    listed = ome_keys(attrs, version).get(LABELS, [])
    return [str(n) for n in listed] if isinstance(listed, list) else []
