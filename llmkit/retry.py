"""llmkit's single retry layer: jittered exponential backoff that honours Retry-After.

Backends never retry (the OpenAI SDK is built with max_retries=0); the client calls
`RetryPolicy.delay` between attempts. `sleep`/`asleep` are module attributes so that
tests can patch them.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

from .errors import LLMKitError

__all__ = ["RetryPolicy"]

sleep = time.sleep
asleep = asyncio.sleep


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0  # a server asking for longer than this is not waited on

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """attempt counts from 0 (the first try)."""
        if attempt >= self.max_retries or not isinstance(error, LLMKitError):
            return False
        if not error.retryable:
            return False
        retry_after = _wait(error)
        return retry_after is None or retry_after <= self.max_retry_after

    def delay(self, error: BaseException, attempt: int) -> float:
        retry_after = _wait(error)
        if retry_after is not None:
            return retry_after
        # "full jitter" backoff: spreads retries of many clients apart
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


def _wait(error: BaseException) -> float | None:
    """The server's Retry-After in seconds; None when it gave none, or none that is a
    wait (negative, NaN, infinite): then backoff applies."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)
