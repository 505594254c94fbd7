"""labkit.ngff: one model for every NGFF version; v0.4 and v0.5 writers validated by ome-zarr-models."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from labkit import ngff
from labkit.errors import FormatError


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 4000, size=(2, 6, 40, 36), dtype=np.uint16)


@pytest.mark.parametrize("version,shards", [("0.4", None), ("0.5", None), ("0.5", (1, 3, 40, 36))])
def test_write_read_validate_roundtrip(tmp_path, image, version, shards):
    dest = tmp_path / "img.zarr"
    ms = ngff.write_image(dest, image, axes="czyx", pixel_sizes={"z": 2.0, "y": 0.5, "x": 0.25},
                          channel_names=["dna", "membrane"], version=version, n_levels=3, shards=shards)
    assert ms.version == version and ms.zarr_format == (2 if version == "0.4" else 3)
    assert [lv.shape for lv in ms.levels] == [(2, 6, 40, 36), (2, 6, 20, 18), (2, 6, 10, 9)]
    assert ms.levels[2].scale == (1.0, 2.0, 2.0, 1.0)
    assert ms.pixel_sizes(1) == {"z": 2.0, "y": 1.0, "x": 0.5}
    assert [c.label for c in ms.channels] == ["dna", "membrane"]
    assert ms.levels[0].shards == shards
    group = zarr.open_group(dest, mode="r")
    ngff.validate(group)  # raises if ome-zarr-models disagrees
    np.testing.assert_array_equal(group["0"][...], image)
    np.testing.assert_array_equal(group["2"][...], image[:, :, ::4, ::4])
    if version == "0.5":
        assert group["0"].metadata.dimension_names == ("c", "z", "y", "x")


def _legacy(tmp_path, version, axes_json):
    g = zarr.open_group(tmp_path / f"v{version}.zarr", mode="w", zarr_format=2)
    for i, shape in enumerate([(1, 2, 4, 32, 30), (1, 2, 4, 16, 15)]):
        g.create_array(str(i), shape=shape, dtype="uint8", chunks=(1, 1, 1) + shape[-2:])
    ms = {"version": version, "datasets": [{"path": "0"}, {"path": "1"}]}
    if axes_json is not None:
        ms["axes"] = axes_json
    g.attrs.update({"multiscales": [ms], "omero": {"channels": [{"label": "a", "color": "ff0000"}, {"label": "b"}]}})
    return g


@pytest.mark.parametrize("version,axes_json", [("0.1", None), ("0.2", None), ("0.3", ["t", "c", "z", "y", "x"])])
def test_read_legacy_versions(tmp_path, version, axes_json):
    ms = ngff.read(_legacy(tmp_path, version, axes_json))
    assert ms.version == version and ms.axis_names == ("t", "c", "z", "y", "x")
    assert not ms.scales_known
    assert ms.levels[1].scale == (1.0, 1.0, 1.0, 2.0, 2.0)
    assert [c.label for c in ms.channels] == ["a", "b"] and ms.channels[0].color == "FF0000"
    assert "stores none" in ms.describe()


def test_read_v04_global_and_translation(tmp_path):
    g = zarr.open_group(tmp_path / "t.zarr", mode="w", zarr_format=2)
    g.create_array("s0", shape=(8, 8), dtype="uint8", chunks=(8, 8))
    g.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "s0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.5, 0.5]}, {"type": "translation", "translation": [1.0, 2.0]}]}],
        "coordinateTransformations": [{"type": "scale", "scale": [2.0, 1.0]}],
    }]
    lv = ngff.read(g).levels[0]
    assert lv.scale == (1.0, 0.5) and lv.translation == (2.0, 2.0)


def test_errors_name_the_problem(tmp_path, image):
    with pytest.raises(FormatError, match="3 channel names given for 2 channels"):
        ngff.write_image(tmp_path / "a.zarr", image, axes="czyx", channel_names=["a", "b", "c"])
    with pytest.raises(FormatError, match="sharded arrays need OME-NGFF 0.5"):
        ngff.write_image(tmp_path / "b.zarr", image, axes="czyx", shards=(1, 1, 40, 36))
    with pytest.raises(FormatError, match="0.4 or 0.5"):
        ngff.write_image(tmp_path / "c.zarr", image, axes="czyx", version="0.3")
    with pytest.raises(FormatError, match="3 axes given"):
        ngff.write_image(tmp_path / "d.zarr", image, axes="zyx")
    g = zarr.open_group(tmp_path / "e.zarr", mode="w")
    with pytest.raises(FormatError, match="no OME-NGFF"):
        ngff.read(g)


def test_existing_data_is_not_overwritten(tmp_path, image):
    dest = tmp_path / "keep.zarr"
    ngff.write_image(dest, image, axes="czyx", version="0.4")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ngff.write_image(dest, image * 0, axes="czyx", version="0.4")
    np.testing.assert_array_equal(zarr.open_group(dest, mode="r")["0"][...], image)


@pytest.mark.parametrize("shape", [(1, 1000, 1000), (1, 700, 900), (2, 300, 260)])
def test_sharded_levels_of_any_size(tmp_path, shape):
    data = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    ms = ngff.write_image(tmp_path / "s.zarr", data, axes="zyx", version="0.5", chunks=(1, 128, 128),
                          shards=(1, 512, 512), n_levels=4)
    group = zarr.open_group(tmp_path / "s.zarr", mode="r")
    for i, level in enumerate(ms.levels):
        np.testing.assert_array_equal(group[level.path][...], data[:, :: 2**i, :: 2**i])
        assert all(s % c == 0 for s, c in zip(level.shards, group[level.path].chunks, strict=True))
    ngff.validate(group)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_recommended_keys_say_how_the_levels_were_made(tmp_path, version):
    ngff.write_image(tmp_path / "r.zarr", np.zeros((1, 64, 64), np.uint8), axes="zyx", version=version, n_levels=3)
    group = zarr.open_group(tmp_path / "r.zarr", mode="r")
    attrs = dict(group.attrs)
    ms = (attrs["ome"] if version == "0.5" else attrs)["multiscales"][0]
    assert ms["type"] == "stride" and {"description", "method", "version"} <= set(ms["metadata"])
    ngff.validate(group)


def test_shards_that_are_not_whole_chunks_are_refused(tmp_path):
    with pytest.raises(FormatError, match=r"shards \(1, 500, 500\) must be whole multiples of chunks"):
        ngff.write_image(tmp_path / "b.zarr", np.zeros((1, 64, 64), np.uint8), axes="zyx", version="0.5",
                         chunks=(1, 128, 128), shards=(1, 500, 500))
    assert not (tmp_path / "b.zarr").exists()


# the strict OME-NGFF schemas (ngff-zarr's strict_image.schema, 0.4 and 0.5) require these keys of each multiscale
STRICT_KEYS = {"0.4": {"version", "metadata", "type", "name"}, "0.5": {"metadata", "type", "name"}}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("levels", ["one", "made", "given"])
def test_every_image_labkit_writes_has_the_strict_schemas_keys(tmp_path, version, levels):
    import zarr

    data = np.zeros((2, 16, 16), np.uint16)
    given = {"one": dict(data=data), "made": dict(data=data, n_levels=2),
             "given": dict(data=[data, data[:, ::2, ::2]])}[levels]
    dest = tmp_path / "cells.ome.zarr"
    ngff.write_image(str(dest), axes="cyx", version=version, **given)
    attrs = dict(zarr.open_group(str(dest), mode="r").attrs)
    multiscale = (attrs["ome"] if version == "0.5" else attrs)["multiscales"][0]
    assert STRICT_KEYS[version] <= set(multiscale)
    assert multiscale["name"] == "cells" and multiscale["metadata"]["method"] == "labkit.ngff.write_image"
    assert ngff.read(zarr.open_group(str(dest), mode="r")).name == "cells"


def test_large_images_get_default_shards_of_whole_chunks_and_write_tasks_of_whole_shards():
    import dask.array as da

    # a 2 TB volume, lazy (nothing is computed or written): shards of whole chunks, at most SHARD_BYTES
    volume = da.zeros((4000, 16384, 16384), dtype=np.uint16, chunks=(64, 512, 512))
    chunks = (64, 512, 512)
    shards = ngff.default_shards(volume.shape, chunks, volume.dtype.itemsize, axes="zyx")
    assert shards is not None and all(s % c == 0 for s, c in zip(shards, chunks, strict=True))
    nbytes = int(np.prod(shards)) * volume.dtype.itemsize
    assert ngff.SHARD_BYTES // 4 < nbytes <= ngff.SHARD_BYTES
    # the write tasks (what _store_array hands to dask) are whole shards, the last ones cut by the volume's edge
    blocks = volume.rechunk(shards).chunks
    for sizes, shard, n in zip(blocks, shards, volume.shape, strict=True):
        assert all(b == shard for b in sizes[:-1]) and 0 < sizes[-1] <= shard and sum(sizes) == n
    # a small image in one shard; a chunk as big as a shard: no shards (sharding gains nothing)
    assert ngff.default_shards((4, 64, 64), (1, 64, 64), 1, max_bytes=2**30) == (4, 64, 64)
    assert ngff.default_shards((100, 20000, 20000), (1, 20000, 20000), 2) is None
    # channels and time join a shard only once the space axes are whole
    assert ngff.default_shards((3, 10, 256, 256), (1, 1, 256, 256), 1, axes="czyx", max_bytes=2**30) == (
        3, 10, 256, 256)
    assert ngff.default_shards((3, 10, 256, 256), (1, 1, 256, 256), 1, axes="czyx", max_bytes=10 * 2**16)[0] == 1


def test_write_image_shards_a_large_image_by_default(tmp_path, monkeypatch):
    import dask
    import dask.array as da

    data = np.random.default_rng(0).integers(0, 255, (40, 96, 96), dtype=np.uint8)
    # the source's blocks cross the chunks and shards: the write must still give each shard to one task
    source = da.from_array(data, chunks=(7, 50, 33))
    ngff.write_image(tmp_path / "small.zarr", source, axes="zyx", version="0.5", chunks=(4, 16, 16))
    assert zarr.open_group(tmp_path / "small.zarr", mode="r")["0"].shards is None  # small: as before
    monkeypatch.setattr(ngff, "SHARD_THRESHOLD", 64 * 2**10)  # "large" from 64 KiB (this image: 360 KiB)
    monkeypatch.setattr(ngff, "SHARD_BYTES", 32 * 2**10)
    with dask.config.set(scheduler="threads", num_workers=4):
        ms = ngff.write_image(tmp_path / "big.zarr", source, axes="zyx", version="0.5", chunks=(4, 16, 16))
    arr = zarr.open_group(tmp_path / "big.zarr", mode="r")["0"]
    assert arr.shards == ms.levels[0].shards == ngff.default_shards(data.shape, (4, 16, 16), 1, axes="zyx")
    assert arr.chunks == (4, 16, 16) and int(np.prod(arr.shards)) <= 32 * 2**10
    assert all(s % c == 0 for s, c in zip(arr.shards, arr.chunks, strict=True)) and arr.shards != arr.chunks
    np.testing.assert_array_equal(arr[...], data)  # no shard lost a write
    # one object a shard
    objects = [p for p in (tmp_path / "big.zarr" / "0" / "c").rglob("*") if p.is_file()]
    assert len(objects) == int(np.prod([-(-n // s) for n, s in zip(data.shape, arr.shards, strict=True)]))
    ngff.validate(zarr.open_group(tmp_path / "big.zarr", mode="r"))
