"""Coinbase's REST rate limits, enforced by the sandbox: 10 requests/s per IP on the public endpoints,
30 requests/s per key on the authenticated ones (the documented values), answered with 429 and
`Retry-After` when exceeded.

An ASGI middleware in front of the whole app, so the order endpoints are limited too. A request to an
authenticated endpoint is counted against the key named in its JWT (read without verifying it: the
endpoint verifies); one without a readable key is counted against its IP.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from gpt_trader.sandbox.rest import API_PREFIX

PUBLIC_PATHS = (f"{API_PREFIX}/market/", f"{API_PREFIX}/time")


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
    """Token buckets by name; `take(name, rate)` is 0 when a request may go, else the seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, rate: float) -> float:
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(rate, now)
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


class RateLimitMiddleware:
    """Refuses requests over the limits with 429, a `Retry-After` in whole seconds and Coinbase's error body."""

    def __init__(self, app: ASGIApp, limits: RateLimits, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limits = limits
        self.limiter = limiter or RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        public = path.startswith(PUBLIC_PATHS)
        rate = self.limits.public_per_second if public else self.limits.private_per_second
        if rate is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        name = f"ip:{address}" if public else _key_name(scope) or f"ip:{address}"
        wait = self.limiter.take(("public " if public else "private ") + name, rate)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        kind = "public" if public else "private"
        message = f"too many requests: the {kind} limit is {rate:g} per second"
        body = json.dumps({"error": "RESOURCE_EXHAUSTED", "message": message, "error_details": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(max(1, math.ceil(wait))).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _key_name(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            try:
                kid = jwt.get_unverified_header(token.strip()).get("kid")
            except jwt.InvalidTokenError:
                return None
            return f"key:{kid}" if isinstance(kid, str) and kid else None
    return None
