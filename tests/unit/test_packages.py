"""labkit.publish / verify / open_package on local folders and zips, read back with the rocrate library."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labkit
from labkit.errors import ConfigurationError, PackageIntegrityError, StaleResultError
from labkit.packages.crate import _web_url
from labkit.results import Manifest, OmeTiff, OmeZarr, Png, ResultStore, checkpoint

rocrate = pytest.importorskip("rocrate.rocrate")

AUTHORS = "Ada Lovelace <https://orcid.org/0000-0002-1825-0097>; Alan Turing"
INPUT = "ipfs://bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def cell_image(cell_id, gain=2, source=INPUT):
    return (np.arange(2 * 6 * 6, dtype=np.uint16).reshape(2, 6, 6) * gain + cell_id)


def projection(cell_id):
    return (np.arange(36, dtype=np.uint8).reshape(6, 6) * (cell_id + 1))


def volume(cell_id):
    return np.full((2, 8, 8), cell_id, np.uint8)


def make_store(url):
    """A small checkpointed result set: OME-TIFF, PNG and OME-Zarr results of two cells, and a manifest."""
    steps = (checkpoint(url, target="cells/{cell_id}.ome.tiff", serializer=OmeTiff(dims="ZYX"))(cell_image),
             checkpoint(url, target="proj/{cell_id}.png", serializer=Png())(projection),
             checkpoint(url, target="vol/{cell_id}.ome.zarr", serializer=OmeZarr(dims="zyx", version="0.5"))(volume))
    manifest = Manifest(url, "proj", "Projections of single cells.")
    for cell_id in (1, 2):
        for step in steps:
            step(cell_id)
        manifest.add(path=steps[1].target(cell_id=cell_id), cell_id=cell_id)
    manifest.write()
    return steps


@pytest.fixture(autouse=True)
def configured(monkeypatch):
    monkeypatch.setenv("LABKIT_AUTHORS", AUTHORS)
    monkeypatch.setenv("LABKIT_LICENSE", "CC-BY-4.0")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("results") / "store")
    make_store(url)
    return ResultStore(url)


@pytest.fixture(scope="module")
def packages(store, tmp_path_factory):
    """The store published once as a folder and once as a zip."""
    out = tmp_path_factory.mktemp("published")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_AUTHORS", AUTHORS)
        mp.setenv("LABKIT_LICENSE", "CC-BY-4.0")
        folder = labkit.publish(store, out / "cells", name="Cells", description="Two cells.")
        archive = labkit.publish(store, out / "cells.zip", name="Cells")
    return folder, archive


def _id(ref):
    """The @id of a reference rocrate read back: an entity when the crate describes it, else the id itself."""
    return getattr(ref, "id", ref)


def test_every_file_read_back_by_rocrate_with_size_sha256_and_format(store, packages):
    folder, _ = packages
    crate = rocrate.ROCrate(folder.url)
    assert crate.version == "1.2"
    files = {e.id: e for e in crate.data_entities if "File" in e.type}
    expected = [n for n in store.list()]
    assert sorted(files) == sorted(expected)  # the results and the manifest, no provenance sidecars
    for name in expected:
        data = store.read_bytes(name)
        assert files[name]["contentSize"] == str(len(data))
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest()
    tiff = files["cells/1.ome.tiff"]
    assert tiff["encodingFormat"][0] == "image/tiff"
    assert _id(tiff["conformsTo"]) == "http://www.openmicroscopy.org/Schemas/OME/2016-06"
    assert files["proj/1.png"]["encodingFormat"][0] == "image/png"
    assert files["proj/manifest.parquet"]["encodingFormat"] == "application/vnd.apache.parquet"
    zarr = crate.dereference("vol/1.ome.zarr/")
    assert "Dataset" in zarr.type and _id(zarr["conformsTo"]) == "https://ngff.openmicroscopy.org/0.5"
    assert {p.id for p in zarr["hasPart"]} == {n for n in expected if n.startswith("vol/1.ome.zarr/")}


def test_licence_and_authors_come_from_configuration(packages):
    folder, _ = packages
    crate = rocrate.ROCrate(folder.url)
    assert crate.license.id == "https://spdx.org/licenses/CC-BY-4.0"
    people = crate.root_dataset["author"]
    assert [p["name"] for p in people] == ["Ada Lovelace", "Alan Turing"]
    assert people[0].id == "https://orcid.org/0000-0002-1825-0097"
    assert crate.name == "Cells" and crate.description == "Two cells."
    assert folder.authors == ["Ada Lovelace", "Alan Turing"] and folder.license == "CC-BY-4.0"


def test_code_parameters_inputs_and_versions_of_each_result(store, packages):
    folder, _ = packages
    crate = rocrate.ROCrate(folder.url)
    action = crate.dereference("#run-cells%2F1.ome.tiff")
    record = store.read_json("cells/1.ome.tiff.prov.json")
    assert action.type == "CreateAction" and action["result"].id == "cells/1.ome.tiff"
    assert action["endTime"] == record["computed_at"]
    code, *software = action["instrument"]
    assert code.type == "SoftwareApplication" and code["name"].endswith("test_packages.cell_image")
    assert code["identifier"] == record["code_hash"]
    head = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert code["version"] == head
    remote = record.get("git_remote")  # as a web address (git@host:o/r.git -> https://host/o/r), else the folder
    assert code["codeRepository"] == code["url"] == (_web_url(remote) if remote else
                                                     Path(record["git_repository"]).as_uri())
    versions = {s["name"]: s["version"] for s in software}
    assert {s["name"]: s["url"] for s in software}["numpy"] == f"https://pypi.org/project/numpy/{np.__version__}/"
    assert versions["numpy"] == np.__version__ and versions["labkit"] == record["versions"]["labkit"]
    objects = {o.id: o for o in action["object"]}
    params = {o["name"]: o["value"] for o in objects.values() if o.type == "PropertyValue"}
    assert params == {"cell_id": 1, "gain": 2, "source": INPUT}
    assert objects[INPUT]["identifier"] == INPUT.removeprefix("ipfs://")  # the input's CID
    assert crate.dereference("#run-vol%2F2.ome.zarr")["result"].id == "vol/2.ome.zarr/"
    assert len(crate.root_dataset["mentions"]) == 6


def test_zip_is_the_same_package_and_verifies(store, packages):
    folder, archive = packages
    assert archive.url.endswith(".zip") and zipfile.is_zipfile(archive.url)
    entries = zipfile.ZipFile(archive.url).namelist()
    names = {n for n in entries if not n.endswith("/")}
    assert names == {f["name"] for f in folder.files} | {"ro-crate-metadata.json"}
    assert entries[0] == "ro-crate-metadata.json" and {"vol/1.ome.zarr/", "vol/"} <= set(entries)  # folders too
    assert rocrate.ROCrate(archive.url).name == "Cells"
    report = labkit.verify(archive.url)
    assert report.ok and report.checked == len(store.list())
    opened = labkit.open_package(archive.url)
    assert opened.read_bytes("proj/2.png") == store.read_bytes("proj/2.png")
    assert pd.read_parquet(opened.open("proj/manifest.parquet")).cell_id.tolist() == [1, 2]
    html = opened._repr_html_()
    assert "Cells" in html and "Ada Lovelace" in html and "CC-BY-4.0" in html and "image/png" in html


def test_a_changed_missing_or_extra_file_is_named(packages, tmp_path):
    folder, _ = packages
    copy = tmp_path / "copy"
    shutil.copytree(folder.url, copy)
    png = copy / "proj" / "1.png"
    png.write_bytes(png.read_bytes()[:-1] + b"\0")  # same size, other bytes
    (copy / "cells" / "2.ome.tiff").unlink()
    (copy / "notes.txt").write_text("added later")
    with pytest.raises(PackageIntegrityError) as err:
        labkit.verify(copy)
    assert set(err.value.problems) == {"proj/1.png", "cells/2.ome.tiff", "notes.txt"}
    for name in ("proj/1.png", "cells/2.ome.tiff", "notes.txt"):
        assert name in str(err.value)
    assert "SHA-256" in err.value.problems["proj/1.png"]
    with pytest.raises(PackageIntegrityError):
        labkit.open_package(copy)  # reading verifies by default
    assert labkit.open_package(copy, verify=False).title == "Cells"


def test_a_zip_changed_after_publishing_is_refused(packages, tmp_path):
    _, archive = packages
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(archive.url) as src, zipfile.ZipFile(changed, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"!" if item.filename == "vol/1.ome.zarr/zarr.json" else data)
    with pytest.raises(PackageIntegrityError, match="vol/1.ome.zarr/zarr.json"):
        labkit.open_package(changed)


def test_a_copy_is_checked_against_the_cid_it_was_published_under(packages):
    folder, _ = packages
    from labkit.ipfs.unixfs import tree_cid

    files = {p.relative_to(folder.url).as_posix(): p.read_bytes() for p in Path(folder.url).rglob("*") if p.is_file()}
    assert labkit.verify(folder.url, cid=tree_cid(files)).ok
    other = tree_cid({**files, "extra": b""})
    with pytest.raises(PackageIntegrityError, match="<CID>"):
        labkit.verify(folder.url, cid=other)


class FailingPng(Png):
    """A PNG serializer that fails while writing once told to: a result interrupted as it is replaced."""

    fail = False

    def save(self, store, name, obj):
        if FailingPng.fail:
            raise OSError("disk full")
        return super().save(store, name, obj)


def test_half_written_stale_and_unrecorded_results_are_refused_by_name(tmp_path):
    url = str(tmp_path / "store")
    make_store(url)
    rewrite = checkpoint(url, target="proj/{cell_id}.png", serializer=FailingPng(), overwrite=True)(projection)
    FailingPng.fail = True
    with pytest.raises(OSError):
        rewrite(2)  # the record now says "being written"
    FailingPng.fail = False
    store = ResultStore(url)
    tiff = Path(url) / "cells" / "1.ome.tiff"
    tiff.write_bytes(tiff.read_bytes() + b"\0")  # changed after it was written
    store.write_bytes("stray.npy", b"not from checkpoint")
    target = tmp_path / "package"
    with pytest.raises(StaleResultError) as err:
        labkit.publish(url, target)
    assert set(err.value.results) == {"proj/2.png", "stray.npy"}
    assert "half-written" in err.value.results["proj/2.png"] and "stray.npy" in str(err.value)
    store.fs.rm(store.path("stray.npy"))
    projection_step = checkpoint(url, target="proj/{cell_id}.png")(projection)
    projection_step(2)  # finished again
    with pytest.raises(StaleResultError, match="cells/1.ome.tiff") as err:
        labkit.publish(url, target)
    assert "changed after it was written" in err.value.results["cells/1.ome.tiff"]
    assert not target.exists()  # nothing written


def test_targets_of_a_function_whose_code_changed_are_stale(tmp_path):
    url = str(tmp_path / "store")
    make_store(url)

    def projection(cell_id):  # the same name, other code
        return np.zeros((6, 6), np.uint8)

    changed = checkpoint(url, target="proj/{cell_id}.png")(projection)
    with pytest.raises(StaleResultError) as err:
        labkit.publish(changed, tmp_path / "p")
    assert set(err.value.results) == {"proj/1.png", "proj/2.png"}
    assert "stale" in err.value.results["proj/1.png"]
    steps = make_store(url)  # the functions as they are: their targets publish
    pkg = labkit.publish(list(steps[:2]), tmp_path / "two-steps.zip")
    assert {f["name"] for f in pkg.files} == {"cells/1.ome.tiff", "cells/2.ome.tiff", "proj/1.png", "proj/2.png"}


def test_a_manifest_publishes_its_rows_table_and_readme(tmp_path):
    url = str(tmp_path / "store")
    make_store(url)
    manifest = Manifest(url, "proj")
    manifest.add(path="proj/1.png", cell_id=1)
    pkg = labkit.publish(manifest, tmp_path / "m")
    assert {f["name"] for f in pkg.files} == {"proj/1.png", "proj/manifest.parquet", "proj/README.md"}
    assert json.loads((tmp_path / "m" / "ro-crate-metadata.json").read_text())["@graph"]


def test_authors_and_licence_must_be_configured(tmp_path, monkeypatch):
    url = str(tmp_path / "store")
    checkpoint(url, target="{cell_id}.png")(projection)(1)
    monkeypatch.delenv("LABKIT_AUTHORS")
    with pytest.raises(ConfigurationError, match="LABKIT_AUTHORS"):
        labkit.publish(url, tmp_path / "a")
    import dask.config

    with dask.config.set({"labkit.authors": [{"name": "Grace Hopper", "affiliation": "Yale"}]}):
        pkg = labkit.publish(url, tmp_path / "b")
    assert pkg.authors == ["Grace Hopper"]
    monkeypatch.delenv("LABKIT_LICENSE")
    monkeypatch.setenv("LABKIT_AUTHORS", "Ada Lovelace")
    with pytest.raises(ConfigurationError, match="licen"):
        labkit.publish(url, tmp_path / "c")
    assert labkit.publish(url, tmp_path / "d", license="MIT").license == "MIT"
    with pytest.raises(labkit.errors.AlreadyExistsError):
        labkit.publish(url, tmp_path / "d", license="MIT")


def test_one_error_lists_everything_missing_and_how_to_give_each(tmp_path, monkeypatch):
    url = str(tmp_path / "store")
    checkpoint(url, target="{cell_id}.png")(projection)(1)
    monkeypatch.delenv("LABKIT_AUTHORS")
    monkeypatch.delenv("LABKIT_LICENSE")
    with pytest.raises(ConfigurationError) as missing:
        labkit.publish(url, tmp_path / "a")
    message = str(missing.value)
    assert "a licence and authors" in message
    for how in ("license='CC-BY-4.0'", "LABKIT_LICENSE", "authors='Name <https://orcid.org/...>", "LABKIT_AUTHORS",
                "labkit.authors", "labkit.license"):
        assert how in message, how
    assert not (tmp_path / "a").exists()


def test_authors_beside_license_as_arguments(tmp_path, monkeypatch):
    url = str(tmp_path / "store")
    checkpoint(url, target="{cell_id}.png")(projection)(1)
    monkeypatch.delenv("LABKIT_AUTHORS")
    monkeypatch.delenv("LABKIT_LICENSE")
    pkg = labkit.publish(url, tmp_path / "a", license="MIT", authors=AUTHORS)
    assert pkg.authors == ["Ada Lovelace", "Alan Turing"] and pkg.license == "MIT"
    crate = rocrate.ROCrate(str(tmp_path / "a"))
    assert "https://orcid.org/0000-0002-1825-0097" in {_id(a) for a in crate.root_dataset["author"]}
    pkg = labkit.publish(url, tmp_path / "b", license="MIT", authors=["Grace Hopper", {"name": "Alan Turing"}])
    assert pkg.authors == ["Grace Hopper", "Alan Turing"]
    monkeypatch.setenv("LABKIT_AUTHORS", "Someone Configured")  # the argument wins over configuration
    assert labkit.publish(url, tmp_path / "c", license="MIT", authors="Ada Lovelace").authors == ["Ada Lovelace"]
    with pytest.raises(ConfigurationError, match="an author in authors= has no name"):
        labkit.publish(url, tmp_path / "d", license="MIT", authors=[{"orcid": "https://orcid.org/x"}])


def test_a_package_crediting_the_sandbox_demo_author_says_so(tmp_path, monkeypatch):
    from labkit.errors import DemoAuthorWarning
    from labkit.modes import SANDBOX_PUBLISHER, _demo_publisher

    url = str(tmp_path / "store")
    checkpoint(url, target="{cell_id}.png")(projection)(1)
    monkeypatch.delenv("LABKIT_AUTHORS")
    monkeypatch.delenv("LABKIT_LICENSE")
    for key, value in _demo_publisher().items():  # what sandbox mode exports when nothing is configured
        monkeypatch.setenv(key, value)
    with pytest.warns(DemoAuthorWarning, match="LABKIT_AUTHORS") as caught:
        pkg = labkit.publish(url, tmp_path / "a")
    assert caught[0].filename == __file__  # points at the user's publish line
    assert pkg.authors == [SANDBOX_PUBLISHER["authors"]] and pkg.demo_author
    assert "demo author" in repr(pkg) and "LABKIT_AUTHORS" in repr(pkg)
    assert "demo author" in pkg._repr_html_()
    assert labkit.open_package(tmp_path / "a").demo_author  # read back, it still says so
    monkeypatch.setenv("LABKIT_AUTHORS", "Ada Lovelace")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DemoAuthorWarning)
        mine = labkit.publish(url, tmp_path / "b")
    assert not mine.demo_author and "demo author" not in repr(mine) + mine._repr_html_()


def test_verify_says_not_found_for_a_path_with_nothing_there(tmp_path):
    from labkit.errors import FormatError, NotFoundError

    with pytest.raises(NotFoundError, match="not found") as missing:
        labkit.verify(tmp_path / "no_such_folder")
    assert "not an RO-Crate" not in str(missing.value) and "no_such_folder" in str(missing.value)
    with pytest.raises(NotFoundError, match="does not exist"):
        labkit.verify(tmp_path / "no_such.zip")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(FormatError, match="not an RO-Crate package"):  # something is there, not a package
        labkit.verify(tmp_path / "empty")


def test_public_api():
    assert labkit.publish is labkit.packages.publish and labkit.verify is labkit.packages.verify
    assert {"publish", "verify", "open_package", "packages"} <= set(dir(labkit))
    with pytest.raises(ConfigurationError, match="versioned ResultStore"):
        labkit.verify(ResultStore("memory://not-a-package"))
