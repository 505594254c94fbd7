"""Requests sent again when the connection, not the server, failed them (a reset, a body cut short, a 5xx).

The client libraries retry some of this themselves and not the rest: obstore retries 5xx answers but not a
body cut short nor a PUT whose connection was reset; ipfsspec retries a refused connection but not a 5xx
answer nor a body cut short. These wrappers cover what they leave, a few times, with backoff.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

ATTEMPTS = 5
#: what obstore says when a connection broke (not an answer of the server, which it retries itself)
_DROPPED = ("error sending request", "body error", "connection reset", "connection closed", "incompletemessage")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure worth sending the same request again for.

    Examples
    --------
    >>> is_transient(ConnectionResetError()), is_transient(FileNotFoundError())
    (True, False)
    """
    name = type(exc).__name__
    if name == "GenericError":  # obstore: only a broken connection (it has retried the server's answers)
        text = str(exc).split("Debug source", 1)[0].lower()
        return any(d in text for d in _DROPPED)
    if name in ("ClientPayloadError", "ContentLengthError", "ServerDisconnectedError", "ClientOSError",
                "TransferEncodingError", "IncompleteRead", "ResponseStreamingError"):
        return True
    status = getattr(exc, "status", None)
    if name == "ClientResponseError" and isinstance(status, int):
        return status >= 500 and status != 504  # a 504 is a gateway that waited its time already: not found
    return isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, asyncio.TimeoutError))


def _delay(attempt: int) -> float:
    return 0.05 * 2**attempt


def retrying_async(method: Callable[..., Any], attempts: int = ATTEMPTS) -> Callable[..., Any]:
    """The coroutine function ``method``, sent again with backoff after a transient failure."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(attempts - 1):
            try:
                return await method(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
            await asyncio.sleep(_delay(attempt))
        return await method(*args, **kwargs)

    return call


def retrying(method: Callable[..., Any], attempts: int = ATTEMPTS) -> Callable[..., Any]:
    """The function ``method``, called again with backoff after a transient failure."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(attempts - 1):
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
            time.sleep(_delay(attempt))
        return method(*args, **kwargs)

    return call
