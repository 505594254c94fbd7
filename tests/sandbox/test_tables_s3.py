"""Feature tables inside an image on the sandbox S3: written by labkit, listed and read by ngio over S3 (s3fs,
the sandbox's endpoint from its environment), and a table written by ngio read back by labkit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from labkit import ngff
from labkit.errors import ConfigurationError
from labkit.labels import write_labels
from labkit.tables import open_table, table_names

ngio = pytest.importorskip("ngio")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_table_on_s3_read_by_ngio_and_back(sandbox_env, version):
    from ngio.tables import FeatureTable

    url = f"s3://results/tables-test/img-{version}.ome.zarr"
    ngff.write_image(url, np.arange(2 * 32 * 48, dtype=np.uint16).reshape(2, 32, 48), axes="cyx", version=version,
                     n_levels=2, chunks=(1, 16, 16), overwrite=True)
    seg = np.zeros((32, 48), np.uint32)
    seg[4:10, 4:20], seg[20:30, 30:40] = 3, 9
    table = pd.DataFrame({"label": [3, 9], "area": [96.0, 100.0]})
    write_labels(url, seg, "nuclei", properties=table, overwrite=True)
    with pytest.raises(ConfigurationError, match=r"not in .*: \[4\]"):
        write_labels(url, seg, "nuclei", properties=pd.DataFrame({"label": [3, 4]}), overwrite=True)
    assert table_names(url) == ["nuclei"]
    pd.testing.assert_frame_equal(open_table(url, "nuclei"), table)  # the refused write changed nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        container = ngio.open_ome_zarr_container(url)
        assert container.list_tables() == ["nuclei"]
        theirs = container.get_table("nuclei").dataframe
        container.add_table("nuclei_ngio", FeatureTable(theirs * 2, reference_label="nuclei"), overwrite=True)
    assert theirs.index.tolist() == [3, 9] and theirs.area.tolist() == [96.0, 100.0]
    assert open_table(url, "nuclei_ngio").to_dict("list") == {"label": [3, 9], "area": [192.0, 200.0]}
