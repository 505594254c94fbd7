"""Image arrays for the viewers: any array with named dims, and its channels' labels, colours and windows.

Shared by the plane viewer (:mod:`labkit.viewers`) and the 3D view (:mod:`labkit.viewer3d`).
"""

from __future__ import annotations

from typing import Any

from labkit.errors import FormatError

_DEFAULT_COLORS = ("FFFFFF", "00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF")


def as_dataarray(data: Any, channel_axis: int | None) -> Any:
    """Any array as an xarray.DataArray with dims among t, c, z, y, x."""
    import xarray as xr

    if isinstance(data, xr.DataArray):
        unknown = set(data.dims) - set("tczyx")
        if unknown:
            raise FormatError(f"view needs dims among t, c, z, y, x; got {data.dims}")
        return data
    ndim = data.ndim
    if channel_axis is not None:
        channel_axis %= ndim
        rest = {2: "yx", 3: "zyx", 4: "tzyx"}.get(ndim - 1)
        if rest is None:
            raise FormatError(f"cannot view a {ndim}-D array")
        dims = list(rest)
        dims.insert(channel_axis, "c")
    else:
        dims = list({2: "yx", 3: "zyx", 4: "czyx", 5: "tczyx"}.get(ndim, ""))
        if not dims:
            raise FormatError(f"cannot view a {ndim}-D array; pass an xarray.DataArray with named dims")
    return xr.DataArray(data, dims=dims)


def channels_of(da: Any) -> list[dict[str, Any]]:
    """Label, colour, window and state of each channel of ``da``, matched to the image's metadata by label.

    A selection such as ``image.sel(c=["Dapi"])`` keeps the full channel list in its attributes; matching by
    label gives Dapi its own colour and window. Position is used only when the channels carry no labels.
    """
    import json

    n = da.sizes.get("c", 1)
    meta: list[dict[str, Any]] = []
    if "channels" in da.attrs:
        try:
            meta = json.loads(da.attrs["channels"])
        except (TypeError, ValueError):
            meta = []
    if "c" in da.coords and da.coords["c"].ndim == 1:
        labels = [str(v) for v in da.c.values]
        by_label = {str(m.get("label")): m for m in meta if isinstance(m, dict)}
        chosen = [by_label.get(label, {}) for label in labels]
    else:
        labels = [f"channel {i}" for i in range(n)]
        chosen = [meta[i] if i < len(meta) and len(meta) == n else {} for i in range(n)]
    out = []
    for i, (label, m) in enumerate(zip(labels, chosen, strict=True)):
        window = m.get("window") or {}
        out.append({"label": str(m.get("label", label)), "color": (m.get("color") or _DEFAULT_COLORS[i % 7]).upper(),
                    "start": window.get("start"), "end": window.get("end"), "active": m.get("active", True)})
    return out
