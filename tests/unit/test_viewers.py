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

from labkit._images import label_colors, label_hex
from labkit.errors import FormatError, MissingDependencyError
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
    colour = tuple(label_colors([1])[0])
    assert tuple(outlined[2, 3]) == colour and tuple(outlined[4, 4]) != colour
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


# --------------------------------------------------------------------------- labels


def _hue_distance(a, b):
    from matplotlib.colors import rgb_to_hsv

    d = abs(float(rgb_to_hsv(a)[0] - rgb_to_hsv(b)[0]))
    return min(d, 1 - d)


def test_every_object_is_outlined_in_its_own_colour_and_touching_ones_differ():
    from labkit.synthetic import touching_nuclei
    from labkit.viewers import outlines

    plane = touching_nuclei((128, 128), 10, seed=1)
    lab = plane.labels
    rgb = Viewer(plane.image, labels=lab).render()
    edges = outlines(lab)
    for i in np.unique(lab[lab > 0]):
        on = edges & (lab == i)
        assert on.any() and np.allclose(rgb[on], label_colors([i])[0]), f"object {i}"
    inside = rgb[~edges & (lab > 0)]
    assert np.ptp(inside, axis=1).max() == 0  # inside an object: the image (grey), not an outline
    # two touching objects: both sides of their border outlined, each in its own, clearly different colour
    right = (lab[:, :-1] > 0) & (lab[:, 1:] > 0) & (lab[:, :-1] != lab[:, 1:])
    ys, xs = np.nonzero(right)
    assert len(ys), "the test plane has touching nuclei"
    pairs = {(int(lab[y, x]), int(lab[y, x + 1])) for y, x in zip(ys, xs, strict=True)}
    for y, x in zip(ys, xs, strict=True):
        assert edges[y, x] and edges[y, x + 1]
        assert _hue_distance(rgb[y, x], rgb[y, x + 1]) > 0.05, (lab[y, x], lab[y, x + 1])
    assert len(pairs) >= 2


def test_label_colours_are_per_id_and_take_large_sparse_ids():
    big = np.array([123456789, 2**40 + 5, 2**64 - 1], np.uint64)
    assert label_colors(big).shape == (3, 3) and (label_colors(big) == label_colors(list(map(int, big)))).all()
    assert (label_colors(np.array([7], np.int32)) == label_colors([7])).all()
    rgb = label_colors(np.arange(1, 200))
    assert rgb.max(axis=1).min() >= 0.85 and (rgb.max(axis=1) - rgb.min(axis=1)).min() > 0.5  # bright, saturated
    # consecutive ids (skimage, cellpose number objects 1, 2, 3 ...): hues far apart
    assert min(_hue_distance(rgb[i], rgb[i + 1]) for i in range(198)) > 0.3
    r, g, b = (label_colors([1])[0] * 255).round().astype(int)
    assert label_hex([1]) == [f"#{r:02x}{g:02x}{b:02x}"]
    # uint64 labels over a plane: outlines in the ids' colours
    lab = np.zeros((1, 12, 12), np.uint64)
    lab[0, 2:6, 2:6], lab[0, 6:10, 2:6] = 2**40 + 5, 123456789  # touching
    rgb = Viewer(np.zeros((1, 12, 12)), labels=lab).render()
    assert tuple(rgb[5, 3]) == tuple(label_colors([2**40 + 5])[0])
    assert tuple(rgb[6, 3]) == tuple(label_colors([123456789])[0])


def _stack():
    """A (z, y, x) image with one object per plane, at a different place on each plane."""
    image = np.zeros((3, 20, 20))
    labels = np.zeros((3, 20, 20), np.uint32)
    for z in range(3):
        labels[z, 2 + 5 * z : 6 + 5 * z, 4:10] = 1000 + z
    return image, labels


def test_z_slider_moves_image_and_labels_and_projection_outlines_the_max():
    image, labels = _stack()
    v = Viewer(image, labels=labels)
    v.widget()
    for z in range(3):
        v._widgets["z"].value = z
        rgb = v.render()
        assert tuple(rgb[2 + 5 * z, 5]) == tuple(label_colors([1000 + z])[0])
        others = [k for k in range(3) if k != z]
        assert all(tuple(rgb[2 + 5 * k, 5]) == (0, 0, 0) for k in others)
    v._widgets["projection"].value = True
    rgb = v.render()
    for z in range(3):  # the max projection shows every plane's object
        assert tuple(rgb[2 + 5 * z, 5]) == tuple(label_colors([1000 + z])[0])
    v._widgets["labels"].value = False  # the outlines can be hidden
    assert v.render().max() == 0


def test_labels_align_by_dim_name_from_dask_and_xarray():
    image, labels = _stack()
    img = xr.DataArray(np.stack([image, image]), dims=("c", "z", "y", "x"), coords={"c": ["a", "b"]})
    expected = None
    for lab in (labels, da.from_array(labels, chunks=(1, 10, 10)), xr.DataArray(labels, dims=("z", "y", "x")),
                xr.DataArray(labels[:, None], dims=("z", "c", "y", "x"))):
        v = Viewer(img, labels=lab)
        assert v.labels.dims == ("z", "y", "x")
        v.z = 2
        rgb = v.render()
        expected = rgb if expected is None else expected
        np.testing.assert_array_equal(rgb, expected)
    assert tuple(expected[12, 5]) == tuple(label_colors([1002])[0])
    # 2D labels of a time series: the same outlines at every t
    v = Viewer(np.zeros((2, 20, 20)), channel_axis=None, labels=labels[0])
    assert v.labels.dims == ("y", "x")
    with pytest.raises(FormatError, match="along y"):
        Viewer(img, labels=labels[:, :10])
    with pytest.raises(FormatError, match="integers"):
        Viewer(img, labels=labels.astype(float))


def test_3d_view_adds_a_segmentation_layer_in_the_plane_viewers_colours():
    pytest.importorskip("neuroglancer")
    from labkit.synthetic import nuclei_volume

    vol = nuclei_volume((8, 48, 48), 3, seed=1)
    coords = {"z": np.arange(8) * 0.5, "y": np.arange(48) * 0.2, "x": np.arange(48) * 0.2}
    img = xr.DataArray(vol.image[None], dims=("c", "z", "y", "x"), coords={**coords, "c": ["Dapi"]})
    for d in "zyx":
        img[d].attrs["units"] = "micrometer"
    labels = xr.DataArray(vol.labels, dims=("z", "y", "x"), coords=coords)  # uint16
    v = view(img, labels=labels, backend="3d")
    try:
        assert v.layers == ["Dapi", "labels"]
        layer = v.viewer.state.layers["labels"]
        ids = [int(i) for i in np.unique(vol.labels) if i]
        assert layer.type == "segmentation" and sorted(int(i) for i in layer.segments) == ids
        assert {int(k): c for k, c in layer.segment_colors.items()} == dict(zip(ids, label_hex(ids), strict=True))
        assert 0 < layer.object_alpha < 1  # the surfaces a little transparent
        url = layer.source[0].url  # python://volume/<viewer>.<volume>: served by this process
        volume = v.viewer.volume_manager.volumes[url.rsplit(".", 1)[1]]
        assert volume.volume_type == "segmentation" and volume.data_type == "uint32"
        assert list(volume.dimensions.scales) == pytest.approx([0.5e-6, 0.2e-6, 0.2e-6])  # the image's voxels
        assert len(volume.get_object_mesh(ids[0])) > 100  # the surfaces are made here, offline
    finally:
        v.close()
    with pytest.raises(FormatError, match="negative"):
        view(img, labels=-labels.astype(np.int32), backend="3d")

