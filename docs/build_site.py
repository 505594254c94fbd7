"""Build the labkit book into build/site: the executed tutorials (with outputs) and the API reference.

Run by ``make site``. Tutorials executed by ``make tutorials`` or by the nbval run of ``make test``
(build/tutorials) are used as they are when they are newer than their source notebook; missing or outdated ones are executed against the sandbox
first. The build fails on a tutorial that ended with an error, and (``sphinx-build -W``) on any warning:
a broken internal link, a page missing from the table of contents, a docstring that does not render.
"""

from __future__ import annotations

import json
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


def main() -> int:
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
    shutil.rmtree(SOURCE, ignore_errors=True)
    shutil.copytree(ROOT / "docs", SOURCE, ignore=shutil.ignore_patterns("build_site.py", "__pycache__"))
    (SOURCE / "tutorials").mkdir()
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(EXECUTED / nb.name, SOURCE / "tutorials" / nb.name)
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                            "-d", str(ROOT / "build" / "site-doctrees"), str(SOURCE), str(SITE)])
    if build.returncode == 0:
        print(f"the book is in {SITE}/index.html (or: python -m http.server -d {SITE.relative_to(ROOT)})")
    return build.returncode


if __name__ == "__main__":
    sys.exit(main())
