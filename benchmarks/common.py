"""Shared helpers of the benchmarks: a sandbox for the run, timing, and the results table."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS: list[dict[str, Any]] = []


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Shortest wall time of ``repeat`` calls (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def record(name: str, ratio: float, target: str, detail: str) -> None:
    """Keep one ratio for the table."""
    RESULTS.append({"benchmark": name, "ratio": round(ratio, 3), "target": target, "detail": detail})
    print(f"{name}: {ratio:.2f} ({target}) {detail}", flush=True)


@contextmanager
def sandbox(services: list[str], **options: Any):
    """A sandbox with ``services`` (and data ``options``) for the benchmark run."""
    from labkit.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as root, \
            Sandbox(services=services, root=root, **options) as sb:
        yield sb


def print_table(out: Path) -> None:
    """Print the results and write them as JSON (with the machine's load when the run ended)."""
    import os

    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    RESULTS.append({"benchmark": "load average 1/5/15 min", "ratio": round(load[0], 2), "target": "",
                    "detail": f"{load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"})
    width = max(len(r["benchmark"]) for r in RESULTS) + 2
    print(f"{'benchmark':{width}s}{'ratio':>8s}  {'target':10s} detail")
    for r in RESULTS:
        print(f"{r['benchmark']:{width}s}{r['ratio']:8.2f}  {r['target']:10s} {r['detail']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=1))
    print(f"\n(written to {out})")
