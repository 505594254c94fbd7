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


# ------------------------------------------------------------------ permissions: signed identities
def test_reader_cannot_write(s3_users):
    reader = s3_users["users"]["reader"]
    fs = s3fs.S3FileSystem(key=reader["key"], secret=reader["secret"], endpoint_url=s3_users["endpoint_url"])
    with pytest.raises(PermissionError):
        fs.pipe("results/denied.txt", b"x")


def test_admin_can_write_and_reader_can_read(s3_users):
    admin, reader = s3_users["users"]["admin"], s3_users["users"]["reader"]
    fs = s3fs.S3FileSystem(key=admin["key"], secret=admin["secret"], endpoint_url=s3_users["endpoint_url"])
    fs.pipe("results/ok.txt", b"ok")
    rfs = s3fs.S3FileSystem(key=reader["key"], secret=reader["secret"], endpoint_url=s3_users["endpoint_url"])
    assert rfs.cat("results/ok.txt") == b"ok"


def test_wrong_secret_is_refused(s3_users):
    admin = s3_users["users"]["admin"]
    fs = s3fs.S3FileSystem(key=admin["key"], secret="not-the-secret", endpoint_url=s3_users["endpoint_url"])
    with pytest.raises(PermissionError):
        fs.pipe("results/forged.txt", b"x")
    ok = s3fs.S3FileSystem(key=admin["key"], secret=admin["secret"], endpoint_url=s3_users["endpoint_url"])
    assert not ok.exists("results/forged.txt")


# ------------------------------------------------------------------ S3 semantics, as a user meets them
@pytest.fixture(scope="module")
def clients(sandbox):
    boto3 = pytest.importorskip("boto3")
    from botocore import UNSIGNED
    from botocore.config import Config

    ep, s3 = sandbox.s3.endpoint_url, sandbox.s3
    make = lambda **kw: boto3.client("s3", endpoint_url=ep, region_name="us-east-1", **kw)  # noqa: E731
    return {
        "anon": make(config=Config(signature_version=UNSIGNED)),
        "signed": make(aws_access_key_id=s3.key, aws_secret_access_key=s3.secret),
        "forged": make(aws_access_key_id=s3.key, aws_secret_access_key="not-the-secret"),
    }


def _code(call) -> str:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return "OK"


@pytest.mark.parametrize("bucket,key", [("idr", f"{IDR_KEY[4:]}/.zattrs"), ("gfm", None)])
def test_anonymous_get_head_list_of_public_buckets(clients, bucket, key):
    anon = clients["anon"]
    listed = anon.list_objects_v2(Bucket=bucket, MaxKeys=5)["Contents"]
    key = key or listed[0]["Key"]
    assert anon.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert len(anon.get_object(Bucket=bucket, Key=key)["Body"].read()) > 0


@pytest.mark.parametrize("bucket", ["idr", "gfm", "results"])
def test_anonymous_writes_and_deletes_are_refused_everywhere(clients, bucket):
    anon, signed = clients["anon"], clients["signed"]
    signed.put_object(Bucket=bucket, Key="probe/keep.txt", Body=b"keep")
    assert _code(lambda: anon.put_object(Bucket=bucket, Key="probe/new.txt", Body=b"x")) == "AccessDenied"
    assert _code(lambda: anon.delete_object(Bucket=bucket, Key="probe/keep.txt")) == "AccessDenied"
    assert signed.get_object(Bucket=bucket, Key="probe/keep.txt")["Body"].read() == b"keep"  # still there
    assert _code(lambda: signed.head_object(Bucket=bucket, Key="probe/new.txt")) in ("404", "NoSuchKey")
    signed.delete_object(Bucket=bucket, Key="probe/keep.txt")


def test_the_private_bucket_is_private_and_forged_signatures_are_refused(clients):
    anon, signed, forged = clients["anon"], clients["signed"], clients["forged"]
    signed.put_object(Bucket="results", Key="private.txt", Body=b"mine")
    assert _code(lambda: anon.list_objects_v2(Bucket="results")) == "AccessDenied"
    assert _code(lambda: anon.get_object(Bucket="results", Key="private.txt")) == "AccessDenied"
    assert _code(lambda: forged.put_object(Bucket="results", Key="forged.txt", Body=b"x")) == "SignatureDoesNotMatch"
    assert _code(lambda: forged.get_object(Bucket="results", Key="private.txt")) == "SignatureDoesNotMatch"
    assert _code(lambda: signed.head_object(Bucket="results", Key="forged.txt")) in ("404", "NoSuchKey")


def test_signed_put_get_delete_and_a_multipart_upload(clients):
    import io
    import os

    from boto3.s3.transfer import TransferConfig

    signed = clients["signed"]
    data = os.urandom(13 * 2**20)
    signed.upload_fileobj(io.BytesIO(data), "results", "big.bin",
                          Config=TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20))
    head = signed.head_object(Bucket="results", Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")  # three parts
    assert hashlib.sha256(signed.get_object(Bucket="results", Key="big.bin")["Body"].read()).digest() == \
        hashlib.sha256(data).digest()
    signed.delete_object(Bucket="results", Key="big.bin")
    assert _code(lambda: signed.head_object(Bucket="results", Key="big.bin")) in ("404", "NoSuchKey")


def test_ranged_get_is_206_with_the_right_bytes(sandbox):
    import requests

    whole = (idr_image_path() / "0" / "0.1.100.0.0").read_bytes()
    r = requests.get(f"{sandbox.s3.endpoint_url}/{IDR_KEY}/0/0.1.100.0.0", headers={"Range": "bytes=100-1123"},
                     timeout=10)
    assert r.status_code == 206 and r.content == whole[100:1124]
    assert r.headers["Content-Range"] == f"bytes 100-1123/{len(whole)}"


def test_refusals_and_missing_keys_are_labkit_errors_naming_bucket_and_credentials(sandbox, s3_users):
    from labkit import load_remote
    from labkit.errors import AccessDeniedError, NotFoundError
    from labkit.results import ResultStore

    ep, reader = sandbox.s3.endpoint_url, s3_users["users"]["reader"]
    store = ResultStore("s3://results/refused", {"key": reader["key"], "secret": reader["secret"], "endpoint_url": ep})
    with pytest.raises(AccessDeniedError) as denied:
        store.write_bytes("a.txt", b"x")
    assert reader["key"] in str(denied.value) and "results" in str(denied.value)
    assert reader["secret"] not in str(denied.value)
    sandbox.s3.filesystem().pipe("results/private.zarr/.zgroup", b'{"zarr_format": 2}')
    with pytest.raises(AccessDeniedError, match=r"bucket 'results'.*anonymous") as anon:
        load_remote.info("s3://results/private.zarr", endpoint_url=ep)
    assert sandbox.s3.secret not in str(anon.value)
    with pytest.raises(NotFoundError, match="does not exist"):
        ResultStore("s3://results/nothing-here", sandbox.s3.storage_options()).read_bytes("missing.npy")
    with pytest.raises(NotFoundError):
        load_remote.info(f"s3://idr/{IDR_KEY[4:]}-missing", endpoint_url=ep)


def test_the_filled_store_is_made_once_and_made_anew_when_the_data_change(tmp_path, monkeypatch):
    """Each start serves a copy of one stopped SeaweedFS folder: the files as they are now, and writable."""
    from labkit.sandbox._service import Context
    from labkit.sandbox.services.s3 import S3Service, boto3_client

    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "source"
    (source / "a").mkdir(parents=True)
    (source / "a" / "x.bin").write_bytes(b"one")
    (source / "y.bin").write_bytes(b"y" * 100_000)
    secrets = {"s3_key": "key", "s3_secret": "secret-1", "s3_reader_key": "reader", "s3_reader_secret": "secret-2"}
    stores = tmp_path / "data" / "s3-store"

    def serve(run: int) -> bytes:
        service = S3Service([("idr", "p", source)])
        record = service.start(Context(root=tmp_path / f"sandbox-{run}", secrets=secrets))
        try:
            assert record["uploaded"] == {"idr/p": 2}
            client = boto3_client(record["endpoint_url"], secrets["s3_key"], secrets["s3_secret"])
            for i in range(20):  # new objects beside the store's (SeaweedFS numbers them after those it finds)
                client.put_object(Bucket="results", Key=f"r/{i}", Body=bytes([i]) * 5000)
                client.put_object(Bucket="idr", Key=f"new/{i}", Body=bytes([i]) * 5000)
            assert client.get_object(Bucket="results", Key="r/7")["Body"].read() == bytes([7]) * 5000
            assert client.get_object(Bucket="idr", Key="p/y.bin")["Body"].read() == b"y" * 100_000
            return client.get_object(Bucket="idr", Key="p/a/x.bin")["Body"].read()
        finally:
            service.stop()

    assert serve(0) == b"one"
    (made,) = stores.glob("*/uploaded.json")
    stamp = made.stat().st_mtime_ns
    assert serve(1) == b"one"  # the same store, not made again, and not changed by the first sandbox's writes
    assert [*stores.glob("*/uploaded.json")] == [made] and made.stat().st_mtime_ns == stamp
    (source / "a" / "x.bin").write_bytes(b"two")
    assert serve(2) == b"two"
    assert [p.parent.name for p in stores.glob("*/uploaded.json")] != [made.parent.name]
    assert len([*stores.glob("*/uploaded.json")]) == 1  # the old one deleted
