"""The contract every sandbox service follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from labkit._process import ManagedProcess


@dataclass
class Context:
    """What a service needs to start: folders, secrets, options and the records of services started before it."""

    root: Path
    secrets: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        """Folder of the server logs."""
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        """Folder of generated data (kept between runs: generation is deterministic)."""
        return self.root / "data"


class Service:
    """One real server of the sandbox.

    Subclasses set ``name`` and
    implement :meth:`start`, which launches the server, waits until it answers and
    returns the record stored in the state file (``pid``, ``port``, URLs).
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.process: ManagedProcess | None = None

    def start(self, ctx: Context) -> dict[str, Any]:  # pragma: no cover - abstract
        """Start the server and return its state record."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and everything it started."""
        if self.process is not None:
            self.process.stop()
            self.process = None
