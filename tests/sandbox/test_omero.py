"""The OMERO.web JSON API replica through requests, as a client of IDR would see it."""

from __future__ import annotations

import requests


def test_api_discovery(sandbox):
    base = sandbox.omero.url
    r = requests.get(f"{base}/api/", timeout=5)
    assert r.status_code == 200
    assert r.headers["X-OMERO-ApiVersion"] == "0"
    versions = r.json()["data"]
    assert versions[0]["version"] == "0"
    v0 = requests.get(versions[0]["url:base"], timeout=5).json()
    assert v0["url:images"].endswith("/api/v0/m/images/")


def test_image_6001240(sandbox):
    r = requests.get(f"{sandbox.omero.url}/api/v0/m/images/6001240/", timeout=5)
    assert r.status_code == 200
    data = r.json()["data"]
    px = data["Pixels"]
    assert (px["SizeX"], px["SizeY"], px["SizeZ"], px["SizeC"], px["SizeT"]) == (271, 275, 236, 2, 1)
    assert px["PhysicalSizeX"] == {
        "@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": 0.3603981534640209,
    }
    assert px["PhysicalSizeZ"]["Value"] == 0.5002025531914894
    assert px["Type"]["value"] == "uint16"
    assert [(c["Name"], c["Color"]) for c in px["Channels"]] == [("LaminB1", 65535), ("Dapi", -65281)]


def test_img_data_6001240(sandbox):
    d = requests.get(f"{sandbox.omero.url}/webgateway/imgData/6001240/", timeout=5).json()
    assert d["size"] == {"width": 271, "height": 275, "z": 236, "t": 1, "c": 2}
    assert d["pixel_size"] == {"x": 0.3603981534640209, "y": 0.3603981534640209, "z": 0.5002025531914894}
    assert [(c["label"], c["color"], c["window"]["start"], c["window"]["end"], c["active"]) for c in d["channels"]] == [
        ("LaminB1", "0000FF", 0.0, 1500.0, True), ("Dapi", "FFFF00", 0.0, 1500.0, True),
    ]
    assert d["rdefs"]["defaultZ"] == 118
    assert d["meta"]["pixelsType"] == "uint16"


def test_unknown_image_answers_as_omero(sandbox):
    r = requests.get(f"{sandbox.omero.url}/api/v0/m/images/123/", timeout=5)
    assert r.status_code == 404
    assert r.json() == {"message": "Image 123 not found"}
    assert requests.get(f"{sandbox.omero.url}/webgateway/imgData/123/", timeout=5).status_code == 403


def test_an_image_id_that_is_not_a_number_is_a_configuration_error(sandbox):
    import pytest

    from labkit import omero
    from labkit.errors import ConfigurationError

    with omero(sandbox.omero.url) as session, pytest.raises(ConfigurationError, match="not 'abc'"):
        session.image("abc")


# ------------------------------------------------------------------ the replica against recorded replies
FIXTURES = __import__("pathlib").Path(__file__).parents[1] / "fixtures" / "omero"


def _shape(value):
    """The JSON shape of ``value``: dicts by key, lists by their first item, scalars by kind (null matches any)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "string"


def _differences(served, recorded, path="", extra=frozenset(), optional=frozenset()):
    """Where ``served`` differs in keys, types or nesting from ``recorded`` (keys in ``extra``/``optional`` aside)."""
    out = []
    if isinstance(recorded, dict) and isinstance(served, dict):
        for k in sorted(set(recorded) - set(served) - optional):
            out.append(f"{path}/{k}: recorded, not served")
        for k in sorted(set(served) - set(recorded) - extra):
            out.append(f"{path}/{k}: served, not in the recorded reply")
        for k in sorted(set(served) & set(recorded)):
            out += _differences(served[k], recorded[k], f"{path}/{k}", extra, optional)
    elif isinstance(recorded, list) and isinstance(served, list):
        if recorded and served:
            out += _differences(served[0], recorded[0], f"{path}[0]", extra, optional)
    elif None not in (served, recorded) and served != recorded:
        out.append(f"{path}: served {served}, recorded {recorded}")
    return out


def test_image_route_has_the_recorded_shape(sandbox):
    import json

    recorded = _shape(json.loads((FIXTURES / "marshal_image_pixels.json").read_text()))
    served = requests.get(f"{sandbox.omero.url}/api/v0/m/images/6001240/", timeout=5).json()
    assert set(served) == {"@context", "data"}
    # Channels: loaded by OMERO.web's image view (the marshal test encodes pixels without them); url:image: added
    # by OMERO.web around the marshalled object
    # AcquisitionDate: omero-marshal leaves it out when the image has none (the replica knows none for 6001240)
    assert _differences(_shape(served["data"]), recorded, extra={"Channels", "url:image", "permissions"},
                        optional={"AcquisitionDate"}) == []


def test_img_data_has_the_recorded_shape(sandbox):
    import json

    recorded = _shape(json.loads((FIXTURES / "imgdata_tiled_image.json").read_text()))
    served = _shape(requests.get(f"{sandbox.omero.url}/webgateway/imgData/6001240/", timeout=5).json())
    tiled_only = {"tile_size", "levels", "zoomLevelScaling", "nominalMagnification"}
    assert _differences(served, recorded, optional=tiled_only) == []
    assert served["tiles"] == "boolean"


def test_pixel_sizes_stated_in_nanometres_are_read_in_micrometres(sandbox):
    from labkit import omero
    from labkit.sandbox.services.omero import NANOMETRE_IMAGE_ID

    raw = requests.get(f"{sandbox.omero.url}/api/v0/m/images/{NANOMETRE_IMAGE_ID}/", timeout=5).json()
    px = raw["data"]["Pixels"]["PhysicalSizeX"]
    assert (px["Unit"], px["Symbol"]) == ("NANOMETER", "nm") and abs(px["Value"] - 360.3981534640209) < 1e-9
    with omero(sandbox.omero.url) as session:
        in_nm = session.image(NANOMETRE_IMAGE_ID)
        in_um = session.image(6001240)
    for axis in "xyz":
        assert abs(in_nm.pixel_sizes[axis] - in_um.pixel_sizes[axis]) < 1e-12, axis
    assert in_um.pixel_sizes == {"x": 0.3603981534640209, "y": 0.3603981534640209, "z": 0.5002025531914894}
