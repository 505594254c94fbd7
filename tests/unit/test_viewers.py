"""labkit.viewers: the plane viewer reads only what it shows; plot_map draws georeferenced rasters."""

from __future__ import annotations

import io
import json

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from PIL import Image

from labkit.errors import MissingDependencyError
from labkit.viewers import Viewer, plot_map, view


def _counting_volume(n_z=236, shape=(64, 48)):
    """A dask (c=2, z, y, x) volume that counts the planes it computes."""
    reads = []

    def plane(c, z):
        reads.append((c, z))
        return np.full(shape, c * 1000 + z, np.uint16)

    planes = [[da.from_delayed(dask.delayed(plane)(c, z), shape, np.uint16) for z in range(n_z)] for c in range(2)]
    return da.stack([da.stack(p) for p in planes]), reads


def test_only_the_planes_shown_are_read():
    vol, reads = _counting_volume()
    v = view(vol)
    v.widget()
    assert len(reads) == 2  # one plane per channel
    v._widgets["z"].value = 10
    assert sorted(reads[-2:]) == [(0, 10), (1, 10)] and len(reads) == 4
    v._widgets["channels"][0].value = False
    assert reads[-1] == (1, 10) and len(reads) == 5


def test_slider_changes_the_image_and_projection_shows_the_max():
    v = Viewer(np.random.default_rng(1).random((2, 20, 32, 48)))
    v.widget()
    first = v._widgets["image"].value
    v._widgets["z"].value = 3
    assert v._widgets["image"].value != first
    assert "z = 3 of 20" in v._widgets["caption"].value
    v._widgets["projection"].value = True
    assert v._widgets["z"].disabled  # the slider does nothing in a projection
    assert "maximum over z" in v._widgets["caption"].value
    v._widgets["projection"].value = False
    assert not v._widgets["z"].disabled
    assert v._widgets["busy"].value == "" and "labkit-busy" not in v._widgets["box"]._dom_classes
    counting = Viewer(_counting_volume(n_z=20)[0])
    counting.projection = True
    assert counting._plane(1).max() == 1000 + 19


def test_busy_indicator_shows_while_drawing():
    v = Viewer(np.random.default_rng(0).random((4, 16, 16)))
    v.widget()
    seen = []
    real_png = v.png
    v.png = lambda: (seen.append((v._widgets["busy"].value, list(v._widgets["box"]._dom_classes))), real_png())[1]
    v._widgets["z"].value = 1
    assert "drawing" in seen[0][0] and "labkit-busy" in seen[0][1]
    assert v._widgets["busy"].value == ""


def test_pixels_are_shown_crisp_and_the_image_fits():
    img = xr.DataArray(np.random.default_rng(0).random((2, 100, 120)), dims=("z", "y", "x"),
                       coords={"x": np.arange(120) * 0.36, "y": np.arange(100) * 0.36})
    img.x.attrs["units"] = "micrometer"
    v = Viewer(img)
    png = Image.open(io.BytesIO(v.png()))
    assert png.size == (120 * 4, 100 * 4)  # a whole-number zoom, nothing resampled
    pixels = np.asarray(png)[:8, :8]
    assert (pixels[:4, :4] == pixels[0, 0]).all()  # each image pixel is a 4 x 4 block
    layout = v.widget().children[3].layout
    assert (layout.width, layout.max_width, layout.height) == ("480px", "100%", "auto")
    assert "0.36 µm per pixel; bar = 5 µm" in v.where()
    assert np.asarray(png)[-12:, -60:].max() == 255  # the scale bar


def test_a_selected_channel_keeps_its_label_and_colour():
    img = xr.DataArray(np.ones((2, 1, 8, 8)), dims=("c", "z", "y", "x"), coords={"c": ["LaminB1", "Dapi"]},
                       attrs={"channels": json.dumps([
                           {"label": "LaminB1", "color": "0000FF", "window": {"start": 0, "end": 2}},
                           {"label": "Dapi", "color": "FFFF00", "window": {"start": 0, "end": 4}}])})
    v = Viewer(img.sel(c=["Dapi"]))
    assert [(c["label"], c["color"], c["end"]) for c in v.channels] == [("Dapi", "FFFF00", 4)]
    np.testing.assert_allclose(v.render()[0, 0], [0.25, 0.25, 0])  # yellow, at a quarter of its window
    assert [c.description for c in v.widget().children[2].children] == ["Dapi"]


@pytest.mark.parametrize("shape,dims", [((32, 40), ("y", "x")), ((5, 32, 40), ("z", "y", "x")),
                                        ((3, 2, 5, 32, 40), ("t", "c", "z", "y", "x"))])
def test_numpy_shapes(shape, dims):
    v = Viewer(np.random.default_rng(0).random(shape))
    assert v.data.dims == dims
    png = Image.open(io.BytesIO(v.png()))
    assert png.size[0] > 100
    assert v.render().shape == (32, 40, 3)


def test_channel_axis_and_bad_dims():
    assert Viewer(np.zeros((10, 12, 3)), channel_axis=-1).data.dims == ("y", "x", "c")
    with pytest.raises(ValueError, match="dims among"):
        Viewer(xr.DataArray(np.zeros((2, 3)), dims=("a", "b")))


def test_omero_colours_windows_and_labels():
    img = xr.DataArray(np.stack([np.full((1, 8, 8), 750.0), np.full((1, 8, 8), 1500.0)]), dims=("c", "z", "y", "x"),
                       coords={"c": ["LaminB1", "Dapi"], "x": np.arange(8) * 0.36, "y": np.arange(8) * 0.36},
                       attrs={"channels": json.dumps([
                           {"label": "LaminB1", "color": "0000FF", "window": {"start": 0, "end": 1500},
                            "active": True},
                           {"label": "Dapi", "color": "FFFF00", "window": {"start": 0, "end": 1500},
                            "active": False}])})
    img.x.attrs["units"] = "micrometer"
    v = Viewer(img)
    rgb = v.render()
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 0.5])  # blue at half its window; Dapi is off
    labels = np.zeros((1, 8, 8), np.uint16)
    labels[0, 2:6, 2:6] = 1
    outlined = Viewer(img, labels=labels).render()
    assert tuple(outlined[2, 3]) == (1.0, 0.3, 0.3) and tuple(outlined[4, 4]) != (1.0, 0.3, 0.3)
    assert v._pixel_size() == (pytest.approx(0.36), "µm")


def test_itk_backend_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_itk(name, *a, **k):
        if name.startswith("itkwidgets"):
            raise ImportError("No module named 'itkwidgets'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_itk)
    with pytest.raises(MissingDependencyError, match=r'labkit\[itk\]'):
        view(np.zeros((4, 4)), backend="itk")


def test_plot_map_extent_and_nodata():
    import matplotlib

    matplotlib.use("Agg")
    da_ = xr.DataArray(np.array([[1, 255], [0, 1]], np.uint8), dims=("y", "x"),
                       coords={"y": [1010.0, 990.0], "x": [2010.0, 2030.0]},
                       attrs={"nodata": 255, "long_name": "flood"})
    ax = plot_map(da_)
    assert ax.get_xlim() == (2.0, 2.04) and ax.get_ylim() == (0.98, 1.02)
    assert np.ma.is_masked(ax.images[0].get_array()[0, 1]) or np.isnan(ax.images[0].get_array()[0, 1])
    with pytest.raises(ValueError, match="2D"):
        plot_map(xr.DataArray(np.zeros((2, 2, 2))))


def test_plot_map_of_classes_has_a_legend_the_crs_and_the_outline():
    import matplotlib

    matplotlib.use("Agg")
    from labkit.synthetic.flood import equi7_wkt2
    from labkit.viewers import FLOOD_CLASSES

    values = np.array([[0, 1], [255, 1]], np.uint8)
    da_ = xr.DataArray(values, dims=("y", "x"), coords={"y": [1010.0, 990.0], "x": [2010.0, 2030.0],
                       "spatial_ref": xr.DataArray(0, attrs={"crs_wkt": equi7_wkt2()})}, attrs={"nodata": 255})
    ax = plot_map(da_, classes=FLOOD_CLASSES, outline=values == 1, outline_label="true extent")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["dry", "flooded", "no data", "true extent"]
    assert "Azimuthal Equidistant" in ax.get_xlabel()
    assert len(ax.figure.axes) == 1  # a legend, no colour bar
    shown = ax.images[0].get_array()
    assert [shown[0, 0], shown[0, 1], shown[1, 0]] == [0, 1, 2]  # each class its own colour, no data included
