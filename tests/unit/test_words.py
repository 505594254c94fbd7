"""Counts in messages and reprs: "1 file", "2 files"; never "1 files" or "difference(s)" (issue 29)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from labkit import ngff
from labkit._text import plural
from labkit.errors import ConfigurationError, FormatError, PackageIntegrityError
from labkit.packages.verifying import VerifyReport
from labkit.sandbox.core import _resolve

SRC = Path(__file__).resolve().parents[2] / "src" / "labkit"


def test_plural():
    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert plural(1, "axis", "axes") == "1 axis" and plural(3, "axis", "axes") == "3 axes"


def test_a_verify_report_of_one_file_and_one_difference():
    one = VerifyReport("pkg.zip", checked=1, changed={"a.png": "other bytes"})
    assert repr(one) == "<VerifyReport pkg.zip: 1 difference, 1 file checked>"
    assert "(1 file checked)" in one._repr_html_()
    with pytest.raises(PackageIntegrityError, match=r"\(1 difference\):"):
        one.raise_for_problems()
    two = VerifyReport("pkg.zip", checked=2, changed={"a.png": "other bytes"}, missing=["b.png"])
    assert repr(two) == "<VerifyReport pkg.zip: 2 differences, 2 files checked>"


def test_errors_count_in_words():
    with pytest.raises(ConfigurationError, match=r"unknown sandbox service \['s4'\]"):
        _resolve(["s4"])
    with pytest.raises(ConfigurationError, match=r"unknown sandbox services \['s4', 's5'\]"):
        _resolve(["s4", "s5"])
    with pytest.raises(FormatError, match="1 channel name given for 2 channels"):
        ngff.write_image("memory://words", np.zeros((2, 8, 8), np.uint8), axes="cyx", channel_names=["a"])


def _counted_plurals(path: Path) -> list[str]:
    """f-strings that put a count before a plural noun ("{len(x)} files") or write "(s)", in one module."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings and \
                re.search(r"[a-z]\(s\)", node.value.replace("http(s)", "")):
            found.append(f"{path.name}:{node.lineno}: {node.value.strip()[:60]!r}")
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for k in range(len(parts) - 1):
                value, before, after = parts[k], parts[k - 1] if k else None, parts[k + 1]
                counted = isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Call) and \
                    getattr(value.value.func, "id", "") == "len"
                # "8 x 12 wells", "3 of its 40 files": a grid, or a part of a whole (the whole is never one)
                grid = isinstance(before, ast.Constant) and str(before.value).endswith((" x ", " of ", " of its "))
                if counted and not grid and isinstance(after, ast.Constant) and \
                        re.match(r" [a-z]+s\b", str(after.value)) and \
                        not re.match(r" (is|was|has|does|this|its|as)\b", str(after.value)):
                    found.append(f"{path.name}:{node.lineno}: {{len(...)}}{str(after.value)[:30]!r}")
    return found


def test_no_count_is_followed_by_a_fixed_plural():
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in _counted_plurals(path)]
    assert found == [], "use labkit._text.plural:\n" + "\n".join(found)
