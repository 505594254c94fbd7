"""ipfsspec's ``ipfs://`` filesystem, with retries that leave a gateway's 504 (not found in time) alone.

ipfsspec's HTTP client retries every 5xx answer five times, so a CID that no node has took five gateway
timeouts (minutes) to fail. This one retries the answers that are worth it (500, 502, 503) and lets a 504
through at once, which labkit reports as "not found on IPFS".
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import aiohttp_retry
import fsspec
from ipfsspec.async_ipfs import AsyncIPFSFileSystem

RETRIED_STATUSES = {500, 502, 503}


async def _client(**kwargs: Any) -> Any:
    options = aiohttp_retry.ExponentialRetry(
        attempts=5, statuses=RETRIED_STATUSES, retry_all_server_errors=False,
        exceptions={OSError, aiohttp.ServerDisconnectedError, asyncio.TimeoutError},
    )
    return aiohttp_retry.RetryClient(raise_for_status=False, retry_options=options)


class IPFSFileSystem(AsyncIPFSFileSystem):
    """ipfsspec's filesystem with :data:`RETRIED_STATUSES` retried and a 504 reported at once."""

    @property
    def get_client(self) -> Any:
        """The HTTP client factory (ipfsspec assigns its own in ``__init__``: ignored)."""
        return _client

    @get_client.setter
    def get_client(self, value: Any) -> None:
        pass


def register() -> None:
    """Make ``ipfs://`` use :class:`IPFSFileSystem` in this process."""
    if fsspec.registry.get("ipfs") is not IPFSFileSystem:
        fsspec.register_implementation("ipfs", IPFSFileSystem, clobber=True)
