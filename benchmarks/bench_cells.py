"""Cell pipeline: a second run with every target present, against the first run (target: under 10%)."""

from __future__ import annotations

import tempfile
import time

from common import record
from dask.distributed import Client, LocalCluster

from labkit import recipes
from labkit.results import OmeTiff, Png, checkpoint
from labkit.synthetic import CELL_CHANNELS, CELL_PIXEL_SIZES, cell_fields


def select_cell(cell_id, fov_path, labels_path, label, bbox):
    return recipes.select_cell(fov_path, labels_path, label, bbox)


def normalize(cell_id, cell_data):
    return recipes.normalize_cell(cell_data, CELL_PIXEL_SIZES)


def project(cell_id, normalized):
    return recipes.project_cell(normalized)


def fields(folder: str) -> tuple:
    """The benchmark's cells, of a realistic size (up to about 2 x 40 x 100 x 100 voxels each), and their boxes."""
    cells = cell_fields(folder, n_fields=4, shape=(40, 384, 384), cells_per_field=6, radius=(20, 40), seed=1)
    return cells, list(cells[["z0", "z1", "y0", "y1", "x0", "x1"]].itertuples(index=False, name=None))


def steps(store) -> tuple:
    """The three steps, checkpointed into ``store``: select, normalise, project."""
    tiff = OmeTiff(dims="CZYX", channel_names=list(CELL_CHANNELS))
    return (checkpoint(store, target="selected/{cell_id}.ome.tiff", serializer=tiff)(select_cell),
            checkpoint(store, target="normalized/{cell_id}.ome.tiff", serializer=tiff)(normalize),
            checkpoint(store, target="projections/{cell_id}.png", serializer=Png())(project))


def run(sb=None) -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-cells-") as tmp:
        cells, bboxes = fields(f"{tmp}/fields")
        select, norm, proj = steps(f"{tmp}/store")
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            client.run(lambda: __import__("labkit.results"))  # imports are not part of either run

            def pipeline() -> float:
                t0 = time.perf_counter()
                sel = client.map(select, cells.cell_id, cells.fov_path, cells.labels_path, cells.label, bboxes,
                                 pure=False)
                client.gather(client.map(proj, cells.cell_id, client.map(norm, cells.cell_id, sel, pure=False),
                                         pure=False))
                return time.perf_counter() - t0

            first = pipeline()
            states = {select.state(*args) for args in zip(cells.cell_id, cells.fov_path, cells.labels_path,
                                                          cells.label, bboxes, strict=True)}
            second = pipeline()
    assert states == {"fresh"}, states
    record("cell pipeline: second run / first run", second / first, "< 0.10",
           f"{len(cells)} cells: first {first:.2f} s, second {second:.2f} s (all targets fresh)")
