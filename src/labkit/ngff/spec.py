"""The OME-NGFF specification's common ground: versions, the ``ome`` section, axes and coordinate transforms.

* v0.1 and v0.2 have no axes: they are TCZYX, without physical scales.
* v0.3 names its axes; v0.4 gives them types and units and every level a scale (and translation).
* v0.5 is v0.4 on zarr v3, with every NGFF key under the attribute ``ome`` (and the version there).

Examples
--------
>>> wrap("0.5", {"labels": ["nuclei"]})
{'ome': {'version': '0.5', 'labels': ['nuclei']}}
>>> ome_keys(wrap("0.5", {"labels": ["nuclei"]}), "0.5")["labels"], zarr_format_of("0.4")
(['nuclei'], 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.errors import FormatError

VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")
#: the versions labkit writes (0.4 on zarr v2, 0.5 on zarr v3)
WRITABLE = ("0.4", "0.5")
#: the version labkit writes when none is asked for (and a plate's, when its metadata names none)
DEFAULT_VERSION = "0.4"
SPACE, TIME, CHANNEL = "space", "time", "channel"
_TYPES = {"x": SPACE, "y": SPACE, "z": SPACE, "t": TIME, "c": CHANNEL}
#: the attribute holding every NGFF key in v0.5
OME = "ome"
MULTISCALES = "multiscales"
TRANSFORMS = "coordinateTransformations"


@dataclass(frozen=True)
class Axis:
    """One dimension: name, type (space, time, channel) and unit."""

    name: str
    type: str | None = None
    unit: str | None = None


def zarr_format_of(version: str) -> int:
    """The zarr format an NGFF version is written in: 2 up to 0.4, 3 from 0.5.

    Examples
    --------
    >>> zarr_format_of("0.5")
    3
    """
    return 3 if version == "0.5" else 2


def version_of_format(zarr_format: int) -> str:
    """The NGFF version labkit writes on zarr format ``zarr_format`` (2: 0.4, 3: 0.5)."""
    return "0.5" if zarr_format == 3 else "0.4"


def check_writable(version: str) -> None:
    """Refuse a version labkit does not write."""
    if version not in WRITABLE:
        raise FormatError(f"labkit writes OME-NGFF 0.4 or 0.5, not {version!r}")


def ome_keys(attrs: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The attributes holding NGFF keys: the top level (up to 0.4) or ``ome`` (0.5)."""
    if version == "0.5":
        ome = attrs.get(OME)
        return dict(ome) if isinstance(ome, Mapping) else {}
    return dict(attrs)


def wrap(version: str, keys: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes holding the NGFF ``keys``: as they are (up to 0.4) or under ``ome`` with the version (0.5)."""
    return {OME: {"version": "0.5", **keys}} if version == "0.5" else dict(keys)


def versioned(version: str, section: Mapping[str, Any]) -> dict[str, Any]:
    """A section (``well``, ``image-label`` ...) with its own ``version`` key where that version puts one (0.4)."""
    out = {k: v for k, v in section.items() if k != "version"}
    return {**out, "version": version} if version != "0.5" else out


def ome_section(attrs: Mapping[str, Any], key: str) -> tuple[str | None, Any]:
    """The NGFF version and the ``key`` metadata (``plate``, ``well``, ...) of v0.4 (top level) or v0.5 (``ome``)."""
    ome = attrs.get(OME)
    if isinstance(ome, Mapping) and key in ome:
        return str(ome.get("version", "0.5")), ome[key]
    if key in attrs:
        value = attrs[key]
        version = value.get("version") if isinstance(value, Mapping) else None
        return (str(version) if version else None), value
    return None, None


def ome_attributes(attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The NGFF version and the attributes holding ``multiscales``, or ``None`` when there are none."""
    if isinstance(attrs.get(OME), Mapping) and MULTISCALES in attrs[OME]:
        ome = dict(attrs[OME])
        return str(ome.get("version", "0.5")), ome
    if MULTISCALES in attrs:
        ms = attrs[MULTISCALES]
        version = str(ms[0].get("version", "0.4")) if ms else "0.4"
        return version, dict(attrs)
    return None


def version_in(attrs: Mapping[str, Any]) -> str | None:
    """The NGFF version a group's attributes name: ``ome``'s (0.5), else its first multiscale's (``None``: none).

    Examples
    --------
    >>> version_in({"ome": {"version": "0.5"}}), version_in({"multiscales": [{"version": "0.4"}]})
    ('0.5', '0.4')
    """
    if isinstance(attrs.get(OME), Mapping):
        version = attrs[OME].get("version")
    else:
        multiscales = attrs.get(MULTISCALES) or [{}]
        version = multiscales[0].get("version") if isinstance(multiscales[0], Mapping) else None
    return str(version) if version else None


def first_multiscale(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The first ``multiscales`` entry of a group's attributes (``{}`` when it has none)."""
    found = ome_attributes(attrs)
    try:
        return dict(found[1][MULTISCALES][0]) if found else {}
    except (IndexError, KeyError, TypeError):
        return {}


def dataset_paths(attrs: Mapping[str, Any]) -> list[str]:
    """The array paths of the levels of a group's first multiscale, largest first."""
    datasets = first_multiscale(attrs).get("datasets", [])
    return [str(d.get("path")) for d in datasets if isinstance(d, Mapping)] if isinstance(datasets, list) else []


def parse_axes(version: str, raw: Any, ndim: int) -> tuple[Axis, ...]:
    """The axes of a multiscale of ``version`` (v0.1-0.2: TCZYX, the last ``ndim``)."""
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


def parse_transforms(items: Sequence[Mapping[str, Any]] | None, ndim: int,
                     where: str = "this image") -> tuple[np.ndarray, np.ndarray]:
    """Scale and translation of a list of ``coordinateTransformations`` (scales multiply, translations add)."""
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
                    f"{where}: a {kind} {TRANSFORMS[:-1]} has {t[kind]!r}, not {ndim} numbers (one per axis)"
                )
            if kind == "scale":
                scale = scale * values
            else:
                translation = translation + values
    return scale, translation


def axis_json(axis: Axis) -> dict[str, Any]:
    """An axis as NGFF writes it."""
    out: dict[str, Any] = {"name": axis.name}
    if axis.type:
        out["type"] = axis.type
    if axis.unit:
        out["unit"] = axis.unit
    return out


def dataset_json(path: str, scale: Sequence[float], translation: Sequence[float] | None = None) -> dict[str, Any]:
    """One level of a multiscale: its array's path and its scale (and translation, when it has one).

    Examples
    --------
    >>> dataset_json("1", [2.0, 2.0])
    {'path': '1', 'coordinateTransformations': [{'type': 'scale', 'scale': [2.0, 2.0]}]}
    """
    transforms: list[dict[str, Any]] = [{"type": "scale", "scale": [float(v) for v in scale]}]
    if translation is not None and any(translation):
        transforms.append({"type": "translation", "translation": [float(v) for v in translation]})
    return {"path": str(path), TRANSFORMS: transforms}


# older private names, kept for callers of the single-module labkit.ngff
_axes, _transforms, _axis_json = parse_axes, parse_transforms, axis_json
