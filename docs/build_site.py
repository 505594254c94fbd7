"""Build the labkit book into build/site: the executed tutorials (with outputs) and the API reference.

Run by ``make site``. Tutorials executed by ``make tutorials`` or by ``make test-notebooks`` (``make test``)
(build/tutorials) are used as they are when they are newer than their source notebook; missing or outdated
ones are executed against the sandbox first. The build fails on a tutorial that ended with an error, and
(``sphinx-build -W``) on any warning: a broken internal link, a page missing from the table of contents,
a docstring that does not render.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS, EXECUTED = ROOT / "notebooks", ROOT / "build" / "tutorials"
SOURCE, SITE = ROOT / "build" / "site-src", ROOT / "build" / "site"


def outdated() -> list[Path]:
    """Tutorials with no executed copy newer than their source."""
    return [nb for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
            if not (EXECUTED / nb.name).is_file() or (EXECUTED / nb.name).stat().st_mtime < nb.stat().st_mtime]


def errors(executed: Path) -> list[str]:
    """What went wrong in an executed notebook: error outputs, or papermill's record of an exception."""
    nb = json.loads(executed.read_text())
    found = [f"{executed.name}: {o.get('ename')}: {o.get('evalue')}" for c in nb["cells"]
             for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        found.append(f"{executed.name}: papermill recorded an exception")
    return found


#: links into the kernel's machine (a Dask dashboard, a 3D view): dead once the notebook has run
_LOOPBACK_LINK = re.compile(r"<a\s[^>]*href=['\"]https?://(?:127\.0\.0\.1|localhost)[^'\"]*['\"][^>]*>(.*?)</a>", re.S)


def for_readers(executed: Path) -> dict:
    """The executed notebook as the book shows it.

    A 3D view is served by the kernel that ran the notebook and is gone with it: the book shows
    ``docs/images/<notebook number>_view_3d.png`` instead. Links to the kernel's machine (the Dask
    dashboard) are dead in the book too: their text stays, not the link. papermill's injected-parameters
    cell (when ``make tutorials`` executed the notebook) is left out: the parameters cell says the same.
    """
    import base64

    nb = json.loads(executed.read_text())
    picture = ROOT / "docs" / "images" / f"{executed.name[:2]}_view_3d.png"
    nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if "text/html" in out.get("data", {}):
                html = "".join(out["data"]["text/html"])
                out["data"]["text/html"] = _LOOPBACK_LINK.sub(r"\1", html)
            html = "".join(out.get("data", {}).get("text/html", ""))
            if "labkit-volume-view" in html:
                if not picture.is_file():
                    raise FileNotFoundError(f"{executed.name} shows a 3D view: the book needs its picture {picture}")
                out["data"] = {"image/png": base64.b64encode(picture.read_bytes()).decode(),
                               "text/plain": "the 3D view (a picture: in JupyterLab it is live)"}
    return nb


def main() -> int:
    """Execute the tutorials that have no up-to-date copy, then build the book; 0 when it was built."""
    if todo := outdated():
        print("executing", ", ".join(nb.name for nb in todo), flush=True)
        run = subprocess.run([sys.executable, "-m", "labkit.cli", "tutorials", "run", *map(str, todo),
                              "--output", str(EXECUTED)])
        if run.returncode != 0:
            print("a tutorial failed: the book is not built", file=sys.stderr)
            return 1
    problems = [e for nb in sorted(EXECUTED.glob("[0-9][0-9]_*.ipynb")) for e in errors(nb)]
    if problems:
        print("tutorials that ended with an error:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"building the book from {len(list(EXECUTED.glob('[0-9][0-9]_*.ipynb')))} executed tutorials ...",
          flush=True)
    shutil.rmtree(SOURCE, ignore_errors=True)
    shutil.copytree(ROOT / "docs", SOURCE, ignore=shutil.ignore_patterns("build_site.py", "__pycache__"))
    (SOURCE / "tutorials").mkdir()
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        (SOURCE / "tutorials" / nb.name).write_text(json.dumps(for_readers(EXECUTED / nb.name), indent=1))
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                            "-d", str(ROOT / "build" / "site-doctrees"), str(SOURCE), str(SITE)])
    if build.returncode == 0:
        print(f"the book is in {SITE}/index.html (or: python -m http.server -d {SITE.relative_to(ROOT)})")
    return build.returncode


if __name__ == "__main__":
    sys.exit(main())
