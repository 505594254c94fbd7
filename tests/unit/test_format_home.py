"""The image format has one home: NGFF metadata keys only in ``labkit.ngff``, zarr's file names only in ``_zarr``.

The scanner reads the source with ``ast`` (docstrings are prose, not code, and are not read). An NGFF key is
flagged wherever it appears as a string literal when it means nothing else (``multiscales``, ``image-label``
...); a word that also names other things (``well`` is a column of ``plate.wells``, ``omero`` a server) is
flagged where it is used as a key: a subscript, a dict key, the name asked of ``get``/``pop``/``require_group``
..., the left side of ``in``, or a path element (``labels/...``). A version string is flagged where it is
compared (``version == "0.4"``: what the version means is :mod:`labkit.ngff.spec`'s).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import labkit

SRC = Path(labkit.__file__).parent
#: NGFF keys that mean nothing but NGFF metadata: flagged anywhere
NGFF_KEYS = {"multiscales", "image-label", "coordinateTransformations", "bioformats2raw.layout", "ome",
             "label-value", "rowIndex", "columnIndex", "field_count", "instance_key", "fractal_table_version"}
#: NGFF keys that are also ordinary words of labkit's API: flagged where used as a key or a path element
NGFF_WORDS = {"labels", "tables", "wells", "datasets"}
NGFF_VERSIONS = {"0.1", "0.2", "0.3", "0.4", "0.5"}
ZARR_FILES = ("zarr.json", ".zattrs", ".zgroup", ".zarray", ".zmetadata")
_PATH = re.compile(r"(^|/)(labels|tables)/")
#: methods whose first argument names a metadata key or a group
_KEY_METHODS = {"get", "pop", "setdefault", "require_group", "create_group", "group_keys"}
#: literals that look like NGFF and are not: (module, literal) -> what they are
NOT_NGFF = {
    ("labkit.transfer_meter", "labels"): "a named group of the meter's own regular expression",
    ("labkit.catalog", "0.1"): "IDR's bucket layout: its v0.1 images sit in zarr/v0.1/ (a URL, not metadata)",
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _key_positions(tree: ast.AST) -> set[int]:
    """The ids of string constants read as keys: subscripts, key methods' first argument, the left of ``in``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            ids.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and \
                node.func.attr in _KEY_METHODS:
            ids.add(id(node.args[0]))
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            ids.add(id(node.left))
    return ids


def _compared(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                ids |= {id(n) for n in ast.walk(side) if isinstance(n, ast.Constant)}
    return ids


def scan(source: str) -> list[tuple[int, str, str]]:
    """``(line, kind, literal)`` for each NGFF key (kind ``ngff``) or zarr file name (``zarr``) in ``source``."""
    tree = ast.parse(source)
    skip, keys, compared = _docstrings(tree), _key_positions(tree), _compared(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in skip:
            continue
        text = node.value
        if any(name in text for name in ZARR_FILES):
            found.append((node.lineno, "zarr", text))
        if text in NGFF_KEYS or (text in NGFF_WORDS and id(node) in keys) or _PATH.search(text) or \
                (text in NGFF_VERSIONS and id(node) in compared):
            found.append((node.lineno, "ngff", text))
    return sorted(found)


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _offenders() -> dict[str, list[tuple[int, str, str]]]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        name = _module(path)
        found = [f for f in scan(path.read_text())
                 if not (f[1] == "ngff" and (name == "labkit.ngff" or name.startswith("labkit.ngff.")))
                 and not (f[1] == "zarr" and name == "labkit._zarr") and (name, f[2]) not in NOT_NGFF]
        if found:
            out[name] = found
    return out


def test_the_scanner_sees_planted_literals():
    planted = '''
"""A docstring naming multiscales and zarr.json is prose."""
def f(attrs, root, version, df):
    a = attrs["multiscales"]
    b = {"image-label": 1}
    c = root.require_group("labels")
    d = f"{url}/labels/{name}"
    e = "tables" in attrs
    g = version == "0.5"
    h = root.store.exists("x/.zattrs")
    ok = df["label"], plot(kind="labels"), version_default("0.4")
'''
    found = scan(planted)
    assert [(line, kind) for line, kind, _ in found] == [
        (4, "ngff"), (5, "ngff"), (6, "ngff"), (7, "ngff"), (8, "ngff"), (9, "ngff"), (10, "zarr")]


def test_ngff_metadata_keys_only_in_labkit_ngff_and_zarr_files_only_in_zarr():
    offenders = _offenders()
    assert offenders == {}, "\n".join(
        f"{name}:{line}: {kind} literal {text[:60]!r}" for name, found in offenders.items()
        for line, kind, text in found)


def test_the_scan_reads_the_packages_that_hold_the_keys():  # so the test above cannot pass by reading nothing
    ngff_files = [p for p in (SRC / "ngff").glob("*.py")]
    assert any(kind == "ngff" for p in ngff_files for _, kind, _ in scan(p.read_text()))
    assert any(kind == "zarr" for _, kind, _ in scan((SRC / "_zarr.py").read_text()))
