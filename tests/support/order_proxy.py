"""A loopback HTTP proxy in front of an exchange, for tests: it forwards every request as it came (the
Host header too, so the JWT's `uri` still matches) and records it, and it can lose the answer to the next
order POST *after* forwarding it, the realistic failure: the order landed, the client saw an error; or run
something while an order POST is in flight (`before_next_order_post`)::

    with OrderProxy(sandbox.url) as proxy:
        proxy.lose_next_order_answer(503)        # or "timeout": answer only after the client gave up
        client = CoinbaseRestClient(proxy.url, auth=...)
        ...
        assert len(proxy.calls_to("POST", "/orders")) == 1
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx

from tests.support.loopback_http import Answer, IncomingRequest, LoopbackHttpServer

PREFIX = "/api/v3/brokerage"
FORWARDED_HEADERS = ("host", "authorization", "content-type", "accept")
Loss = Literal[500, 502, 503, 504, "timeout"]


@dataclass(frozen=True)
class ProxiedCall:
    method: str
    path: str
    """Below the API prefix: `/orders`, `/orders/historical/batch`."""
    query: dict[str, list[str]]
    body: bytes
    authorization: str
    """The request's Authorization header (a bearer JWT), so a test can look for it where it must not be."""
    status: int
    """What the exchange answered (the client may have seen something else), or 503 for a refused request."""


class OrderProxy:
    def __init__(self, target: str, hang_seconds: float = 2.0) -> None:
        self.target = target.rstrip("/")
        self.calls: list[ProxiedCall] = []
        self._losses: list[Loss] = []
        self._before_post: list[Callable[[], None]] = []
        self._refusals: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._hang_seconds = hang_seconds
        self._http = httpx.Client(timeout=10)
        self._server = LoopbackHttpServer(self._forward, name="order-proxy")

    @property
    def url(self) -> str:
        return self._server.url

    def lose_next_order_answer(self, how: Loss = 503) -> None:
        """Forward the next `POST /orders`, then answer `how` (a 5xx), or answer late ("timeout")."""
        with self._lock:
            self._losses.append(how)

    def refuse_next(self, method: str, path: str, count: int = 1) -> None:
        """Answer the next `count` requests to `method path` (below the API prefix) with a 503, unforwarded."""
        with self._lock:
            self._refusals[(method, path)] = self._refusals.get((method, path), 0) + count

    def before_next_order_post(self, action: Callable[[], None]) -> None:
        """Run `action` (in the proxy's thread) when the next `POST /orders` arrives, before forwarding it:
        whatever it does happens while that order is in flight."""
        with self._lock:
            self._before_post.append(action)

    def calls_to(self, method: str, path: str) -> list[ProxiedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method and call.path == path]

    def _forward(self, request: IncomingRequest) -> Answer:
        path = request.path.removeprefix(PREFIX)
        is_order_post = (request.method, path) == ("POST", "/orders")
        with self._lock:
            action = self._before_post.pop(0) if self._before_post and is_order_post else None
            refused = self._refusals.get((request.method, path), 0) > 0
            if refused:
                self._refusals[(request.method, path)] -= 1
        authorization = request.headers.get("authorization", "")
        if refused:
            with self._lock:
                self.calls.append(ProxiedCall(request.method, path, request.query, request.body, authorization, 503))
            return _internal_error("the proxy refused the request")
        if action is not None:
            action()
        headers = {name: value for name, value in request.headers.items() if name in FORWARDED_HEADERS}
        answer = self._http.request(
            request.method, self.target + request.path, params=request.query, content=request.body, headers=headers
        )
        with self._lock:
            call = ProxiedCall(request.method, path, request.query, request.body, authorization, answer.status_code)
            self.calls.append(call)
            loss = self._losses.pop(0) if self._losses and is_order_post else None
        if loss == "timeout":
            # Hold the answer back until the client has given up waiting (or the proxy stops).
            self._released.wait(self._hang_seconds)
        elif loss is not None:
            return _internal_error("the proxy lost the answer", loss)
        return Answer(answer.status_code, answer.content, answer.headers.get("content-type", "application/json"))

    def start(self) -> OrderProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.stop()
        self._http.close()

    def __enter__(self) -> OrderProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _internal_error(message: str, status: int = 503) -> Answer:
    body = json.dumps({"error": "INTERNAL", "message": message, "error_details": ""})
    return Answer(status, body.encode(), "application/json")
