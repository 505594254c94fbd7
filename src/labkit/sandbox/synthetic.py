"""Deprecated: the synthetic data generators moved to :mod:`labkit.synthetic`."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    import labkit.synthetic
    from labkit.errors import deprecated

    if name.startswith("__") or name not in labkit.synthetic.__all__:
        raise AttributeError(f"module 'labkit.sandbox.synthetic' has no attribute {name!r}")
    deprecated(f"labkit.sandbox.synthetic.{name}", f"labkit.synthetic.{name}")
    return getattr(labkit.synthetic, name)
