"""Feature tables inside the image (``tables/<name>``), checked with ngio itself: what labkit writes ngio reads, and
what ngio writes labkit reads; bad tables are refused with nothing already written lost."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import zarr

import labkit
from labkit import ngff
from labkit.errors import AlreadyExistsError, ConfigurationError, NotFoundError
from labkit.labels import open_labels, write_label_properties, write_labels
from labkit.tables import open_table, table_names, write_table

ngio = pytest.importorskip("ngio")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

SHAPE = (2, 3, 32, 40)  # czyx


def _image(path: Path, version: str) -> str:
    img = np.random.default_rng(0).integers(0, 100, SHAPE).astype(np.uint16)
    ngff.write_image(path, img, axes="czyx", version=version, n_levels=2, chunks=(1, 2, 16, 16),
                     pixel_sizes={"z": 0.5, "y": 0.2, "x": 0.2}, channel_names=["Dapi", "GFP"], overwrite=True)
    return str(path)


def _seg() -> np.ndarray:
    seg = np.zeros(SHAPE[1:], np.uint32)
    seg[:, 3:9, 4:12] = 1
    seg[1:3, 20:30, 20:35] = 7
    seg[0, 28:31, 2:5] = 12
    return seg


def _table() -> pd.DataFrame:
    return pd.DataFrame({"label": [1, 7, 12], "area": [48.0, 300.0, np.nan], "n": np.array([3, 4, 5], np.int64),
                         "kind": ["a", "b", "a"]})


def _snapshot(root: str) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _ngio_rows(url: str, name: str) -> pd.DataFrame:
    """The table as ngio reads it: label as a column, rows in label order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        container = ngio.open_ome_zarr_container(url)
        table = container.get_table(name)
    assert type(table).__name__ == "FeatureTableV1" and table.reference_label == name.split("_")[0]
    return table.dataframe.reset_index().sort_values("label").reset_index(drop=True)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_table_is_what_ngio_lists_and_reads(tmp_path, version):
    url = _image(tmp_path / "img.ome.zarr", version)
    write_labels(url, _seg(), "nuclei", properties=_table())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        container = ngio.open_ome_zarr_container(url)
        assert container.list_tables() == ["nuclei"]
        assert container.list_tables(filter_types="feature_table") == ["nuclei"]
        assert container.list_labels() == ["nuclei"]
    theirs = _ngio_rows(url, "nuclei")
    assert theirs.label.tolist() == [1, 7, 12]
    np.testing.assert_array_equal(theirs.area.to_numpy(), [48.0, 300.0, np.nan])
    assert theirs.n.tolist() == [3, 4, 5] and theirs.kind.tolist() == ["a", "b", "a"]
    ours = open_table(url, "nuclei")
    pd.testing.assert_frame_equal(ours, _table(), check_dtype=False)
    assert ours.attrs["labels"] == "nuclei" and ours.attrs["type"] == "feature_table"
    # the specification's keys, as ngio 1.x writes them (zarr v2 .zattrs or v3 zarr.json attributes)
    group = zarr.open_group(url, mode="r")
    assert dict(group["tables"].attrs) == {"tables": ["nuclei"]}
    attrs = dict(group["tables/nuclei"].attrs)
    assert {k: attrs[k] for k in ("type", "table_version", "region", "instance_key", "index_key", "index_type",
                                  "backend")} == {
        "type": "feature_table", "table_version": "1", "region": {"path": "../labels/nuclei"},
        "instance_key": "label", "index_key": "label", "index_type": "int", "backend": "parquet"}
    assert attrs["measurement_columns"] == ["area", "n"] and attrs["categorical_columns"] == ["kind"]
    assert open_labels(url, "nuclei").attrs["properties"][7]["n"] == 4  # the labels' properties as before
    assert labkit.open_table is open_table and table_names(url) == ["nuclei"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("backend", ["parquet", "anndata", "json", "csv"])
def test_tables_written_by_ngio_are_read(tmp_path, version, backend):
    if backend == "anndata":
        pytest.importorskip("anndata")
    from ngio.tables import FeatureTable

    url = _image(tmp_path / "img.ome.zarr", version)
    write_labels(url, _seg(), "nuclei")
    theirs = pd.DataFrame({"area": [48.0, 300.0, 9.0], "kind": ["a", "b", "a"]},
                          index=pd.Index([1, 7, 12], name="label"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        container = ngio.open_ome_zarr_container(url)
        container.add_table("nuclei_features", FeatureTable(theirs, reference_label="nuclei"), backend=backend)
    table = open_table(url, "nuclei_features")
    assert table.label.tolist() == [1, 7, 12] and table.columns[0] == "label"
    np.testing.assert_allclose(table.area.to_numpy(dtype=float), [48.0, 300.0, 9.0])
    assert table.kind.astype(str).tolist() == ["a", "b", "a"]
    assert table.attrs["labels"] == "nuclei" and table_names(url) == ["nuclei_features"]


def test_an_image_made_by_ngio(tmp_path):
    from ngio.tables import FeatureTable

    url = str(tmp_path / "ngio.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        container = ngio.create_ome_zarr_from_array(url, np.zeros((32, 32), np.uint16), axes_names="yx",
                                                    pixelsize=0.5, overwrite=True)
        seg = np.zeros((32, 32), np.uint32)
        seg[2:5, 2:5], seg[10:20, 10:20] = 1, 2
        container.derive_label("cells").set_array(seg)
        container.add_table("cells", FeatureTable(pd.DataFrame({"label": [1, 2], "area": [9.0, 100.0]}),
                                                  reference_label="cells"))
    assert open_table(url, "cells").area.tolist() == [9.0, 100.0]
    # labkit adds its own table to ngio's image, and ngio reads it
    write_table(url, pd.DataFrame({"label": [2], "mean": [1.5]}), "cells_mean", labels="cells")
    assert _ngio_rows(url, "cells_mean").to_dict("list") == {"label": [2], "mean": [1.5]}


def test_ngio_style_index_is_accepted(tmp_path):
    url = _image(tmp_path / "img.ome.zarr", "0.5")
    write_labels(url, _seg(), "nuclei", properties=_table().set_index("label"))
    pd.testing.assert_frame_equal(open_table(url, "nuclei"), _table(), check_dtype=False)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_rows_naming_missing_labels_refused_nothing_lost(tmp_path, version, lazy):
    url = _image(tmp_path / "img.ome.zarr", version)
    write_labels(url, _seg(), "nuclei", properties=_table())
    before = _snapshot(url)
    bad = pd.concat([_table(), pd.DataFrame({"label": [5, 99], "area": [1.0, 2.0]})], ignore_index=True)
    seg = da.from_array(_seg(), chunks=(1, 16, 16)) if lazy else _seg()
    for name, overwrite in (("cells", False), ("nuclei", True)):  # new labels; replacing the existing ones
        with pytest.raises(ConfigurationError, match=r"2 labels that are not in .*labels/.*: \[5, 99\].*measure"):
            write_labels(url, seg, name, properties=bad, overwrite=overwrite)
        assert _snapshot(url) == before  # the labels, their table, the image: byte for byte
    pd.testing.assert_frame_equal(open_table(url, "nuclei"), _table(), check_dtype=False)
    with pytest.raises(ConfigurationError, match=r"not in .*: \[5, 99\]"):
        write_table(url, bad, "more", labels="nuclei")
    with pytest.raises(ConfigurationError, match=r"not in"):
        write_label_properties(url, bad, "nuclei")
    assert _snapshot(url) == before


@pytest.mark.parametrize("table, message", [
    (pd.DataFrame({"area": [1.0, 2.0]}), r"no 'label' column and its index is unnamed.*rename_axis\('label'\)"),
    (pd.DataFrame({"area": [1.0]}, index=pd.Index([1], name="cell")), r"index is named 'cell'"),
    (pd.DataFrame({"label": ["cell-1", "cell-7"]}), r"integer label values; \['cell-1', 'cell-7'\]"),
    (pd.DataFrame({"label": [1.5]}), r"integer label values"),
    (pd.DataFrame({"label": [0, 1]}), r"label 0: .*background"),
    (pd.DataFrame({"label": [1, 1]}), r"more than one row for labels \[1\]"),
    (pd.DataFrame({"label": [1]}, index=pd.Index([1], name="label")), r"'label' column and an index named 'label'"),
    ([{"label": 1}], r"pandas DataFrame with a 'label' column"),
])
def test_a_table_with_the_wrong_index_is_refused(tmp_path, table, message):
    url = _image(tmp_path / "img.ome.zarr", "0.4")
    write_labels(url, _seg(), "nuclei", properties=_table())
    before = _snapshot(url)
    with pytest.raises(ConfigurationError, match=message):
        write_labels(url, _seg(), "cells", properties=table)
    with pytest.raises(ConfigurationError, match=message):
        write_labels(url, _seg(), "nuclei", properties=table, overwrite=True)
    assert _snapshot(url) == before


def test_an_existing_table_is_not_replaced(tmp_path):
    from ngio.tables import FeatureTable

    url = _image(tmp_path / "img.ome.zarr", "0.5")
    write_labels(url, _seg(), "nuclei")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ngio.open_ome_zarr_container(url).add_table(
            "cells", FeatureTable(pd.DataFrame({"label": [1], "x": [2.0]}), reference_label="nuclei"))
    before = _snapshot(url)
    with pytest.raises(AlreadyExistsError, match=r"tables/cells already exists: pass overwrite=True"):
        write_labels(url, _seg(), "cells", properties=_table())
    assert _snapshot(url) == before
    write_labels(url, _seg(), "cells", properties=_table(), overwrite=True)
    assert open_table(url, "cells").label.tolist() == [1, 7, 12]
    assert open_table(url, "cells").attrs["region"] == {"path": "../labels/cells"}


def test_properties_added_later_and_missing_tables(tmp_path):
    url = _image(tmp_path / "img.ome.zarr", "0.4")
    write_labels(url, _seg(), "nuclei")
    assert table_names(url) == []
    with pytest.raises(NotFoundError, match=r"no table 'nuclei'; its tables: none"):
        open_table(url, "nuclei")
    write_label_properties(url, _table().iloc[:2], "nuclei")
    assert _ngio_rows(url, "nuclei").label.tolist() == [1, 7]
    with pytest.raises(NotFoundError, match=r"no labels 'cells'.*write them first"):
        write_table(url, _table(), labels="cells")


def test_a_versioned_store_keeps_the_table_in_zarr_attributes(tmp_path):
    pytest.importorskip("icechunk")
    from labkit.results import NgffLabels, ResultStore, checkpoint

    image = _image(tmp_path / "image.ome.zarr", "0.5")
    store = ResultStore(tmp_path / "repo", versioned=True)

    @checkpoint(store, target="{name}.ome.zarr", serializer=NgffLabels("nuclei", image=image, table=True))
    def nuclei(name, scale):
        table = _table()
        table["area"] *= scale
        return da.from_array(_seg(), chunks=(1, 16, 16)), table

    nuclei("cells", 1)
    store.tag("one")
    nuclei("cells", 2)
    labels, table = nuclei.serializer.load(store, "cells.ome.zarr")
    assert table.attrs["backend"] == "json"  # icechunk takes zarr keys only: no table.parquet
    np.testing.assert_array_equal(table.area.to_numpy(), [96.0, 600.0, np.nan])
    assert int(labels.max()) == 12
    old = ResultStore(tmp_path / "repo", version="one")
    assert nuclei.serializer.load(old, "cells.ome.zarr")[1].area.tolist()[:2] == [48.0, 300.0]
    # ngio reads the committed version: a zarr group like any other
    group = zarr.open_group(old.zarr_location("cells.ome.zarr"), mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ngio.open_ome_zarr_container(group, mode="r").get_table("nuclei").dataframe
    assert theirs.index.tolist() == [1, 7, 12] and theirs.area.tolist()[:2] == [48.0, 300.0]
