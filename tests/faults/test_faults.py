"""Faults injected between labkit and the sandbox S3 / IPFS gateway: retried through, or a labkit error and
nothing labelled done. A download killed midway is refused by open_image and finished by a rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from labkit import ipfs
from labkit.downloads import check_complete, download
from labkit.errors import IncompleteDownloadError, LabkitError
from labkit.load_remote import open_image
from labkit.ngff import write_image
from labkit.results import OmeTiff, OmeZarr, ResultStore, checkpoint
from labkit.sandbox.locate import idr_image_path
from tests.faults.proxy import FaultProxy

URL = "s3://idr/zarr/v0.1/6001240.zarr"


@pytest.fixture
def s3_proxy(sandbox_env):
    proxy = FaultProxy(sandbox_env.s3.endpoint_url, rate=0.2, seed=7)
    yield proxy
    proxy.close()


def _faults(proxy):
    return sum(n for k, n in proxy.counts.items() if k != "forwarded")


def _same_files(a, b):
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) == files
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


@pytest.mark.parametrize("engine", ["obstore", "fsspec"])
def test_open_image_reads_through_20_percent_faults(sandbox_env, s3_proxy, engine):
    planes = {"z": slice(0, 60)}  # 120 chunks: enough requests for a few dozen faults
    direct = open_image(URL, level=2, endpoint_url=sandbox_env.s3.endpoint_url, engine=engine).isel(planes).values
    faulty = open_image(URL, level=2, endpoint_url=s3_proxy.url, engine=engine).isel(planes).values
    np.testing.assert_array_equal(faulty, direct)
    assert _faults(s3_proxy) >= 5, s3_proxy.counts


def test_a_whole_level_reads_through_30_percent_faults_with_obstore(sandbox_env, s3_proxy):
    """472 chunks at 30 %: obstore's 10 tries per request make 11 failures in a row on one chunk (about one read
    in a thousand) the only way to fail; with 5 tries, 6 in a row failed about one read in three."""
    s3_proxy.rate = 0.3
    direct = open_image(URL, endpoint_url=sandbox_env.s3.endpoint_url).values
    np.testing.assert_array_equal(open_image(URL, endpoint_url=s3_proxy.url, engine="obstore").values, direct)
    assert _faults(s3_proxy) >= 100, s3_proxy.counts


def test_download_is_byte_identical_through_20_percent_faults(s3_proxy, tmp_path):
    target = download(URL, tmp_path, endpoint_url=s3_proxy.url, progress=False)
    assert _same_files(idr_image_path(), target)
    check_complete(target)
    assert _faults(s3_proxy) >= 50, s3_proxy.counts


def _steps(store):
    def plane(i):
        return np.full((2, 3, 16, 16), i, np.uint16)

    return [checkpoint(store, target="t/{i}.ome.tiff", serializer=OmeTiff(dims="CZYX"))(plane),
            checkpoint(store, target="z/{i}.ome.zarr", serializer=OmeZarr(dims="czyx"))(plane)]


def test_checkpoint_writes_to_s3_end_complete_through_20_percent_faults(sandbox_env, s3_proxy):
    prefix = f"s3://results/faults-{time.time_ns()}"
    for step in _steps(ResultStore(prefix, {"endpoint_url": s3_proxy.url})):
        for i in range(4):
            step(i)
    for step in _steps(ResultStore(prefix, {"endpoint_url": sandbox_env.s3.endpoint_url})):  # read directly
        for i in range(4):
            assert step.state(i) == "fresh"
            np.testing.assert_array_equal(step(i), np.full((2, 3, 16, 16), i, np.uint16))
    assert _faults(s3_proxy) >= 5, s3_proxy.counts


def test_faults_that_defeat_the_retries_give_labkit_errors_and_nothing_done(sandbox_env, s3_proxy, tmp_path):
    s3_proxy.rate = 0.0
    image = open_image(URL, level=2, endpoint_url=s3_proxy.url)
    s3_proxy.rate = 1.0
    with pytest.raises(LabkitError, match=r"cannot read s3://idr/zarr/v0.1/6001240.zarr/2/"):
        image.compute()  # obstore's failures inside dask's tasks: labkit errors naming the chunk
    with pytest.raises(LabkitError):
        open_image(URL, level=2, endpoint_url=s3_proxy.url)
    with pytest.raises(LabkitError, match="cannot write"):  # write_image, from opening the group on
        write_image("s3://results/defeated.ome.zarr", np.zeros((2, 8, 8), np.uint16), axes="cyx",
                    storage_options={"endpoint_url": s3_proxy.url})
    with pytest.raises(LabkitError):
        download(URL, tmp_path, endpoint_url=s3_proxy.url, progress=False)
    marker = tmp_path / ".6001240.zarr.labkit-download.json"
    assert not marker.exists() or not json.loads(marker.read_text())["complete"]
    prefix = f"s3://results/defeated-{time.time_ns()}"
    # s3fs gives up after ~20 s with its default 5 retries; 1 proves the same in a few seconds
    tiff = _steps(ResultStore(prefix, {"endpoint_url": s3_proxy.url, "retries": 1}))[0]
    with pytest.raises(LabkitError):
        tiff(1)
    assert _steps(ResultStore(prefix, {"endpoint_url": sandbox_env.s3.endpoint_url}))[0].state(1) == "missing"


def test_a_killed_download_is_refused_and_finished_by_a_rerun(sandbox_env, tmp_path):
    code = ("import sys; from labkit.downloads import download; "
            "download(sys.argv[1], sys.argv[2], endpoint_url=sys.argv[3], workers=2, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, URL, str(tmp_path), sandbox_env.s3.endpoint_url],
                            env=os.environ.copy())
    target = tmp_path / "6001240.zarr"
    total = sum(1 for p in idr_image_path().rglob("*") if p.is_file())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if target.exists() and sum(1 for _ in target.rglob("*")) > total // 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the download ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.raises(IncompleteDownloadError, match="unfinished download of s3://idr.*Run labkit.download"):
        open_image(target)
    download(URL, tmp_path, endpoint_url=sandbox_env.s3.endpoint_url, progress=False)
    assert _same_files(idr_image_path(), target)
    np.testing.assert_array_equal(open_image(target, level=2).values,
                                  open_image(URL, level=2, endpoint_url=sandbox_env.s3.endpoint_url).values)


def test_ipfs_gateway_reads_through_20_percent_faults(sandbox_env):
    cid = ipfs.add(idr_image_path(), api=sandbox_env.ipfs.api, progress=False)
    direct = open_image(f"ipfs://{cid}/6001240.zarr", level=2).values
    gateway = ipfs.gateway()
    proxy = FaultProxy(gateway, rate=0.2, seed=3)
    try:
        ipfs.use_gateway(proxy.url)
        np.testing.assert_array_equal(open_image(f"ipfs://{cid}/6001240.zarr", level=2).values, direct)
        assert _faults(proxy) >= 3, proxy.counts
    finally:
        ipfs.use_gateway(gateway)
        proxy.close()
