"""Blockwise segmentation and measurement: results that do not depend on the blocks, and bad input refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage
from skimage.measure import regionprops_table

from labkit import errors
from labkit.measurements import measure
from labkit.segment import segment_nuclei
from labkit.synthetic import nuclei_volume


def threshold(block: np.ndarray) -> np.ndarray:
    """A user's own method: connected components above a threshold (exact, so blocks must not change it)."""
    return ndimage.label(block > 500)[0]


def balls_on_block_corners(shape=(40, 96, 96), corner=(20, 48, 48), radius=7) -> tuple[np.ndarray, np.ndarray]:
    """Nuclei centred on the corner where eight blocks meet, on block faces, and inside blocks."""
    centres = [corner, (corner[0], corner[1], 20), (corner[0], 20, corner[2]), (10, 20, 20), (30, 75, 75),
               (corner[0], corner[1] + 2 * radius + 1, corner[2])]  # the last touches the first
    zz, yy, xx = np.indices(shape)
    truth = np.zeros(shape, np.int32)
    for i, (z, y, x) in enumerate(centres, start=1):
        truth[((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) <= radius**2] = i
    image = np.where(truth > 0, 900, 100).astype(np.uint16)
    return image, truth


def test_objects_across_block_faces_and_corners_are_one_object_each():
    image, truth = balls_on_block_corners()
    whole = segment_nuclei(image, method=threshold, chunks=image.shape, halo=0).values
    blocks = segment_nuclei(image, method=threshold, chunks=(20, 48, 48), halo=16)
    assert blocks.data.numblocks == (2, 2, 2)
    labels = blocks.values
    np.testing.assert_array_equal(labels, whole)
    # connected components join the two touching balls (1 and 6); every other ball is found whole
    assert len(np.unique(labels)) - 1 == 5
    assert len(np.unique(labels[(truth == 1) | (truth == 6)])) == 1
    for ball in range(2, 6):
        assert len(np.unique(labels[truth == ball])) == 1 and (labels[truth == ball] > 0).all()


def test_a_halo_too_small_cuts_objects_so_the_halo_matters():
    image, _ = balls_on_block_corners()
    cut = segment_nuclei(image, method=threshold, chunks=(20, 48, 48), halo=0).values
    assert len(np.unique(cut)) - 1 > 5  # the balls on faces and corners fall apart into pieces


def test_ids_are_the_first_voxel_and_dims_and_coordinates_follow_the_image():
    vol = nuclei_volume((16, 64, 64), 4, seed=1)
    coords = {"z": np.arange(16) * 0.5, "y": np.arange(64) * 0.2, "x": np.arange(64) * 0.2}
    image = xr.DataArray(vol.image[None], dims=("c", "z", "y", "x"), coords={**coords, "c": ["Dapi"]})
    labels = segment_nuclei(image, channel="Dapi", method=threshold, halo=(8, 16, 16))
    assert labels.dims == ("z", "y", "x") and labels.dtype == np.uint32
    np.testing.assert_allclose(labels.x.values, coords["x"])
    values = labels.values
    for i in np.unique(values[values > 0]):
        assert np.flatnonzero(values.ravel() == i)[0] + 1 == i


def test_blocks_of_another_size_than_asked_are_announced():
    """chunks={"z": 21} on 40 planes with a halo of 20 ran one block of 40, silently (issue 29)."""
    image, truth = balls_on_block_corners()
    with pytest.warns(errors.BlockSizeWarning) as caught:
        merged = segment_nuclei(image, method=threshold, chunks={"z": 21, "y": 48, "x": 48}, halo=(20, 8, 8))
    assert merged.data.chunks[0] == (40,) and merged.data.chunks[1] == (48, 48)
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the user's line
    message = str(caught[0].message)
    for words in ("blocks of 21 along z", "last block of 19", "halo (20)", "used one block of 40 along z",
                  "give z: 20 (40 = 2 x 20)", "halo of at most 19"):
        assert words in message, message
    with pytest.warns(errors.BlockSizeWarning, match="used 2 of 12 and a last one of 16 along y"):
        segment_nuclei(image[:8, :40, :40], method=threshold, chunks=(8, 12, 40), halo=(0, 6, 0))
    with pytest.warns(errors.BlockSizeWarning, match=r"chunks \{'y': 48, 'x': 48\} not used: method='original'"):
        planes = segment_nuclei(image, method="original", chunks={"z": 10, "y": 48, "x": 48})
    assert planes.data.chunks == ((10,) * 4, (96,), (96,))
    # sizes that are used as given, or that only stop at the image's edge, say nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert segment_nuclei(image, method=threshold, chunks={"z": 20, "y": 48, "x": 48},
                              halo=(20, 8, 8)).data.chunks[0] == (20, 20)
        assert segment_nuclei(image, method=threshold, chunks=(64, 200, 48), halo=8).data.chunks[:2] == ((40,), (96,))
        segment_nuclei(image, method=threshold, halo=8)  # no chunks asked: the default blocks are labkit's choice
    np.testing.assert_array_equal(merged.values, segment_nuclei(image, method=threshold, chunks=image.shape,
                                                                halo=0).values)


def test_blocks_smaller_than_the_halo_are_enlarged_and_announced():
    """A 48-plane volume with a halo of 20 planes, cut in 16 planes: blocks of 24 (like dask's map_overlap)."""
    image = np.zeros((48, 64, 64), np.uint16)
    for k, (z, y, x) in enumerate([(5, 10, 10), (23, 30, 40), (40, 50, 20), (30, 12, 52)]):
        image[max(0, z - 3):z + 4, y - 4:y + 5, x - 4:x + 5] = 1000 + k
    with pytest.warns(errors.BlockSizeWarning) as caught:
        labels = segment_nuclei(image, method=threshold, chunks={"z": 16, "y": 32, "x": 32}, halo=(20, 8, 8))
    assert labels.data.chunks == ((24, 24), (32, 32), (32, 32))  # still cut in y and x
    assert len(caught) == 1 and caught[0].filename == __file__
    message = str(caught[0].message)
    for words in ("blocks of 16 along z", "smaller than the halo (20)", "enlarged to 24 along z", "48 = 2 x 24",
                  "halo of at most 16"):
        assert words in message, message
    whole = segment_nuclei(image, method=threshold, chunks=image.shape, halo=0).values
    np.testing.assert_array_equal(labels.values, whole)
    assert len(np.unique(whole)) - 1 == 4
    with pytest.warns(errors.BlockSizeWarning, match="enlarged to 8 along x"):  # the smallest with no sliver
        assert segment_nuclei(image[23], method=threshold, chunks=(64, 4), halo=(0, 6)).data.chunks[1] == (8,) * 8


def test_original_method_counts_plane_by_plane():
    vol = nuclei_volume((6, 64, 64), 4, seed=2)
    labels = segment_nuclei(vol.image, method="original", chunks=(2, 64, 64)).values
    for z in range(6):
        assert len(np.unique(labels[z])) - 1 == vol.counts[z]


def test_measure_matches_scikit_image_and_objects_across_blocks_are_measured_once():
    image, truth = balls_on_block_corners()
    coords = {"z": np.arange(image.shape[0]) * 0.5, "y": 10 + np.arange(image.shape[1]) * 0.25,
              "x": np.arange(image.shape[2]) * 0.25}
    intensity = xr.DataArray(np.stack([image, image // 3 + truth.astype(np.uint16)]), dims=("c", "z", "y", "x"),
                             coords={**coords, "c": ["Dapi", "GFP"]})
    for d in "zyx":  # as labkit.open_image sets them: coordinates without a unit are measured in pixels
        intensity[d].attrs["units"] = "micrometer"
    labels = segment_nuclei(intensity, channel="Dapi", method=threshold, chunks=(20, 48, 48), halo=16)
    table = measure(labels, intensity)
    assert len(table) == 5 and table["label"].is_unique
    expected = regionprops_table(labels.values, np.moveaxis(intensity.values, 0, -1),
                                 properties=("label", "area", "centroid", "bbox", "intensity_mean", "intensity_max"))
    np.testing.assert_array_equal(table["label"], expected["label"])
    np.testing.assert_allclose(table["volume_um3"], expected["area"] * 0.5 * 0.25 * 0.25)
    np.testing.assert_allclose(table["centroid_y"], 10 + 0.25 * expected["centroid-1"])
    np.testing.assert_allclose(table["bbox_max_x"], 0.25 * (expected["bbox-5"] - 1))
    np.testing.assert_allclose(table["mean_GFP"], expected["intensity_mean-1"])
    np.testing.assert_allclose(table["max_Dapi"], expected["intensity_max-0"])


def test_measure_in_2d_without_coordinates_is_in_pixels():
    labels = np.zeros((10, 12), np.uint16)
    labels[2:5, 3:7] = 3
    table = measure(labels, np.ones((10, 12)))
    assert table.loc[0, "area_px"] == 12 and table.loc[0, "centroid_x"] == 4.5 and table.loc[0, "mean"] == 1


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: segment_nuclei(np.zeros(10)), "2D (y, x) or 3D"),
        (lambda: segment_nuclei(xr.DataArray(np.zeros((2, 4, 8, 8)), dims=("c", "z", "y", "x"),
                                             coords={"c": ["Dapi", "GFP"]}), channel="Hoechst"), "Dapi"),
        (lambda: segment_nuclei(xr.DataArray(np.zeros((2, 4, 8, 8)), dims=("c", "z", "y", "x"))), "channel="),
        (lambda: segment_nuclei(xr.DataArray(np.zeros((3, 4, 8, 8)), dims=("t", "z", "y", "x"))), "isel(t=0)"),
        (lambda: segment_nuclei(np.zeros((8, 8)), method="magic"), "'default'"),
        (lambda: measure(np.zeros((8, 8)), np.zeros((8, 8))), "integers"),
        (lambda: measure(np.zeros((8, 8), np.uint8), np.zeros((8, 9))), "does not match"),
    ],
)
def test_bad_input_says_what_to_pass(call, words):
    with pytest.raises(errors.FormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_a_method_returning_the_wrong_shape_is_reported():
    with pytest.raises(errors.FormatError, match="one label per voxel"):
        segment_nuclei(np.zeros((8, 8)), method=lambda b: b[:2], halo=0).compute()


def test_labels_and_table_are_checkpointed_as_ngff_labels_and_parquet(tmp_path, monkeypatch):
    from labkit import labels as ngff_labels
    from labkit.load_remote import open_image
    from labkit.results import NgffLabels, checkpoint
    from labkit.synthetic import write_nuclei

    monkeypatch.chdir(tmp_path)  # the store is a relative folder, as in the tutorials
    vol = nuclei_volume((12, 64, 64), 4, seed=5)
    write_nuclei(tmp_path / "source.ome.zarr", vol, version="0.5")
    image = open_image(tmp_path / "source.ome.zarr")
    calls = []

    @checkpoint("results", target="{name}.ome.zarr",
                serializer=NgffLabels("found", image=str(tmp_path / "source.ome.zarr")))
    def nuclei(name):
        calls.append(name)
        return segment_nuclei(image, method=threshold, halo=(6, 16, 16))

    @checkpoint("results", target="{name}_nuclei.parquet")
    def table(name):
        return measure(nuclei(name), image)

    first = table("embryo")
    assert nuclei.state("embryo") == "fresh" and table.state("embryo") == "fresh" and calls == ["embryo"]
    again = table("embryo")
    assert calls == ["embryo"]  # read back, not recomputed
    np.testing.assert_allclose(again.values, first.values)
    stored = nuclei("embryo")  # lazily, from the copy in the results folder
    assert stored.dims == ("z", "y", "x") and len(first) == len(np.unique(vol.labels)) - 1 == 4
    np.testing.assert_array_equal(stored.values, segment_nuclei(image, method=threshold, halo=(6, 16, 16)).values)
    assert ngff_labels.label_names("results/embryo.ome.zarr") == ["found"]


def test_default_method_does_not_depend_on_the_blocks_on_the_real_idr_volume():
    """IDR 6001240 (Dapi): nuclei in dense clumps, blurred together along z; 2x2x2 blocks with the default halo
    give the whole-volume segmentation (objects matched at IoU >= 0.5, F1 >= 0.98)."""
    from skimage.segmentation import relabel_sequential

    import labkit
    from labkit.recipes import match_objects
    from labkit.sandbox.locate import idr_image_path

    try:
        path = idr_image_path()
    except errors.SandboxError as e:
        pytest.skip(str(e))
    image = labkit.open_image(str(path), pixel_sizes=labkit.catalog.IDR_IMAGE.pixel_sizes)
    dapi = image.sel(c="Dapi").isel(t=0).isel(z=slice(60, 180)).compute()  # the clumps, in a unit test's time
    whole = segment_nuclei(dapi, chunks=dapi.shape, halo=0).values
    blocks = segment_nuclei(dapi, chunks=tuple(n // 2 + 1 for n in dapi.shape))
    assert blocks.data.numblocks == (2, 2, 2)
    labels = blocks.values
    f1 = match_objects(relabel_sequential(labels)[0], relabel_sequential(whole)[0])["f1"]
    print("IDR 6001240 z 60-180, halo", blocks.attrs["halo"], "objects", len(np.unique(whole)) - 1, "F1", f1)
    assert len(np.unique(whole)) - 1 >= 20 and f1 >= 0.98


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_of_one_time_point_read_back_as_they_were_returned(tmp_path, version):
    """An image with a time axis (t, c, z, y, x, as IDR's v0.1 copy): its labels are written with the image's t
    (NGFF: the labels' axes are the image's), and the checkpoint gives back the (z, y, x) labels it was handed."""
    from labkit import ngff
    from labkit.labels import open_labels
    from labkit.load_remote import open_image
    from labkit.results import NgffLabels, checkpoint

    vol = nuclei_volume((12, 64, 64), 4, seed=5)
    ngff.write_image(tmp_path / "tc.ome.zarr", vol.image[None, None], axes="tczyx", channel_names=["dna"],
                     version=version)
    image = open_image(tmp_path / "tc.ome.zarr")
    assert image.dims == ("t", "c", "z", "y", "x")

    @checkpoint(tmp_path / "results", target="{name}.ome.zarr", serializer=NgffLabels("found", image=str(tmp_path /
                                                                                                       "tc.ome.zarr")))
    def nuclei(name):
        return segment_nuclei(image.sel(c="dna").isel(t=0), method=threshold, halo=(6, 16, 16))

    fresh = nuclei("one")
    again = nuclei("one")
    assert nuclei.state("one") == "fresh" and fresh.dims == again.dims == ("z", "y", "x")
    np.testing.assert_array_equal(again.values, fresh.values)
    stored = open_labels(tmp_path / "results" / "one.ome.zarr", "found")
    assert stored.dims == ("t", "z", "y", "x") and stored.attrs["written_dims"] == ("z", "y", "x")
    np.testing.assert_array_equal(stored.isel(t=0).values, fresh.values)


def test_labels_written_before_their_dims_were_recorded_read_back_without_the_time_point(tmp_path):
    """Results of an older labkit (no ``labkit.dims`` in the labels' attributes): a time axis of size 1 comes off."""
    import zarr

    from labkit import ngff
    from labkit.load_remote import open_image
    from labkit.results import NgffLabels, ResultStore

    vol = nuclei_volume((12, 64, 64), 4, seed=5)
    store = ResultStore(tmp_path / "results")
    ngff.write_image(tmp_path / "results" / "old.ome.zarr", vol.image[None, None], axes="tczyx",
                     channel_names=["dna"])
    image = open_image(tmp_path / "results" / "old.ome.zarr")
    labels = segment_nuclei(image.sel(c="dna").isel(t=0), method=threshold, halo=(6, 16, 16))
    NgffLabels("found").save(store, "old.ome.zarr", labels)
    group = zarr.open_group(str(tmp_path / "results" / "old.ome.zarr" / "labels" / "found"), mode="r+")
    assert group.attrs["labkit"]["dims"] == ["z", "y", "x"]
    del group.attrs["labkit"]  # as labkit wrote them before 2026-12-07
    back = NgffLabels("found").load(store, "old.ome.zarr")
    assert back.attrs["written_dims"] is None and back.dims == ("z", "y", "x")
    np.testing.assert_array_equal(back.values, labels.values)
