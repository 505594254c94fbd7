"""Dask keys of images read from zarr: one key, one meaning, across computations on one cluster.

Tutorial 01 counts nuclei per plane (the futures are kept), then segments the volume: both graphs hold the
channel taken from the image (``image.sel(c=...)``). With the zarr array in a key of its own, dask's graph
optimisation named the fused read tasks after what it could fuse in each graph, and the scheduler logged
"Detected different run_spec for key ('getitem-...', 0, 4, 0, 0) ... Please ensure unique key names".
"""

from __future__ import annotations

import logging

import dask
import numpy as np
import pytest
import skimage.feature  # noqa: F401  (imported here: two worker threads importing it lazily at once collide)
import skimage.filters  # noqa: F401
import skimage.morphology  # noqa: F401
import skimage.segmentation  # noqa: F401

from labkit import ngff, recipes
from labkit.labels import open_labels, write_labels
from labkit.load_remote import open_image
from labkit.segment import segment_nuclei


class _Collisions(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "Detected different `run_spec`" in record.getMessage():
            self.found.append(record.getMessage())


@pytest.fixture
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture
def collisions():
    handler = _Collisions()
    logger = logging.getLogger("distributed.scheduler")
    logger.addHandler(handler)
    yield handler.found
    logger.removeHandler(handler)


@pytest.fixture
def image_url(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, (1, 2, 84, 32, 32), dtype=np.uint16)  # t, c, z, y, x
    url = str(tmp_path / "img.ome.zarr")
    ngff.write_image(url, data, axes="tczyx", channel_names=["LaminB1", "Dapi"], chunks=(1, 1, 1, 32, 32),
                     pixel_sizes={"z": 0.5, "y": 0.36, "x": 0.36}, n_levels=2)
    return url


def test_a_channel_counted_then_sampled_keeps_one_meaning_per_key(client, collisions, image_url):
    """Tutorial 01's sequence: counts per plane (kept), planes shown, then crops of the channel's volume read
    together, as segment_nuclei estimates its parameters (two crops share a block of 28 planes)."""
    image = open_image(image_url, chunks=(1, 1, 28, 32, 32))
    stack = image.sel(c="Dapi")
    counts = client.compute(recipes.count_planes(stack.isel(t=slice(0, 1), z=slice(30, 41)), min_area=4))
    counts.result()  # kept: the scheduler remembers the tasks it came from
    for z in (30, 35, 40):
        assert stack.isel(t=0, z=z).values.shape == (32, 32)
    volume = image.sel(c="Dapi").isel(t=0).data
    first, second = dask.compute(volume[20:50], volume[25:60])
    np.testing.assert_array_equal(first[5:], second[:25])
    assert collisions == []
    labels = client.persist(segment_nuclei(image.sel(c="Dapi").isel(t=0), method=lambda b: (b > 900).astype("u4"),
                                           chunks={"z": 42}, halo=1))
    assert int((labels > 0).sum()) == int((image.sel(c="Dapi") > 900).sum())
    assert collisions == []


def test_keys_name_what_was_read(tmp_path, image_url):
    """The same image opened twice has the same keys; another level, chunking or file, other keys."""
    a, b = open_image(image_url), open_image(image_url)
    assert a.data.name == b.data.name
    assert open_image(image_url, level=1).data.name != a.data.name
    assert open_image(image_url, chunks="storage").data.name != a.data.name
    other = str(tmp_path / "other.ome.zarr")
    ngff.write_image(other, np.zeros((1, 2, 24, 32, 32), np.uint16), axes="tczyx", channel_names=["LaminB1", "Dapi"],
                     chunks=(1, 1, 1, 32, 32))
    assert open_image(other).data.name != a.data.name


def test_labels_read_back_have_keys_of_their_own(tmp_path, image_url):
    labels = np.zeros((1, 84, 32, 32), np.uint32)
    labels[0, 4:8, 4:8, 4:8] = 1
    write_labels(image_url, labels, "nuclei")
    image = open_image(image_url)
    first = open_labels(image_url, "nuclei")
    assert first.data.name == open_labels(image_url, "nuclei").data.name
    assert first.data.name not in {image.data.name}
    assert int(first.max()) == 1
