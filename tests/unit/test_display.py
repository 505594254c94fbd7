"""What a scientist's own data looks like when labkit writes it: windows from the data, colours from the names."""

from __future__ import annotations

import numpy as np
import pytest

import labkit
from labkit import ngff
from labkit._images import channels_of
from labkit.viewer3d import _window
from labkit.viewers import Viewer


def _twelve_bit(seed: int = 0) -> np.ndarray:
    """Two channels, 12-bit camera values: a dark background and bright nuclei (at most 4095)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(180, 20, (2, 6, 64, 64)).clip(0)
    yy, xx = np.mgrid[:64, :64]
    for cy, cx in [(16, 16), (40, 44), (20, 48)]:
        img[:, :, (yy - cy) ** 2 + (xx - cx) ** 2 < 49] += rng.uniform(1500, 3500)
    return img.clip(0, 4095).astype(np.uint16)


def test_written_12_bit_data_is_not_shown_dark(tmp_path):
    data = _twelve_bit()
    labkit.write_image(str(tmp_path / "mine.ome.zarr"), data, axes="czyx", channel_names=["Hoechst 33342", "EGFP"],
                       pixel_sizes={"z": 1.0, "y": 0.3, "x": 0.3}, n_levels=2)
    img = labkit.open_image(str(tmp_path / "mine.ome.zarr"))
    chans = channels_of(img)
    assert [c["color"] for c in chans] == ["0000FF", "00FF00"]  # Hoechst blue, GFP green
    assert all(c["end"] <= 4095 for c in chans)  # the data's range, not the dtype's 65535
    rgb = Viewer(img).render()
    nuclei = data[0, 0] > 1000
    assert rgb[nuclei].max(axis=1).mean() > 0.5  # bright where the nuclei are
    assert rgb[~nuclei].max(axis=1).mean() < 0.2  # dark background
    lo, hi = _window(chans[1], img.isel(c=1).data)  # the 3D view's shader range: the same window
    assert hi <= 4095 and lo < np.percentile(data[1], 50)


def test_unknown_channel_names_get_distinct_colours():
    assert len(set(ngff.channel_colors(["a", "b", "c", "d", "e"]))) == 5
    assert ngff.channel_colors(["DAPI", "mCherry"]) == ["0000FF", "FF00FF"]


def test_pixel_sizes_are_printed_with_three_digits(tmp_path):
    from labkit.viewer3d import _voxel_size

    meta = labkit.write_image(str(tmp_path / "p.ome.zarr"), np.zeros((4, 8, 8), np.uint16), axes="zyx",
                              pixel_sizes={"z": 0.500202553, "y": 0.3603981534640209, "x": 0.3603981534640209})
    text = meta.describe()
    assert "z 0.5 micrometer" in text and "y 0.36 micrometer" in text and "0.3604" not in text
    assert _voxel_size(labkit.open_image(str(tmp_path / "p.ome.zarr")))[0] == [0.5, 0.36, 0.36]


def test_channel_windows_are_written_rounded(tmp_path):
    """A window stored as 698.6010000000097 (a percentile between two pixel values) is written as people would."""
    import json

    data = (np.arange(2 * 40 * 40).reshape(2, 1, 40, 40) * 7).astype(np.uint16)
    lo, hi = ngff.display_windows(data, "czyx")[0]
    assert (lo, hi) == pytest.approx((11.193, 11181.807))  # percentiles fall between two values: to round
    labkit.write_image(str(tmp_path / "u16.ome.zarr"), data, axes="czyx", channel_names=["Hoechst 33342", "EGFP"])
    labkit.write_image(str(tmp_path / "f32.ome.zarr"), data.astype(np.float32) / 4095 * np.pi, axes="czyx",
                       channel_names=["a", "b"])
    for name, integer in (("u16", True), ("f32", False)):
        attrs = json.loads((tmp_path / f"{name}.ome.zarr" / ".zattrs").read_text())
        for channel in attrs["omero"]["channels"]:
            w = channel["window"]
            assert w["end"] > w["start"]
            for key in ("start", "end"):
                text = json.dumps(w[key])
                if integer:
                    assert float(w[key]).is_integer(), text
                else:
                    assert len(text.replace("-", "").replace(".", "").lstrip("0")) <= 6, text
        if integer:  # widened to whole numbers: the data's window is inside
            w = attrs["omero"]["channels"][0]["window"]
            assert w["start"] <= lo and w["end"] >= hi and w["end"] - hi < 1
    assert ngff.rounded_window(1000.00001, 1000.00004, "float64") == (1000.00001, 1000.00004)  # kept apart
    assert ngff.rounded_window(5.2, 5.4, "uint8") == (5.0, 6.0)
