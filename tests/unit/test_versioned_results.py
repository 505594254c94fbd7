"""Versioned result stores (icechunk) in a local folder: one commit per run, tags, reads as of a version, faults."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
import zarr

pytest.importorskip("icechunk")

from labkit import ngff  # noqa: E402
from labkit.errors import (  # noqa: E402
    ConfigurationError,
    FormatError,
    NotFoundError,
    ReadOnlyVersionError,
    VersionConflictError,
    VersionExistsError,
    VersionNotFoundError,
)
from labkit.results import NgffLabels, OmeZarr, Png, ResultStore, VersionedResultStore, checkpoint  # noqa: E402
from tests.killing import kill_when_it_says  # noqa: E402


def _steps(url):
    @checkpoint(url, target="cells/{i}.png", serializer=Png(), versioned=True)
    def thumb(i, scale=1):
        return (np.arange(64, dtype=np.uint8).reshape(8, 8) * i * scale).astype(np.uint8)

    @checkpoint(url, target="vol/{i}.ome.zarr", serializer=OmeZarr(dims="zyx"), versioned=True)
    def volume(i, scale=1):
        return np.full((2, 8, 8), i * scale, np.uint16)

    return thumb, volume


def test_each_run_is_one_commit_with_its_provenance_and_old_versions_stay_readable(tmp_path):
    url = str(tmp_path / "repo")
    thumb, volume = _steps(url)
    store = thumb.store
    volume.store = store
    thumb(1)  # outside a run: the call is the run
    assert [c.message for c in store.history()] == ["thumb -> cells/1.png"]
    store.tag("v1")
    with store.run("two cells"):
        thumb(2)
        volume(2)
        thumb(1)  # fresh: read back, not written again
    with store.run("rescaled"):
        thumb(2, scale=2)
    history = store.history()
    assert [c.message for c in history] == ["rescaled", "two cells", "thumb -> cells/1.png"]
    assert sorted(history[1].provenance) == ["cells/2.png", "vol/2.ome.zarr"]
    record = history[1].provenance["cells/2.png"]
    assert record["function"].endswith("thumb") and record["arguments"] == {"i": 2, "scale": 1}
    assert record["sha256"] and record["versions"]["labkit"] and history[1].metadata["labkit_version"]
    assert history[0].time > history[1].time

    v1 = ResultStore(url, version="v1")
    assert v1.read_only and not v1.exists("cells/2.png") and v1.exists("cells/1.png")
    by_id = ResultStore(url, version=history[1].id)
    assert np.array_equal(Png().load(by_id, "cells/2.png"), thumb.__wrapped__(2))
    assert np.array_equal(OmeZarr().load(by_id, "vol/2.ome.zarr"), np.full((2, 8, 8), 2, np.uint16))
    assert np.array_equal(Png().load(ResultStore(url, version="main"), "cells/2.png"), thumb.__wrapped__(2, 2))
    assert by_id.history()[0].id == history[1].id
    assert ResultStore(url, versioned=True).list("cells") == ["cells/1.png", "cells/2.png"]
    assert "vol/2.ome.zarr/zarr.json" in store.list()


def test_history_is_shown_as_a_compact_table_and_keeps_every_record(tmp_path):
    """As a table, history() repeated all provenance in a ``metadata`` column (issue 29)."""
    url = str(tmp_path / "repo")
    thumb, _ = _steps(url)
    store = thumb.store
    for denoise in (1.0, 2.0):
        with store.run(f"denoise={denoise}", metadata={"denoise": denoise}):
            for i in range(6):
                thumb(i, scale=int(denoise))
        store.tag(f"v{int(denoise)}")
    store.tag("published", "v1")
    history = store.history()
    table = history.table()
    assert list(table.columns) == ["id", "tags", "time", "message", "results", "denoise", "labkit_version"]
    assert table.tags.tolist() == ["v2", "published, v1"]
    assert table.results.tolist() == [6, 6] and table.denoise.tolist() == [2.0, 1.0]
    assert table.id.tolist() == [c.id for c in history] and table.message.tolist() == ["denoise=2.0", "denoise=1.0"]
    html = history._repr_html_()
    assert "sha256" not in html and "code_hash" not in html and "denoise=2.0" in html and len(html) < 3000
    assert "sha256" not in repr(history) and "tags=('v2',)" in repr(history)
    # the full records stay on each commit; metadata no longer repeats them
    assert sorted(history[0].provenance) == [f"cells/{i}.png" for i in range(6)]
    assert history[0].provenance["cells/3.png"]["arguments"] == {"i": 3, "scale": 2}
    assert history[0].metadata["denoise"] == 2.0 and "results" not in history[0].metadata
    frame = pd.DataFrame(history)  # as tutorial 04 made its table
    assert "results" not in str(frame.metadata.tolist()) and frame.provenance.map(len).tolist() == [6, 6]


def test_unknown_versions_taken_tags_and_writes_to_a_past_version_are_refused(tmp_path):
    url = str(tmp_path / "repo")
    store = ResultStore(url, versioned=True)
    with store.run("one"):
        store.write_bytes("a.txt", b"1")
    commit = store.tag("v1")
    with pytest.raises(VersionExistsError, match="tags never move"):
        store.tag("v1")
    with store.run("two"):
        store.write_bytes("a.txt", b"2")
    assert store.tag("v1", exist_ok=True) == commit  # a notebook run twice: the tag stays where it was
    assert store.tags() == {"v1": commit}
    with pytest.raises(VersionNotFoundError, match=r"no version 'v9'.*\['v1'\]"):
        ResultStore(url, version="v9")
    with pytest.raises(VersionNotFoundError):
        ResultStore(url, version="0" * 20)  # a commit id that does not exist
    old = ResultStore(url, version=commit)
    with pytest.raises(ReadOnlyVersionError, match="read-only"):
        old.write_bytes("b.txt", b"2")
    with pytest.raises(ReadOnlyVersionError):
        OmeZarr(dims="zyx").save(old, "x.ome.zarr", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(NotFoundError):
        old.read_bytes("b.txt")
    with pytest.raises(NotFoundError, match="no versioned result store"):
        ResultStore(str(tmp_path / "nothing"), version="v1")
    with pytest.raises(FormatError, match="zarr v3"):
        OmeZarr(dims="zyx", version="0.4").save(store, "y.ome.zarr", np.zeros((2, 4, 4), np.uint8))


def test_a_failed_run_commits_nothing(tmp_path):
    store = ResultStore(tmp_path / "repo", versioned=True)
    with store.run("good"):
        store.write_bytes("a.txt", b"good")
    with pytest.raises(RuntimeError), store.run("bad"):
        store.write_bytes("a.txt", b"bad")
        raise RuntimeError("the analysis failed")
    assert store.read_bytes("a.txt") == b"good" and [c.message for c in store.history()] == ["good"]
    with store.run("nothing new"):
        pass
    assert len(store.history()) == 1


def test_two_writers_of_one_branch_one_wins_the_other_rebases_or_retries(tmp_path):
    url = str(tmp_path / "repo")
    first, second = ResultStore(url, versioned=True), ResultStore(url, versioned=True)
    first.write_bytes("a.txt", b"first")
    second.write_bytes("b.txt", b"second")
    first.commit("first writer")
    with pytest.raises(VersionConflictError, match=r"rebase=True"):
        second.commit("second writer")
    assert second.read_bytes("b.txt") == b"second"  # nothing lost
    second.commit(rebase=True)  # the message of the refused commit
    latest = ResultStore(url, version="main")
    assert latest.read_bytes("a.txt") == b"first" and latest.read_bytes("b.txt") == b"second"
    assert [c.message for c in latest.history()] == ["second writer", "first writer"]

    # both wrote the same result: no rebase, the writes stay until discarded and run again
    first.write_bytes("a.txt", b"first again")
    second.write_bytes("a.txt", b"second again")
    first.commit("first again")
    with pytest.raises(VersionConflictError, match=r"same results.*\['a.txt'\]"):
        second.commit("second again", rebase=True)
    assert second.read_bytes("a.txt") == b"second again"
    second.discard()
    second.write_bytes("a.txt", b"second, retried")
    second.commit("second, retried")
    assert ResultStore(url, version="main").read_bytes("a.txt") == b"second, retried"


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from labkit.results import ResultStore
    store = ResultStore(sys.argv[1], versioned=True)
    with store.run("complete"):
        store.write_bytes("a.txt", b"complete")
    with store.run("killed"):
        store.write_bytes("a.txt", b"half")
        store.write_bytes("b.txt", b"half")
        print("writing", flush=True)
        time.sleep(60)
""")


def test_a_run_killed_midway_leaves_the_last_commit_intact(tmp_path):
    url = str(tmp_path / "repo")
    kill_when_it_says(KILLED_RUN, url)
    store = ResultStore(url, versioned=True)
    assert [c.message for c in store.history()] == ["complete"]
    assert store.read_bytes("a.txt") == b"complete" and not store.exists("b.txt")
    with store.run("after the crash"):
        store.write_bytes("b.txt", b"whole")
    assert ResultStore(url, version="main").read_bytes("b.txt") == b"whole"


def test_ngff_labels_of_a_past_version(tmp_path):
    image = tmp_path / "image.ome.zarr"
    ngff.write_image(str(image), np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16), axes="zyx",
                     version="0.5", chunks=(1, 8, 8))
    store = ResultStore(tmp_path / "repo", versioned=True)
    labels = np.zeros((2, 16, 16), np.int32)
    labels[:, 2:6, 2:6] = 1

    @checkpoint(store, target="{name}.ome.zarr", serializer=NgffLabels("nuclei", image=str(image)))
    def nuclei(name, threshold):
        import dask.array as da

        return da.from_array(labels * threshold, chunks=(1, 8, 8))  # lazy: written block by block

    nuclei("cells", 1)
    store.tag("one")
    nuclei("cells", 3)
    old = ResultStore(tmp_path / "repo", version="one")
    assert int(nuclei.serializer.load(old, "cells.ome.zarr").max()) == 1
    assert int(nuclei.serializer.load(store, "cells.ome.zarr").max()) == 3
    assert nuclei.state("cells", 3) == "fresh"


def test_plain_stores_are_unchanged(tmp_path):
    store = ResultStore(tmp_path / "plain")
    assert type(store) is ResultStore and not store.versioned and not isinstance(store, VersionedResultStore)
    store.write_bytes("a.txt", b"x")
    assert (tmp_path / "plain" / "a.txt").read_bytes() == b"x"
    OmeZarr(dims="zyx").save(store, "v.ome.zarr", np.zeros((1, 4, 4), np.uint8))
    assert (tmp_path / "plain" / "v.ome.zarr" / ".zattrs").exists()  # NGFF 0.4 by default, as before
    with pytest.raises(ConfigurationError, match="plain store"):
        checkpoint(store, target="{i}.png", versioned=True)


def test_diff_names_what_changed_between_two_versions_and_why(tmp_path):
    url = str(tmp_path / "repo")
    thumb, volume = _steps(url)
    store = volume.store = thumb.store
    with store.run("first"):
        for i in (1, 2, 3):
            thumb(i)
        volume(1)
        store.write_bytes("notes.txt", b"first")
        store.write_bytes("gone.txt", b"...")
    store.tag("v1")
    with store.run("second", metadata={"scale": 2}):
        thumb(1, scale=2)  # other bytes: a parameter changed
        thumb(3, scale=1)  # fresh: read back, not in the diff
        thumb(4)  # new
        volume(1, scale=2)  # a folder result: no single digest
        store.write_bytes("notes.txt", b"second")
    store.tag("v2")
    with store.run("third"):
        thumb(2, scale=1)
    store.discard()
    changes = {c.name: c for c in store.diff("v1", "v2")}
    assert sorted(changes) == ["cells/1.png", "cells/4.png", "notes.txt", "vol/1.ome.zarr"]
    one = changes["cells/1.png"]
    assert one.change == "changed" and one.parameters == {"scale": (1, 2)} and not one.code_changed
    assert one.before != one.after and len(one.after) == 64
    assert changes["cells/4.png"].change == "added" and changes["cells/4.png"].before is None
    assert changes["notes.txt"].change == "changed" and changes["notes.txt"].parameters == {}
    assert changes["vol/1.ome.zarr"].change == "rewritten" and changes["vol/1.ome.zarr"].parameters == {
        "scale": (1, 2)}
    assert store.diff("v2", "v2") == []
    assert [c.name for c in ResultStore(url, version="v1").diff("v2")] == sorted(changes)  # from the store's version
    removed = ResultStore(url, versioned=True)
    with removed.run("remove"):
        del zarr.open_group(removed.session.store, mode="a")["gone.txt"]
    assert [(c.name, c.change, c.after) for c in removed.diff("v2")] == [("gone.txt", "removed", None)]

    assert [c.name for c in store.diff("v2")] == ["gone.txt"]  # the branch as it is now
    table = pd.DataFrame(store.diff("v1", "v2"))
    assert list(table.columns) == ["name", "change", "before", "after", "parameters", "code_changed"]


def test_a_version_of_a_versioned_store_is_published_and_verifies(tmp_path, monkeypatch):
    import labkit

    pytest.importorskip("rocrate")
    monkeypatch.setenv("LABKIT_AUTHORS", "Ada Lovelace")
    monkeypatch.setenv("LABKIT_LICENSE", "CC0-1.0")
    url = str(tmp_path / "repo")
    thumb, volume = _steps(url)
    store = volume.store = thumb.store
    with store.run("first"):
        thumb(1)
        volume(1)
    store.tag("v1")
    with store.run("second"):
        thumb(1, scale=3)
        thumb(2)
    v1 = ResultStore(url, version="v1")
    assert v1.targets() == ["cells/1.png", "vol/1.ome.zarr"] and v1.targets("vol") == ["vol/1.ome.zarr"]
    assert json.loads(v1.read_bytes("vol/1.ome.zarr/zarr.json"))["node_type"] == "group"  # a key inside a folder
    with pytest.raises(NotFoundError):
        v1.read_bytes("vol/1.ome.zarr/nothing.json")
    package = labkit.publish(v1, tmp_path / "v1.zip", name="Cells, version v1")
    names = {f["name"]: f for f in package.files}
    assert "cells/2.png" not in names and "vol/1.ome.zarr/zarr.json" in names
    assert names["cells/1.png"]["sha256"] == thumb.store.diff("v1")[0].before  # the bytes of v1, not of main
    assert package.root["version"] == "v1" and labkit.verify(package).ok
    assert labkit.verify(labkit.publish(store, tmp_path / "main", name="Cells")).ok  # the branch, as it is now


def test_verify_checks_a_version_against_what_was_written(tmp_path):
    import labkit
    from labkit.errors import PackageIntegrityError

    url = str(tmp_path / "repo")
    thumb, volume = _steps(url)
    volume.store = thumb.store
    with thumb.store.run("cells"):
        thumb(1)
        thumb(2)
        volume(1)
    report = labkit.verify(ResultStore(url, version="main"))
    assert report.ok and report.checked == 5  # two PNGs and three provenance records (the volume is a folder)
    # bytes changed behind labkit's back (the recorded size and SHA-256 left as they were), committed
    store = ResultStore(url, versioned=True)
    arr = zarr.open_array(store.session.store, path=store.path("cells/2.png"), mode="r+")
    arr[-4:] = 0
    store.commit("tampered")
    with pytest.raises(PackageIntegrityError, match=r"cells/2\.png: changed") as info:
        labkit.verify(ResultStore(url, version="main"))
    assert list(info.value.problems) == ["cells/2.png"]
    assert labkit.verify(ResultStore(url, version=store.history()[1].id)).ok  # the version before is intact
