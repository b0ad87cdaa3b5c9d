"""A real HTTP server on loopback answering Coinbase's authenticated endpoints, for the client's tests.

Every request must carry a bearer JWT that the sandbox's `KeyStore` (the server side of CDP auth,
written apart from the client) accepts for that method, `Host` and path; anything else gets a
plain-text 401, and the refusal's reason is kept in `auth_failures`. The endpoints follow the
Advanced Trade API page on their own: string decimals, cursor paging, HTTP 200 with
`success: false` for a refused order, `client_order_id` idempotency. Market orders fill at once
at `prices[product]` (taker fee); limit orders rest until cancelled. `fail_next` makes the next
requests answer an error, optionally after doing their work (an answer lost on the way back)::

    with AuthedCoinbaseServer(store, accounts) as server:
        client = CoinbaseRestClient(server.url, auth=auth_hook(key))
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from gpt_trader.sandbox.keys import AuthError, KeyStore
from tests.support.loopback_http import Answer, IncomingRequest, LoopbackHttpServer

PREFIX = "/api/v3/brokerage"
TAKER_FEE = Decimal("0.006")
BASE_INCREMENT = Decimal("0.00000001")
ACCOUNT_ROUTE = re.compile(rf"{PREFIX}/accounts/(?P<uuid>[^/]+)")
ORDER_ROUTE = re.compile(rf"{PREFIX}/orders/historical/(?P<order_id>[^/]+)")
SUPPORTED_CONFIGURATIONS = ("market_market_ioc", "limit_limit_gtc")


@dataclass(frozen=True)
class Call:
    """One request as the server saw it, with the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


@dataclass(frozen=True)
class _Fault:
    status: int
    after_handling: bool


class _NotFound(Exception):
    pass


class AuthedCoinbaseServer:
    """Accounts, orders and fills behind JWT auth on 127.0.0.1 (a random free port), in a thread."""

    def __init__(self, keys: KeyStore, accounts: list[dict[str, Any]], prices: dict[str, Decimal] | None = None):
        self.keys = keys
        self.accounts = accounts
        self.prices = prices or {"BTC-USD": Decimal("65000.00"), "ETH-USD": Decimal("3200.00")}
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.auth_failures: list[str] = []
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._http = LoopbackHttpServer(self._handle, name="authed-coinbase-server")

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and call.path == PREFIX + path]

    def fail_next(self, status: int, count: int = 1, *, after_handling: bool = False) -> None:
        """Answer the next `count` requests with `status`; with `after_handling`, do their work first."""
        with self._lock:
            self._faults.extend(_Fault(status, after_handling) for _ in range(count))

    def __enter__(self) -> AuthedCoinbaseServer:
        self._http.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.stop()

    # -- request handling (runs in the server's threads) ---------------------------------------

    def _handle(self, request: IncomingRequest) -> Answer:
        body = json.loads(request.body) if request.body and request.method == "POST" else None
        answer = self._answer(request.method, request.path, request.query, body, request.headers)
        with self._lock:
            self._calls.append(Call(request.method, request.path, request.query, body, answer.status))
        return answer

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: dict[str, str]
    ) -> Answer:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        try:
            if scheme != "Bearer":
                raise AuthError("no bearer token")
            self.keys.verify_rest(token, method, headers.get("host", ""), path)
        except AuthError as refusal:
            with self._lock:
                self.auth_failures.append(refusal.reason)
            return Answer(401, b"Unauthorized", "text/plain")
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault is not None and not fault.after_handling:
                return _plain(fault.status)
            try:
                payload = self._route(method, path, query, body)
            except _NotFound as missing:
                return Answer(404, _error("NOT_FOUND", str(missing)), "application/json")
            if fault is not None:
                return _plain(fault.status)
        return Answer(200, json.dumps(payload).encode(), "application/json")

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        route = (method, path.removeprefix(PREFIX))
        if route == ("GET", "/accounts"):
            page, cursor = _page(self.accounts, query, default_limit=49)
            return {"accounts": page, "has_next": bool(cursor), "cursor": cursor, "size": len(page)}
        if route == ("POST", "/orders"):
            return self._create(body)
        if route == ("POST", "/orders/batch_cancel"):
            return {"results": [self._cancel(order_id) for order_id in body["order_ids"]]}
        if route == ("GET", "/orders/historical/batch"):
            page, cursor = _page(self._matching(self.orders, query), query, default_limit=100)
            return {"orders": page, "sequence": "0", "has_next": bool(cursor), "cursor": cursor}
        if route == ("GET", "/orders/historical/fills"):
            page, cursor = _page(self._matching(self.fills, query), query, default_limit=100)
            return {"fills": page, "cursor": cursor}
        if route == ("POST", "/orders/preview"):
            return self._preview(body)
        if route == ("GET", "/transaction_summary"):
            tier = {"pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "10000"}
            rates = {"taker_fee_rate": str(TAKER_FEE), "maker_fee_rate": "0.004"}
            total_fees = sum((Decimal(fill["commission"]) for fill in self.fills), Decimal(0))
            return {"total_volume": 0, "total_fees": float(total_fees), "fee_tier": tier | rates}
        match = ACCOUNT_ROUTE.fullmatch(path)
        if method == "GET" and match:
            return {"account": self._find(self.accounts, "uuid", match["uuid"])}
        match = ORDER_ROUTE.fullmatch(path)
        if method == "GET" and match:
            return {"order": self._find(self.orders, "order_id", match["order_id"])}
        raise _NotFound(f"no route for {method} {path}")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        for order in self.orders:
            if order["client_order_id"] == body["client_order_id"]:
                return _created(order)
        configuration = body["order_configuration"]
        kind = next(iter(configuration), "")
        if body["product_id"] not in self.prices:
            return _refused("INVALID_PRODUCT_ID", "Invalid product_id", "PREVIEW_INVALID_PRODUCT_ID")
        if kind not in SUPPORTED_CONFIGURATIONS:
            return _refused("UNSUPPORTED_ORDER_CONFIGURATION", "Unsupported order configuration", "")
        order = {
            "order_id": str(uuid.uuid4()),
            "product_id": body["product_id"],
            "user_id": "3333-333333-3333333",
            "order_configuration": configuration,
            "side": body["side"],
            "client_order_id": body["client_order_id"],
            "status": "OPEN",
            "time_in_force": "GOOD_UNTIL_CANCELLED",
            "created_time": _now(),
            "completion_percentage": "0",
            "filled_size": "0",
            "average_filled_price": "",
            "fee": "",
            "number_of_fills": "0",
            "filled_value": "0",
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": "0",
            "size_inclusive_of_fees": False,
            "total_value_after_fees": "0",
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": False,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": "0",
            "last_fill_time": None,
            "edit_history": [],
        }
        if kind == "market_market_ioc":
            self._fill_at_market(order, configuration[kind])
        self.orders.insert(0, order)
        return _created(order)

    def _fill_at_market(self, order: dict[str, Any], sizes: dict[str, str]) -> None:
        price = self.prices[order["product_id"]]
        if "quote_size" in sizes:
            size = (Decimal(sizes["quote_size"]) / price).quantize(BASE_INCREMENT)
        else:
            size = Decimal(sizes["base_size"])
        value = size * price
        commission = value * TAKER_FEE
        fill_time = _now()
        order |= {
            "status": "FILLED",
            "time_in_force": "IMMEDIATE_OR_CANCEL",
            "order_type": "MARKET",
            "completion_percentage": "100",
            "filled_size": str(size),
            "average_filled_price": str(price),
            "number_of_fills": "1",
            "filled_value": str(value),
            "total_fees": str(commission),
            "total_value_after_fees": str(value + commission if order["side"] == "BUY" else value - commission),
            "settled": True,
            "last_fill_time": fill_time,
        }
        fill = {
            "entry_id": uuid.uuid4().hex,
            "trade_id": str(uuid.uuid4()),
            "order_id": order["order_id"],
            "trade_time": fill_time,
            "trade_type": "FILL",
            "price": str(price),
            "size": str(size),
            "commission": str(commission),
            "product_id": order["product_id"],
            "sequence_timestamp": fill_time,
            "liquidity_indicator": "TAKER",
            "size_in_quote": False,
            "user_id": order["user_id"],
            "side": order["side"],
        }
        self.fills.insert(0, fill)

    def _cancel(self, order_id: str) -> dict[str, Any]:
        try:
            order = self._find(self.orders, "order_id", order_id)
        except _NotFound:
            return {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": order_id}
        if order["status"] != "OPEN":
            return {"success": False, "failure_reason": "INVALID_CANCEL_REQUEST", "order_id": order_id}
        order["status"] = "CANCELLED"
        return {"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id}

    def _preview(self, body: dict[str, Any]) -> dict[str, Any]:
        price = self.prices[body["product_id"]]
        sizes = body["order_configuration"]["market_market_ioc"]
        quote = Decimal(sizes["quote_size"])
        return {
            "order_total": str(quote),
            "commission_total": str(quote * TAKER_FEE),
            "errs": [],
            "warning": [],
            "quote_size": str(quote),
            "base_size": str((quote / price).quantize(BASE_INCREMENT)),
            "best_bid": str(price - Decimal("0.01")),
            "best_ask": str(price),
            "is_max": False,
            "slippage": "0",
            "preview_id": str(uuid.uuid4()),
        }

    def _matching(self, records: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
        selected = records
        for key in ("order_ids", "product_ids", "order_status"):
            wanted = query.get(key)
            if wanted:
                field = {"order_ids": "order_id", "product_ids": "product_id", "order_status": "status"}[key]
                selected = [record for record in selected if record[field] in wanted]
        start = query.get("start_date")
        if start:
            since = datetime.fromisoformat(start[0])
            selected = [record for record in selected if datetime.fromisoformat(record["created_time"]) >= since]
        return selected

    @staticmethod
    def _find(records: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
        for record in records:
            if record[key] == value:
                return record
        raise _NotFound(f"{key} {value} could not be found")


def _page(records: list[Any], query: dict[str, list[str]], default_limit: int) -> tuple[list[Any], str]:
    """A page of `records` and the cursor of the next one ("" on the last page)."""
    start = int((query.get("cursor") or ["0"])[0])
    limit = int((query.get("limit") or [str(default_limit)])[0])
    end = start + limit
    return records[start:end], str(end) if end < len(records) else ""


def _created(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("order_id", "product_id", "side", "client_order_id")
    return {
        "success": True,
        "success_response": {key: order[key] for key in keys},
        "order_configuration": order["order_configuration"],
    }


def _refused(error: str, message: str, preview_reason: str) -> dict[str, Any]:
    failure = {
        "error": error,
        "message": message,
        "error_details": "",
        "preview_failure_reason": preview_reason,
        "new_order_failure_reason": "UNKNOWN_FAILURE_REASON",
    }
    return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "", "error_response": failure}


def _now() -> str:
    """The time as Coinbase writes order times: RFC 3339, UTC, nanoseconds."""
    nanoseconds = time.time_ns()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nanoseconds // 1_000_000_000))
    return f"{seconds}.{nanoseconds % 1_000_000_000:09d}Z"


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message, "error_details": message}).encode()


def _plain(status: int) -> Answer:
    """An error as Coinbase's edge sends it: the reason phrase as plain text."""
    return Answer(status, HTTPStatus(status).phrase.encode(), "text/plain")
