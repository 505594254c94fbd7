"""At the scale HPC is for: a synthetic 1536-well plate (32 rows x 48 columns, 4 fields a well: 6144 fields) that is
metadata only (NGFF 0.5 / zarr v3 documents of the plate, its wells and its fields; no chunk is written: every chunk
reads as its fill value), written to the sandbox S3, opened with ``labkit.open_plate`` and mapped with
``labkit.map_images`` (a recipe that reads no pixel) at several multiples of the plate (more fields a well).

Reported per scale: the time to write the listing (PUTs), to open the plate and list every field (GETs), the
client's memory (tracemalloc peak of the open; RSS growth of the client process, which also runs the scheduler,
during map_images), the most tasks in flight (map_images' ``on_submit`` hook and the scheduler's task count,
polled) against the submission window, and the map's time per field. Ratios: per-field cost at the largest scale
over that at 1x (targets: at most linear, i.e. <= ~1.2 with noise; tasks in flight <= the window).

``LABKIT_BENCH_SCALES`` (e.g. ``0.25,1,4``) and ``LABKIT_BENCH_MAP_SCALES`` choose the multiples opened and mapped;
``LABKIT_BENCH_SCALE_STORE=local`` writes the listing to a local folder instead of the sandbox S3 (faster to write on
a busy machine; the open then measures labkit's own cost without the S3 round trips).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import tracemalloc

from common import record

import labkit
from labkit.cluster_panel import CLIENT_MESSAGE_LOG

ROWS = [chr(ord("A") + i) for i in range(26)] + [f"A{chr(ord('A') + i)}" for i in range(6)]  # A..Z, AA..AF
COLUMNS = [str(c) for c in range(1, 49)]
FIELDS = 4  # a well at 1x
SHAPE = [2, 2048, 2048]  # c, y, x of a field (uint16: 16 MiB), chunks of 1 x 1024 x 1024
SCALES = [float(s) for s in os.environ.get("LABKIT_BENCH_SCALES", "0.25,1,4").split(",") if s]
MAP_SCALES = [float(s) for s in os.environ.get("LABKIT_BENCH_MAP_SCALES", "0.25,1").split(",") if s]
#: where the listing goes: "s3" (the sandbox's, read with its key) or "local" (a temporary folder)
WHERE = os.environ.get("LABKIT_BENCH_SCALE_STORE", "s3")


def _group(attributes: dict) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes}).encode()


def _array() -> bytes:
    return json.dumps({
        "zarr_format": 3, "node_type": "array", "shape": SHAPE, "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1024, 1024]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "dimension_names": ["c", "y", "x"], "attributes": {},
    }).encode()


def listing(fields: int) -> dict[str, bytes]:
    """Every metadata document of a 1536-well NGFF 0.5 plate with ``fields`` fields a well: key -> bytes."""
    docs = {"zarr.json": _group({"ome": {"version": "0.5", "plate": {
        "name": f"scale-{fields}", "field_count": fields,
        "rows": [{"name": r} for r in ROWS], "columns": [{"name": c} for c in COLUMNS],
        "wells": [{"path": f"{r}/{c}", "rowIndex": i, "columnIndex": j}
                  for i, r in enumerate(ROWS) for j, c in enumerate(COLUMNS)]}}})}
    field = _group({"ome": {"version": "0.5", "multiscales": [{
        "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 0.65, 0.65]}]}]}]}})
    array = _array()
    well = _group({"ome": {"version": "0.5", "well": {"images": [{"path": str(f)} for f in range(fields)]}}})
    for r in ROWS:
        docs[f"{r}/zarr.json"] = _group({})
        for c in COLUMNS:
            docs[f"{r}/{c}/zarr.json"] = well
            for f in range(fields):
                docs[f"{r}/{c}/{f}/zarr.json"] = field
                docs[f"{r}/{c}/{f}/0/zarr.json"] = array
    return docs


def tally(image):
    """The recipe: one row a field, from its metadata only (no pixel read)."""
    import pandas as pd

    return pd.DataFrame({"pixels": [int(image.size)]})


def _write(fs, root: str, docs: dict[str, bytes]) -> float:
    t0 = time.perf_counter()
    fs.pipe({f"{root}/{k}": v for k, v in docs.items()})
    return time.perf_counter() - t0


def _open(url: str, so: dict) -> tuple[float, int, int]:
    """Open the plate and list every field (what map_images does first): seconds, fields, tracemalloc peak."""
    t0 = time.perf_counter()
    plate = labkit.open_plate(url, storage_options=so)
    refs = plate.refs()
    seconds = time.perf_counter() - t0
    del plate, refs
    tracemalloc.start()
    plate = labkit.open_plate(url, storage_options=so)
    n = len(plate.refs())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, n, peak


def _map(url: str, so: dict, client, cluster, store: str) -> dict:
    """map_images over the whole plate: seconds, RSS growth, most futures/tasks in flight, the window."""
    import psutil

    me = psutil.Process()
    plate = labkit.open_plate(url, storage_options=so)
    futures = [0]
    scheduler = [0]
    rss = [me.memory_info().rss]
    base = rss[0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.05):
            scheduler[0] = max(scheduler[0], sum(1 for t in list(cluster.scheduler.tasks.values())
                                                 if t.state in ("processing", "waiting", "no-worker", "queued")))
            rss[0] = max(rss[0], me.memory_info().rss)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    run = labkit.map_images(tally, plate, store=store, target="scale/{well}/{field}.parquet", client=client,
                            progress=False, on_submit=lambda n: futures.__setitem__(0, max(futures[0], n)))
    seconds = time.perf_counter() - t0
    stop.set()
    watcher.join()
    assert run.state.value_counts().to_dict() == {"computed": len(run)}, run.state.value_counts()
    window = max(4, 4 * sum(client.nthreads().values()))  # map_images' default
    return {"seconds": seconds, "fields": len(run), "rss": rss[0] - base, "futures": futures[0],
            "tasks": scheduler[0], "window": window}


def run(sb) -> None:
    from dask.distributed import Client, LocalCluster

    if WHERE == "s3":
        so = sb.s3.storage_options()  # the results bucket: read with the sandbox's key
        fs = sb.s3.filesystem()
    else:
        from fsspec.implementations.local import LocalFileSystem

        so, fs = None, LocalFileSystem(auto_mkdir=True)
    opened: dict[float, tuple[float, int, int, float, int]] = {}
    mapped: dict[float, dict] = {}
    import dask

    # a client as labkit's ClusterPanel makes it: without distributed's log of the last 1000 messages sent (each
    # submission's pickled images would stay in it: ~50 KiB a field of the client's memory, up to 1000 tasks)
    with dask.config.set({"distributed.admin.low-level-log-length": CLIENT_MESSAGE_LOG}), \
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client, tempfile.TemporaryDirectory(prefix="labkit-scale-") as tmp:
        client.run(lambda: __import__("labkit.plates") and __import__("pandas"))  # imports: not timed
        for scale in sorted(set(SCALES) | set(MAP_SCALES)):
            fields = max(1, round(FIELDS * scale))
            root = f"results/bench-scale/{fields}.zarr" if WHERE == "s3" else f"{tmp}/listing/{fields}.zarr"
            docs = listing(fields)
            put_s = _write(fs, root, docs)
            url = f"s3://{root}" if WHERE == "s3" else root
            if scale == min(SCALES):
                _open(url, so)  # warm (imports, connections)
            open_s, n, peak = _open(url, so)
            opened[scale] = (open_s, n, peak, put_s, len(docs))
            print(f"scale {scale:g}x ({WHERE}): {n} fields, {len(docs)} objects written in {put_s:.1f} s "
                  f"({len(docs) / put_s:.0f} PUT/s), opened and listed in {open_s:.2f} s "
                  f"({n / open_s:.0f} fields/s), tracemalloc peak {peak / 2**20:.1f} MiB", flush=True)
            if scale in MAP_SCALES:
                m = _map(url, so, client, cluster, f"{tmp}/{fields}")
                mapped[scale] = m
                print(f"  map_images: {m['fields']} fields in {m['seconds']:.1f} s "
                      f"({m['fields'] / m['seconds']:.0f} fields/s), client RSS +{m['rss'] / 2**20:.0f} MiB, "
                      f"futures in flight <= {m['futures']}, scheduler tasks <= {m['tasks']}, "
                      f"window {m['window']}", flush=True)
            if WHERE == "s3":
                fs.rm(root, recursive=True)
    ref = 1.0 if 1.0 in opened else min(opened)
    one = opened[ref]
    for scale, (open_s, n, peak, put_s, objects) in sorted(opened.items()):
        if scale == ref:
            continue
        record(f"scale: open + list, time per field {scale:g}x / {ref:g}x", (open_s / n) / (one[0] / one[1]),
               "<= 1.2" if scale > ref else "report",
               f"{WHERE}: {n} fields in {open_s:.2f} s vs {one[1]} in {one[0]:.2f} s; {objects} objects PUT in "
               f"{put_s:.1f} s ({objects / put_s:.0f}/s)")
        record(f"scale: open + list, memory per field {scale:g}x / {ref:g}x", (peak / n) / (one[2] / one[1]),
               "<= 1.2" if scale > ref else "report",
               f"tracemalloc peak {peak / 2**20:.1f} MiB ({peak / n / 1024:.1f} KiB a field) vs "
               f"{one[2] / 2**20:.1f} MiB at {ref:g}x")
    base = mapped[min(mapped)] if mapped else None  # the larger runs against the smallest
    for scale, m in sorted(mapped.items()):
        # the scheduler also holds the run's recipe task (waiting for it at the start: the window + 1)
        record(f"scale: map_images {scale:g}x, futures in flight / window", m["futures"] / m["window"],
               "<= 1", f"{m['fields']} fields: futures <= {m['futures']}, scheduler tasks <= {m['tasks']} (with the "
               f"recipe's), window "
               f"{m['window']} (2 workers x 1 thread); {m['seconds']:.1f} s, client RSS +{m['rss'] / 2**20:.0f} MiB")
        if m is not base:
            record(f"scale: map_images time per field {scale:g}x / {_name(base, mapped)}",
                   (m["seconds"] / m["fields"]) / (base["seconds"] / base["fields"]), "<= 1.2",
                   f"{m['seconds'] / m['fields'] * 1000:.1f} ms vs {base['seconds'] / base['fields'] * 1000:.1f} ms "
                   "a field")
            record(f"scale: map_images client RSS growth per field {scale:g}x / {_name(base, mapped)}",
                   (m["rss"] / m["fields"]) / max(base["rss"] / base["fields"], 1.0), "<= 1.2",
                   f"+{m['rss'] / 2**20:.0f} MiB vs +{base['rss'] / 2**20:.0f} MiB")


def _name(m: dict, mapped: dict) -> str:
    return next(f"{s:g}x" for s, v in mapped.items() if v is m)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from common import print_table, sandbox

    with sandbox(["s3"]) as sb:
        run(sb)
    print_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/bench/scale.json"))
