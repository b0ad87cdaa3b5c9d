"""A token bucket that paces requests to Coinbase's documented rate, shared by concurrent tasks.

It is the generic cell rate algorithm: each request is given the earliest time at which it may
go, so concurrent callers queue up in order without a lock held across an `await`. The state is
two floats behind a thread lock, so one bucket can pace several event loops (one per thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

_NEGLIGIBLE = 1e-9


class TokenBucket:
    """At most `rate` requests per second on average, in bursts of at most `capacity` (default: `rate`).

    `clock` (monotonic seconds) and `sleep` are injectable, so the timing logic can be tested
    without waiting.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        capacity = rate if capacity is None else capacity
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 request, got {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._interval = 1.0 / rate
        self._burst = (capacity - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # The "theoretical arrival time": when the bucket would be full again if nothing else came.
        self._full_at = clock()

    def reserve(self) -> float:
        """Take one token now and return how many seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._full_at = max(self._full_at, now)
            wait = self._full_at - self._burst - now
            self._full_at += self._interval
            # Sums of 1/rate drift by ~1e-13 s; a wait that small is no wait.
            return wait if wait > _NEGLIGIBLE else 0.0

    def hold(self, seconds: float) -> None:
        """Let no request go for `seconds` (a 429's Retry-After), and start again without a burst."""
        with self._lock:
            self._full_at = max(self._full_at, self._clock() + seconds + self._burst)

    async def acquire(self) -> None:
        """Wait until this caller may send one request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
