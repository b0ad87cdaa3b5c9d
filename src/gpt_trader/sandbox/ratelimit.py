"""Coinbase's REST rate limits, enforced by the sandbox: 10 requests/s per IP on the public endpoints,
30 requests/s per key on the authenticated ones (the documented values), answered with 429 and
`Retry-After` when exceeded.

Who is counted is what a client cannot forge:

- a public request, against the peer address the socket sees (never `X-Forwarded-For`, which any
  client can write: the server runs without proxy headers);
- an authenticated request, against its key once the JWT is verified (`rest.require_key` asks
  `Throttle.key`), so tokens naming someone else's `kid` spend nothing of theirs;
- a token that fails verification, against its connection: a connection whose refusals outrun the
  private rate is answered 429 before its tokens are even checked (`RateLimitMiddleware`).

Buckets live in a table of bounded size (least recently used dropped first), so made-up names cannot
grow the sandbox's memory.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BUCKETS = 10_000
"""A bucket dropped for room comes back full; only more than this many names busy at once could notice."""


@dataclass(frozen=True)
class RateLimits:
    """Requests per second allowed (None: unlimited), with bursts of one second's worth."""

    public_per_second: float | None = 10
    private_per_second: float | None = 30

    @classmethod
    def off(cls) -> RateLimits:
        return cls(None, None)


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """Token buckets by name; `take(name, rate)` is 0 when a request may go, else the seconds to wait.
    At most `max_buckets` names are remembered, the least recently used forgotten first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = MAX_BUCKETS) -> None:
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, name: str, rate: float) -> float:
        bucket = self._refilled(name, rate)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    def wait(self, name: str, rate: float) -> float:
        """What `take` would answer, without taking anything."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        tokens = min(rate, bucket.tokens + (self.clock() - bucket.updated) * rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate

    def _refilled(self, name: str, rate: float) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(rate, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        return bucket


class Throttle:
    """The sandbox's three limits over one `RateLimiter`; each method answers the seconds to wait (0: go)."""

    def __init__(self, limits: RateLimits, limiter: RateLimiter | None = None) -> None:
        self.limits = limits
        self.limiter = limiter or RateLimiter()

    def public(self, peer: str) -> float:
        rate = self.limits.public_per_second
        return 0.0 if rate is None else self.limiter.take(f"public ip:{peer}", rate)

    def key(self, key_name: str) -> float:
        rate = self.limits.private_per_second
        return 0.0 if rate is None else self.limiter.take(f"private key:{key_name}", rate)

    def refusals_pending(self, connection: str) -> float:
        """How long `connection` must wait before another token of its is checked (its refusals ran out)."""
        rate = self.limits.private_per_second
        return 0.0 if rate is None else self.limiter.wait(f"refused connection:{connection}", rate)

    def refused(self, connection: str) -> None:
        """Count a token of `connection` that failed verification."""
        rate = self.limits.private_per_second
        if rate is not None:
            self.limiter.take(f"refused connection:{connection}", rate)


def too_many_message(kind: str, rate: float) -> str:
    return f"too many requests: the {kind} limit is {rate:g} per second"


def retry_after(wait: float) -> str:
    """The `Retry-After` header's value: whole seconds, at least one."""
    return str(max(1, math.ceil(wait)))


def connection_of(scope: Scope) -> str:
    """The peer `host:port` of the request's TCP connection, as the socket reports it."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"


class RateLimitMiddleware:
    """Refuses public requests over their peer's limit, and authenticated ones from a connection whose
    refused tokens ran over theirs, with 429, a `Retry-After` in whole seconds and Coinbase's error body.
    Paths under `api_prefix` are limited; `/market/...` and `/time` below it are the public ones."""

    def __init__(self, app: ASGIApp, throttle: Throttle, api_prefix: str) -> None:
        self.app = app
        self.throttle = throttle
        self.api_prefix = api_prefix
        self.public_paths = (f"{api_prefix}/market/", f"{api_prefix}/time")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.api_prefix):
            await self.app(scope, receive, send)
            return
        if path.startswith(self.public_paths):
            client = scope.get("client")
            kind, rate = "public", self.throttle.limits.public_per_second
            wait = self.throttle.public(client[0] if client else "unknown")
        else:
            kind, rate = "private", self.throttle.limits.private_per_second
            wait = self.throttle.refusals_pending(connection_of(scope))
        if wait <= 0 or rate is None:
            await self.app(scope, receive, send)
            return
        message = too_many_message(kind, rate)
        body = json.dumps({"error": "RESOURCE_EXHAUSTED", "message": message, "error_details": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", retry_after(wait).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
