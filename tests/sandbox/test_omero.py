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
