"""Blockwise 3D nuclei segmentation: scaling over workers, memory as the volume grows, a volume beyond memory.

The volumes are ``labkit.synthetic.nuclei_field``: made block by block inside the workers, so what a worker holds
is what the segmentation needs, not the data's size. Every run segments with the default method and writes the
labels to a local zarr array (what a user does with a big volume), on worker processes of one thread each.
"""

from __future__ import annotations

import resource
import tempfile
import time

import dask.array as da
import numpy as np
import xarray as xr
from common import record
from dask.distributed import Client, LocalCluster

from labkit import nuclei_method
from labkit.segment import segment_nuclei
from labkit.synthetic.nuclei_field import nuclei_field

BLOCK = (64, 256, 256)  # the cores' size, the same in every run
VOXEL_UM = (1.0, 0.5, 0.5)


def _volume(shape: tuple[int, int, int]) -> xr.DataArray:
    field = nuclei_field(shape, chunks=BLOCK, voxel_um=VOXEL_UM, seed=3)
    coords = {d: np.arange(n) * v for d, n, v in zip("zyx", shape, VOXEL_UM, strict=True)}
    volume = xr.DataArray(field.image, dims=("z", "y", "x"), coords=coords)
    for d in "zyx":  # micrometres, as open_image says (coordinates without a unit count in pixels)
        volume[d].attrs["units"] = "micrometer"
    return volume


def _parameters() -> nuclei_method.NucleiParameters:
    """The default method's global parameters, from a sample (fixed, so every run does the same work)."""
    sample = nuclei_field((64, 256, 256), chunks=64, voxel_um=VOXEL_UM, seed=3).image.compute()
    return nuclei_method.estimate_parameters([sample], VOXEL_UM)


def _segment_and_write(shape, workers: int, memory_limit: str = "2GiB",
                       block: tuple[int, int, int] = BLOCK) -> tuple[float, list[float], int]:
    """Seconds, each worker's peak RSS (MiB) and the number of blocks of one segmentation written to disk."""
    params = _parameters()

    def method(block: np.ndarray) -> np.ndarray:
        return nuclei_method.segment_block(block, params)

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit=memory_limit) as cluster, Client(cluster) as client, \
            tempfile.TemporaryDirectory(prefix="labkit-bench-nuclei-") as out:
        client.run(lambda: nuclei_method.segment_block(np.zeros((8, 32, 32), np.uint16), params))  # imports
        labels = segment_nuclei(_volume(shape), method=method, chunks=block, halo=nuclei_method.halo(params))
        t0 = time.perf_counter()
        da.to_zarr(labels.data, f"{out}/labels.zarr", compute=True)
        seconds = time.perf_counter() - t0
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return seconds, list(peaks.values()), labels.data.npartitions


def run() -> None:
    small, large = (64, 512, 512), (64, 1024, 1024)  # 4x the voxels, the same blocks
    t_one, peak_one, blocks = _segment_and_write(small, 1)
    t_two, peak_two, _ = _segment_and_write(small, 2)
    voxels = np.prod(small) / 1e6
    record("nuclei 3D, blockwise: 1 worker / 2 workers", t_one / t_two, ">= 1.8",
           f"{voxels:.0f} Mvoxels in {blocks} blocks of {BLOCK}: 1 worker {t_one:.1f} s, 2 workers {t_two:.1f} s "
           f"({voxels / t_two:.1f} Mvoxels/s)")
    t_large, peak_large, blocks_large = _segment_and_write(large, 2)
    record("nuclei 3D: worker peak memory, 4x the volume / 1x", max(peak_large) / max(peak_two), "<= 1.2",
           f"peak RSS per worker {', '.join(f'{m:.0f}' for m in peak_two)} MiB ({blocks} blocks) and "
           f"{', '.join(f'{m:.0f}' for m in peak_large)} MiB ({blocks_large} blocks, {t_large:.1f} s)")
    beyond_memory()
    distance_transform()
    hessian_eigenvalues()


def distance_transform() -> None:
    """The distance transform labkit's nuclei methods use (the edt package) against scipy's, on a nuclei mask.

    The default method's diameters and seeds spent half their time in scipy's distance transform.
    """
    from scipy import ndimage

    from labkit._images import distance_to_outside

    image = nuclei_field((64, 256, 256), chunks=64, voxel_um=VOXEL_UM, seed=3).image.compute()
    mask = image > np.percentile(image, 70)
    times = {}
    for name, transform in (("scipy", lambda: ndimage.distance_transform_edt(mask, sampling=VOXEL_UM)),
                            ("labkit", lambda: distance_to_outside(mask, VOXEL_UM))):
        transform()  # imports
        t0 = time.process_time()
        for _ in range(3):
            result = transform()
        times[name] = (time.process_time() - t0) / 3
        assert result.shape == mask.shape
    record("distance transform of a 3D nuclei mask: scipy / labkit (edt)", times["scipy"] / times["labkit"], ">= 3",
           f"{mask.size / 1e6:.1f} Mvoxels: scipy {times['scipy']:.2f} s, labkit {times['labkit']:.2f} s of CPU")


def hessian_eigenvalues() -> None:
    """The learned model's Hessian eigenvalues in closed form against LAPACK's (``np.linalg.eigvalsh``), in 3D."""
    from scipy import ndimage

    from labkit.nuclei_model import _hessian_eigenvalues

    image = nuclei_field((64, 256, 256), chunks=64, voxel_um=VOXEL_UM, seed=3).image.compute().astype(np.float32)
    second = {}
    for i in range(3):
        for j in range(i, 3):
            order = [0, 0, 0]
            order[i] += 1
            order[j] += 1
            second[i, j] = ndimage.gaussian_filter(image, 2.0, order=order)

    def lapack() -> list[np.ndarray]:
        matrix = np.empty((*image.shape, 3, 3), np.float32)
        for (i, j), v in second.items():
            matrix[..., i, j] = matrix[..., j, i] = v
        return list(np.moveaxis(np.linalg.eigvalsh(matrix), -1, 0))

    times, results = {}, {}
    for name, solve in (("lapack", lapack), ("labkit", lambda: _hessian_eigenvalues(second, 3))):
        t0 = time.process_time()
        results[name] = solve()
        times[name] = time.process_time() - t0
    worst = max(float(np.abs(a - b).max()) for a, b in zip(results["lapack"], results["labkit"], strict=True))
    record("Hessian eigenvalues of a 3D volume: LAPACK / labkit (closed form)", times["lapack"] / times["labkit"],
           ">= 2", f"{image.size / 1e6:.1f} Mvoxels: LAPACK {times['lapack']:.2f} s, labkit {times['labkit']:.2f} s "
           f"of CPU; largest difference {worst:.1e}")


def beyond_memory() -> None:
    """A volume whose image and labels together are larger than the two workers' memory limits together.

    The blocks are made, segmented and written one by one; nothing of the whole is ever held. A worker's own
    peak is about 600-700 MiB with these blocks (a block with its halo takes ~60 bytes a voxel while it is
    segmented, and the process keeps some of it): 800 MiB each.
    """
    limit_mib = 800
    beyond = (64, 2304, 2304)
    data_mib = np.prod(beyond) * (2 + 4) / 2**20  # uint16 image, uint32 labels
    t_beyond, peak_beyond, blocks_beyond = _segment_and_write(beyond, 2, f"{limit_mib}MiB")
    record("nuclei 3D: a volume beyond the workers' memory completes (image + labels / memory limits)",
           data_mib / (2 * limit_mib), "> 1",
           f"{data_mib / 3:.0f} MiB image + {2 * data_mib / 3:.0f} MiB labels, 2 workers of {limit_mib} MiB: done in "
           f"{t_beyond:.0f} s, {blocks_beyond} blocks, peak RSS {', '.join(f'{m:.0f}' for m in peak_beyond)} MiB")
