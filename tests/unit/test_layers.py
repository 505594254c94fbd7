"""The package's layers point one way: the library never imports the sandbox, and no import cycle exists."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labkit
from labkit.errors import LabkitDeprecationWarning

SRC = Path(labkit.__file__).parent
#: the only modules outside the sandbox that may load it: the mode switch and the command line
MAY_LOAD_SANDBOX = {"labkit.modes", "labkit.cli"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py") if "node_modules" not in p.parts}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every labkit module ``name`` imports, at the top or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            for a in node.names:  # `from labkit import errors` imports the module labkit.errors
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_the_walk_sees_imports(graph):  # the walker itself, so the tests below cannot pass by seeing nothing
    assert "labkit.sandbox.core" in graph["labkit.sandbox"]
    assert "labkit.sandbox" in graph["labkit.modes"]  # an import inside a function
    assert {"labkit.config", "labkit.catalog"} <= graph["labkit.connect"]


def test_no_data_path_module_imports_the_sandbox(graph):
    offenders = {
        name: sorted(m for m in deps if m == "labkit.sandbox" or m.startswith("labkit.sandbox."))
        for name, deps in graph.items()
        if not name.startswith("labkit.sandbox") and name not in MAY_LOAD_SANDBOX
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_graph_has_no_cycle(graph):
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_using_the_library_against_given_endpoints_does_not_load_the_sandbox(sandbox, tmp_path):
    """In a fresh process that only has the sandbox's environment, as a user with services of their own would."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import labkit
        from labkit import connect, ipfs, load_remote, results

        ep = labkit.Endpoints.from_environment("live")
        with connect.omero(ep.omero) as conn:
            meta = conn.image(6001240)
        image = load_remote.open_image(meta.zarr_url, level=2, endpoint_url=ep.idr_s3)
        assert image.shape[1] == 2
        assert ipfs.node_id()["ID"]
        step = results.checkpoint({str(tmp_path)!r}, target="{{i}}.npy")(lambda i: np.arange(i))
        assert step(3).tolist() == [0, 1, 2] and step.state(3) == "fresh"
        gw = connect.gateway()
        gw.list_clusters()
        gw.close()
        print(sorted(m for m in sys.modules if m.startswith("labkit.sandbox")))
    """)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("LABKIT_", "AWS_", "IPFS_"))}
    env.update(sandbox.env())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("old,new", [
    ("labkit.Dataset", "labkit.Manifest"),
    ("labkit.results.Dataset", "labkit.results.Manifest"),
    ("labkit.sandbox.synthetic.cell_fields", "labkit.synthetic.cell_fields"),
    ("labkit.sandbox.data_folder", "labkit.synthetic.data_folder"),
    ("labkit.stores.open_store", "labkit.storage.open_store"),
    ("labkit.load_remote.load_stac", "labkit.stac.load_stac"),
    ("labkit.load_remote.download", "labkit.downloads.download"),
])
def test_renamed_names_still_work_with_a_deprecation_warning(old, new):
    def get(dotted):
        module, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    with pytest.warns(LabkitDeprecationWarning, match=new.rsplit(".", 1)[-1]):
        assert get(old) is get(new)
