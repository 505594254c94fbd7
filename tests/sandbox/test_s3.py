"""The sandbox S3 server through s3fs and boto3 over a real socket."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import s3fs

from labkit.sandbox.locate import idr_image_path

IDR_KEY = "idr/zarr/v0.1/6001240.zarr"


def test_idr_image_is_byte_for_byte_the_local_copy(sandbox):
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.endpoint_url)
    local = idr_image_path()
    local_files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}
    remote = {k[len(IDR_KEY) + 1 :]: k for k in fs.find(IDR_KEY)}
    assert set(remote) == set(local_files)
    assert len(remote) > 1400
    blobs = fs.cat(list(remote.values()))
    for rel, key in remote.items():
        assert hashlib.sha256(blobs[key]).digest() == hashlib.sha256(local_files[rel].read_bytes()).digest(), rel


def test_anonymous_read_and_ranges(sandbox):
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.endpoint_url)
    zattrs = fs.cat(f"{IDR_KEY}/.zattrs")
    assert b'"multiscales"' in zattrs
    assert fs.cat_file(f"{IDR_KEY}/.zattrs", start=2, end=10) == zattrs[2:10]


def test_missing_key_is_404(sandbox):
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.endpoint_url)
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{IDR_KEY}/0/9.9.9.9.9")
    import requests

    r = requests.get(f"{sandbox.s3.endpoint_url}/{IDR_KEY}/nope", timeout=5)
    assert r.status_code == 404 and b"NoSuchKey" in r.content


def test_results_bucket_written_with_sandbox_credentials(sandbox, sandbox_env, tmp_path: Path):
    fs = s3fs.S3FileSystem(endpoint_url=sandbox.s3.endpoint_url)  # credentials from the environment
    fs.pipe("results/test/hello.txt", b"hello")
    assert fs.cat("results/test/hello.txt") == b"hello"
    fs.rm("results/test/hello.txt")


def test_flood_scenes_are_public(sandbox):
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.endpoint_url)
    tifs = fs.glob("gfm/GFM/*/*.tif")
    assert len(tifs) == 2 * sandbox.options["flood_dates"]
    assert fs.cat_file(tifs[0], start=0, end=4) in (b"II*\x00", b"II+\x00")


# ------------------------------------------------------------------ permissions, against moto in IAM mode
def test_reader_cannot_write(iam_s3):
    reader = iam_s3["users"]["reader"]
    fs = s3fs.S3FileSystem(key=reader["key"], secret=reader["secret"], endpoint_url=iam_s3["endpoint_url"])
    with pytest.raises(PermissionError):
        fs.pipe("results/denied.txt", b"x")


def test_admin_can_write_and_reader_can_read(iam_s3):
    admin, reader = iam_s3["users"]["admin"], iam_s3["users"]["reader"]
    fs = s3fs.S3FileSystem(key=admin["key"], secret=admin["secret"], endpoint_url=iam_s3["endpoint_url"])
    fs.pipe("results/ok.txt", b"ok")
    rfs = s3fs.S3FileSystem(key=reader["key"], secret=reader["secret"], endpoint_url=iam_s3["endpoint_url"])
    assert rfs.cat("results/ok.txt") == b"ok"


def test_wrong_secret_is_refused(iam_s3):
    admin = iam_s3["users"]["admin"]
    fs = s3fs.S3FileSystem(key=admin["key"], secret="not-the-secret", endpoint_url=iam_s3["endpoint_url"])
    with pytest.raises(PermissionError):
        fs.pipe("results/forged.txt", b"x")
    ok = s3fs.S3FileSystem(key=admin["key"], secret=admin["secret"], endpoint_url=iam_s3["endpoint_url"])
    assert not ok.exists("results/forged.txt")
