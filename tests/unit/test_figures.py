"""labkit.figures and labkit.viewers.mark_window: what the tutorials' figures drew by hand, drawn by labkit."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import labkit  # noqa: E402
from labkit.errors import FormatError  # noqa: E402
from labkit.figures import OUTLINE_COLOR, channel_legend, plot_outlines, scale_bar  # noqa: E402
from labkit.viewers import mark_window, outlines, plot_map  # noqa: E402


def _plane(unit: str | None = "micrometer", step: float = 0.5) -> tuple[xr.DataArray, np.ndarray]:
    """A 20 x 30 plane with coordinates from 20 steps (10 µm of 0.5 µm pixels), two touching objects, one apart."""
    values = np.random.default_rng(0).random((20, 30))
    labels = np.zeros((20, 30), np.int32)
    labels[2:8, 2:8], labels[2:8, 8:12], labels[12:18, 20:28] = 1, 2, 7
    plane = xr.DataArray(values, dims=("y", "x"),
                         coords={"y": step * (20 + np.arange(20)), "x": step * (20 + np.arange(30))})
    if unit:
        for d in "yx":
            plane[d].attrs["units"] = unit
    return plane, labels


def test_outlines_are_drawn_over_the_plane_in_its_unit_and_counted():
    plane, labels = _plane("nanometer", step=500.0)  # 0.5 µm pixels, given in nm
    ax = plot_outlines(plane, labels, title="{n} nuclei")
    assert ax.get_title() == "3 nuclei"
    assert ax.get_xlabel() == "x (µm)" and ax.get_ylabel() == "y (µm)"
    grey, overlay = ax.images
    np.testing.assert_allclose(grey.get_extent(), [9.75, 24.75, 19.75, 9.75])  # pixel edges; row 0 at the top
    assert grey.get_extent() == overlay.get_extent()
    assert grey.norm.vmax == pytest.approx(np.percentile(plane.values, 99.5))
    rgba = overlay.get_array()
    drawn = rgba[..., 3] > 0
    np.testing.assert_array_equal(drawn, outlines(labels))  # the plane viewer's outlines, nothing else
    np.testing.assert_allclose(rgba[drawn][0], to_rgba(OUTLINE_COLOR))
    assert drawn[2:8, 7].all() and drawn[2:8, 8].all()  # touching objects: both sides of their border
    plt.close("all")


def test_outlines_in_pixels_without_a_unit_and_wrong_shapes_refused():
    plane, labels = _plane(None)
    fig, ax = plt.subplots()
    assert plot_outlines(plane.values, labels, ax) is ax and ax.get_xlabel() == "x (pixel)"
    np.testing.assert_allclose(ax.images[0].get_extent(), [-0.5, 29.5, 19.5, -0.5])  # numpy: indices
    with pytest.raises(FormatError, match="select a plane"):
        plot_outlines(np.zeros((2, 20, 30)), np.zeros((2, 20, 30), int))
    with pytest.raises(FormatError, match="same plane"):
        plot_outlines(plane, labels[:10])
    plt.close("all")


def test_the_scale_bar_has_its_length_in_pixels_and_its_label_outlined():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((100, 200, 3)))  # pixel for pixel, y pointing down
    limits = ax.get_xlim(), ax.get_ylim()
    assert scale_bar(ax, pixel_size=0.25, length=2) == 2
    (bar,) = ax.lines
    xs, ys = bar.get_xdata(), bar.get_ydata()
    assert xs[1] - xs[0] == pytest.approx(8)  # 2 µm of 0.25 µm pixels
    assert ys[0] > 90 and xs[1] > 190  # at the bottom right
    (text,) = ax.texts
    assert text.get_text() == "2 µm" and text.get_path_effects() and bar.get_path_effects()
    assert text.get_position()[1] < ys[0]  # above the bar (the y axis points down)
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    fig2, ax2 = plt.subplots()
    ax2.imshow(np.zeros((10, 10)), extent=[0, 50, 0, 50])  # drawn in µm already
    assert scale_bar(ax2, 1) == 10  # a round fifth of 50 µm
    with pytest.raises(FormatError, match="size of a pixel"):
        scale_bar(ax2, 0)
    plt.close("all")


def test_channel_legend_names_each_channel_in_its_colour():
    fig, _ = plt.subplots()
    legend = channel_legend(fig, ["membrane", "dna"], ["00FFFF", "#FF00FF"])
    assert [t.get_text() for t in legend.get_texts()] == ["membrane", "dna"]
    assert [tuple(h.get_facecolor()) for h in legend.legend_handles] == [to_rgba("#00FFFF"), to_rgba("#FF00FF")]
    with pytest.raises(FormatError, match="one colour per channel"):
        channel_legend(fig, ["a", "b"], ["00FFFF"])
    plt.close("all")


def test_mark_window_outlines_the_windows_pixels_on_the_map():
    grid = xr.DataArray(np.zeros((40, 60)), dims=("y", "x"),
                        coords={"y": 5000.0 - 20 * np.arange(40), "x": 1000.0 + 20 * np.arange(60)})
    ax = plot_map(grid)
    box = mark_window(ax, grid[10:20, 30:50])
    # x: pixels 30..49 -> 1600..1980 m, edges 1590..1990; y: rows 10..19 -> 4800..4620 m, edges 4810..4610
    assert box.get_xy() == pytest.approx((1.59, 4.61)) and box.get_width() == pytest.approx(0.4)
    assert box.get_height() == pytest.approx(0.2)
    assert mark_window(plot_map(grid, units="m"), grid[10:20, 30:50], units="m").get_xy() == pytest.approx((1590, 4610))
    with pytest.raises(FormatError, match="2D"):
        mark_window(ax, grid.expand_dims(t=2))
    plt.close("all")


def test_the_figure_helpers_are_labkits():
    assert labkit.plot_outlines is plot_outlines and labkit.scale_bar is scale_bar
    assert labkit.channel_legend is channel_legend and labkit.mark_window is mark_window
