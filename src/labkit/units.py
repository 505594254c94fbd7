"""Voxel sizes with their unit: the one rule every module uses to read an image's physical scale.

An image's spatial coordinates (``z``, ``y``, ``x`` of an ``xarray.DataArray``, as :func:`labkit.open_image`
makes them from the OME-NGFF axes) carry their unit in the attribute ``units`` (or ``unit``). :func:`voxel_size`
reads it once for all of labkit (segmentation, labels, measurements, the viewers, maps):

* a length unit (an NGFF name such as ``"nanometer"``, ``"micrometer"``, ``"millimeter"``, or ``"nm"``, ``"µm"``,
  ``"um"``, ``"mm"``, ``"metre"`` ...) is converted to micrometres (or to the unit asked for);
* ``"pixel"`` (what ``open_image`` sets for OME-NGFF 0.1-0.3 images opened without ``pixel_sizes``) keeps the
  coordinates' steps, in pixels of the full-resolution level;
* no unit (coordinates without ``units``, or no coordinates) is unknown: sizes are the array's own pixels (1 per
  voxel), positions its indices; the same when the spatial axes disagree (some with a length unit, some without);
* anything else (``"second"``, ``"furlong"`` ...) is a :class:`~labkit.errors.FormatError` naming the axis, the unit
  and the fix.

It imports no I/O (only numpy), so analysis modules may use it; :mod:`labkit.ngff` owns and re-exports it.

Examples
--------
>>> import numpy as np, xarray as xr
>>> image = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"),
...                      coords={"y": np.arange(4) * 15.0, "x": np.arange(4) * 15.0})
>>> for d in "yx":
...     image[d].attrs["units"] = "nanometer"
>>> vs = voxel_size(image)
>>> vs.unit, vs.sizes, vs.suffix
('micrometer', {'y': 0.015, 'x': 0.015}, 'um')
>>> voxel_size(xr.DataArray(np.zeros((4, 4)), dims=("y", "x"))).unit
'pixel'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.errors import FormatError

#: what a length is in metres, by its OME-NGFF name (the spec's list of space units)
METRES: dict[str, float] = {
    "yoctometer": 1e-24, "zeptometer": 1e-21, "attometer": 1e-18, "femtometer": 1e-15, "picometer": 1e-12,
    "angstrom": 1e-10, "nanometer": 1e-9, "micrometer": 1e-6, "millimeter": 1e-3, "centimeter": 1e-2,
    "decimeter": 1e-1, "meter": 1.0, "hectometer": 1e2, "kilometer": 1e3, "megameter": 1e6, "gigameter": 1e9,
    "terameter": 1e12, "petameter": 1e15, "exameter": 1e18, "zettameter": 1e21, "yottameter": 1e24,
    "inch": 0.0254, "foot": 0.3048, "yard": 0.9144, "mile": 1609.344, "parsec": 3.0856775814913673e16,
}
#: other spellings of the same units (symbols, British spelling, plurals)
ALIASES: dict[str, str] = {
    "nm": "nanometer", "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "micron": "micrometer",
    "mm": "millimeter", "cm": "centimeter", "m": "meter", "km": "kilometer", "pm": "picometer", "å": "angstrom",
}
#: what the coordinates of an image without physical scales say
PIXEL = "pixel"
_PIXEL_NAMES = {"pixel", "pixels", "px", "pix", "voxel", "voxels"}
SPATIAL = ("z", "y", "x")


def unit_name(unit: str) -> str | None:
    """The NGFF name of a length unit, ``"pixel"`` for pixels, ``None`` if it is not a length.

    Examples
    --------
    >>> unit_name("µm"), unit_name("Nanometers"), unit_name("metre"), unit_name("px"), unit_name("second")
    ('micrometer', 'nanometer', 'meter', 'pixel', None)
    """
    key = str(unit).strip().lower()
    if key in _PIXEL_NAMES:
        return PIXEL
    key = ALIASES.get(key, key).replace("metre", "meter")
    if key not in METRES and key.endswith("s"):
        key = ALIASES.get(key[:-1], key[:-1])
    return key if key in METRES else None


@dataclass(frozen=True)
class VoxelSize:
    """Voxel size and position of an image's spatial axes, in one unit.

    Attributes
    ----------
    unit : str
        ``"micrometer"`` (or the unit asked for) when the coordinates' unit is known, else ``"pixel"``.
    steps : dict
        Signed step between neighbouring voxels per axis, in ``unit`` (negative for decreasing coordinates).
    origin : dict
        Position of the first voxel per axis, in ``unit`` (0 for an image without coordinates).
    """

    unit: str
    steps: dict[str, float]
    origin: dict[str, float]

    @property
    def known(self) -> bool:
        """True when the sizes are physical (not pixels)."""
        return self.unit != PIXEL

    @property
    def sizes(self) -> dict[str, float]:
        """Voxel size per axis (positive), in ``unit``."""
        return {d: abs(s) for d, s in self.steps.items()}

    @property
    def suffix(self) -> str:
        """The unit in column names: ``"um"``, ``"nm"`` ... or ``"px"``."""
        return {PIXEL: "px", "micrometer": "um", "nanometer": "nm", "millimeter": "mm", "meter": "m",
                "kilometer": "km"}.get(self.unit, self.unit)

    @property
    def symbol(self) -> str:
        """The unit for people: ``"µm"``, ``"nm"`` ... or ``"pixel"``."""
        return "µm" if self.unit == "micrometer" else (self.unit if self.unit == PIXEL else self.suffix)

    def __getitem__(self, dim: str) -> float:
        return abs(self.steps[dim])


def voxel_size(image: Any, dims: Sequence[str] | None = None, *, unit: str = "micrometer",
               assume: str | None = None) -> VoxelSize:
    """An image's voxel size per spatial axis, with its unit: micrometres when known, else pixels.

    Parameters
    ----------
    image : xarray.DataArray or array
        Its coordinates give the sizes (the step between the first two values) and their ``units`` (or ``unit``)
        attribute the unit. Anything without coordinates (a numpy or dask array) is in pixels.
    dims : sequence of str, optional
        The axes to report; default the image's dims among ``z, y, x``.
    unit : str
        The length unit to convert to (an NGFF name or symbol); default micrometres.
    assume : str, optional
        The unit of coordinates that carry none (``plot_map`` assumes the metres of a map's projection); default
        none: such coordinates are of unknown unit, and the sizes are the array's own pixels.

    Returns
    -------
    VoxelSize
        ``unit`` is the unit asked for when every axis has a length unit, ``"pixel"`` otherwise. An axis of a
        single voxel has a step of 1 (in the result's unit).

    Raises
    ------
    labkit.errors.FormatError
        A coordinate's unit is neither a length nor ``"pixel"`` (it names the axis, the unit and the fix).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> image = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"y": [0.0, 0.002], "x": [1.0, 1.001, 1.002]})
    >>> for d in "yx":
    ...     image[d].attrs["units"] = "millimeter"
    >>> vs = voxel_size(image)
    >>> vs.unit, [round(s, 6) for s in vs.sizes.values()], round(vs.origin["x"], 6)
    ('micrometer', [2.0, 1.0], 1000.0)
    """
    target = unit_name(unit)
    if target is None or target == PIXEL:
        raise FormatError(f"voxel_size(unit={unit!r}): not a length unit; ask for one such as 'micrometer'")
    dims = tuple(d for d in getattr(image, "dims", ()) if d in SPATIAL) if dims is None else tuple(dims)
    coords: Mapping[str, Any] = getattr(image, "coords", {})
    found: dict[str, tuple[str | None, float | None, float]] = {}  # dim -> (unit, step or None, origin)
    for d in dims:
        c = coords[d] if d in coords else None
        if c is None or c.ndim != 1 or c.size == 0:
            found[d] = (None, None, 0.0)
            continue
        values = np.asarray(c.values[:2], dtype=float)
        step = float(values[1] - values[0]) if values.size > 1 else None
        raw = c.attrs.get("units", c.attrs.get("unit", assume))
        name = unit_name(raw) if raw not in (None, "") else None
        if raw not in (None, "") and name is None:
            raise FormatError(
                f"the {d} coordinates are in {raw!r}, which is not a length: set image.{d}.attrs['units'] to a length "
                "unit (an OME-NGFF name such as 'micrometer' or 'nanometer', or 'pixel' when the size is not known), "
                "or open the image with labkit.open_image(..., pixel_sizes={...}) in micrometres")
        found[d] = (name, step, float(values[0]))
    names = {name for name, _, _ in found.values()}
    if dims and (names == {PIXEL} or not names & {None, PIXEL}):  # every axis in a length unit, or all in pixels
        factor = {d: 1.0 if n == PIXEL else METRES[str(n)] / METRES[target] for d, (n, _, _) in found.items()}
        return VoxelSize(PIXEL if names == {PIXEL} else target,
                         {d: 1.0 if s is None else s * factor[d] for d, (_, s, _) in found.items()},
                         {d: o * factor[d] for d, (_, _, o) in found.items()})
    return VoxelSize(PIXEL, dict.fromkeys(dims, 1.0), dict.fromkeys(dims, 0.0))


def pixel_area(image: Any, dims: Sequence[str] = ("y", "x"), *, unit: str = "micrometer",
               assume: str | None = None) -> float:
    """The area of one pixel of an image (the product of its voxel sizes along ``dims``), in ``unit`` squared.

    The same rule as :func:`voxel_size`: the coordinates' steps in their ``units``, converted to ``unit``. An image
    whose unit is not known has no area: a count of pixels is not an area.

    Parameters
    ----------
    image : xarray.DataArray
        An image (or a map, a mask) with coordinates along ``dims``.
    dims : sequence of str
        The axes of a pixel; ``("z", "y", "x")`` gives a voxel's volume.
    unit : str
        The length unit (an NGFF name or symbol): ``"kilometer"`` gives km².
    assume : str, optional
        The unit of coordinates that carry none (``"meter"`` for a map in a projected CRS).

    Returns
    -------
    float

    Raises
    ------
    labkit.errors.FormatError
        The unit of the coordinates is not known (or not a length): the error says how to give it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> grid = xr.DataArray(np.zeros((3, 3)), dims=("y", "x"), coords={"y": [60.0, 40.0, 20.0], "x": [0.0, 20.0, 40.0]})
    >>> pixel_area(grid, unit="meter", assume="meter")
    400.0
    """
    vs = voxel_size(image, dims, unit=unit, assume=assume)
    if not vs.known:
        raise FormatError(f"the pixels' size is not known (the {'/'.join(dims)} coordinates carry no length unit): "
                          f"set image.{dims[-1]}.attrs['units'] (e.g. 'micrometer', 'meter'), or pass assume='meter'")
    return float(np.prod([vs[d] for d in dims]))


def area(mask: Any, dims: Sequence[str] = ("y", "x"), *, unit: str = "micrometer",
         assume: str | None = None) -> float:
    """The area covered by the true pixels of a mask (their number times :func:`pixel_area`), in ``unit`` squared.

    Parameters
    ----------
    mask : xarray.DataArray of bool
        ``flood_extent == 1``, ``labels > 0``: a condition on an image, which keeps its coordinates.
    dims, unit, assume
        As :func:`pixel_area`.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> grid = xr.DataArray(np.eye(3), dims=("y", "x"), coords={"y": [60.0, 40.0, 20.0], "x": [0.0, 20.0, 40.0]})
    >>> round(area(grid == 1, unit="kilometer", assume="meter"), 6)  # 3 pixels of 400 m²
    0.0012
    """
    return float(np.count_nonzero(np.asarray(mask.values))) * pixel_area(mask, dims, unit=unit, assume=assume)
