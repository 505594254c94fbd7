"""labkit.sandbox: real local servers that speak the protocols of the public services.

``Sandbox`` runs them for the lifetime of a ``with`` block; ``labkit sandbox up``
(or :func:`ensure`) runs them in the background and records them in a state file
that :func:`current` finds from any process, a notebook kernel included.

Examples
--------
>>> from labkit.sandbox import Sandbox
>>> with Sandbox(services=["s3", "omero"]) as sb:  # doctest: +SKIP
...     print(sb.s3.endpoint_url, sb.omero.url)
"""

from labkit.sandbox.core import SERVICES, Sandbox, current, default_services, down, ensure, running, start_background
from labkit.sandbox.state import data_folder, default_root

__all__ = ["SERVICES", "Sandbox", "current", "data_folder", "default_root", "default_services", "down", "ensure",
           "running", "start_background"]
