"""labkit.open_plate and open_collection on local plates: labkit's synthetic plate (NGFF 0.4 and 0.5),
ome-zarr-py's own plate writer, bioformats2raw collections, and what bad plates raise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import labkit
from labkit import ngff
from labkit._zarr import ZARR3
from labkit.errors import FormatError, NotFoundError
from labkit.synthetic import hcs_plate
from labkit.synthetic.plate import EMPTY_WELLS, plate_layout

VERSIONS = ["0.4", pytest.param("0.5", marks=pytest.mark.skipif(not ZARR3, reason="zarr format 3 needs zarr 3"))]


@pytest.fixture(scope="module", params=VERSIONS)
def plate(request, tmp_path_factory):
    """A 3 x 6 plate (well C5 empty), 2 fields a well."""
    dest = tmp_path_factory.mktemp(f"plate-{request.param}") / "plate.zarr"
    return hcs_plate(dest, rows=3, columns=6, fields=2, version=request.param)


def test_plate_metadata_and_wells(plate):
    p = labkit.open_plate(plate.path)
    assert p.version == plate.version and p.rows == ["A", "B", "C"] and p.columns == [str(i) for i in range(1, 7)]
    assert p.acquisitions[0]["id"] == 0
    assert len(p.wells) == 17 and "C5" not in set(p.wells.well) and set(p.wells.fields) == {2}
    b3 = p.wells.set_index("well").loc["B3"]
    assert (b3.row, b3.column, b3.row_index, b3.column_index, b3.path) == ("B", 3, 1, 2, "B/3")
    assert p.attrs["labkit_truth"]["nuclei"] == plate.truth["nuclei"] and len(p) == 34


def test_image_is_what_open_image_gives(plate):
    p = labkit.open_plate(plate.path)
    direct = labkit.open_image(str(Path(plate.path) / "B" / "3" / "1"))
    for key in ("B3", "B03", "B/3", ("B", 3), (1, 2)):
        img = p.image(key, field=1)
        xr.testing.assert_identical(img, direct)
        assert img.attrs == direct.attrs and img.data.name == direct.data.name
    assert list(direct.c.values) == ["GFP", "Cascade blue"] and direct.dims == ("c", "z", "y", "x")  # as IDR's plate
    with pytest.raises(NotFoundError, match="no well C5"):
        p.image("C5")  # an empty well
    with pytest.raises(IndexError, match="fields 0-1"):
        p.image("B3", field=2)


def test_images_and_stack(plate):
    p = labkit.open_plate(plate.path)
    seen = list(p.images())
    assert [(w, f) for w, f, _ in seen][:3] == [("A1", 0), ("A1", 1), ("A2", 0)] and len(seen) == 34
    stack = p.stack()
    assert stack.dims == ("well", "field", "c", "z", "y", "x") and stack.shape == (17, 2, 2, 16, 65, 86)
    assert list(stack.well.values[:2]) == ["A1", "A2"] and int(stack.sel(well="B3").column) == 3
    np.testing.assert_array_equal(stack.sel(well="B3", field=1).values, seen[2 * 8 + 1][2].values)
    assert list(stack.c.values) == ["GFP", "Cascade blue"] and float(stack.x[1]) == pytest.approx(0.1077)


def test_truth_matches_the_images(plate):
    """The stored counts are the nuclei of the nuclear channel: labkit finds them in each field's z projection."""
    p = labkit.open_plate(plate.path)
    table = plate.table
    assert set(table.role) == {"negative control", "positive control", "treated"}
    by_role = table.groupby("role").nuclei.mean()
    assert by_role["negative control"] > by_role["positive control"] + 5
    assert np.corrcoef(table.nuclei, table.expected)[0, 1] > 0.7  # the counts follow the dose response
    for well in ("A1", "C1", "B6"):
        found = len(np.unique(labkit.segment_nuclei(p.image(well).max("z"), channel="Cascade blue").values)) - 1
        assert abs(found - plate.truth["nuclei"][well][0]) <= 2, (well, found, plate.truth["nuclei"][well])


def test_valid_for_ome_zarr_models(plate):
    import ome_zarr_models

    module = __import__(f"ome_zarr_models.v0{plate.version[-1]}", fromlist=["HCS", "Well", "Image"])
    model = ome_zarr_models.open_ome_zarr(zarr.open_group(plate.path, mode="r"), version=plate.version)
    assert isinstance(model, module.HCS)  # ome-zarr-models' plate model
    assert len(model.attributes.ome.plate.wells if plate.version == "0.5" else model.attributes.plate.wells) == 17
    root = zarr.open_group(plate.path, mode="r")
    for well in plate_layout(3, 6):
        path = f"{well[0]}/{well[1:]}"
        assert isinstance(module.Well.from_zarr(root[path]), module.Well)
    assert isinstance(module.Image.from_zarr(root["B/3/0"]), module.Image)


@pytest.mark.parametrize("version", VERSIONS)
def test_plate_written_by_ome_zarr_py(tmp_path, version):
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = FormatV04() if version == "0.4" else FormatV05()
    root = zarr.open_group(tmp_path / "ozp.zarr", mode="w", zarr_format=2 if version == "0.4" else 3)
    rows, cols = ["A", "B"], ["1", "2", "3"]
    wells = ["A/1", "A/3", "B/2"]
    write_plate_metadata(root, rows, cols, wells, fmt=fmt, field_count=2, name="ozp")
    rng = np.random.default_rng(0)
    data = {}
    for w in wells:
        grp = root.require_group(w)
        write_well_metadata(grp, ["0", "1"], fmt=fmt)
        for f in ("0", "1"):
            data[w, f] = rng.integers(0, 1000, (2, 32, 32), dtype=np.uint16)
            write_image(data[w, f], grp.require_group(f), axes="cyx", fmt=fmt, scale_factors=[2])
    p = labkit.open_plate(tmp_path / "ozp.zarr")
    assert p.name == "ozp" and p.version == version and list(p.wells.well) == ["A1", "A3", "B2"]
    assert list(p.wells.fields) == [2, 2, 2] and list(p.wells.row_index) == [0, 0, 1]
    for w in wells:
        name = w.replace("/", "")
        np.testing.assert_array_equal(p.image(name, field=1).values, data[w, "1"])
        xr.testing.assert_identical(p.image(name, 1, level=1), labkit.open_image(str(tmp_path / "ozp.zarr" / w / "1"),
                                                                                 level=1))
    assert p.stack(level=1).shape == (3, 2, 2, 16, 16)


def _collection(dest: Path, version: str = "0.4") -> dict[str, np.ndarray]:
    fmt = 2 if version == "0.4" else 3
    root = zarr.open_group(dest, mode="w", zarr_format=fmt)
    images = {"cells.tif": np.full((2, 16, 16), 7, np.uint16), "tissue [1]": np.full((1, 24, 24), 9, np.uint16)}
    for i, (name, img) in enumerate(images.items()):
        ngff.write_image(dest / str(i), img, axes="cyx", version=version, overwrite=True, name=name)
    ome = root.create_group("OME")
    xml = ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           + "".join(f'<Image ID="Image:{i}" Name="{n}"><Pixels ID="Pixels:{i}"/></Image>' for i, n in
                     enumerate(images)) + "</OME>")
    (dest / "OME" / "METADATA.ome.xml").write_text(xml)
    if version == "0.4":
        root.attrs["bioformats2raw.layout"] = 3
        ome.attrs["series"] = ["0", "1"]
    else:
        root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
        ome.attrs["ome"] = {"version": "0.5", "series": ["0", "1"]}
    return images


@pytest.mark.parametrize("version", VERSIONS)
def test_collection(tmp_path, version):
    dest = tmp_path / "coll.zarr"
    images = _collection(dest, version)
    coll = labkit.open_collection(dest)
    assert coll.names == ["cells.tif", "tissue [1]"] and len(coll) == 2 and coll.paths == ["0", "1"]
    xr.testing.assert_identical(coll.image("tissue [1]"), labkit.open_image(str(dest / "1")))
    xr.testing.assert_identical(coll.image(1), coll.image("tissue [1]"))
    assert [(n, int(img.max())) for n, img in coll] == [(n, int(v.max())) for n, v in images.items()]
    with pytest.raises(NotFoundError, match="no image named 'nope'"):
        coll.image("nope")
    with pytest.raises(FormatError, match=r"bioformats2raw collection.*open_collection"):
        labkit.open_image(dest)
    with pytest.raises(FormatError, match="not a plate"):
        labkit.open_plate(dest)


def test_collection_without_series_attribute(tmp_path):
    dest = tmp_path / "coll.zarr"
    _collection(dest)
    (dest / "OME" / ".zattrs").write_text("{}")
    coll = labkit.open_collection(dest)
    assert coll.paths == ["0", "1"] and coll.names == ["cells.tif", "tissue [1]"]


def test_open_image_and_info_say_what_opens_a_plate(plate, capsys):
    with pytest.raises(FormatError, match=r"is an OME-NGFF HCS plate \(3 x 6 wells, 17 with images\).*"
                                          r"labkit\.open_plate\(.*\), then plate\.image\('A1'\)"):
        labkit.open_image(plate.path)
    with pytest.raises(FormatError, match="open_plate"):
        labkit.info(plate.path)
    with pytest.raises(FormatError, match=r"is an OME-NGFF well of a plate \(2 fields"):
        labkit.open_image(str(Path(plate.path) / "B" / "3"))
    with pytest.raises(FormatError, match="is an OME-NGFF image, not a plate: open it with labkit.open_image"):
        labkit.open_plate(str(Path(plate.path) / "B" / "3" / "0"))
    with pytest.raises(FormatError, match="not a bioformats2raw collection.*open_plate"):
        labkit.open_collection(plate.path)


# --------------------------------------------------------------------------- bad plates
@pytest.fixture
def bad(plate, tmp_path):
    dest = tmp_path / "bad.zarr"
    shutil.copytree(plate.path, dest)
    return dest, plate.version


def _edit_attrs(group: Path, version: str, edit) -> None:
    meta = group / ("zarr.json" if version == "0.5" else ".zattrs")
    doc = json.loads(meta.read_text())
    edit(doc["attributes"] if version == "0.5" else doc)
    meta.write_text(json.dumps(doc))


def test_missing_well_names_its_path(bad):
    dest, _ = bad
    shutil.rmtree(dest / "B" / "3")
    with pytest.raises(FormatError, match=r"lists well 'B/3', but .*B/3 holds no zarr group"):
        labkit.open_plate(dest)


def test_well_without_fields_names_the_well(bad):
    dest, version = bad

    def empty(attrs):
        (attrs["ome"] if version == "0.5" else attrs)["well"]["images"] = []

    _edit_attrs(dest / "A" / "2", version, empty)
    with pytest.raises(FormatError, match="well A2 lists no fields"):
        labkit.open_plate(dest)


def test_stack_of_different_shapes_names_the_well(bad):
    dest, version = bad
    ngff.write_image(dest / "B" / "4" / "1", np.zeros((2, 48, 128), np.uint16), axes="cyx", version=version,
                     overwrite=True)
    p = labkit.open_plate(dest)
    assert p.image("B4", 1).shape == (2, 48, 128)
    with pytest.raises(FormatError, match=r"well B4 field 1 is .*\(2, 48, 128\).* but well A1 field 0 is"):
        p.stack()


def test_missing_field_names_its_path(bad):
    dest, _ = bad
    shutil.rmtree(dest / "A" / "1" / "1")
    p = labkit.open_plate(dest)  # fields are read when asked for
    with pytest.raises(NotFoundError, match=r"A/1/1: the metadata lists this image"):
        p.image("A1", 1)
    with pytest.raises(NotFoundError, match=r"A/1/1"):
        p.stack()


def test_uneven_wells_need_fields(bad):
    dest, version = bad

    def one(attrs):
        (attrs["ome"] if version == "0.5" else attrs)["well"]["images"] = [{"path": "0", "acquisition": 0}]

    _edit_attrs(dest / "B" / "2", version, one)
    p = labkit.open_plate(dest)
    with pytest.raises(FormatError, match=r"well B2 has 1\): pass fields=k"):
        p.stack()
    assert p.stack(fields=1).shape[:2] == (17, 1)


def test_top_level_exports():
    assert "plates" in labkit.SUBMODULES and labkit.open_plate is labkit.plates.open_plate
    assert labkit.open_collection is labkit.plates.open_collection and "open_plate" in dir(labkit)
    assert all(w not in plate_layout() for w in EMPTY_WELLS) and len(plate_layout()) == 93


def test_select_keeps_the_first_fields_of_each_well(plate):
    p = labkit.open_plate(plate.path)
    part = p.select(columns=[1, 2], fields=1)
    assert set(part.wells.fields) == {1} and len(part) == len(part.wells) == 6
    assert [f for _, f, _ in part.images()] == [0] * 6
    assert len(p.select(fields=5)) == len(p)  # more than a well has: all of them
    with pytest.raises(ValueError, match="whole number from 1"):
        p.select(fields=0)
