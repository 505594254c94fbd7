"""labkit.results on the sandbox S3: same results as local, refused writes, a worker killed mid-run."""

from __future__ import annotations

import time

import numpy as np
import psutil
import pytest
from dask.distributed import Client, LocalCluster

from labkit import recipes
from labkit.errors import AccessDeniedError
from labkit.results import Manifest, OmeTiff, OmeZarr, Png, ResultStore, checkpoint
from labkit.synthetic import CELL_CHANNELS, CELL_PIXEL_SIZES, cell_fields


def normalize(cell_id, cell_data):
    return recipes.normalize_cell(cell_data, CELL_PIXEL_SIZES)


def project(cell_id, normalized):
    time.sleep(0.3)  # long enough to kill a worker in the middle of the run
    return recipes.project_cell(normalized)


def _pipeline(client, cells, url):
    norm = checkpoint(url, target="n/{cell_id}.ome.tiff",
                      serializer=OmeTiff(dims="CZYX", channel_names=list(CELL_CHANNELS)))(normalize)
    proj = checkpoint(url, target="p/{cell_id}.png", serializer=Png())(project)
    bboxes = list(cells[["z0", "z1", "y0", "y1", "x0", "x1"]].itertuples(index=False, name=None))
    sel = client.map(recipes.select_cell, cells.fov_path, cells.labels_path, cells.label, bboxes, pure=False)
    futures = client.map(proj, cells.cell_id, client.map(norm, cells.cell_id, sel, pure=False), pure=False)
    return norm, proj, futures


def _manifest(url, step, cells, name):
    ds = Manifest(url, name)
    for c in cells.cell_id:
        ds.add(path=step.target(cell_id=c), cell_id=c)
    return ds.write()


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    return cell_fields(tmp_path_factory.mktemp("fields"), n_fields=2, cells_per_field=4)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def test_local_and_s3_give_the_same_results(sandbox_env, cells, client, tmp_path):
    manifests = {}
    for url in (str(tmp_path / "local"), "s3://results/same-test"):
        norm, proj, futures = _pipeline(client, cells, url)
        client.gather(futures)
        manifests[url] = (_manifest(url, norm, cells, "n"), _manifest(url, proj, cells, "p"))
    (ln, lp), (sn, sp) = manifests.values()
    for local, remote in ((ln, sn), (lp, sp)):
        assert local.drop(columns=["path_url", "computed_at"]).equals(remote.drop(columns=["path_url", "computed_at"]))
    local_store, s3_store = ResultStore(tmp_path / "local"), ResultStore("s3://results/same-test")
    for name in list(ln.path) + list(lp.path):
        assert local_store.read_bytes(name) == s3_store.read_bytes(name)


def test_a_killed_worker_leaves_no_corrupt_target(sandbox_env, cells, client, tmp_path):
    url = str(tmp_path / "store")
    norm, proj, futures = _pipeline(client, cells, url)
    store = ResultStore(url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(store.list("p")) < 2:
        time.sleep(0.05)
    victim = next(iter(client.run(lambda: __import__("os").getpid()).values()))
    psutil.Process(victim).kill()  # in the middle of the run
    try:
        client.gather(futures)
    except Exception:  # noqa: BLE001 - the killed worker's tasks may fail; the rerun must complete
        pass
    for name in store.list():  # whatever exists is complete and readable
        if name.endswith(".png"):
            Png().loads(store.read_bytes(name))
        else:
            OmeTiff().loads(store.read_bytes(name))
    client.wait_for_workers(2, timeout=60)
    norm, proj, futures = _pipeline(client, cells, url)
    client.gather(futures)
    assert sorted(store.list("p")) == sorted(f"p/{c}.png" for c in cells.cell_id)
    assert all(norm.state(c, recipes.select_cell(r.fov_path, r.labels_path, r.label,
                                                 (r.z0, r.z1, r.y0, r.y1, r.x0, r.x1))) == "fresh"
               for c, r in zip(cells.cell_id, cells.itertuples(), strict=True))


def test_unwritable_store_is_refused_and_keeps_what_was_written(s3_users):
    admin, reader = s3_users["users"]["admin"], s3_users["users"]["reader"]
    ep = s3_users["endpoint_url"]

    def step(i):
        return np.full((4, 4), i, np.uint8)

    good = checkpoint(ResultStore("s3://results/cp", {"key": admin["key"], "secret": admin["secret"],
                                                      "endpoint_url": ep}), target="{i}.npy")(step)
    good(1)
    denied = checkpoint(ResultStore("s3://results/cp", {"key": reader["key"], "secret": reader["secret"],
                                                        "endpoint_url": ep}), target="{i}.npy", overwrite=True)(step)
    with pytest.raises(AccessDeniedError, match="permission denied"):
        denied(1)
    np.testing.assert_array_equal(good(1), np.full((4, 4), 1, np.uint8))
    assert good.state(1) == "fresh"


def test_folder_results_on_s3_read_back_with_their_credentials(s3_users):
    admin, ep = s3_users["users"]["admin"], s3_users["endpoint_url"]
    calls = []

    def step(i):
        calls.append(i)
        return np.full((1, 2, 8, 8), i, np.uint16)

    store = ResultStore("s3://results/folders", {"key": admin["key"], "secret": admin["secret"], "endpoint_url": ep})
    cp = checkpoint(store, target="{i}.ome.zarr")(step)
    cp(3)
    np.testing.assert_array_equal(cp(3), np.full((1, 2, 8, 8), 3, np.uint16))
    assert calls == [3]
    anonymous = ResultStore("s3://results/folders", {"anon": True, "endpoint_url": ep})
    with pytest.raises(AccessDeniedError, match=r"results") as err:
        OmeZarr().load(anonymous, "3.ome.zarr")
    assert "connection" not in str(err.value)
    with pytest.raises(AccessDeniedError, match=r"results"):
        anonymous.read_bytes("3.ome.zarr.prov.json")


def test_writing_a_zarr_again_is_quiet_and_leaves_nothing_old(sandbox_env):
    """Re-running a notebook overwrites its zarr on S3: no warning, and no chunk of a larger old copy left."""
    import warnings

    import numpy as np
    import xarray as xr

    from labkit.write import write_zarr

    url = "s3://results/rerun-quiet.zarr"
    big = xr.Dataset({"a": (("y", "x"), np.ones((64, 64)))}).chunk(16)
    small = xr.Dataset({"a": (("y", "x"), np.zeros((32, 32)))}).chunk(16)
    write_zarr(big, url, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_zarr(small, url, progress=False)
    assert [str(w.message) for w in caught] == []
    fs = sandbox_env.s3.filesystem()
    assert not fs.exists("results/rerun-quiet.zarr/a/3.3")  # a chunk only the old, larger array had
    from labkit.storage import open_store

    assert float(xr.open_zarr(open_store(url, {"anon": False})).a.sum()) == 0
