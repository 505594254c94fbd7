"""Every package labkit and the tutorials import is declared in pyproject.toml and both conda environments."""

from __future__ import annotations

import ast
import functools
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# conda-forge names that differ from PyPI's
CONDA_NAMES = {"dask-gateway-server": "dask-gateway-server-local"}
# optional backends with a profile of their own: itkwidgets needs zarr<3, so it cannot share the main environments
OWN_PROFILE = {"itkwidgets"}


def _imports(source: str) -> set[str]:
    """Dotted module names imported (plainly or through labkit's attempt_import)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "attempt_import" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    return names


def _distribution(module: str, mapping: dict[str, list[str]]) -> str:
    top = module.split(".")[0]
    candidates = mapping[top]
    if len(candidates) > 1:  # a namespace package such as odc: odc.stac comes from odc-stac
        dotted = canonicalize_name(".".join(module.split(".")[:2]))
        candidates = [d for d in candidates if canonicalize_name(d) == dotted] or candidates
    return canonicalize_name(candidates[0])


@functools.cache
def _used() -> list[str]:
    """The distributions labkit's code and notebooks import, sorted (read once, when a test asks: collecting the
    suite, in every pytest worker, takes no time for it)."""
    modules = set()
    for path in (ROOT / "src" / "labkit").rglob("*.py"):
        modules |= _imports(path.read_text())
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                src = "".join(cell["source"])
                lines = [line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))]
                modules |= _imports("\n".join(lines))
    modules = {m for m in modules if m.split(".")[0] not in set(sys.stdlib_module_names) | {"labkit", "__future__"}}
    mapping = packages_distributions()
    dists = set()
    for m in modules:
        top = m.split(".")[0]
        if top in OWN_PROFILE:
            dists.add(top)
            continue
        assert top in mapping, f"{m} is imported but no installed distribution provides it"
        dists.add(_distribution(m, mapping))
    return sorted(dists - {"labkit"})


def _pyproject() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {k: v for k, v in project["optional-dependencies"].items() if k != "itk"}  # itk: its own profile
    reqs = list(project["dependencies"]) + [r for extra in extras.values() for r in extra]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs if not r.startswith("labkit")}


def _conda(path: Path) -> dict[str, str | None]:
    env = yaml.safe_load(path.read_text())
    out: dict[str, str | None] = {}
    for dep in env["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            if spec.startswith("-"):
                continue
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(?:(==|=|>=)\s*([0-9][^,\s]*))?", spec)
            out[canonicalize_name(m[1])] = m[3] if m[2] in ("==", "=") else None
    return out


def test_imports_found():
    assert {"dask", "zarr", "xarray", "s3fs", "ipfsspec", "odc-stac", "pystac-client"} <= set(_used())


def test_declared_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    declared |= {canonicalize_name(Requirement(r).name) for extra in project["optional-dependencies"].values()
                 for r in extra}
    undeclared = [dist for dist in _used() if dist not in declared]
    assert undeclared == [], f"{undeclared} are imported but not declared in pyproject.toml"


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_declared_in_conda_environments(env_file):
    env = _conda(ROOT / env_file)
    missing = [d for d in _used() if d not in OWN_PROFILE and d not in env and CONDA_NAMES.get(d, d) not in env]
    assert missing == [], f"{env_file} lacks {missing}"


def test_binder_pins_satisfy_pyproject():
    reqs = _pyproject()
    for name, pin in _conda(ROOT / "binder" / "environment.yml").items():
        if pin and name in reqs and reqs[name].specifier:
            # a conda pin like 3.1 means 3.1.*: its first release must satisfy the requirement
            assert reqs[name].specifier.contains(Version(pin), prereleases=True), f"{name}={pin} vs {reqs[name]}"
