"""Fixtures of the sandbox tests that need SLURM: a sandbox running SLURM only, one per test file."""

from __future__ import annotations

import pytest

from labkit.sandbox import Sandbox
from tests.sandbox._slurm import squeue


@pytest.fixture(scope="module")
def slurm_sandbox(tmp_path_factory):
    """A sandbox running SLURM only, for one test file."""
    with Sandbox(services=["slurm"], root=tmp_path_factory.mktemp("slurm-sandbox")) as sb:
        yield sb


@pytest.fixture
def slurm_env(slurm_sandbox, monkeypatch):
    """SLURM_CONF (and SBATCH_OUTPUT) of this file's sandbox in the test's environment, as sandbox mode sets them."""
    for key, value in slurm_sandbox.slurm.env().items():
        monkeypatch.setenv(key, value)
    yield slurm_sandbox
    assert squeue(slurm_sandbox) == {}, "a test left jobs in the queue"
