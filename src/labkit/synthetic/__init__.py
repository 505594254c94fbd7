"""Synthetic data with known ground truth, deterministic from a seed.

The tutorials, the tests and the sandbox generate their data here:

* :func:`nuclei_volume` / :func:`write_nuclei`: nuclear-stain volumes whose number of nuclei in every
  plane is known exactly, :func:`touching_nuclei`: planes of touching, unevenly bright nuclei, and
  :func:`touching_nuclei_volume`: 3D volumes of them in physical units;
* :func:`nuclei_field`: nuclei volumes of any size, made lazily block by block, with their labels;
* :func:`flood_scenes`: GFM-like flood products (``ensemble_flood_extent``, ``ensemble_likelihood``)
  for several dates, with their truth, and :func:`stac_documents` describing them;
* :func:`cell_fields`: fields of view of single cells (tutorial 04);
* :func:`hcs_plate`: an OME-NGFF HCS plate (0.4 or 0.5) whose nuclei per field follow a dose response.

Examples
--------
>>> from labkit.synthetic import nuclei_volume
>>> vol = nuclei_volume((4, 32, 32), 2, seed=1)
>>> vol.image.shape, int(vol.counts.max()) <= 2
((4, 32, 32), True)
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit.synthetic.cells import CELL_CHANNELS, CELL_PIXEL_SIZES, cell_fields
from labkit.synthetic.flood import EQUI7_AS_PROJ4, FloodTruth, equi7_wkt2, flood_scenes, flood_truth, stac_documents
from labkit.synthetic.nuclei import (
    NucleiPlane,
    NucleiVolume,
    nuclei_volume,
    touching_nuclei,
    touching_nuclei_volume,
    write_nuclei,
)
from labkit.synthetic.nuclei_field import NucleiField, nuclei_field
from labkit.synthetic.plate import PlateTruth, hcs_plate

__all__ = [
    "CELL_CHANNELS", "CELL_PIXEL_SIZES", "EQUI7_AS_PROJ4", "FloodTruth", "NucleiField", "NucleiPlane",
    "NucleiVolume", "PlateTruth", "cell_fields", "data_folder", "equi7_wkt2", "flood_scenes", "flood_truth",
    "hcs_plate", "nuclei_field",
    "nuclei_volume", "stac_documents", "touching_nuclei", "touching_nuclei_volume", "write_nuclei"
]


def data_folder(name: str) -> Path:
    """A folder for generated data, kept between runs: ``$LABKIT_DATA_DIR/<name>``.

    Default ``$LABKIT_DATA_DIR``: ``$LABKIT_SANDBOX_DIR/data`` when set, else ``~/.cache/labkit/data``.

    Examples
    --------
    >>> data_folder("cells").name
    'cells'
    """
    if env := os.environ.get("LABKIT_DATA_DIR"):
        return Path(env).expanduser() / name
    if env := os.environ.get("LABKIT_SANDBOX_DIR"):
        return Path(env).expanduser() / "data" / name
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labkit" / "data" / name
