"""The model of a multiscale image, whatever NGFF version it was written in: axes, levels, channels.

Examples
--------
>>> Level("0", (4, 4), (4, 4), "uint8", (1.0, 1.0), (0.0, 0.0)).shards is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit import _zarr
from labkit.ngff.spec import SPACE, Axis

__all__ = ["Axis", "Channel", "Level", "Multiscale"]


@dataclass(frozen=True)
class Channel:
    """Rendering settings of one channel, from the ``omero`` metadata."""

    label: str
    color: str = "FFFFFF"
    window: Mapping[str, float] | None = None
    active: bool = True


@dataclass(frozen=True)
class Level:
    """One resolution level: its array and its place in physical space."""

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    shards: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Multiscale:
    """A multiscale image, whatever NGFF version it was written in.

    ``scales_known`` is False for v0.1-v0.3, which store no physical scales: the
    level scales are then ratios of level shapes, in pixels of level 0.
    """

    version: str
    zarr_format: int
    axes: tuple[Axis, ...]
    levels: tuple[Level, ...]
    channels: tuple[Channel, ...] = ()
    name: str | None = None
    rdefs: Mapping[str, Any] = field(default_factory=dict)
    scales_known: bool = True

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Axis names in array order, e.g. ``("t", "c", "z", "y", "x")``."""
        return tuple(a.name for a in self.axes)

    def pixel_sizes(self, level: int = 0) -> dict[str, float]:
        """Physical size of a pixel along each spatial axis at ``level``."""
        lv = self.levels[level]
        return {a.name: s for a, s in zip(self.axes, lv.scale, strict=True) if a.type == SPACE}

    def describe(self, url: str = "") -> str:
        """A text summary in the manner of ``ome_zarr info``, with channels and pixel sizes."""
        kind = _zarr.GROUP_DOC[self.zarr_format].lstrip(".")
        lines = [f"{url} [{kind}]".strip(), " - metadata", f"   - Multiscales (OME-NGFF {self.version})"]
        if self.channels:
            lines.append("   - OMERO")
        lines.append(" - data")
        for lv in self.levels:
            extra = f", shards {lv.shards}" if lv.shards else ""
            lines.append(f"   - {lv.shape} {lv.dtype}, chunks {lv.chunks}{extra}")
        lines.append(" - axes: " + ", ".join(a.name + (f" ({a.unit})" if a.unit else "") for a in self.axes))
        if self.channels:
            chans = []
            for c in self.channels:
                w = c.window or {}
                win = f", window {w.get('start', '?'):g}-{w.get('end', '?'):g}" if w else ""
                chans.append(f"{c.label} (#{c.color}{win})")
            lines.append(" - channels: " + "; ".join(chans))
        if self.scales_known:
            units = {a.name: a.unit or "" for a in self.axes}
            sizes = ", ".join(f"{k} {v:.3g} {units[k]}".rstrip() for k, v in self.pixel_sizes(0).items())
            lines.append(f" - pixel sizes: {sizes}")
        else:
            lines.append(f" - pixel sizes: not in the metadata (OME-NGFF {self.version} stores none)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Multiscale(version={self.version!r}, axes={''.join(self.axis_names)!r}, "
                f"levels={[lv.shape for lv in self.levels]}, channels={[c.label for c in self.channels]})")
