"""Words for counts in messages and reprs: ``1 file``, ``2 files``."""

from __future__ import annotations

from typing import Any


def plural(n: Any, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1 (``many``: an irregular plural).

    Examples
    --------
    >>> plural(1, "file"), plural(0, "file"), plural(2, "property", "properties"), plural("?", "worker")
    ('1 file', '0 files', '2 properties', '? workers')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {many or noun + 's'}"
