"""labkit.results: serializers, stores, checkpoint and datasets, on local and memory stores."""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

import labkit
from labkit._zarr import ZARR3
from labkit.errors import ConfigurationError, FormatError, StaleResultWarning
from labkit.results import Manifest, Npy, OmeTiff, OmeZarr, Parquet, Png, ResultStore, checkpoint
from labkit.results.serializers import for_target


@pytest.fixture
def cell():
    return np.random.default_rng(1).integers(0, 3000, size=(2, 5, 12, 10), dtype=np.uint16)


@pytest.mark.parametrize("ser,make", [
    (Npy(), lambda c: c),
    (OmeTiff(dims="CZYX", channel_names=["dna", "mem"]), lambda c: c),
    (Png(), lambda c: c.max(axis=(0, 1))),
    (Png(), lambda c: np.stack([c[0, 0], c[1, 0], c[0, 1]], -1).astype(np.uint8)),
    (Parquet(), lambda c: pd.DataFrame({"a": c[0, 0, 0], "b": np.arange(10)})),
])
def test_roundtrip_and_deterministic_bytes(ser, make, cell):
    obj = make(cell)
    data = ser.dumps(obj)
    assert ser.dumps(obj) == data  # same data, same bytes
    back = ser.loads(data)
    if isinstance(ser, Parquet):
        pd.testing.assert_frame_equal(back, obj)
    elif isinstance(ser, Png) and obj.dtype != np.uint8:
        assert back.shape == obj.shape and back.dtype == np.uint8 and back.max() == 255
    else:
        np.testing.assert_array_equal(back, obj)


def test_ome_tiff_axes_channels_and_schema(cell):
    ome_types = pytest.importorskip("ome_types")
    data = OmeTiff(dims="CZYX", channel_names=["dna", "mem"], physical_sizes={"z": 0.5, "y": 0.2, "x": 0.2}).dumps(cell)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_ome and tif.series[0].axes == "CZYX" and tif.series[0].shape == cell.shape
        ome = ome_types.from_xml(tif.ome_metadata, validate=True)  # against the OME schema
    pixels = ome.images[0].pixels
    assert [c.name for c in pixels.channels] == ["dna", "mem"]
    assert (pixels.physical_size_z, pixels.physical_size_x) == (0.5, 0.2)


SERIALIZERS = [  # every serializer in every format version it writes, with a result it stores
    pytest.param(Npy(), "r.npy", lambda c: c, id="npy"),
    pytest.param(OmeTiff(dims="CZYX", channel_names=["dna", "mem"]), "r.ome.tiff", lambda c: c, id="ome-tiff"),
    pytest.param(Png(), "r.png", lambda c: (c.max(axis=(0, 1)) // 12).astype(np.uint8), id="png"),
    pytest.param(Parquet(), "r.parquet", lambda c: pd.DataFrame({"a": c[0, 0, 0], "b": np.arange(10)}), id="parquet"),
    pytest.param(OmeZarr(dims="czyx", channel_names=["a", "b"], version="0.4"), "r.ome.zarr", lambda c: c,
                 id="ome-zarr-0.4"),
    pytest.param(OmeZarr(dims="czyx", channel_names=["a", "b"], version="0.5"), "r.ome.zarr", lambda c: c,
                 id="ome-zarr-0.5", marks=pytest.mark.skipif(not ZARR3, reason="NGFF 0.5 needs zarr 3")),
]


def _equal(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ser,target,make", SERIALIZERS)
@pytest.mark.parametrize("where", ["local", "memory"])
def test_every_serializer_is_written_once_found_again_and_not_recomputed(ser, target, make, where, cell, tmp_path,
                                                                         request):
    url = tmp_path / "store" if where == "local" else f"memory://t-ser-{request.node.name}"
    store, calls = ResultStore(url), []
    assert not ser.exists(store, target)

    @checkpoint(store, target="{i}/" + target, serializer=ser)
    def step(i):
        calls.append(i)
        return make(cell)

    first = step(1)
    assert ser.exists(store, "1/" + target) and step.state(1) == "fresh"
    _equal(step(1), first)  # read back through the serializer ...
    _equal(ser.load(store, "1/" + target), first)
    assert calls == [1]  # ... not recomputed
    step(2)
    assert calls == [1, 2] and step.state(3) == "missing"


def test_wrong_types_and_shapes_are_clear_errors(cell):
    with pytest.raises(FormatError, match="Png stores 2D or RGB"):
        Png().dumps(cell)
    with pytest.raises(FormatError, match="Parquet stores tables and cannot store a ndarray"):
        Parquet().dumps(cell)
    with pytest.raises(FormatError, match="stores 3-D arrays"):
        OmeTiff(dims="ZYX").dumps(cell)
    with pytest.raises(FormatError, match="3 channel names for 2 channels"):
        OmeTiff(dims="CZYX", channel_names=["a", "b", "c"]).dumps(cell)
    with pytest.raises(ConfigurationError, match="no serializer for the target"):
        for_target("x.jpeg")


def test_template_naming_a_missing_argument():
    with pytest.raises(ConfigurationError, match=r"names \['cellid'\], which is not an argument of f\(cell_id, x\)"):
        @checkpoint("memory://t1", target="{cellid}.npy")
        def f(cell_id, x):
            return x


def test_unknown_serializer_for_the_result_type_writes_nothing(tmp_path):
    @checkpoint(tmp_path, target="{i}.png")
    def table(i):
        return pd.DataFrame({"a": [i]})

    with pytest.raises(FormatError, match="cannot store a DataFrame"):
        table(1)
    assert list(tmp_path.iterdir()) == []


def test_fresh_stale_missing_and_counting(tmp_path, cell):
    calls = []

    def make(fn_body):
        @checkpoint(tmp_path, target="n/{cell_id}.npy")
        def normalize(cell_id, data, scale=2):
            calls.append(cell_id)
            return fn_body(data, scale)
        return normalize

    step = make(lambda d, s: d * s)
    assert step.state("a", cell) == "missing"
    np.testing.assert_array_equal(step("a", cell), cell * 2)
    assert step.state("a", cell) == "fresh"
    np.testing.assert_array_equal(step("a", cell), cell * 2)
    assert calls == ["a"]  # read back, not recomputed
    assert step.state("a", cell, scale=3) == "stale"  # other arguments
    assert step.state("a", cell + 1) == "stale"  # other data
    record = json.loads((tmp_path / "n/a.npy.prov.json").read_text())
    assert record["function"].endswith("normalize") and record["arguments"]["cell_id"] == "a"
    assert record["versions"]["labkit"] and record["computed_at"] and len(record["code_hash"]) == 16
    assert {"git_commit", "git_dirty"} <= set(record) or "git_repository" not in record


def test_location_and_overwrite_always_recompute(tmp_path):
    calls = []

    @checkpoint(tmp_path, location="{i}.npy")
    def f(i):
        calls.append(i)
        return np.arange(i)

    f(3)
    f(3)
    assert calls == [3, 3]
    with pytest.raises(ConfigurationError, match="exactly one of"):
        checkpoint(tmp_path)


def test_changing_the_code_recomputes_exactly_that_step(tmp_path, monkeypatch, cell):
    """A pipeline of two steps in a module; editing the first step's source recomputes only the first step."""
    src = tmp_path / "pipeline_mod.py"
    body = textwrap.dedent('''
        import numpy as np
        from labkit.results import checkpoint
        STORE = {store!r}

        @checkpoint(STORE, target="norm/{{cell_id}}.npy")
        def normalize(cell_id, data):
            {comment}
            return (data / data.max() * 1000).astype(np.uint16)

        @checkpoint(STORE, target="proj/{{cell_id}}.npy")
        def project(cell_id, normed):
            return normed.max(axis=1)
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    store = str(tmp_path / "store")
    src.write_text(body.format(store=store, comment="pass"))
    mod = importlib.import_module("pipeline_mod")
    mod.project("c", mod.normalize("c", cell))
    stamps = {p: json.loads((tmp_path / "store" / p).read_text())["computed_at"]
              for p in ("norm/c.npy.prov.json", "proj/c.npy.prov.json")}
    time.sleep(0.01)
    src.write_text(body.format(store=store, comment="# the same arithmetic, edited"))
    mod = importlib.reload(mod)
    assert mod.normalize.state("c", cell) == "stale"
    mod.project("c", mod.normalize("c", cell))
    after = {p: json.loads((tmp_path / "store" / p).read_text())["computed_at"] for p in stamps}
    assert after["norm/c.npy.prov.json"] != stamps["norm/c.npy.prov.json"]  # recomputed
    assert after["proj/c.npy.prov.json"] == stamps["proj/c.npy.prov.json"]  # read back


def test_a_result_of_an_older_labkit_is_computed_again(tmp_path):
    """A clone updated by ``git pull`` keeps its version number: a method changed inside labkit still makes the
    results it made stale (a checkpoint of segment_nuclei must not read back the old method's nuclei)."""
    copy = tmp_path / "clone" / "labkit"
    shutil.copytree(Path(labkit.__file__).parent, copy, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    script = textwrap.dedent(f'''
        import numpy as np
        from labkit.results import checkpoint

        @checkpoint({str(tmp_path / "store")!r}, target="{{name}}.npy")
        def smooth(name):
            return np.arange(3)

        print(smooth.state("a"))
        smooth("a")
    ''')

    def state() -> str:
        env = {**os.environ, "PYTHONPATH": str(copy.parent)}
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        return run.stdout.split()[-1]

    assert state() == "missing"
    assert state() == "fresh"
    with open(copy / "nuclei_method.py", "a") as f:  # the update: the method behind the call changed
        f.write("\n# a changed method\n")
    assert state() == "stale"
    assert state() == "fresh"


def test_dataset_manifest_and_readme(tmp_path, cell):
    @checkpoint(tmp_path, target="proj/{cell_id}.png", serializer=Png())
    def project(cell_id, data):
        return data.max(axis=(0, 1))

    ds = Manifest(tmp_path, "proj", "Projections.")
    for i in range(3):
        project(f"c{i}", cell + i)
        ds.add(path=project.target(cell_id=f"c{i}"), cell_id=f"c{i}", area=i * 10)
    ds.write()
    df = Manifest.read(tmp_path, "proj")
    assert list(df.cell_id) == ["c0", "c1", "c2"] and list(df.area) == [0, 10, 20]
    assert {"path", "path_url", "code_hash", "computed_at", "sha256"} <= set(df.columns)
    assert (tmp_path / "proj" / "README.md").read_text().startswith("# proj")
    assert ResultStore(tmp_path).list("proj") == ["proj/README.md", "proj/c0.png", "proj/c1.png", "proj/c2.png",
                                                  "proj/manifest.parquet"]


def test_a_killed_writer_leaves_no_partial_target(tmp_path):
    """SIGKILL a process while it writes a large target: nothing appears under the final name; a rerun completes."""
    script = textwrap.dedent(f'''
        import numpy as np
        from labkit.results import checkpoint

        @checkpoint({str(tmp_path)!r}, target="big/{{i}}.npy")
        def big(i):
            return np.ones((400, 1024, 1024), np.uint8)

        big(1)
    ''')
    proc = subprocess.Popen([sys.executable, "-c", script])
    folder = tmp_path / "big"
    caught = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        tmp = list(folder.glob(".1.npy.tmp-*")) if folder.exists() else []
        if tmp and tmp[0].stat().st_size > 0:
            proc.send_signal(signal.SIGKILL)
            caught = True
            break
        time.sleep(0.001)
    proc.wait()
    if not caught:
        pytest.skip("the write finished before it could be interrupted")
    assert not (folder / "1.npy").exists() and not (folder / "1.npy.prov.json").exists()
    subprocess.run([sys.executable, "-c", script], check=True)
    assert np.load(folder / "1.npy", mmap_mode="r").shape == (400, 1024, 1024)
    assert ResultStore(tmp_path).list("big") == ["big/1.npy"]


@pytest.mark.parametrize("name", ["../escaped/x", "/abs/x", "a/../../x", "s3://other/x", "file:///tmp/x", "a\\..\\x",
                                  "~/x", ""])
def test_names_that_leave_the_store_are_refused(tmp_path, name):
    store = ResultStore(tmp_path / "store")
    with pytest.raises(ConfigurationError, match="leads outside the store"):
        store.write_bytes(name, b"x")
    with pytest.raises(ConfigurationError, match="leads outside the store"):
        Manifest(store, name or "..").write()
    step = checkpoint(store, target="{name}/x.npy")(lambda name: np.zeros(2))
    with pytest.raises(ConfigurationError, match="leads outside the store"):
        step(name)
    assert list(tmp_path.rglob("*")) == []  # nothing written, in the store or beside it


def test_a_changed_result_is_stale_and_recomputed(tmp_path):
    calls = []

    @checkpoint(tmp_path, target="{i}.npy")
    def step(i):
        calls.append(i)
        return np.arange(4) * i

    step(2)
    path = tmp_path / "2.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    assert step.state(2) == "stale"
    with pytest.warns(StaleResultWarning, match="2.npy was changed after it was written"):
        np.testing.assert_array_equal(step(2), np.arange(4) * 2)
    assert calls == [2, 2]
    np.testing.assert_array_equal(np.load(path), np.arange(4) * 2)  # repaired
    assert step.state(2) == "fresh"


def test_a_corrupt_provenance_record_makes_the_result_stale(tmp_path):
    calls = []

    @checkpoint(tmp_path, target="{i}.npy")
    def step(i):
        calls.append(i)
        return np.arange(3) + i

    step(1)
    (tmp_path / "1.npy.prov.json").write_text('{"target": "1.np')  # cut short
    with pytest.warns(StaleResultWarning, match=r"1.npy.prov.json is not valid JSON"):
        assert step.state(1) == "stale"
    with pytest.warns(StaleResultWarning, match="computed again"):
        np.testing.assert_array_equal(step(1), np.arange(3) + 1)
    assert calls == [1, 1]
    assert json.loads((tmp_path / "1.npy.prov.json").read_text())["target"] == "1.npy"
    assert step.state(1) == "fresh"


@pytest.mark.parametrize("dims,shape", [("TCZYX", (2, 1, 3, 16, 24)), ("CZYX", (1, 1, 8, 8)), ("ZYX", (3, 1, 8))])
def test_ome_tiff_reads_back_the_shape_it_wrote(dims, shape):
    ser = OmeTiff(dims=dims)
    arr = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    np.testing.assert_array_equal(ser.loads(ser.dumps(arr)), arr)
    assert ser.loads(ser.dumps(arr)).shape == shape


def test_ome_zarr_names_the_dimensions_it_needs(tmp_path):
    with pytest.raises(FormatError, match=r"OmeZarr\(dims='czyx'\) stores 4-D arrays, got shape \(3, 16, 16\)"):
        checkpoint(tmp_path, target="a.ome.zarr")(lambda: np.zeros((3, 16, 16), np.uint8))()
