"""Every tutorial as stored, the way a user who opens it runs it: JupyterLab's Run All, default parameters.

``make test-notebooks`` runs ``python -m tests.notebooks.run_stored WORKDIR NOTEBOOK...``: the sandbox is
stopped, then each notebook, in the order given, has every code cell sent at once to one kernel
(:func:`tests.notebooks.run_all.run_all`), its probe cell (tests/notebooks/probes.py) last, in ``WORKDIR``
(emptied first: the notebooks write beside themselves, 02's download, 04's local store), and the sandbox is
stopped again at the end. On a cold sandbox, 01 first: the sandbox it starts gains the services 02 and 03 need.

A notebook fails on any traceback, logged ``ERROR``, "Exception ignored", warning logged by Dask's
``distributed`` or HTTP session left open ("Unclosed client session", "... was not closed")
(:data:`run_all.PROBLEMS`) in any output, stderr included, and when a cell marked ``# NBVAL_CHECK_OUTPUT`` shows
other text than its stored output, compared as ``pytest --nbval-lax`` compares (no sanitising: labkit's tests
never gave nbval a sanitize file). Each failure names the notebook, the cell and the output. A notebook that
passed is kept, executed, in
``build/tutorials/<name>`` (``$LABKIT_EXECUTED_DIR``) without its probe cell, for the book (docs/build_site.py),
and what its probe printed beside it (``<stem>.probe.json``), for the notebook tests of its default backend
(tests/notebooks/conftest.py); a notebook that failed leaves neither, and its executed copy, probe included,
in ``WORKDIR/failed``. Exit status 0 when every notebook passed. Importable without pytest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from .probes import EXECUTED, PROBES, probe_json, take_probe
from .run_all import PROBLEMS, as_notebook, run_all, text_of

CHECK = "NBVAL_CHECK_OUTPUT"
#: nbval's other markers (comments and tags): this runner does not implement them, so a notebook must not use them
UNSUPPORTED = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION", "nbval-ignore-output", "nbval-skip",
               "raises-exception")
#: what nbval-lax leaves out of a comparison (its skip_compare, without --nbdime): metadata, counts, pictures, ids
SKIP_COMPARE = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count", "transient",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}
TIMEOUT = 1200  # seconds for a whole notebook (a cold sandbox starts in 01)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def checked(cell: dict) -> bool:
    """Whether nbval-lax compares this cell's output: a ``# NBVAL_CHECK_OUTPUT`` comment line or its tag."""
    comments = {line.strip().lstrip("#").strip() for line in "".join(cell["source"]).splitlines()
                if line.strip().startswith("#")}
    tags = set(cell["metadata"].get("tags", []))
    if used := (comments | tags) & set(UNSUPPORTED):
        raise ValueError(f"nbval markers the Run All runner does not implement: {sorted(used)}")
    return CHECK in comments or "nbval-check-output" in tags


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def comparable(outputs: list[dict]) -> dict[str, list]:
    """Outputs as nbval-lax compares them: each stream's text merged (a terminal's ``\\r`` and ``\\b`` applied),
    under the stream's name; every other field and MIME type of ``data`` flattened, by key, in order."""
    from .run_all import _terminal

    streams: dict[str, str] = {}
    flat: dict[str, list] = defaultdict(list)
    for out in outputs:
        if out["output_type"] == "stream":
            streams[out["name"]] = streams.get(out["name"], "") + _text(out["text"])
            continue
        for key, value in out.items():
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(_text(data))
            elif key not in SKIP_COMPARE:
                flat[key].append(_text(value) if isinstance(value, list | str) else value)
    for name, text in streams.items():
        flat[name].append(_terminal(text))
    return dict(flat)


def differences(stored: list[dict], executed: list[dict]) -> str:
    """How the executed outputs differ from the stored ones, as nbval-lax judges (empty: they agree)."""
    ref, got = comparable(stored), comparable(executed)
    if set(ref) != set(got):
        return f"output fields stored: {sorted(ref)}, now: {sorted(got)}\n" + _both(ref, got)
    for key in ref:
        if ref[key] != got[key]:
            return f"{key} differs\n" + _both({key: ref[key]}, {key: got[key]})
    return ""


def _both(ref: dict, got: dict) -> str:
    def show(d: dict) -> str:
        return "\n".join(f"    [{k}] {v!r}"[:2000] for k, vs in d.items() for v in vs) or "    (nothing)"

    return f"  stored:\n{show(ref)}\n  now:\n{show(got)}"


def run_stored(notebook: Path, workdir: Path) -> list[str]:
    """Run one notebook as stored (Run All); keep it and its probe values when it passed. Its failures."""
    name = notebook.name
    nb = json.loads(notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    try:
        marked = [checked(c) for c in code]
    except ValueError as e:
        return [f"{name}: {e}"]
    probe = PROBES[name].source() if name in PROBES else ""
    for stale in (EXECUTED / name, probe_json(name)):
        stale.unlink(missing_ok=True)  # a failed run leaves no copy the book or the tests could take for a good one
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # ipykernel shows workers' output
    try:
        outputs = run_all(notebook, {}, probe, timeout=TIMEOUT, env=env, cwd=workdir)
    except Exception as e:  # noqa: BLE001  (a timeout, a kernel that died: reported as the notebook's failure)
        return [f"{name}: the run did not finish: {type(e).__name__}: {e}"]
    executed = as_notebook(notebook, outputs, {}, probe, workdir / "executed" / name)
    cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]

    def where(k: int) -> str:
        if k == len(code):
            return f"{name}, the tests' probe cell"
        first = next((line for line in "".join(code[k]["source"]).splitlines() if line.strip()), "")
        return f"{name}, code cell {k + 1} ({first.strip()[:70]!r})"

    failures = []
    for k, cell_outputs in enumerate(outputs):
        for out in cell_outputs:
            text = _ANSI.sub("", "\n".join(out["traceback"]) if out["type"] == "error" else text_of(out))
            if out["type"] == "error" or PROBLEMS.search(text):
                found = PROBLEMS.search(text)
                why = f"an error ({out.get('ename')})" if out["type"] == "error" else repr(found.group())
                failures.append(f"{where(k)}: {why} in its {out['type']} output:\n" + _indent(_excerpt(text)))
    for k, cell in enumerate(code):
        if marked[k] and cell.get("execution_count") and (diff := differences(cell["outputs"], cells[k]["outputs"])):
            failures.append(f"{where(k)}: {CHECK}, the output differs from the stored one: {diff}")
    if failures:
        failed = workdir / "failed" / name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(executed, failed)
        return failures
    done = json.loads(executed.read_text())
    values = take_probe(done)  # the book shows no probe cell
    EXECUTED.mkdir(parents=True, exist_ok=True)
    (EXECUTED / name).write_text(json.dumps(done, indent=1, ensure_ascii=False) + "\n")
    if values is not None:  # written after the notebook: the tests check it is newer than its notebook
        probe_json(name).write_text(json.dumps({"python": sys.prefix, "values": values}))
    return []


def _excerpt(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit // 3] + "\n[...]\n" + text[-2 * limit // 3:]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def sandbox_down() -> None:
    """``labkit sandbox down`` (the sandbox in ``$LABKIT_SANDBOX_DIR``); nothing running is fine."""
    subprocess.run([sys.executable, "-m", "labkit.cli", "sandbox", "down"], check=False)


def main(workdir: str, *notebooks: str) -> int:
    """Run each notebook as stored, in order, from a stopped sandbox to a stopped sandbox; 0 when all passed."""
    work = Path(workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    failures: list[str] = []
    timings = []
    sandbox_down()
    try:
        for nb in map(Path, notebooks):
            print(f"{nb.name}: running every cell at once (Run All) ...", flush=True)
            start = time.monotonic()
            found = run_stored(nb.resolve(), work)
            timings.append((nb.name, "FAILED" if found else "ok", time.monotonic() - start))
            print(f"{nb.name}: {timings[-1][1]} in {timings[-1][2]:.0f} s", flush=True)
            for failure in found:
                print("  " + failure, flush=True)
            failures += found
    finally:
        sandbox_down()
    print("\n".join(f"{n:28} {status:7} {seconds:5.0f} s" for n, status, seconds in timings))
    if failures:
        print(f"\n{len(failures)} problem(s) in the tutorials as stored:\n" + "\n".join(failures), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m tests.notebooks.run_stored WORKDIR NOTEBOOK...")
    sys.exit(main(*sys.argv[1:]))
