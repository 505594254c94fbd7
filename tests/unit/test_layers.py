"""The package's layers point one way, as docs/architecture.md says: every import goes to the same layer or a
lower one, the library never imports the sandbox, and no import cycle exists."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labkit
from labkit.errors import LabkitDeprecationWarning

SRC = Path(labkit.__file__).parent
ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
#: the only modules outside the sandbox that may load it: the mode switch and the command line (and the package's
#: lazy attribute ``labkit.sandbox``, loaded when a user names it)
MAY_LOAD_SANDBOX = {"labkit.modes", "labkit.cli", "labkit"}
#: calls that import the module their first argument names
IMPORTING_CALLS = {"import_module", "__import__", "attempt_import"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py") if "node_modules" not in p.parts}


def _called_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _named_by(arg: ast.expr, constants: set[str], known: set[str]) -> set[str]:
    """The labkit modules an importing call's argument may name.

    A string names itself; an f-string (``f"labkit.{name}"``) any string of the module that completes it
    into a module's name (the lazy attributes of ``labkit``: its lists of submodules and of public names); any
    other expression (``_MOVED[name]``, a deprecation shim's table) any string of the module that is a module's
    name. Counting every candidate can only add arrows, never hide one.
    """
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if isinstance(arg, ast.JoinedStr):
        parts = arg.values
        prefix = parts[0].value if parts and isinstance(parts[0], ast.Constant) else ""
        suffix = parts[-1].value if len(parts) > 1 and isinstance(parts[-1], ast.Constant) else ""
        return {f"{prefix}{c}{suffix}" for c in constants} & known
    return constants & known


def _imports(name: str, source: str, known: set[str], package: bool = False) -> set[str]:
    """Every labkit module the module ``name`` (its ``source``) imports: statements at the top or inside
    functions, and calls of ``importlib.import_module``, ``__import__`` and ``labkit._lazy.attempt_import``."""
    base_package = name if package else name.rpartition(".")[0]
    tree = ast.parse(source)
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    importing = set(IMPORTING_CALLS)
    for node in ast.walk(tree):  # `from importlib import import_module as load`
        if isinstance(node, ast.ImportFrom):
            importing |= {a.asname for a in node.names if a.name in IMPORTING_CALLS and a.asname}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = base_package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + [base]).strip(".")
            for a in node.names:  # `from labkit import errors` imports the module labkit.errors
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
        elif isinstance(node, ast.Call) and _called_name(node) in importing and node.args:
            for m in _named_by(node.args[0], constants, known):
                while m not in known and "." in m:  # a dotted name beyond a module: the module it lies in
                    m = m.rpartition(".")[0]
                found.add(m)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path.read_text(), set(modules), path.name == "__init__.py")
            for name, path in modules.items()}


def _layer_table() -> tuple[list[str], dict[str, int], list[str]]:
    """docs/architecture.md's layers: their titles, row (a module, and those under it) -> layer, and every row
    as written (to find one written twice)."""
    titles: list[str] = []
    rows: dict[str, int] = {}
    written: list[str] = []
    for line in ARCHITECTURE.read_text().splitlines():
        if heading := re.match(r"## Layer (\d+): (.+)", line):
            assert int(heading[1]) == len(titles) + 1, f"layers out of order at {line!r}"
            titles.append(heading[2].strip())
        elif (row := re.match(r"\| `(labkit(?:\.\w+)*)` \|", line)) and titles:
            written.append(row[1])
            rows[row[1]] = len(titles)
    return titles, rows, written


def _layer_of(module: str, rows: dict[str, int]) -> int | None:
    """The layer of the most specific row naming ``module`` or a package above it (``labkit`` is itself only)."""
    candidates = [r for r in rows if module == r or (r != "labkit" and module.startswith(r + "."))]
    return rows[max(candidates, key=len)] if candidates else None


@pytest.fixture(scope="module")
def layers() -> tuple[list[str], dict[str, int], list[str]]:
    return _layer_table()


def test_the_walk_sees_imports(graph):  # the walker itself, so the tests below cannot pass by seeing nothing
    assert "labkit.sandbox.core" in graph["labkit.sandbox"]
    assert "labkit.sandbox" in graph["labkit.modes"]  # an import inside a function
    assert {"labkit.config", "labkit.catalog"} <= graph["labkit.connect"]
    # labkit's lazy attributes: importlib.import_module(f"labkit.{name}") over its tables of names
    assert {"labkit.viewers", "labkit.nuclei_model", "labkit.packages", "labkit.sandbox"} <= graph["labkit"]
    # deprecation shims: importlib.import_module(_MOVED[name]), and `import labkit.storage` in __getattr__
    assert {"labkit.stac", "labkit.downloads", "labkit.storage"} <= graph["labkit.load_remote"]
    assert "labkit.storage" in graph["labkit.stores"]
    assert "labkit.synthetic" in graph["labkit.sandbox.synthetic"]


def test_the_walk_sees_imports_by_call_and_by_alias():
    """Every way of importing a module by name, in a module made up for the purpose."""
    known = {"labkit", "labkit.a", "labkit.b", "labkit.c", "labkit.d", "labkit.e", "labkit.f", "labkit.g.h"}
    source = textwrap.dedent("""
        from importlib import import_module as load
        from labkit._lazy import attempt_import
        _TABLE = {"x": "labkit.f"}
        def f(name):
            import importlib
            importlib.import_module("labkit.a")
            __import__("labkit.b")
            attempt_import("labkit.c.some_attribute")
            load("labkit.d")
            importlib.import_module(f"labkit.{name}") if name in ("e", "g.h") else None
            return importlib.import_module(_TABLE[name])
        def g():
            from . import a
    """)
    assert _imports("labkit.z", source, known) == known - {"labkit"}
    assert _imports("labkit.z", "import numpy\nimportlib.import_module(f'skimage.{n}')", known) == set()


def test_the_layer_table_is_read(layers):
    titles, rows, _ = layers
    assert len(titles) >= 5 and len(rows) >= 40
    assert _layer_of("labkit.errors", rows) == 1
    assert _layer_of("labkit.results.serializers", rows) == rows["labkit.results"]  # a package's row covers it
    assert _layer_of("labkit.results.provenance", rows) < rows["labkit.results"]  # its own row wins
    assert _layer_of("labkit.not_a_module", rows) is None
    assert _layer_of("labkit.sandbox.core", rows) == len(titles)


def test_every_module_stands_in_exactly_one_layer(graph, layers):
    _, rows, written = layers
    assert sorted({r for r in written if written.count(r) > 1}) == [], "a row written twice in architecture.md"
    assert sorted(m for m in graph if _layer_of(m, rows) is None) == [], \
        "modules missing from docs/architecture.md: give each a row (module and its job) in its layer"
    assert sorted(r for r in rows if r not in graph) == [], "rows of docs/architecture.md that name no module"


def test_every_import_goes_to_the_same_layer_or_a_lower_one(graph, layers):
    titles, rows, _ = layers
    upward = sorted(
        f"{m} ({titles[_layer_of(m, rows) - 1]}) imports {d} ({titles[_layer_of(d, rows) - 1]})"
        for m, deps in graph.items() for d in deps
        if None not in (_layer_of(m, rows), _layer_of(d, rows)) and _layer_of(d, rows) > _layer_of(m, rows)
    )
    assert upward == [], "imports that run up the layers of docs/architecture.md:\n" + "\n".join(upward)


def test_analysis_imports_no_io_and_no_presentation(graph, layers):
    titles, rows, _ = layers
    analysis = titles.index("analysis") + 1
    ours = {m for m in graph if _layer_of(m, rows) == analysis}
    assert {"labkit.segment", "labkit.measurements", "labkit.nuclei_method"} <= ours
    assert {m: sorted(d for d in graph[m] if _layer_of(d, rows) > 1 and _layer_of(d, rows) != analysis)
            for m in ours if any(_layer_of(d, rows) not in (1, analysis) for d in graph[m])} == {}


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


@pytest.mark.parametrize("old,new", [
    ("labkit.recipes.segment_plane", "labkit.plane_nuclei.segment_plane"),
    ("labkit.recipes.count_objects", "labkit.plane_nuclei.count_objects"),
    ("labkit.recipes.count_planes", "labkit.plane_nuclei.count_planes"),
    ("labkit.recipes.match_objects", "labkit.scoring.match_objects"),
    ("labkit.viewers.blend_channels", "labkit._images.blend_channels"),
    ("labkit.modes.DEMO_AUTHOR", "labkit.config.DEMO_AUTHOR"),
])
def test_names_that_moved_down_a_layer_answer_where_they_were(old, new, recwarn):
    """Plain re-exports (the user's name did not change, only the module that defines it): no warning."""
    def get(dotted):
        module, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    assert get(old) is get(new)
    assert not [w for w in recwarn if issubclass(w.category, LabkitDeprecationWarning)]
