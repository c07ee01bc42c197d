"""Named retry policies for the API client (tenacity), in one place.

Only transport failures, 503 and a 429 that says ``Retry-After`` are retried, never another 4xx:
the caller's request was wrong and repeating it cannot help. ``Retry-After`` from the server wins
over our own backoff. A 429 without ``Retry-After`` is an answer, not overload (client-go retries
a 429 only with the header too): ``pods/eviction`` refuses so while a disruption budget is spent,
and retrying it here would hide the refusal from a drain for seconds and let the eviction through
as soon as a replacement is ready, as if the budget had never refused it.
"""

from __future__ import annotations

import asyncio

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from kboot.controlplane.client.errors import ServerUnavailable, TooManyRequests

_backoff = wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, TooManyRequests):
        return exc.retry_after is not None
    if isinstance(exc, ServerUnavailable):
        return exc.code == 503
    return isinstance(exc, aiohttp.ClientConnectionError | asyncio.TimeoutError)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        return float(min(retry_after, 30.0))
    return float(_backoff(state))


def api_request_policy(attempts: int = 6) -> AsyncRetrying:
    """The policy every non-streaming API request runs under."""
    return AsyncRetrying(retry=retry_if_exception(is_retryable), wait=_wait,
                         stop=stop_after_attempt(attempts), reraise=True)
