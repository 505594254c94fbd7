"""The ``omero`` rendering metadata of an image: channel colours and display windows, built and parsed.

Examples
--------
>>> channel_colors(["DAPI", "GFP"])
['0000FF', '00FF00']
>>> [c.label for c in channels_of({"channels": [{"label": "DAPI", "color": "0000ff"}]})]
['DAPI']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.ngff.model import Channel

#: the attribute holding an image's rendering settings
OMERO = "omero"
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


def _window(raw: Any) -> dict[str, float] | None:
    """An ``omero`` channel window with numbers (some writers store strings); ``None`` when it has none."""
    if not isinstance(raw, Mapping):
        return None
    out = {}
    for key, value in raw.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue  # a value that is not a number is left out, not guessed
    return out


def channels_of(omero: Mapping[str, Any] | None) -> tuple[Channel, ...]:
    """The channels of ``omero`` metadata (``()`` when there is none)."""
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


def channel_json(c: Channel, dtype: np.dtype, shown: tuple[float, float]) -> dict[str, Any]:
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




def rdefs_of(omero: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rendering defaults (``rdefs``) of ``omero`` metadata."""
    return dict(omero.get("rdefs", {})) if omero else {}


def omero_json(channels: Sequence[Channel], dtype: Any, shown: Sequence[tuple[float, float]],
               rdefs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``omero`` metadata for ``channels``, each shown in its window of ``shown`` (unless it has its own)."""
    out: dict[str, Any] = {"channels": [channel_json(c, np.dtype(dtype), w)
                                        for c, w in zip(channels, shown, strict=False)]}
    if rdefs:
        out["rdefs"] = dict(rdefs)
    return out


_channels, _channel_json = channels_of, channel_json
