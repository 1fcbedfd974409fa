"""Which failures are transient, and how long to wait before trying again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ._logging import logger
from .errors import ConfigurationError

__all__ = ["RetryPolicy", "is_transient", "call_with_retries"]

T = TypeVar("T")

# HTTP statuses a server, proxy or load balancer gives for conditions that pass.
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_GRPC_CODES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures with exponential backoff and full jitter."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ConfigurationError("RetryPolicy needs 0 <= initial_backoff <= max_backoff")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


def _grpc_code_name(error: BaseException) -> str | None:
    code = getattr(error, "code", None)
    if not callable(code):
        return None
    try:
        value = code()
    except Exception:  # noqa: BLE001 - a foreign object's code() is only a hint
        return None
    return getattr(value, "name", None)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass if the same request is sent again."""
    if isinstance(error, UnexpectedResponse):
        return error.status_code in _TRANSIENT_STATUS
    if isinstance(error, ResourceExhaustedResponse):
        return True
    if isinstance(error, (ResponseHandlingException, httpx.TransportError)):
        return True
    if isinstance(error, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    grpc_code = _grpc_code_name(error)
    return grpc_code in _TRANSIENT_GRPC_CODES


async def call_with_retries(
    operation: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str = "request"
) -> T:
    """Await ``operation()``, retrying transient failures; other failures propagate at once."""
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            if attempt >= policy.max_attempts or not is_transient(error):
                raise
            delay = policy.backoff(attempt)
            logger.debug(
                "transient failure of %s (attempt %s of %s): %s; retrying in %.3fs",
                what, attempt, policy.max_attempts, type(error).__name__, delay,
            )
            await asyncio.sleep(delay)
            attempt += 1
