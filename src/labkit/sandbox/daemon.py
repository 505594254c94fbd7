"""Run a sandbox in the background until SIGTERM (used by ``labkit sandbox up`` and :func:`ensure`).

While it runs it takes requests to start more services: :func:`labkit.sandbox.core.ensure` writes
``requests/<id>.json`` (``{"services": [...]}``) in the sandbox folder; the daemon starts them and answers
``requests/<id>.done.json`` (``{"started": [...]}`` or ``{"error": "..."}``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from labkit.sandbox.core import REQUESTS, Sandbox


def _serve_requests(sb: Sandbox) -> None:
    folder = sb.root / REQUESTS
    for request in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if request.name.endswith(".done.json"):
            continue
        try:
            wanted = json.loads(request.read_text())["services"]
            answer = {"started": sb.add(wanted, progress=lambda line: print(line, flush=True))}
        except Exception as exc:  # noqa: BLE001 - the requester shows it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        request.with_suffix(".done.json").write_text(json.dumps(answer))
        request.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, serve requests for more services, and stop on SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--services", default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sb = Sandbox(services=args.services, root=args.root)
    sb.daemon = True
    sb.start(progress=lambda line: print(line, flush=True))
    print(f"sandbox ready in {sb.startup_seconds:.1f} s", flush=True)
    while not stop.wait(0.3):
        _serve_requests(sb)
    sb.stop()
    print("sandbox stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
