"""HCS plates: opening the sandbox's 96-well plate (labkit against ome-zarr-py's reader), the whole-plate analysis
with map_images on 2 workers against 1, and a re-run after completion against the first run."""

from __future__ import annotations

import os
import tempfile
import time

from common import record
from dask.distributed import Client, LocalCluster

import labkit
from labkit.sandbox.core import PLATE_URLS


def nuclei(image):
    """Tutorial 05's recipe: the nuclei of the nuclear channel in the field's maximum projection along z, measured."""
    projection = image.max("z") if "z" in image.dims else image
    labels = labkit.segment_nuclei(projection, channel=labkit.catalog.IDR_PLATE.nuclear_channel)
    return labkit.measure(labels, projection)


def _ome_zarr_open(url: str) -> int:
    """The same with ome-zarr-py's reader: the plate, each well, then each field's image (a dask array each)."""
    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    fmt = FormatV04()
    plate = parse_url(url, fmt=fmt).root_attrs["plate"]
    images = []
    for well in plate["wells"]:
        fields = parse_url(f"{url}/{well['path']}", fmt=fmt).root_attrs["well"]["images"]
        for field in fields:
            node = next(iter(Reader(parse_url(f"{url}/{well['path']}/{field['path']}", fmt=fmt))()))
            images.append(node.data[0])
    return len(images)


def _best(fn, *args, repeat: int = 3) -> tuple[float, int]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def _cpu() -> dict[str, float]:
    """CPU seconds so far of this process (client and scheduler), the Dask workers and the S3 server."""
    import psutil

    me = psutil.Process()
    out = {"client and scheduler": sum(me.cpu_times()[:2]), "workers": 0.0, "S3 server": 0.0}
    for child in me.children(recursive=True):
        try:
            kind = "S3 server" if child.name() == "weed" else "workers" if "spawn_main" in " ".join(
                child.cmdline()) else None
            if kind:
                out[kind] += sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
    return out


def _analysis(plate, store: str, workers: int) -> tuple[float, float, dict, dict, dict]:
    """The whole plate through map_images on ``workers`` single-threaded workers: first run, then a re-run."""
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("labkit.segment") and __import__("skimage.morphology"))  # imports: not timed
        before = _cpu()
        t0 = time.perf_counter()
        first = labkit.map_images(nuclei, plate, store=store, target="nuclei/{well}/{field}.parquet",
                                  client=client, progress=False)
        first_s = time.perf_counter() - t0
        cpu = {k: v - before[k] for k, v in _cpu().items()}
        t0 = time.perf_counter()
        again = labkit.map_images(nuclei, plate, store=store, target="nuclei/{well}/{field}.parquet",
                                  client=client, progress=False)
        again_s = time.perf_counter() - t0
    return first_s, again_s, first.state.value_counts().to_dict(), again.state.value_counts().to_dict(), cpu


def run(sb) -> None:
    url = f"{sb.s3.endpoint_url}/{PLATE_URLS['0.4'].removeprefix('s3://')}"  # over HTTP, for both readers
    sb.plate_truth("0.4")
    _ome_zarr_open(url)  # warm both (imports, first connections)
    labkit.open_plate(url).stack()
    ome_s, n_ome = _best(_ome_zarr_open, url)
    lk_s, n_lk = _best(_labkit_plate_images, url)
    assert n_ome == n_lk, (n_ome, n_lk)
    record("plate: list and open every image, ome-zarr-py / labkit", ome_s / lk_s, ">= 2",
           f"96-well sandbox plate, {n_lk} fields over HTTP: ome-zarr-py {ome_s:.2f} s, labkit {lk_s:.2f} s "
           "(best of 3)")

    # tutorial 05's default: every well, the first 2 of its 6 fields (the whole plate is 558 fields)
    plate = labkit.open_plate(PLATE_URLS["0.4"], endpoint_url=sb.s3.endpoint_url).select(fields=2)
    with tempfile.TemporaryDirectory(prefix="labkit-plates-") as tmp:
        one, _, states1, _, _ = _analysis(plate, f"{tmp}/one", 1)
        two, again, states2, again_states, cpu = _analysis(plate, f"{tmp}/two", 2)
    assert states1 == states2 == {"computed": len(plate)}, (states1, states2)
    assert again_states == {"read back": len(plate)}, again_states
    record("plate analysis (map_images): 1 worker / 2 workers", one / two, ">= 1.8",
           f"{len(plate)} fields segmented and measured: 1 worker {one:.1f} s, 2 workers {two:.1f} s; CPU of the "
           f"2-worker run on {os.cpu_count()} cores: " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    record("plate analysis: re-run after completion / first run", again / two, "<= 0.05",
           f"{len(plate)} fields, 2 workers: first {two:.1f} s, re-run {again:.2f} s (every field read back)")


def _labkit_plate_images(url: str) -> int:
    """labkit: open the plate, then every field's image (concurrently), as one lazy stack."""
    plate = labkit.open_plate(url)
    stack = plate.stack()
    return int(stack.sizes["well"] * stack.sizes["field"])


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from common import print_table, sandbox

    with sandbox(["s3"]) as sb:
        run(sb)
    print_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/bench/plates.json"))
