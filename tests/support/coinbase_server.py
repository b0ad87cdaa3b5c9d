"""A real HTTP server on loopback that answers Coinbase's public market endpoints, for tests.

It follows the Advanced Trade API page (the candles endpoint in particular) on its own, without
sharing code with the client under test: candles newest first, every field a JSON string, absent
buckets for periods without bars, the bucket holding `now` served while it is still forming, and
requests spanning more than 350 buckets refused. It records every request and can be told to
fail the next few (429 with `Retry-After`, 500, 503)::

    with CoinbaseCandleServer({"BTC-USD": bars}, now=1_700_000_000) as server:
        source = CoinbaseSource(rest_url=server.url, clock=server.clock)
        ...
        assert len(server.candle_requests) == 3
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from tests.support.loopback_http import Answer, IncomingRequest, LoopbackHttpServer

PREFIX = "/api/v3/brokerage"
MAX_CANDLES = 350
JSON = "application/json"
# Our own copy of the public candle granularities, so a wrong table in the client cannot hide here.
# FOUR_HOUR is documented for the authenticated endpoint only, so the public one refuses it.
GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
CANDLES_ROUTE = re.compile(rf"{PREFIX}/market/products/(?P<product>[^/]+)/candles")
PRODUCT_ROUTE = re.compile(rf"{PREFIX}/market/products/(?P<product>[^/]+)")


class BarProvider(Protocol):
    """Anything that serves bars: a candle Source (the synthetic market) or a dict of Bars."""

    def fetch(self, product_id: str, granularity: Granularity, start: int, end: int) -> Bars: ...


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (header names lower-cased), with the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        """The query string with the first value of each key (the usual case)."""
        return {key: values[0] for key, values in self.query.items()}


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _BarsByProduct:
    """Serves a dict of Bars, one granularity per product, as a BarProvider."""

    def __init__(self, bars_by_product: Mapping[str, Bars]) -> None:
        self.bars_by_product = dict(bars_by_product)

    def products(self) -> list[str]:
        return list(self.bars_by_product)

    def fetch(self, product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        bars = self.bars_by_product[product_id]
        if bars.granularity is not granularity:
            raise _ApiError(
                400,
                "INVALID_ARGUMENT",
                f"test server holds {product_id} at {bars.granularity.name} only, not {granularity.name}",
            )
        return bars.slice(start, end)


class CoinbaseCandleServer:
    """Coinbase's public market endpoints on 127.0.0.1 (a random free port), in a background thread.

    `bars_by_product` is a dict of Bars keyed by product id, or any BarProvider (then `products`
    lists the ids it knows; without it every id is served). `now` (Unix seconds, settable) is the
    server's clock: buckets after it do not exist yet and the one holding it is still forming;
    None follows the wall clock.
    """

    def __init__(
        self,
        bars_by_product: Mapping[str, Bars] | BarProvider,
        now: int | None = None,
        *,
        products: list[str] | None = None,
    ) -> None:
        if isinstance(bars_by_product, Mapping):
            provider: BarProvider = _BarsByProduct(bars_by_product)
            products = products or list(bars_by_product)
        else:
            provider = bars_by_product
        self.provider = provider
        self.product_ids = products
        self.now = now
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._http = LoopbackHttpServer(self._handle, name="coinbase-server")

    @property
    def url(self) -> str:
        """The REST base URL to give a client (`http://127.0.0.1:PORT`; paths add /api/v3/brokerage)."""
        return self._http.url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def candle_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/candles")]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `count` requests (any path) with `status`, and `Retry-After` if given."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after) for _ in range(count))

    def start(self) -> CoinbaseCandleServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> CoinbaseCandleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def clock(self) -> int:
        return int(time.time()) if self.now is None else int(self.now)

    # -- request handling (runs in the server's threads) ---------------------------------------

    def _handle(self, request: IncomingRequest) -> Answer:
        # Coinbase's SDK sends a JSON body even on GETs; it is ignored.
        answer = self._respond(request.method, request.path, request.query)
        # Recorded before it is answered, so a client holding its answer finds the request.
        recorded = RecordedRequest(request.method, request.path, request.query, answer.status, request.headers)
        with self._lock:
            self._requests.append(recorded)
        return answer

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _respond(self, method: str, path: str, query: dict[str, list[str]]) -> Answer:
        fault = self._take_fault()
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            if fault.status == 500:
                return Answer(500, _error_body("INTERNAL", "internal error"), JSON, headers)
            # 429 and 503 come from Coinbase's edge as plain text, not as the JSON error body.
            return Answer(fault.status, HTTPStatus(fault.status).phrase.encode(), "text/plain", headers)
        try:
            payload = self._route(method, path, query)
        except _ApiError as error:
            return Answer(error.status, _error_body(error.code, error.message), JSON)
        except KeyError as error:
            return Answer(404, _error_body("NOT_FOUND", f"ProductID {error} could not be found"), JSON)
        except Exception as error:  # a broken provider must show in the test, not hang the client
            return Answer(500, _error_body("INTERNAL", f"test server failed: {error!r}"), JSON)
        return Answer(200, json.dumps(payload).encode(), JSON)

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> Any:
        if method != "GET":
            raise _ApiError(404, "NOT_FOUND", f"no route for {method} {path}")
        if path == f"{PREFIX}/time":
            return self._time()
        if path == f"{PREFIX}/market/products":
            return self._products(query)
        match = CANDLES_ROUTE.fullmatch(path)
        if match:
            return self._candles(self._known(match["product"]), query)
        match = PRODUCT_ROUTE.fullmatch(path)
        if match:
            return self._product(self._known(match["product"]))
        raise _ApiError(404, "NOT_FOUND", f"no route for {method} {path}")

    def _known(self, product_id: str) -> str:
        if self.product_ids is not None and product_id not in self.product_ids:
            raise _ApiError(404, "NOT_FOUND", f"ProductID {product_id} could not be found")
        return product_id

    def _time(self) -> dict[str, str]:
        now = self.clock()
        iso = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"iso": iso, "epochSeconds": str(now), "epochMillis": str(now * 1000)}

    def _products(self, query: dict[str, list[str]]) -> dict[str, Any]:
        wanted = query.get("product_ids") or self.product_ids or []
        kind = _one(query, "product_type")
        listed = [self._product(p) for p in wanted if self.product_ids is None or p in self.product_ids]
        listed = [p for p in listed if kind in (None, p["product_type"])]
        offset = _integer(query, "offset", 0)
        limit = _integer(query, "limit", len(listed))
        page = listed[offset : offset + limit]
        pagination = {"prev_cursor": "", "next_cursor": "", "has_next": False, "has_prev": False}
        return {"products": page, "num_products": len(page), "pagination": pagination}

    def _product(self, product_id: str) -> dict[str, Any]:
        base, _, quote = product_id.partition("-")
        return {
            "product_id": product_id,
            "price": self._last_price(product_id),
            "price_percentage_change_24h": "",
            "volume_24h": "",
            "base_increment": "0.00000001",
            "quote_increment": "0.01",
            "price_increment": "0.01",
            "base_min_size": "0.00000001",
            "base_max_size": "3400",
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "status": "online",
            "trading_disabled": False,
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "base_currency_id": base,
            "quote_currency_id": quote,
            "alias": "",
            "alias_to": [],
            "display_name": product_id,
        }

    def _last_price(self, product_id: str) -> str:
        provider = self.provider
        granularity = (
            provider.bars_by_product[product_id].granularity
            if isinstance(provider, _BarsByProduct)
            else Granularity.ONE_HOUR
        )
        now = self.clock()
        recent = provider.fetch(product_id, granularity, now - 7 * 86400, now + 1)
        return _text(recent.close[-1]) if len(recent) else ""

    def _candles(self, product_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        name = _one(query, "granularity") or ""
        if name not in GRANULARITIES:
            raise _ApiError(400, "INVALID_ARGUMENT", f"granularity {name!r} is not supported")
        seconds = GRANULARITIES[name]
        limit = _integer(query, "limit", MAX_CANDLES)
        if not 0 < limit <= MAX_CANDLES:
            raise _ApiError(400, "INVALID_ARGUMENT", f"limit must be between 1 and {MAX_CANDLES}")
        now = self.clock()
        end = _integer(query, "end", now)
        start = _integer(query, "start", end - limit * seconds)
        if start >= end:
            raise _ApiError(400, "INVALID_ARGUMENT", "start must be before end")
        buckets = math.ceil((end - start) / seconds)
        if buckets > MAX_CANDLES:
            raise _ApiError(
                400,
                "INVALID_ARGUMENT",
                f"number of candles requested should be at most {MAX_CANDLES}, got {buckets}",
            )
        # The bucket holding `now` exists (still forming); later ones do not yet.
        served_end = min(end, now // seconds * seconds + seconds)
        bars = self.provider.fetch(product_id, Granularity(seconds), start, served_end)
        keep = (bars.time >= start) & (bars.time < served_end)
        order = np.flatnonzero(keep)[::-1][:limit]
        candles = [
            {
                "start": str(int(bars.time[i])),
                "low": _text(bars.low[i]),
                "high": _text(bars.high[i]),
                "open": _text(bars.open[i]),
                "close": _text(bars.close[i]),
                "volume": _text(bars.volume[i]),
            }
            for i in order
        ]
        return {"candles": candles}


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _integer(query: dict[str, list[str]], key: str, default: int) -> int:
    text = _one(query, key)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise _ApiError(400, "INVALID_ARGUMENT", f"{key} must be an integer, got {text!r}") from None


def _text(value: float) -> str:
    """A decimal string as Coinbase writes it: positional, no exponent, no trailing zeros."""
    return np.format_float_positional(float(value), trim="-")


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "error_details": message, "message": message}).encode()
