"""When to retry a Coinbase request, and how long to wait first."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    `attempts` counts every try, the first included. The n-th retry waits a random time between
    half and all of `base_delay * 2**(n-1)` (capped at `max_delay`): the jitter keeps clients
    that failed together from retrying together. A 429's `Retry-After` replaces the backoff, up
    to `max_retry_after`; a server asking for a longer pause gets the error raised instead.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def backoff(self, retry: int, uniform: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        nominal = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return nominal / 2 + nominal / 2 * uniform()


def should_retry(status: int, idempotent: bool) -> bool:
    """429 always (the request was refused before it ran); 5xx only when repeating it is harmless.

    Other 4xx mean the request itself is wrong and would fail again. An order POST is not
    idempotent: after a 5xx it may have landed, so its caller looks it up instead of retrying.
    """
    return status == 429 or (status >= 500 and idempotent)


def retry_after_seconds(value: str | None) -> float | None:
    """The `Retry-After` header in seconds, or None when absent or not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
