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
    vol, _ = _counting_volume(n_z=20)
    v = Viewer(vol)
    v.widget()
    first = v._widgets["image"].value
    v._widgets["z"].value = 3
    assert v._widgets["image"].value != first
    v.projection = True
    assert v._plane(1).max() == 1000 + 19


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
    assert v._extent()[1] == "µm"


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
