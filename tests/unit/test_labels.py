"""labkit.labels: NGFF 0.4 / 0.5 labels that ome-zarr-models, ome-zarr-py's reader and its CLI accept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import zarr

from labkit import ngff
from labkit.errors import AlreadyExistsError, ConfigurationError, FormatError, LabkitError
from labkit.labels import label_colors, label_names, open_labels, write_labels
from labkit.load_remote import open_image

pytest.importorskip("ome_zarr_models")
pytest.importorskip("ome_zarr")

SHAPE = (2, 4, 33, 40)  # czyx, odd sizes: levels of ceil(n / 2)


def _image(path: Path, version: str) -> Path:
    img = np.random.default_rng(0).integers(0, 100, SHAPE).astype(np.uint16)
    ngff.write_image(path, img, axes="czyx", version=version, n_levels=3, chunks=(1, 2, 16, 16),
                     pixel_sizes={"z": 0.5, "y": 0.2, "x": 0.2}, channel_names=["Dapi", "GFP"], overwrite=True)
    return path


def _seg(dtype=np.uint32) -> np.ndarray:
    seg = np.zeros(SHAPE[1:], dtype)
    seg[:, 3:9, 4:12] = 1
    seg[1:3, 20:30, 20:35] = 7
    return seg


def _table() -> pd.DataFrame:
    return pd.DataFrame({"label": [1, 7], "area": [np.float32(10.5), np.nan], "n": np.array([3, 4], np.int64),
                         "kind": ["a", "b"]})


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _validate(path: Path, version: str):
    """ome-zarr-models' models of the image (with its labels) and of each label group."""
    import ome_zarr_models
    image_label = __import__(f"ome_zarr_models.v0{version[-1]}.image_label", fromlist=["ImageLabel"])

    model = ome_zarr_models.open_ome_zarr(zarr.open_group(path, mode="r"), version=version)
    assert type(model).__name__ == "Image"
    labels = model.labels
    listed = labels.attributes.labels if version == "0.4" else labels.attributes.ome.labels
    out = {}
    for name in listed:
        out[name] = image_label.ImageLabel.from_zarr(zarr.open_group(path / "labels" / name, mode="r"))
    return listed, out


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_valid_readable_and_aligned(tmp_path, version):
    path = _image(tmp_path / "img.ome.zarr", version)
    seg = _seg()
    blocks: list[tuple[int, ...]] = []

    def record(block):
        blocks.append(block.shape)
        return block

    lazy = da.from_array(seg, chunks=(2, 16, 16)).map_blocks(record, dtype=seg.dtype)
    assert write_labels(path, lazy, "nuclei", properties=_table()) == f"{path}/labels/nuclei"
    assert blocks and max(np.prod(b) for b in blocks) <= 2 * 16 * 16  # written block by block
    write_labels(path, seg.astype(np.int32), "cells")
    write_labels(path, seg, "cells", overwrite=True)  # replaced, listed once
    assert label_names(path) == ["nuclei", "cells"]

    # ome-zarr-models: the image with its labels, and each image-label
    listed, models = _validate(path, version)
    assert listed == ["nuclei", "cells"]
    meta = models["nuclei"].attributes if version == "0.4" else models["nuclei"].attributes.ome
    il = meta.image_label
    assert [c.label_value for c in il.colors] == [1, 7] and len({c.rgba for c in il.colors}) == 2
    props = [p.model_dump(by_alias=True) for p in il.properties]
    assert props == [{"label-value": 1, "area": 10.5, "n": 3, "kind": "a"}, {"label-value": 7, "n": 4, "kind": "b"}]
    assert il.source.image == "../../"
    raw = dict(zarr.open_group(path / "labels" / "nuclei", mode="r").attrs)
    assert ("image-label" in raw) if version == "0.4" else ("image-label" in raw["ome"])

    # ome-zarr-py's reader finds the label nodes with their colours and properties
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = {str(n.zarr).split(" ")[0].rstrip("/").rsplit("/", 1)[-1]: n for n in Reader(parse_url(str(path)))()}
    assert {"nuclei", "cells"} <= set(nodes)
    assert set(nodes["nuclei"].metadata["color"]) == {1, 7}
    assert nodes["nuclei"].metadata["properties"][7] == {"n": 4, "kind": "b"}
    assert len(nodes["nuclei"].data) == 3

    # the real CLI
    cli = Path(sys.executable).with_name("ome_zarr")
    out = subprocess.run([str(cli), "info", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "labels/nuclei" in out.stdout and "labels/cells" in out.stdout and "Label" in out.stdout

    # round trip, every level aligned with the image
    for level in range(3):
        img, lab = open_image(path, level), open_labels(path, "nuclei", level)
        assert lab.dims == ("z", "y", "x") and lab.dtype == np.uint32
        for d in lab.dims:
            np.testing.assert_array_equal(lab[d].values, img[d].values)
        np.testing.assert_array_equal(lab.values, seg[:, :: 2**level, :: 2**level])
    assert lab.attrs["colors"][7] == label_colors([1, 7])[7]
    assert lab.attrs["properties"][1]["area"] == 10.5
    assert open_labels(path, "cells").dtype == np.uint32


def test_labels_display_as_a_summary_whatever_their_number(tmp_path):
    """Displaying open_labels(...) shows counts, not each label's colour and properties (issue 29: 52 KB)."""
    sizes = {}
    for n in (25, 400):
        path = _image(tmp_path / f"img{n}.ome.zarr", "0.4")
        seg = np.zeros(SHAPE[1:], np.uint32)
        seg.reshape(-1)[: n * 3] = np.repeat(np.arange(1, n + 1), 3)
        table = pd.DataFrame({"label": np.arange(1, n + 1), "area_um2": np.linspace(10, 30, n),
                              "mean_dapi": np.linspace(100, 900, n), "kind": ["round"] * n})
        write_labels(path, seg, "nuclei", properties=table)
        lab = open_labels(path, "nuclei")
        html, text = lab._repr_html_(), repr(lab)
        bare = lab.copy()
        bare.attrs = {}
        attrs_bytes = len(html.encode()) - len(bare._repr_html_().encode())
        assert attrs_bytes < 2000, attrs_bytes  # was ~10 KB for 25 labels, growing with every label
        assert f"{n} label colours (values 1-{n})" in html and f"{n} label colours" in text
        assert f"{n} labels with properties (values 1-{n}): area_um2, mean_dapi, kind" in html
        assert f"image-label: {n} colours, properties of {n} labels" in html
        shown_attrs = html[html.index("<dl class='xr-attrs'>"):]
        assert "rgba" not in shown_attrs and "label-value" not in shown_attrs
        sizes[n] = len(html.encode())
        # the values are all there, as plain mappings
        assert lab.attrs["colors"][n] == label_colors(range(1, n + 1))[n] and len(lab.attrs["colors"]) == n
        assert lab.attrs["properties"][2]["kind"] == "round" and dict(lab.attrs["properties"]) == \
            {v: lab.attrs["properties"][v] for v in range(1, n + 1)}
        assert len(lab.attrs["image_label"]["colors"]) == n
        assert str(lab.isel(z=0).attrs["colors"]) == f"{n} label colours (values 1-{n})"  # kept through selections
    assert abs(sizes[400] - sizes[25]) < 100, sizes


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_image_label_carries_its_version_as_ome_zarr_py_writes_it(tmp_path, version):
    from ome_zarr.format import format_from_version
    from ome_zarr.writer import write_label_metadata

    def image_label(root):
        attrs = dict(zarr.open_group(root / "labels" / "nuclei", mode="r").attrs)
        return (attrs if version == "0.4" else attrs["ome"])["image-label"]

    ours, theirs = _image(tmp_path / "ours.ome.zarr", version), _image(tmp_path / "theirs.ome.zarr", version)
    write_labels(ours, _seg(), "nuclei")
    labels = zarr.open_group(theirs, mode="a").require_group("labels")
    labels.create_group("nuclei")
    write_label_metadata(labels, "nuclei", fmt=format_from_version(version))  # ome-zarr-py's own writer
    assert image_label(ours)["version"] == image_label(theirs)["version"] == version
    _validate(ours, version)  # ome-zarr-models accepts it


def test_xarray_labels_and_a_channel_axis_of_one(tmp_path):
    path = _image(tmp_path / "img.ome.zarr", "0.4")
    img = open_image(path)
    mask = (img.sel(c="Dapi") > 50).astype(np.uint8).transpose("x", "z", "y")  # any order of the image's dims
    write_labels(path, mask, "mask")
    np.testing.assert_array_equal(open_labels(path, "mask").values, (img.sel(c="Dapi") > 50).values)
    write_labels(path, _seg()[None], "withc")  # c of size 1 is dropped
    assert open_labels(path, "withc").dims == ("z", "y", "x")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_public_image_copied_beside_its_labels(tmp_path, version):
    src = _image(tmp_path / "public.ome.zarr", version)
    before = _snapshot(src)
    dest = tmp_path / "results" / "copy.ome.zarr"
    write_labels(dest, _seg(), "nuclei", image=src)
    write_labels(dest, _seg(np.uint16), "cells", image=src)  # a second label image joins the copy
    assert _snapshot(src) == before  # the source is only read
    listed, _ = _validate(dest, version)
    assert listed == ["nuclei", "cells"]
    attrs = dict(zarr.open_group(dest, mode="r").attrs)
    assert attrs["labkit"]["source_image"] == str(src)
    for level in range(3):
        a, b = open_image(src, level), open_image(dest, level)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.c.values.tolist() == b.c.values.tolist() and float(a.x[1]) == float(b.x[1])
    np.testing.assert_array_equal(open_labels(dest, "nuclei").values, _seg())
    with pytest.raises(AlreadyExistsError, match="not labkit's copy"):
        write_labels(tmp_path / "results", _seg(), image=src)  # a folder holding something else


@pytest.mark.parametrize("case", ["float", "shape", "slash", "not_an_image", "exists", "version", "properties"])
def test_bad_input_raises_and_writes_nothing(tmp_path, case):
    path = _image(tmp_path / "img.ome.zarr", "0.4")
    write_labels(path, _seg(), "nuclei")
    other = tmp_path / "plain"
    zarr.open_group(other, mode="w", zarr_format=2).attrs["x"] = 1
    before, before_other = _snapshot(path), _snapshot(other)
    url, labels, kw = path, _seg(), {"name": "new"}
    expected: type[LabkitError]
    if case == "float":
        labels, expected, match = _seg().astype(float), FormatError, "astype"
    elif case == "shape":
        labels, expected, match = _seg()[:, ::2, ::2], FormatError, "level 0"
    elif case == "slash":
        kw, expected, match = {"name": "a/b"}, ConfigurationError, "without '/'"
    elif case == "not_an_image":
        url, expected, match = other, FormatError, "image="
    elif case == "exists":
        kw, expected, match = {"name": "nuclei"}, AlreadyExistsError, "overwrite=True"
    elif case == "version":
        kw["version"] = "0.5"
        expected, match = FormatError, "version=None"
    else:
        kw["properties"] = pd.DataFrame({"id": [1]})
        expected, match = ConfigurationError, "'label' column"
    with pytest.raises(expected, match=match):
        write_labels(url, labels, **kw)
    assert _snapshot(path) == before and _snapshot(other) == before_other
    assert not (tmp_path / "nowhere").exists()


def test_missing_labels_say_which_exist(tmp_path):
    path = _image(tmp_path / "img.ome.zarr", "0.5")
    assert label_names(path) == []
    write_labels(path, _seg(), "nuclei")
    with pytest.raises(FileNotFoundError, match="nuclei"):
        open_labels(path, "cells")


def test_synthetic_nuclei_have_real_ngff_labels(tmp_path):
    from labkit.synthetic import nuclei_volume, write_nuclei

    vol = nuclei_volume((6, 48, 48), 3, seed=4)
    for version in ("0.4", "0.5"):
        path = tmp_path / f"n{version}.ome.zarr"
        write_nuclei(path, vol, version=version)
        listed, models = _validate(path, version)
        assert listed == ["nuclei"]
        np.testing.assert_array_equal(open_labels(path).values, vol.labels)
        shutil.rmtree(path)


def test_label_colors_distinct_and_stable():
    colors = label_colors(range(1, 5001))
    assert len({tuple(c) for c in colors.values()}) >= 4990  # a colour per id, from the id alone: rare repeats
    assert all(colors[v] != colors[v + 1] for v in range(1, 5000))
    assert all(len(c) == 4 and all(0 <= v <= 255 for v in c) for c in colors.values())
    assert label_colors([3, 900])[900] == colors[900]
