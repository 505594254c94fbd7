"""What the notebook tests read from each tutorial's kernel: one probe per notebook, for every way it runs.

The stored notebooks carry no cells for the tests. A probe is one more cell, appended to a copy of a notebook,
that evaluates expressions in the notebook's kernel after its last cell and prints them as JSON. What needs the
sandbox (its ground truth, its logs, its gateway) is computed there too, by the helpers below, whose source the
probe cell carries: the kernel is where the sandbox is, and the sandbox of ``make test-notebooks`` is gone by the
time the tests read its values. A probe returns booleans, numbers and file names, never a secret.

``make test-notebooks`` runs every tutorial as stored with its probe cell last (tests/notebooks/run_stored.py),
keeps each executed notebook for the book without its probe cell, and what the probe printed beside it
(``build/tutorials/<name>.probe.json``), where the test of the notebook's default backend reads it instead of
executing the notebook again. Importable without pytest.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: where ``make test-notebooks`` keeps the executed tutorials and their probe values (tests/notebooks/run_stored.py)
EXECUTED = Path(os.environ.get("LABKIT_EXECUTED_DIR", ROOT / "build" / "tutorials"))
#: a file ``make test`` writes when its stored runs and the book are done: they run beside the suite, whose tests
#: marked ``stored_runs`` wait for it (unset: the suite runs on its own, with whatever was run before)
STORED_DONE = os.environ.get("LABKIT_STORED_DONE")
MARKER = "LABKIT-PROBE:"
CELL_ID = "labkit-probe"


def wait_for_stored_runs(timeout: float = 1800.0) -> None:
    """Return when ``make test``'s stored tutorial runs and book are finished (at once outside ``make test``)."""
    deadline = time.monotonic() + timeout
    while STORED_DONE and not Path(STORED_DONE).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"make test's stored runs did not finish in {timeout:.0f} s (no {STORED_DONE})")
        time.sleep(2)


# ---------------------------------------------------------------- helpers the probes call in the kernel
# Each is sent as its source: it imports what it uses.
def gateway_clusters(sb=None) -> list[str]:
    """Names of the clusters running on the sandbox's gateway (``sb``, default the running sandbox) right now.

    Empty without a sandbox or a gateway (tutorial 01 on the local backend may run before any gateway started).
    """
    from labkit.sandbox import current

    if sb is None:
        sb = current()
    if sb is None or "gateway" not in sb.records:
        return []
    gw = sb.gateway.gateway()
    try:
        return [c.name for c in gw.list_clusters()]
    finally:
        gw.close()


def sandbox_truth(output_url: str) -> dict:
    """Tutorial 03's stored output, read back, against what the sandbox knows: its STAC items and flood truth."""
    import numpy as np
    import xarray as xr

    from labkit.sandbox import current
    from labkit.storage import open_store

    sb = current()
    stored = xr.open_zarr(open_store(output_url, {"anon": False}), consolidated=True)
    extent, likelihood = sb.flood_truth().on_grid(stored.x.values, stored.y.values)
    return {"stac_items": sb.stac.n_items,
            "extent_mismatches": int(np.count_nonzero(stored.ensemble_flood_extent.values != extent)),
            "likelihood_max_error": int(np.abs(stored.ensemble_likelihood.values.astype(int)
                                               - likelihood.astype(int)).max()),
            "crs_wkt": stored.spatial_ref.attrs.get("crs_wkt", "")}


def secret_leaks() -> dict:
    """Where the running sandbox's credentials appear: its log files, and what the kernel's cells displayed.

    The kernel keeps the values its cells displayed (``Out``), not what they printed: the test that runs a
    notebook itself checks the whole executed notebook too.
    """
    from IPython import get_ipython

    from labkit.sandbox import current

    sb = current()
    secrets = [sb.s3.secret, sb.gateway.password]
    logs = [p for pattern in ("*.log*", "*.jsonl") for p in sb.root.rglob(pattern) if p.is_file()]
    leaks = [str(p) for p in logs if any(s in p.read_text(errors="replace") for s in secrets)]
    for n, value in get_ipython().user_ns.get("Out", {}).items():
        html = getattr(value, "_repr_html_", None)
        if any(s in repr(value) + str(html() if callable(html) else "") for s in secrets):
            leaks.append(f"Out[{n}]")
    return {"logs_scanned": len(logs), "leaks": leaks}


# ---------------------------------------------------------------- the probes
@dataclass(frozen=True)
class Probe:
    """Expressions evaluated in a notebook's kernel after its last cell, by name."""

    values: dict[str, str]
    helpers: tuple[Callable, ...] = ()  # functions above that the expressions call

    def source(self) -> str:
        """The probe cell's code: the helpers, then one print of the values as JSON after :data:`MARKER`."""
        helpers = "".join(inspect.getsource(f) + "\n\n" for f in self.helpers)
        values = "{" + ", ".join(f"{name!r}: {expr}" for name, expr in self.values.items()) + "}"
        return f"{helpers}import json\nprint({MARKER!r} + json.dumps({values}, default=str))"


PROBES = {
    "01_idr_segmentation.ipynb": Probe(
        {"image_id": "image_id", "channel": "channel", "counts": "[int(c) for c in counts]",
         "nuclei": "len(nuclei_measured)", "nuclei_state": "nuclei_table.state(image_id, channel)",
         "labels_state": "nuclei_labels.state(image_id, channel)",
         "nuclei_zarr": "str(__import__('pathlib').Path(results_url, f'{image_id}.ome.zarr').resolve())",
         "volume_um3_median": "float(nuclei_measured.volume_um3.median())",
         "cluster": "panel.cluster", "clusters_left": "gateway_clusters()"}, (gateway_clusters,)),
    "02_ipfs_zarr.ipynb": Probe(
        {"cid": "cid", "identical": "identical", "info_bytes": "info_bytes", "image_bytes": "total",
         "means": "{str(c): float(v) for c, v in zip(stats.c.values, stats.values)}",
         "publisher_gateway_requests": "traffic.gateway_requests", "publisher_chunk_requests": "traffic.chunk_requests",
         "worker_blocks": "traffic.worker_blocks"}),
    "03_eodc_flood.ipynb": Probe(
        {"items": "int(ds.attrs['stac_items'])", "window_bytes": "window_bytes", "store_bytes": "store_bytes",
         "iou": "float(iou)", "sandbox": "sandbox_truth(output_url)", "clusters_left": "gateway_clusters()",
         "secrets": "secret_leaks()"}, (sandbox_truth, gateway_clusters, secret_leaks)),
    "04_cell_pipeline.ipynb": Probe(
        {"n_fields": "n_fields", "cells": "len(cells)", "first_computed": "first_computed",
         "second_computed": "second_computed", "remote_computed": "remote_computed", "byte_identical": "bool(same)",
         "v1_computed": "v1_computed", "v2_computed": "v2_computed", "tags": "sorted(versions.tags())",
         "runs": "len(history)", "v1_same": "bool(v1_same)",
         "published": "{where: report.ok for where, report in checks.items()}", "cid": "on_ipfs.cid",
         "package_version": "on_s3.root.get('version')", "package_files": "len(on_s3.files)",
         "authors": "authors", "package_authors": "on_s3.authors",
         "changes": "{f'{s}|{c}': int(n) for (s, c), n in changes.groupby('step').change.value_counts().items()}",
         "changed_parameters": "sorted(set(changes.parameters))",
         "cluster": "panel.cluster"}),
    "05_screen.ipynb": Probe(
        {"fields": "len(run)", "wells": "len(summary)", "first_states": "run.state.value_counts().to_dict()",
         "rerun_states": "rerun.state.value_counts().to_dict()",
         "counts": "{w: int(n) for w, n in summary.nuclei.items()}",
         "truth": "{w: int(known[w]) for w in known.index} if truth else None",  # over the fields analysed
         "fields_per_well": "sorted(set(screen.wells.fields))", "field_dims": "list(plate.image('A1').dims)",
         "channel": "channel",
         "agreement": "agreement", "first_seconds": "first_seconds", "rerun_seconds": "rerun_seconds",
         "cluster": "panel.cluster", "clusters_left": "gateway_clusters()"}, (gateway_clusters,)),
}


def with_probe(source: Path, dest: Path) -> Path:
    """A copy of a notebook in ``dest`` with its probe cell at the end (a plain copy when it has no probe)."""
    nb = json.loads(source.read_text())
    if probe := PROBES.get(source.name):
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {},
                            "outputs": [], "source": probe.source()})
    dest.mkdir(parents=True, exist_ok=True)
    (dest / source.name).write_text(json.dumps(nb))
    return dest / source.name


def take_probe(nb: dict) -> dict | None:
    """Remove the probe cell from an executed notebook (JSON or nbformat); return what it printed (None: no probe)."""
    for i, cell in enumerate(nb["cells"]):
        if cell.get("id") == CELL_ID:
            del nb["cells"][i]
            for o in cell.get("outputs", []):
                text = "".join(o.get("text", ""))
                if o.get("output_type") == "stream" and MARKER in text:
                    return json.loads(text.split(MARKER, 1)[1])
            raise ValueError(f"the probe cell printed nothing: {cell.get('outputs')}")
    return None


def probed(executed: Path) -> dict:
    """The values the probe cell of an executed notebook printed."""
    values = take_probe(json.loads(executed.read_text()))
    assert values is not None, f"no probe cell in {executed}"
    return values


def probe_json(name: str) -> Path:
    """Where ``make test-notebooks`` keeps what the probe of notebook ``name`` printed."""
    return EXECUTED / f"{Path(name).stem}.probe.json"

