"""labkit.sandbox: real local servers that speak the protocols of the public services.

``Sandbox`` runs them for the lifetime of a ``with`` block; ``labkit sandbox up``
(or :func:`ensure`) runs them in the background and records them in a state file
that :func:`current` finds from any process, a notebook kernel included.

Examples
--------
>>> from labkit.sandbox import Sandbox
>>> with Sandbox(services=["s3", "omero"]) as sb:  # doctest: +SKIP
...     print(sb.endpoints())
"""

from typing import Any

from labkit.sandbox.core import SERVICES, Sandbox, current, default_services, down, ensure, running, start_background
from labkit.sandbox.state import default_root

__all__ = ["SERVICES", "Sandbox", "current", "default_root", "default_services", "down", "ensure", "running",
           "start_background"]


def __getattr__(name: str) -> Any:
    if name == "data_folder":  # moved: generated data is not the sandbox's
        from labkit.errors import deprecated
        from labkit.synthetic import data_folder

        deprecated("labkit.sandbox.data_folder", "labkit.synthetic.data_folder")
        return data_folder
    raise AttributeError(f"module 'labkit.sandbox' has no attribute {name!r}")
