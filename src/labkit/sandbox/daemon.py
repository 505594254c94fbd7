"""Run a sandbox in the background until SIGTERM (used by ``labkit sandbox up`` and :func:`ensure`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from labkit.sandbox.core import Sandbox


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, then wait for SIGTERM or SIGINT and stop it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--services", default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sb = Sandbox(services=args.services, root=args.root).start()
    print(f"sandbox ready in {sb.startup_seconds:.1f} s", flush=True)
    for name, url in sb.addresses().items():
        print(f"  {name:8s} {url}", flush=True)
    while not stop.wait(1):
        pass
    sb.stop()
    print("sandbox stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
