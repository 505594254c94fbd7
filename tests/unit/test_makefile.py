"""What the Makefile gives a user: one sandbox shared with the CLI, JupyterLab that starts as root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _make(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_SANDBOX_DIR", "MAKEFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=env, capture_output=True, text=True,
                          check=True).stdout


def test_make_lab_uses_the_sandbox_the_cli_finds():
    probe = "--eval=probe-%: ; @echo \"[$$LABKIT_SANDBOX_DIR]\""
    assert _make(probe, "probe-lab").strip() == "[]"  # lab, sandbox-up/down: the default sandbox folder
    own = _make("--eval=probe-own: ; @echo $(OWN_SANDBOX)", "probe-own").strip()
    assert own == str(ROOT / "build" / "sandbox")  # make's own test runs keep theirs inside the checkout


def test_make_lab_starts_jupyterlab_as_root():
    command = [line for line in _make("-n", "lab").splitlines() if "jupyter lab" in line]
    assert command and ("--allow-root" in command[0]) == (os.getuid() == 0)
