"""Matplotlib figures of images: a plane with its objects outlined, a scale bar, a legend of channel colours.

What every tutorial figure of cells and nuclei needs and no scientist should write again: axes in the image's
physical unit (:func:`labkit.units.voxel_size`), outlines that match the plane viewer's
(:func:`labkit.viewers.outlines`), a scale bar legible on any colour.

Examples
--------
>>> import matplotlib.pyplot as plt  # doctest: +SKIP
>>> fig, ax = plt.subplots()  # doctest: +SKIP
>>> plot_outlines(plane, labels, ax, title="{n} nuclei")  # doctest: +SKIP
>>> scale_bar(ax, 0.36, length=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labkit._text import plural
from labkit.errors import FormatError
from labkit.units import voxel_size
from labkit.viewers import _bar_length, outlines

__all__ = ["channel_legend", "plot_outlines", "scale_bar"]

#: the colour of outlines drawn over a grey image
OUTLINE_COLOR = "#ff3000"


def _hex(color: str) -> str:
    """``"00FFFF"`` or ``"#00FFFF"`` (or a matplotlib colour name) as matplotlib takes it."""
    text = str(color)
    if len(text) == 6 and all(ch in "0123456789abcdefABCDEF" for ch in text):
        return "#" + text
    return text


def plot_outlines(
    image: Any,
    labels: Any,
    ax: Any = None,
    *,
    title: str | None = None,
    color: str = OUTLINE_COLOR,
    percentile: float = 99.5,
) -> Any:
    """Draw one plane in grey with the outline of every object of its labels over it, axes in its unit.

    Parameters
    ----------
    image : xarray.DataArray or array
        One plane, dims ``(y, x)`` (select it first: ``image.isel(z=20)``). Its coordinates give the axes, in
        micrometres when their unit is known (:func:`labkit.units.voxel_size`), else in pixels.
    labels : array
        Label image of the same plane (numpy, dask or xarray; 0 is background).
    ax : matplotlib Axes, optional
        Default: a new figure.
    title : str, optional
        The axes' title; ``{n}`` in it is replaced by the number of objects in ``labels``.
    color : str
        Colour of the outlines.
    percentile : float
        The grey scale saturates at this percentile of the plane (bright specks do not darken the rest).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    labkit.errors.FormatError
        The plane is not 2D, or the labels' shape differs from it.

    Examples
    --------
    >>> plane = image.sel(c="Dapi").isel(z=120)  # doctest: +SKIP
    >>> labels, n = recipes.segment_plane(plane.values)  # doctest: +SKIP
    >>> plot_outlines(plane, labels, title="{n} nuclei")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    values = np.asarray(getattr(image, "values", image), dtype=float)
    objects = np.asarray(getattr(labels, "values", labels))
    if values.ndim != 2:
        raise FormatError(f"plot_outlines draws one plane, got an image of shape {values.shape}: select a plane "
                          "first, e.g. image.isel(z=20)")
    if objects.shape != values.shape:
        raise FormatError(f"the labels' shape {objects.shape} differs from the plane's {values.shape}: give the "
                          "labels of the same plane")
    dims = tuple(getattr(image, "dims", ("y", "x")))
    vs = voxel_size(image, dims)
    (ydim, xdim), (ny, nx) = dims, values.shape
    dx, dy = vs.steps[xdim], vs.steps[ydim]
    x0, y0 = vs.origin[xdim], vs.origin[ydim]
    extent = [x0 - dx / 2, x0 + dx * (nx - 0.5), y0 + dy * (ny - 0.5), y0 - dy / 2]  # row 0 at the top
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.5), constrained_layout=True)
    ax.imshow(values, cmap="gray", extent=extent, vmax=float(np.percentile(values, percentile)),
              interpolation="nearest")
    overlay = np.zeros((*values.shape, 4))
    overlay[outlines(objects)] = to_rgba(_hex(color))
    ax.imshow(overlay, extent=extent, interpolation="nearest")
    unit = vs.symbol
    ax.set(xlabel=f"{xdim} ({unit})", ylabel=f"{ydim} ({unit})")
    if title is not None:
        n = int(np.count_nonzero(np.unique(objects)))
        ax.set_title(title.replace("{n}", str(n)))
    return ax


def scale_bar(
    ax: Any,
    pixel_size: float,
    *,
    length: float | None = None,
    unit: str = "µm",
    color: str = "white",
    fontsize: float = 9,
) -> float:
    """Draw a scale bar with its length at the bottom right of an image, outlined so it reads on any colour.

    Parameters
    ----------
    ax : matplotlib Axes
        Axes showing an image (``ax.imshow``), already drawn (the bar goes inside its current limits).
    pixel_size : float
        How long one unit of the axes' coordinates is, in ``unit``: the pixel size for an image drawn pixel for
        pixel (``imshow`` without ``extent``); 1 for an image drawn in ``unit`` already.
    length : float, optional
        The bar's length in ``unit``; default a round length about a fifth of the image's width.
    unit : str
        Written after the length.
    color : str
        The bar's and the text's colour (a black outline is drawn around both).
    fontsize : float

    Returns
    -------
    float
        The bar's length, in ``unit``.

    Examples
    --------
    >>> fig, ax = plt.subplots()  # doctest: +SKIP
    >>> ax.imshow(rgb)  # doctest: +SKIP
    >>> scale_bar(ax, pixel_size=0.108, length=2)  # a 2 µm bar  # doctest: +SKIP
    2
    """
    from matplotlib import patheffects

    if not pixel_size or pixel_size <= 0:
        raise FormatError(f"scale_bar needs the size of a pixel, got {pixel_size!r}: give it in {unit} "
                          "(e.g. labkit.units.voxel_size(image)['x'])")
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    width, height = right - left, top - bottom  # signed: an image's y axis points down
    if length is None:
        length = _bar_length(abs(width) * pixel_size)
    bar = length / pixel_size * np.sign(width)  # in the axes' coordinates
    end, y = right - 0.03 * width, bottom + 0.04 * height
    outline = [patheffects.withStroke(linewidth=3, foreground="black")]
    ax.plot([end - bar, end], [y, y], color=color, linewidth=3, solid_capstyle="butt", path_effects=outline)
    ax.text(end - bar / 2, y + 0.02 * height, f"{length:g} {unit}", color=color, ha="center", va="bottom",
            fontsize=fontsize, fontweight="bold", path_effects=outline)
    ax.set(xlim=(left, right), ylim=(bottom, top))  # the bar does not widen the view
    return length


def channel_legend(fig: Any, names: Sequence[str], colors: Sequence[str], **legend: Any) -> Any:
    """A legend of channel colours below a figure: one coloured patch per channel name.

    Parameters
    ----------
    fig : matplotlib Figure
    names : sequence of str
        The channels, in order.
    colors : sequence of str
        Their colours: hex as OMERO and :func:`labkit.recipes.project_cell` give them (``"00FFFF"``), with or
        without ``#``, or any matplotlib colour.
    **legend
        Passed to ``fig.legend`` (default: one row below the axes, no frame).

    Returns
    -------
    matplotlib.legend.Legend

    Raises
    ------
    labkit.errors.FormatError
        Not as many colours as names.

    Examples
    --------
    >>> channel_legend(fig, ["membrane", "dna"], ["00FFFF", "FF00FF"])  # doctest: +SKIP
    """
    from matplotlib.patches import Patch

    if len(names) != len(colors):
        raise FormatError(f"{plural(len(names), 'channel name')} and {plural(len(colors), 'colour')}: give one colour "
                          "per channel")
    options = {"loc": "lower center", "ncol": len(names), "frameon": False, "bbox_to_anchor": (0.5, -0.04),
               **legend}
    return fig.legend(handles=[Patch(color=_hex(c), label=str(n)) for n, c in zip(names, colors, strict=True)],
                      **options)
