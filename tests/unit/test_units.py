"""One rule for units: voxel sizes in micrometres when the coordinates' unit is known, in pixels when it is not.

Every module that turns coordinates into sizes (measurements, segmentation, labels, the plane viewer's scale bar,
the 3D view, maps) goes through :func:`labkit.units.voxel_size`; these tests build small images with nanometre,
micrometre, millimetre and pixel coordinates (and none), in 2D and 3D, and check each module on them.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from labkit import ngff
from labkit.errors import FormatError
from labkit.measurements import measure
from labkit.units import unit_name, voxel_size

#: a step of 15 nm, 0.015 µm, 0.000015 mm: the same voxel in three units
STEP = {"nanometer": 15.0, "micrometer": 0.015, "millimeter": 0.000015, "nm": 15.0, "µm": 0.015}


def _image(shape: tuple[int, ...], unit: str | None, step: float | None = None, origin: float = 0.0,
           values: np.ndarray | None = None) -> xr.DataArray:
    """An image with dims (z,) y, x, coordinates ``origin + step * index`` in ``unit`` (none when ``unit`` is None
    and ``step`` too)."""
    dims = ("z", "y", "x")[-len(shape):]
    data = np.zeros(shape, np.uint16) if values is None else values
    if step is None and unit is None:
        return xr.DataArray(data, dims=dims)
    step = STEP.get(unit or "", 1.0) if step is None else step
    image = xr.DataArray(data, dims=dims, coords={d: origin + step * np.arange(n) for d, n in zip(dims, shape,
                                                                                                   strict=True)})
    for d in dims:
        if unit is not None:
            image[d].attrs["units"] = unit
    return image


def _square_labels(unit: str | None, ndim: int = 2, step: float | None = None) -> xr.DataArray:
    """A 4x4 (x4) object of label 5 at index 2..5 in an 8-pixel image."""
    shape = (8,) * ndim
    labels = np.zeros(shape, np.uint32)
    labels[(slice(2, 6),) * ndim] = 5
    return _image(shape, unit, step, values=labels)


@pytest.mark.parametrize("unit", ["nanometer", "micrometer", "millimeter", "nm", "µm"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_lengths_are_converted_to_micrometres(unit, ndim):
    vs = voxel_size(_image((3,) * ndim, unit, origin=STEP[unit] * 10))
    assert vs.unit == "micrometer" and vs.known and vs.suffix == "um" and vs.symbol == "µm"
    assert list(vs.sizes) == list("zyx"[-ndim:])
    np.testing.assert_allclose(list(vs.sizes.values()), 0.015)
    np.testing.assert_allclose(list(vs.origin.values()), 0.15)


def test_another_unit_can_be_asked_for_and_steps_keep_their_sign():
    image = _image((3, 3), "meter", step=30.0)
    image = image.assign_coords(y=image.y.values[::-1])  # north up: y decreasing (the attrs go with it)
    image.y.attrs["units"] = "metre"
    vs = voxel_size(image, unit="kilometer")
    assert vs.unit == "kilometer" and vs.steps == pytest.approx({"y": -0.03, "x": 0.03})
    assert vs.sizes == pytest.approx({"y": 0.03, "x": 0.03}) and vs.origin["y"] == pytest.approx(0.06)


@pytest.mark.parametrize("ndim", [2, 3])
def test_pixel_coordinates_stay_pixels_with_their_steps(ndim):
    # an NGFF 0.1-0.3 image at level 1 opened without pixel sizes: coordinates in pixels of level 0
    vs = voxel_size(_image((3,) * ndim, "pixel", step=2.0))
    assert vs.unit == "pixel" and not vs.known and vs.suffix == "px"
    assert list(vs.sizes.values()) == [2.0] * ndim


@pytest.mark.parametrize("make", [
    lambda: np.zeros((3, 4, 5)),  # no coordinates at all
    lambda: _image((3, 4, 5), None, step=0.2),  # coordinates without a unit
    lambda: _image((3, 4, 5), "micrometer").assign_coords(z=[0.0, 1.0, 2.0]),  # z without a unit, y and x in µm
    lambda: _image((3, 4, 5), "pixel").assign_coords(x=np.arange(5) * 0.2),  # x without a unit, z and y pixels
])
def test_an_unknown_unit_is_the_arrays_own_pixels(make):
    vs = voxel_size(make(), ("z", "y", "x"))
    assert vs.unit == "pixel" and vs.sizes == {"z": 1.0, "y": 1.0, "x": 1.0}
    assert vs.origin == {"z": 0.0, "y": 0.0, "x": 0.0}


def test_unit_attribute_spellings():
    assert [unit_name(u) for u in ("micrometer", "Micrometres", "um", "μm", "micron", "nm", "mm", "angstrom",
                                   "pixel", "px", "second")] == \
        ["micrometer", "micrometer", "micrometer", "micrometer", "micrometer", "nanometer", "millimeter",
         "angstrom", "pixel", "pixel", None]
    image = _image((3, 3), None, step=2.0)
    for d in "yx":
        image[d].attrs["unit"] = "nm"  # the singular attribute name also counts
    assert voxel_size(image).sizes == pytest.approx({"y": 0.002, "x": 0.002})
    assert ngff.voxel_size is voxel_size  # the format's package owns the rule


def test_a_unit_that_is_not_a_length_is_a_clear_error():
    image = _image((3, 3), "micrometer")
    image.x.attrs["units"] = "second"
    with pytest.raises(FormatError, match=r"the x coordinates are in 'second'.*attrs\['units'\].*micrometer"):
        voxel_size(image)
    with pytest.raises(FormatError, match="the x coordinates are in 'second'"):
        measure(image.astype(np.uint32))
    with pytest.raises(FormatError, match="not a length unit"):
        voxel_size(image, unit="pixel")


# measurements ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["nanometer", "micrometer", "millimeter"])
def test_measure_2d_in_micrometres_whatever_the_coordinates_unit(unit):
    table = measure(_square_labels(unit))
    assert table.attrs["units"] == "micrometer" and "area_px" not in table
    assert table.loc[0, "area_um2"] == pytest.approx(16 * 0.015**2)  # 0.0036 µm², not 3600
    assert table.loc[0, "centroid_x"] == pytest.approx(3.5 * 0.015)
    assert table.loc[0, "bbox_max_y"] == pytest.approx(5 * 0.015)
    assert table.attrs["voxel_size"] == pytest.approx({"y": 0.015, "x": 0.015})


@pytest.mark.parametrize("unit", ["nanometer", "micrometer", "millimeter"])
def test_measure_3d_in_micrometres_whatever_the_coordinates_unit(unit):
    table = measure(_square_labels(unit, ndim=3))
    assert table.loc[0, "volume_um3"] == pytest.approx(64 * 0.015**3) and table.attrs["units"] == "micrometer"
    assert table.loc[0, "centroid_z"] == pytest.approx(3.5 * 0.015)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("unit, step, size", [("pixel", 1.0, 1.0), ("pixel", 2.0, 2.0), (None, 0.36, 1.0),
                                              (None, None, 1.0)])
def test_measure_in_pixels_when_the_unit_is_not_known(ndim, unit, step, size):
    table = measure(_square_labels(unit, ndim, step))
    name = "volume_px" if ndim == 3 else "area_px"
    assert table.attrs["units"] == "pixel" and list(table.columns[:2]) == ["label", name]
    assert table.loc[0, name] == 4**ndim * size**ndim  # pixels (of the full-resolution level for pixel coordinates)
    assert table.loc[0, "centroid_x"] == 3.5 * size


def test_opened_images_measure_in_the_unit_of_their_axes(tmp_path):
    from labkit.load_remote import open_image

    labels = np.zeros((8, 8), np.uint16)
    labels[2:6, 2:6] = 1
    for unit, column, value in [("nanometer", "area_um2", 16 * 0.015**2), ("micrometer", "area_um2", 16 * 15.0**2),
                                (None, "area_px", 16)]:
        path = tmp_path / f"{unit}.ome.zarr"
        ngff.write_image(path, labels, axes="yx", pixel_sizes={"y": 15.0, "x": 15.0}, unit=unit, overwrite=True)
        image = open_image(path)
        assert image.x.attrs.get("units") == unit  # NGFF 0.4 scales without a unit: no unit claimed
        assert measure(image.astype(np.uint32))[column].tolist() == pytest.approx([value])


# segmentation ------------------------------------------------------------------------------------------------


def test_segmentation_smooths_in_micrometres_and_falls_back_to_pixels():
    from labkit.segment import segment_nuclei
    from labkit.synthetic import nuclei_volume

    vol = nuclei_volume((16, 64, 64), 4, seed=1)

    def image(unit, step):
        out = xr.DataArray(vol.image, dims=("z", "y", "x"),
                           coords={d: np.arange(n) * s for d, n, s in zip("zyx", vol.image.shape, step, strict=True)})
        for d in "zyx":
            out[d].attrs["units"] = unit
        return out

    in_um = segment_nuclei(image("micrometer", (0.5, 0.2, 0.2))).values
    in_nm = segment_nuclei(image("nanometer", (500.0, 200.0, 200.0))).values
    np.testing.assert_array_equal(in_nm, in_um)  # the same voxels in other units: the same nuclei
    in_px = segment_nuclei(image("pixel", (1.0, 1.0, 1.0))).values
    assert len(np.unique(in_um)) - 1 == 4 and len(np.unique(in_px)) - 1 == 4


# labels ------------------------------------------------------------------------------------------------------


def _v01() -> ngff.Multiscale:
    """What an NGFF 0.1 image (no physical scales) of 4 x 8 x 8 reads as."""
    axes = tuple(ngff.Axis(n, t) for n, t in zip("zyx", [ngff.SPACE] * 3, strict=True))
    level = ngff.Level("0", (4, 8, 8), (4, 8, 8), "uint16", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return ngff.Multiscale("0.1", 2, axes, (level,), scales_known=False)


@pytest.mark.parametrize("unit, scale, written", [("nanometer", [0.5, 0.2, 0.2], "micrometer"),
                                                   ("micrometer", [0.5, 0.2, 0.2], "micrometer"),
                                                   ("pixel", None, None), (None, None, None)])
def test_a_copied_v01_image_gets_micrometres_or_stays_in_pixels(unit, scale, written):
    from labkit.labels import _physical

    step = {"nanometer": [500.0, 200.0, 200.0]}.get(unit, [0.5, 0.2, 0.2])
    labels = xr.DataArray(np.zeros((4, 8, 8), np.uint32), dims=("z", "y", "x"),
                          coords={d: np.arange(n) * s for d, n, s in zip("zyx", (4, 8, 8), step, strict=True)})
    for d in "zyx":
        if unit is not None:
            labels[d].attrs["units"] = unit
    meta = _physical(_v01(), labels)
    assert [a.unit for a in meta.axes] == [written] * 3  # never "pixel", which is no NGFF unit
    if scale is None:
        assert not meta.scales_known
    else:
        assert meta.scales_known and meta.levels[0].scale == pytest.approx(scale)


# viewers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit, size", [("nanometer", 0.015), ("micrometer", 0.015), ("millimeter", 0.015),
                                        ("pixel", None), (None, None)])
def test_the_scale_bar_is_in_micrometres_or_absent(unit, size):
    from labkit.viewers import Viewer

    viewer = Viewer(_image((1, 8, 40), unit, step=STEP.get(unit or "", 1.0)))
    got, symbol = viewer._pixel_size()
    if size is None:
        assert got is None and "per pixel" not in viewer.where()
    else:
        assert got == pytest.approx(size) and symbol == "µm"
        assert viewer.where().endswith("0.015 µm per pixel; bar = 0.1 µm")


@pytest.mark.parametrize("unit, sizes, ng_unit", [("nanometer", [0.5, 0.2, 0.2], "um"),
                                                  ("millimeter", [0.5, 0.2, 0.2], "um"),
                                                  ("pixel", [1.0, 2.0, 2.0], ""), (None, [1.0, 1.0, 1.0], "")])
def test_the_3d_view_sizes_are_micrometres_or_pixels(unit, sizes, ng_unit):
    from labkit.viewer3d import _voxel_size

    steps = {"nanometer": (500.0, 200.0, 200.0), "millimeter": (0.0005, 0.0002, 0.0002),
             "pixel": (1.0, 2.0, 2.0)}.get(unit, (0.5, 0.2, 0.2))
    image = xr.DataArray(np.zeros((3, 4, 4)), dims=("z", "y", "x"),
                         coords={d: np.arange(n) * s for d, n, s in zip("zyx", (3, 4, 4), steps, strict=True)})
    for d in "zyx":
        if unit is not None:
            image[d].attrs["units"] = unit
    assert _voxel_size(image) == (pytest.approx(sizes), ng_unit)


def test_a_map_in_kilometres_or_metres_has_the_same_extent():
    import matplotlib

    matplotlib.use("Agg")
    from labkit.viewers import plot_map

    def extent(unit, factor):
        da = xr.DataArray(np.ones((2, 2)), dims=("y", "x"),
                          coords={"y": np.array([1010.0, 990.0]) / factor, "x": np.array([2010.0, 2030.0]) / factor})
        if unit:
            for d in "yx":
                da[d].attrs["units"] = unit
        return plot_map(da).images[0].get_extent()

    expected = [2.0, 2.04, 0.98, 1.02]  # km: the pixels' outer edges
    np.testing.assert_allclose(extent(None, 1), expected)  # a map's coordinates without units: metres
    np.testing.assert_allclose(extent("metre", 1), expected)
    np.testing.assert_allclose(extent("kilometer", 1000), expected)


def test_a_map_in_degrees_is_refused_with_the_fix():
    from labkit.viewers import plot_map

    da = xr.DataArray(np.ones((2, 2)), dims=("y", "x"), coords={"y": [27.0, 26.9], "x": [67.4, 67.5]})
    da.x.attrs["units"], da.y.attrs["units"] = "degrees_east", "degrees_north"
    with pytest.raises(FormatError, match="projected CRS.*'degrees_north'.*reproject"):
        plot_map(da)


# areas -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit, step", [("meter", 20.0), ("kilometer", 0.02), ("m", 20.0), (None, 20.0)])
def test_pixel_area_and_area_of_a_map_in_any_length_unit(unit, step):
    from labkit.units import area, pixel_area

    grid = _image((4, 5), unit, step=step)
    assert pixel_area(grid, unit="meter", assume="meter") == pytest.approx(400.0)
    mask = grid.copy(data=np.arange(20).reshape(4, 5) % 3 == 0)  # 7 pixels
    assert area(mask, unit="kilometer", assume="meter") == pytest.approx(7 * 400 / 1e6)
    assert area(mask, unit="meter", assume="meter") == pytest.approx(2800.0)


def test_pixel_area_in_micrometres_and_a_voxels_volume():
    from labkit.units import pixel_area

    assert pixel_area(_image((3, 4, 4), "nanometer", step=500.0)) == pytest.approx(0.25)
    assert pixel_area(_image((3, 4, 4), "nanometer", step=500.0), ("z", "y", "x")) == pytest.approx(0.125)


@pytest.mark.parametrize("unit", ["pixel", None])
def test_an_area_needs_a_known_unit(unit):
    from labkit.units import area, pixel_area

    with pytest.raises(FormatError, match="not known.*units"):
        pixel_area(_image((4, 4), unit, step=2.0))
    with pytest.raises(FormatError, match="not known"):
        area(_image((4, 4), unit, step=2.0) > 0)
