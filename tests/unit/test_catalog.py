from __future__ import annotations

from pathlib import Path

from labkit import catalog, endpoints

ROOT = Path(__file__).resolve().parents[2]
RETIRED = "uk1s3.embassy" + ".ebi.ac.uk"  # EBI's retired S3 host (split, so this file does not name it)


def test_live_mode_reads_idr_from_ebis_new_host():
    assert catalog.IDR_S3_ENDPOINT == "https://livingobjects.ebi.ac.uk"
    assert endpoints("live").idr_s3 == catalog.IDR_S3_ENDPOINT


def test_nothing_points_at_the_retired_host():
    files = [p for folder in ("src", "notebooks", "binder", "docs", "tests") for p in (ROOT / folder).rglob("*")
             if p.is_file() and p.suffix in {".py", ".ipynb", ".md", ".yml", ""} and "node_modules" not in p.parts]
    files += [ROOT / "README.md", ROOT / "environment.yml"]
    assert len(files) > 50
    assert [str(p.relative_to(ROOT)) for p in files if RETIRED in p.read_text(errors="replace")] == []


def test_the_screens_plate_in_each_mode():
    """Tutorial 05 takes its plate from labkit.modes: the sandbox's synthetic plate, or the IDR's screen."""
    import pytest

    from labkit.catalog import IDR_PLATE
    from labkit.errors import ConfigurationError
    from labkit.modes import plate_url
    from labkit.sandbox.core import PLATE_URLS

    assert plate_url("live") == IDR_PLATE.url == "s3://idr/zarr/v0.4/idr0001A/2551.zarr"
    assert plate_url("sandbox") == PLATE_URLS["0.4"] and plate_url("sandbox", "0.5") == PLATE_URLS["0.5"]
    assert plate_url("sandbox").startswith("s3://idr/")  # the bucket endpoints(mode).idr_s3 serves, as IDR's
    with pytest.raises(ConfigurationError, match="0.4"):
        plate_url("live", "0.5")
    with pytest.raises(ConfigurationError, match="mode"):
        plate_url("local")
