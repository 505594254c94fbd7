"""labkit.publish to the sandbox S3 (folder and zip) and IPFS; verify reads them back there, CID remade."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest

import labkit
from labkit.errors import PackageIntegrityError
from labkit.ipfs.unixfs import tree_cid
from labkit.results import ResultStore
from tests.unit.test_packages import AUTHORS, make_store

rocrate = pytest.importorskip("rocrate.rocrate")


@pytest.fixture
def store(sandbox_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_AUTHORS", AUTHORS)
    monkeypatch.setenv("LABKIT_LICENSE", "CC-BY-4.0")
    url = f"s3://results/publish-{uuid.uuid4().hex[:8]}/store"
    make_store(url)  # results computed on S3 too
    return ResultStore(url)


def test_s3_folder_and_zip_packages_verify_and_name_a_changed_object(store, tmp_path):
    base = store.url.rsplit("/", 1)[0]
    folder = labkit.publish(store, f"{base}/package")
    assert folder.url == f"{base}/package" and len(folder.files) == len(store.list())
    published = ResultStore(folder.url)
    assert published.read_bytes("cells/1.ome.tiff") == store.read_bytes("cells/1.ome.tiff")
    archive = labkit.publish(store, f"{base}/package.zip")
    data = ResultStore(base).read_bytes("package.zip")
    (tmp_path / "package.zip").write_bytes(data)
    crate = rocrate.ROCrate(tmp_path / "package.zip")  # what a journal or Zenodo would read
    assert crate.license.id == "https://spdx.org/licenses/CC-BY-4.0"
    assert set(zipfile.ZipFile(io.BytesIO(data)).namelist()) >= {f["name"] for f in archive.files}
    assert labkit.verify(archive.url).ok
    published.write_bytes("proj/2.png", b"replaced on the server")
    with pytest.raises(PackageIntegrityError) as err:
        labkit.open_package(folder.url)
    assert list(err.value.problems) == ["proj/2.png"]


def test_ipfs_package_cid_is_printed_checked_and_remade_on_verify(store, sandbox, tmp_path, capsys):
    pkg = labkit.publish(store, "ipfs://", ipfs_api=sandbox.ipfs.api)
    assert pkg.url == f"ipfs://{pkg.cid}" and f"ipfs://{pkg.cid}" in capsys.readouterr().out
    report = labkit.verify(pkg.url)  # through the gateway: every file, and the CID made again from them
    assert report.ok and report.cid == pkg.cid and report.checked == len(store.list())
    opened = labkit.open_package(pkg.url)
    assert opened.read_bytes("proj/1.png") == store.read_bytes("proj/1.png")
    local = tmp_path / "copy"
    for name in [f["name"] for f in opened.files] + ["ro-crate-metadata.json"]:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(opened.files_source.read(name))
    assert labkit.verify(local, cid=pkg.cid).ok  # a downloaded copy, against the CID it was published under
    (local / "proj" / "1.png").write_bytes(b"changed")
    with pytest.raises(PackageIntegrityError) as err:
        labkit.verify(local, cid=pkg.cid)
    assert set(err.value.problems) == {"proj/1.png", "<CID>"}
    files = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert tree_cid(files) in err.value.problems["<CID>"]
