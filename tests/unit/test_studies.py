"""labkit.map_images over a synthetic plate on a local Dask cluster; plate_summary, plate_heatmap, plate_thumbnails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import labkit
from labkit.errors import ConfigurationError
from labkit.results import NgffLabels
from labkit.studies import combine
from labkit.synthetic import hcs_plate

matplotlib.use("Agg")
distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]


def nuclei(image):
    """The recipe: nuclei of the nuclear channel in the z projection, measured (sleeps when the kill test asks)."""
    delay = float(os.environ.get("LABKIT_TEST_RECIPE_DELAY", "0"))
    if delay:
        time.sleep(delay)
    projection = image.max("z")
    labels = labkit.segment_nuclei(projection, channel="Cascade blue")
    return labkit.measure(labels, projection)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """A 2 x 3 plate, 2 fields a well (12 images of 2 channels x 16 planes of 65 x 86)."""
    return hcs_plate(tmp_path_factory.mktemp("plate") / "plate.zarr", rows=2, columns=3, fields=2)


@pytest.fixture(scope="module")
def client():
    # skimage's lazily loaded submodules are not safe to import from two threads at once: load them first
    import skimage.filters
    import skimage.measure
    import skimage.morphology
    import skimage.segmentation  # noqa: F401

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as c:
        yield c


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*.parquet"))}


def test_results_per_image_and_rerun_computes_nothing(plate, client, tmp_path):
    p = labkit.open_plate(plate.path)
    run = labkit.map_images(nuclei, p, store=tmp_path, target="{well}/{field}.parquet", progress=False)
    assert list(run.columns[:5]) == ["well", "field", "target", "before", "state"] and len(run) == 12
    assert set(run.state) == {"computed"} and set(run.before) == {"missing"} and run.target[1] == "A1/1.parquet"
    table = combine(run)
    assert list(table.columns[:3]) == ["well", "field", "label"]
    found = table.groupby(["well", "field"]).size()
    truth = plate.table.set_index(["well", "field"]).nuclei
    diff = (found.reindex(truth.index, fill_value=0) - truth).abs()
    # segment_nuclei's own accuracy on these fields (tests/unit/test_plates.py allows 2 on three wells; one
    # field of B3 here has 3 nuclei merged into their neighbours)
    assert diff.max() <= 3 and diff.mean() <= 1.0, diff.to_dict()
    # each stored table is the recipe's result for that image
    direct = nuclei(p.image("B2", 1))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "B2" / "1.parquet"), direct)

    stamps = {f: os.stat(tmp_path / f).st_mtime_ns for f in run.target}
    submitted: list[int] = []
    again = labkit.map_images(nuclei, p, store=tmp_path, target="{well}/{field}.parquet", progress=False,
                              on_submit=submitted.append)
    assert set(again.state) == {"read back"} and set(again.before) == {"fresh"}
    assert submitted == []  # told from the listing and the provenance records: no task
    assert {f: os.stat(tmp_path / f).st_mtime_ns for f in run.target} == stamps  # nothing written again

    (tmp_path / "A2" / "0.parquet").unlink()  # one result lost: only it is computed
    third = labkit.map_images(nuclei, p, store=tmp_path, target="{well}/{field}.parquet", progress=False)
    assert third.set_index(["well", "field"]).state.loc[("A2", 0)] == "computed"
    assert (third.state == "read back").sum() == 11
    pd.testing.assert_frame_equal(combine(third), table)


def test_an_image_whose_metadata_changed_is_computed_again(client, tmp_path):
    import json
    import pickle

    plate = hcs_plate(tmp_path / "plate.zarr", rows=1, columns=2, fields=1)
    p = labkit.open_plate(plate.path)
    refs = dict((k["well"], ref) for k, ref in p.refs())
    xr = pytest.importorskip("xarray")
    xr.testing.assert_identical(pickle.loads(pickle.dumps(refs["A2"]))(), p.image("A2"))  # opened where called
    run = labkit.map_images(nuclei, p, store=tmp_path / "out", target="{well}.parquet", progress=False)
    assert set(run.state) == {"computed"}
    zattrs = Path(plate.path) / "A" / "2" / "0" / ".zattrs"
    meta = json.loads(zattrs.read_text())
    meta["omero"]["channels"][1]["label"] = "Hoechst"  # the image is not what the result was made from
    zattrs.write_text(json.dumps(meta))
    p = labkit.open_plate(plate.path)
    assert dict((k["well"], r) for k, r in p.refs())["A2"].identity != refs["A2"].identity
    with pytest.raises(labkit.studies.ImageFailedError, match="A2"):  # its nuclear channel is gone: it runs, fails
        labkit.map_images(nuclei, p, store=tmp_path / "out", target="{well}.parquet", progress=False)


def test_target_clash_refused_before_anything_runs(plate, client, tmp_path):
    p = labkit.open_plate(plate.path)
    calls = []
    store = tmp_path / "results"
    with pytest.raises(ConfigurationError, match=r"'A1\.parquet': well 'A1' field 0 and well 'A1' field 1.*field"):
        labkit.map_images(calls.append, p, store=store, target="{well}.parquet")
    with pytest.raises(ConfigurationError, match=r"names \['plate'\].*keys are \['well', 'field'\]"):
        labkit.map_images(calls.append, p, store=store, target="{plate}/{well}/{field}.parquet")
    with pytest.raises(ConfigurationError, match="leads outside the store"):
        labkit.map_images(calls.append, [("../x", np.zeros((4, 4)))], store=store, target="{key}.npy")
    assert calls == [] and not store.exists()


def test_window_bounds_the_futures_in_flight(client, tmp_path):
    """At most ``window`` images are submitted at a time; every result stays on the workers."""
    rng = np.random.default_rng(0)
    images = [({"i": i}, rng.integers(0, 100, (8, 8)).astype(np.uint16)) for i in range(20)]
    in_flight = []

    def total(image):
        time.sleep(0.01)
        return pd.DataFrame({"sum": [int(image.sum())]})

    run = labkit.map_images(total, images, store=tmp_path, target="t/{i}.parquet", window=3,
                            on_submit=in_flight.append, progress=False)
    assert len(in_flight) == 20 and max(in_flight) <= 3 and in_flight[:3] == [1, 2, 3]
    assert list(run.i) == list(range(20)) and set(run.state) == {"computed"}
    assert list(combine(run)["sum"]) == [int(im.sum()) for _, im in images]
    assert not client.who_has()  # the client holds no future, the cluster no result


KILLED_RUN = """
import sys, distributed, labkit
import skimage.filters, skimage.measure, skimage.morphology, skimage.segmentation
from tests.unit.test_studies import nuclei
if __name__ == "__main__":
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cl, distributed.Client(cl):
        labkit.map_images(nuclei, labkit.open_plate(sys.argv[1]), store=sys.argv[2],
                          target="{well}/{field}.parquet", window=2, progress=False)
"""


def test_killed_run_resumes_to_identical_results(plate, client, tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_RUN))
    env = {**os.environ, "LABKIT_TEST_RECIPE_DELAY": "0.4",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), plate.path, str(killed)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(list(killed.rglob("*.prov.json"))) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no result in 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {str(p.relative_to(killed))[: -len(".prov.json")] for p in killed.rglob("*.prov.json")}
    assert 3 <= len(finished) < 12

    p = labkit.open_plate(plate.path)
    resumed = labkit.map_images(nuclei, p, store=killed, target="{well}/{field}.parquet", progress=False)
    read_back = set(resumed.target[resumed.state == "read back"])
    assert finished <= read_back | set(resumed.target[resumed.before == "stale"])  # a half-replaced one: stale
    assert set(resumed.target[resumed.state == "computed"]) == set(resumed.target) - read_back
    assert (resumed.state == "computed").sum() >= 12 - len(finished) > 0

    labkit.map_images(nuclei, p, store=whole, target="{well}/{field}.parquet", progress=False)
    assert _files(killed) == _files(whole) and len(_files(whole)) == 12  # byte for byte
    assert set(labkit.results.ResultStore(killed).list()) == set(labkit.results.ResultStore(whole).list())


def test_labels_stored_as_ngff_labels(plate, client, tmp_path):
    p = labkit.open_plate(plate.path)
    pairs = [({"well": w, "field": 0}, p.image(w, 0)) for w in ("A1", "B3")]

    def labels(image):
        return labkit.segment_nuclei(image.sel(c="Cascade blue"))

    run = labkit.map_images(labels, pairs, store=tmp_path, target="{well}/{field}.ome.zarr",
                            serializer=NgffLabels("nuclei"), progress=False)
    assert set(run.state) == {"computed"}
    for (_, image), target in zip(pairs, run.target, strict=True):
        stored = labkit.open_labels(str(tmp_path / target), "nuclei")
        np.testing.assert_array_equal(stored.values, labels(image).values)
        np.testing.assert_array_equal(labkit.open_image(str(tmp_path / target)).values, image.values)
    again = labkit.map_images(labels, pairs, store=tmp_path, target="{well}/{field}.ome.zarr",
                              serializer=NgffLabels("nuclei"), progress=False)
    assert set(again.state) == {"read back"}


def test_labels_and_their_table_go_into_each_image(plate, client, tmp_path):
    ngio = pytest.importorskip("ngio")
    p = labkit.open_plate(plate.path)
    pairs = [({"well": w, "field": 0}, p.image(w, 0)) for w in ("A1", "B3")]

    def labelled(image):
        labels = labkit.segment_nuclei(image, channel="Cascade blue")
        return labels, labkit.measure(labels, image)

    serializer = NgffLabels("nuclei", table=True)
    run = labkit.map_images(labelled, pairs, store=tmp_path, target="{well}/{field}.ome.zarr",
                            serializer=serializer, progress=False)
    assert set(run.state) == {"computed"}
    for (_, image), target in zip(pairs, run.target, strict=True):
        url = str(tmp_path / target)
        expected = labelled(image)[1]
        container = ngio.open_ome_zarr_container(url)
        assert container.list_tables() == ["nuclei"]
        theirs = container.get_table("nuclei").dataframe
        assert theirs.index.tolist() == expected.label.tolist() and len(theirs) > 0
        np.testing.assert_allclose(theirs[expected.columns[1]].to_numpy(), expected.iloc[:, 1].to_numpy())
        pd.testing.assert_frame_equal(labkit.open_table(url, "nuclei"), expected, check_dtype=False)
    again = labkit.map_images(labelled, pairs, store=tmp_path, target="{well}/{field}.ome.zarr",
                              serializer=serializer, progress=False)
    assert set(again.state) == {"read back"}
    both = combine(again)
    assert len(both) == sum(len(labelled(image)[1]) for _, image in pairs)
    assert list(both.columns[:3]) == ["well", "field", "label"]


def _counts_table(plate, drop=()):
    """One row per nucleus of the truth, measurements made up: the per-image tables of a perfect recipe."""
    rows = [{"well": r.well, "field": r.field, "label": k + 1, "area_um2": 10.0 * (k + 1)}
            for r in plate.table.itertuples() if (r.well, r.field) not in drop for k in range(r.nuclei)]
    return pd.DataFrame(rows)


def test_plate_summary(plate):
    p = labkit.open_plate(plate.path)
    table = _counts_table(plate, drop={("B2", 1)})  # a field with no nucleus at all
    per_field = labkit.plate_summary(p, table, name="nuclei", per="field")
    assert len(per_field) == 12 and per_field.set_index(["well", "field"]).nuclei.loc[("B2", 1)] == 0
    summary = labkit.plate_summary(p, table, name="nuclei")
    truth = plate.table.set_index(["well", "field"]).nuclei.copy()
    truth.loc[("B2", 1)] = 0
    expected = truth.groupby(level="well").mean()
    pd.testing.assert_series_equal(summary.nuclei_per_field, expected, check_names=False)
    assert summary.loc["B2", "nuclei"] == truth.loc[("B2", 0)] and summary.loc["A3", "fields"] == 2
    assert (summary.loc["B1", "row"], summary.loc["B1", "column"]) == ("B", 1)
    n = plate.truth["nuclei"]["A1"]
    assert summary.loc["A1", "area_um2"] == pytest.approx(np.mean([10.0 * (k + 1) for c in n for k in range(c)]))


def _pixel(fig, ax, x, y):
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return rgba[int(round(rgba.shape[0] - py)), int(round(px)), :3]


def test_plate_heatmap_pixels(plate, tmp_path):
    import matplotlib.pyplot as plt

    p = labkit.open_plate(plate.path)
    values = pd.Series({"A1": 0.0, "A2": 5.0, "A3": 10.0, "B1": 2.0, "B2": 7.5}, name="nuclei per field")  # no B3
    ax = labkit.plate_heatmap(values, plate=p)
    fig = ax.figure
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "nuclei per field"  # the colour bar
    cmap = plt.get_cmap("viridis")
    for well, v in values.items():
        row, col = "AB".index(well[0]), int(well[1]) - 1
        expected = np.round(np.array(cmap(v / 10.0)[:3]) * 255)
        assert np.abs(_pixel(fig, ax, col + 0.2, row - 0.1).astype(int) - expected).max() <= 2, well
    assert ax.labkit_empty_wells == ["B3"]
    assert tuple(_pixel(fig, ax, 2, 1)) == (0x7F, 0x7F, 0x7F)  # the cross at the empty well's centre
    assert tuple(_pixel(fig, ax, 2.3, 1 - 0.05)) == (0xD9, 0xD9, 0xD9)  # grey around it
    plt.close(fig)

    # a plate with empty wells (C5): crossed even without a value missing from the series
    big = labkit.open_plate(hcs_plate(tmp_path / "big.zarr", rows=3, columns=5, fields=1, size=32).path)
    ax = labkit.plate_heatmap(pd.Series(1.0, index=list(big.wells.well)), plate=big)
    assert ax.labkit_empty_wells == ["C5"] and tuple(_pixel(ax.figure, ax, 4, 2)) == (0x7F, 0x7F, 0x7F)
    plt.close(ax.figure)


def test_plate_heatmap_of_a_constant_and_of_counts(tmp_path):
    """Tutorial 05's map of 2 fields in every well was solid black, its colour bar 0-2 in steps of 0.25."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, Normalize

    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    fields = pd.Series(2, index=wells, name="fields").drop(["C5", "F9", "H12"])
    ax = labkit.plate_heatmap(fields, label="fields", cmap="Greys", vmin=0, title="fields of view per well")
    fig, bar = ax.figure, ax.images[0].colorbar
    grey = _pixel(fig, ax, 0.2, -0.1).astype(int)  # A1
    middle = np.round(np.array(plt.get_cmap("Greys")(0.5)[:3]) * 255)
    assert np.abs(grey - middle).max() <= 2 and 60 < grey.mean() < 200, grey  # neither black nor white
    assert (_pixel(fig, ax, 6.2, 3.9) == grey).all()  # every well the same
    assert list(bar.get_ticks()) == [2] and [t.get_text() for t in bar.ax.get_yticklabels()] == ["2"]
    assert ax.get_xlabel() == "all 93 wells: 2 fields"
    fig.savefig(tmp_path / "constant.png")
    plt.close(fig)

    # counts of a few values: one colour per count, whole-number ticks
    counts = pd.Series([0, 1, 2, 3, 1, 2], index=["A1", "A2", "A3", "B1", "B2", "B3"], name="fields")
    ax = labkit.plate_heatmap(counts, cmap="viridis")
    shown, bar = ax.images[0], ax.images[0].colorbar
    assert isinstance(shown.norm, BoundaryNorm) and shown.norm.Ncmap == 4
    assert list(bar.get_ticks()) == [0, 1, 2, 3] and [t.get_text() for t in bar.ax.get_yticklabels()] == \
        ["0", "1", "2", "3"]
    colours = {tuple(_pixel(ax.figure, ax, j + 0.2, i - 0.1)) for i, j in [(0, 0), (0, 1), (0, 2), (1, 0)]}
    assert len(colours) == 4 and ax.get_xlabel() == ""
    plt.close(ax.figure)

    # many counts: a continuous map, but its colour bar ticks whole numbers only (not 12.5, 15, 17.5 ...)
    many = pd.Series([13, 15, 18, 20, 23, 26], index=["A1", "A2", "A3", "B1", "B2", "B3"], name="nuclei")
    ax = labkit.plate_heatmap(many)
    ax.figure.canvas.draw()
    ticks = ax.images[0].colorbar.get_ticks()
    assert type(ax.images[0].norm) is Normalize and len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
    plt.close(ax.figure)


def test_plate_thumbnails(plate):
    import matplotlib.pyplot as plt

    p = labkit.open_plate(plate.path)
    fig = labkit.plate_thumbnails(p, ["A1", "B3", "C5"], channel="Cascade blue", field=1)
    assert len(fig.axes) == 3 and [a.get_title() for a in fig.axes] == ["A1", "B3", "C5 (empty)"]
    shown = fig.axes[1].images[0].get_array()
    np.testing.assert_array_equal(shown, p.image("B3", 1).sel(c="Cascade blue").isel(z=8).values.astype(float))
    assert not fig.axes[2].images
    plt.close(fig)


def test_top_level_exports():
    assert labkit.map_images is labkit.studies.map_images
    assert labkit.plate_summary is labkit.plate_plots.plate_summary
    assert labkit.plate_heatmap is labkit.plate_plots.plate_heatmap
    assert labkit.plate_thumbnails is labkit.plate_plots.plate_thumbnails
    assert {"map_images", "plate_heatmap", "studies", "plate_plots"} <= set(dir(labkit))


def test_a_failing_image_leaves_the_others_stored(client, tmp_path):
    images = [({"i": i}, np.full((4, 4), i, np.uint16)) for i in range(4)]

    def picky(image):
        if int(image[0, 0]) == 2:
            raise ValueError("no nuclei in image 2")
        return pd.DataFrame({"v": [int(image[0, 0])]})

    with pytest.raises(labkit.studies.ImageFailedError, match=r"1 of 4 images \(first: i 2: ValueError: no nuclei"
                       ) as caught:
        labkit.map_images(picky, images, store=tmp_path, target="{i}.parquet", progress=False)
    assert list(caught.value.run.state) == ["computed", "computed", "failed", "computed"]
    again = labkit.map_images(lambda image: pd.DataFrame({"v": [int(image[0, 0])]}), images[:2], store=tmp_path,
                              target="{i}.parquet", progress=False)
    assert set(again.before) == {"stale"}  # another recipe: its results are stale


def test_map_images_into_a_versioned_store(plate, client, tmp_path):
    pytest.importorskip("icechunk")
    from labkit.results import ResultStore

    p = labkit.open_plate(plate.path).select(columns=[1])
    store = ResultStore(tmp_path / "versions", versioned=True)
    run = labkit.map_images(nuclei, p, store=store, target="{well}/{field}.parquet", progress=False)
    assert set(run.state) == {"computed"}
    assert [c.message for c in store.history()] == ["map_images nuclei over 4 images"]  # one commit, every image
    assert {"A1/0.parquet", "B1/1.parquet"} <= set(ResultStore(tmp_path / "versions", version="main").list())
    submitted: list[int] = []
    again = labkit.map_images(nuclei, p, store=ResultStore(tmp_path / "versions", versioned=True),
                              target="{well}/{field}.parquet", progress=False, on_submit=submitted.append)
    assert set(again.state) == {"read back"} and submitted == []
    pd.testing.assert_frame_equal(combine(again), combine(run))


def test_a_result_in_hand_is_kept_when_its_worker_leaves(tmp_path):
    """A worker that leaves (its SLURM job cancelled) after the client fetched its tasks' results loses their data on
    the cluster (the futures turn "lost"): the results are in hand, stored, and no image fails.

    Eight tasks are sent; when the first result is taken (the ninth task is sent), the other seven are done and
    fetched, waiting in the client's queue; the worker holding most of them then leaves, and the queue is taken.
    A failure of the SLURM sandbox's scancel test in a busy ``make test`` (2026-12-07, "the task was lost") came
    from this race.
    """
    images = [({"i": i}, np.full((4, 4), i, np.uint16)) for i in range(9)]
    counts: list[int] = []
    left: list[str] = []

    def total(image):
        return pd.DataFrame({"v": [int(image.sum())]})

    # a cluster of its own (one of its workers leaves), its HTTP server on a free port (the module's has 8787)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cl, \
            distributed.Client(cl) as client:

        def on_submit(count):
            counts.append(count)
            if len(counts) < 2 or count > counts[-2] or left:
                return  # the first eight tasks, sent before any result is taken
            deadline = time.monotonic() + 30
            while sum(len(keys) for keys in client.has_what().values()) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)  # the other seven done, their results on the workers (beside the recipe's)
            time.sleep(0.5)  # ... and fetched into the client's queue (as_completed with_results)
            holder = max(client.has_what().items(), key=lambda item: len(item[1]))[0]
            worker = next(w for w in cl.workers.values() if w.address == holder)
            distributed.utils.sync(cl.loop, worker.close)
            left.append(holder)

        run = labkit.map_images(total, images, store=tmp_path, target="{i}.parquet", window=8, progress=False,
                                parallel="images", on_submit=on_submit)
    assert counts[:8] == list(range(1, 9)) and left, (counts, left)
    assert set(run.state) == {"computed"}, run
    assert list(combine(run)["v"]) == [16 * i for i in range(9)]
