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
