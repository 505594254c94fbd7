"""Fields of view of single cells (a DNA and a membrane channel) with their cell labels: tutorial 04's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labkit._lazy import attempt_import
from labkit.synthetic.nuclei import nuclei_volume

CELL_CHANNELS = ("DNA", "Membrane")
CELL_PIXEL_SIZES = {"z": 0.5, "y": 0.2, "x": 0.2}


def cell_fields(
    folder: str | Path,
    n_fields: int = 3,
    *,
    shape: tuple[int, int, int] = (24, 160, 160),
    cells_per_field: int = 6,
    radius: tuple[int, int] = (7, 14),
    seed: int = 0,
) -> Any:
    """Write fields of view with known cells: a DNA and a membrane channel, and the cell labels.

    Each field ``fov_<i>.ome.zarr`` (NGFF 0.4, CZYX, pixel sizes :data:`CELL_PIXEL_SIZES`) has
    a DNA channel (the nuclei of :func:`nuclei_volume`) and a membrane channel (a ring
    around each nucleus); ``fov_<i>_labels.ome.zarr`` (ZYX) holds the cell ids. Nuclei have
    radii in ``radius`` (pixels). Existing output with the same parameters is reused.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``cell_id``, ``fov_id``, ``fov_path``, ``labels_path``, ``label``,
        the bounding box ``z0 z1 y0 y1 x0 x1`` and the true ``voxels``.
    """
    pd = attempt_import("pandas")
    from scipy import ndimage

    from labkit import ngff

    folder = Path(folder)
    table = folder / "cells.parquet"
    params = {"n_fields": n_fields, "shape": list(shape), "cells": cells_per_field, "radius": list(radius),
              "seed": seed}
    stamp = folder / "params.json"
    if table.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == params:
        return pd.read_parquet(table)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in range(n_fields):
        vol = nuclei_volume(shape, cells_per_field, seed=seed * 1000 + f, min_radius=radius[0], max_radius=radius[1])
        grown = ndimage.grey_dilation(vol.labels, size=(1, 7, 7))
        cells = np.where(vol.labels > 0, vol.labels, grown).astype(np.uint16)
        rng = np.random.default_rng(seed * 1000 + f)
        membrane = np.where((grown > 0) & (vol.labels == 0), 600, 0) + rng.integers(90, 110, size=shape)
        image = np.stack([vol.image, membrane.astype(np.uint16)])
        fov, labels = folder / f"fov_{f}.ome.zarr", folder / f"fov_{f}_labels.ome.zarr"
        ngff.write_image(fov, image, axes="czyx", pixel_sizes=CELL_PIXEL_SIZES, channel_names=list(CELL_CHANNELS),
                         version="0.4", overwrite=True)
        ngff.write_image(labels, cells, axes="zyx", pixel_sizes=CELL_PIXEL_SIZES, version="0.4", overwrite=True)
        for label, sl in enumerate(ndimage.find_objects(cells), start=1):
            if sl is None:
                continue
            rows.append({
                "cell_id": f"fov{f}_cell{label:02d}", "fov_id": f, "fov_path": str(fov), "labels_path": str(labels),
                "label": label, "z0": sl[0].start, "z1": sl[0].stop, "y0": sl[1].start, "y1": sl[1].stop,
                "x0": sl[2].start, "x1": sl[2].stop, "voxels": int((cells[sl] == label).sum()),
            })
    df = pd.DataFrame(rows)
    df.to_parquet(table, index=False)
    stamp.write_text(json.dumps(params))
    return df
