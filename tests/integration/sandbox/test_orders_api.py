"""The trading endpoints over real HTTP on loopback: JWT checks, orders, cancels, lists, fills, accounts.

Most tests run the orders router in its own app over a scripted market (so prices and fees are exact);
the last one trades on the full sandbox (`start_sandbox`), whose market is the replay.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from gpt_trader.sandbox import orders, rest
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange import Exchange
from gpt_trader.sandbox.keys import CreatedKey, KeyStore
from gpt_trader.sandbox.server import BackgroundServer
from tests.integration.sandbox.conftest import START, StartSandbox

API = "/api/v3/brokerage"
D = Decimal


@dataclass(frozen=True)
class ScriptedQuote:
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal


@dataclass(frozen=True)
class ScriptedLevel:
    price: Decimal
    size: Decimal


class ScriptedMarket:
    def __init__(self) -> None:
        self.quotes: dict[str, ScriptedQuote] = {}

    def quote(self, product_id: str) -> ScriptedQuote | None:
        return self.quotes.get(product_id)

    def book(self, product_id: str) -> tuple[list[ScriptedLevel], list[ScriptedLevel]]:
        """The touch is the whole book."""
        quote = self.quotes.get(product_id)
        if quote is None:
            return [], []
        return [ScriptedLevel(quote.bid, quote.bid_size)], [ScriptedLevel(quote.ask, quote.ask_size)]


def bearer(key: CreatedKey, uri: str, *, issued: float | None = None, lifetime: int = 120) -> str:
    """A CDP REST JWT as the facts page describes it, made here independently of our client."""
    now = int(time.time() if issued is None else issued)
    claims = {"sub": key.key_name, "iss": "cdp", "nbf": now, "exp": now + lifetime, "uri": uri}
    headers = {"kid": key.key_name, "nonce": secrets.token_hex(16)}
    return jwt.encode(claims, key.private_key_pem, algorithm="ES256", headers=headers)


class Trader:
    """Signs each request for its own method, host and path, as a CDP client must."""

    def __init__(self, url: str, key: CreatedKey) -> None:
        self.url, self.key = url, key
        self.host = url.split("://", 1)[1]

    def call(self, method: str, path: str, *, params: Any = None, body: Any = None, token: str | None = None,
             ) -> httpx.Response:
        token = token or bearer(self.key, f"{method} {self.host}{API}{path}")
        return httpx.request(method, self.url + API + path, params=params, json=body, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, **params: Any) -> Any:
        answer = self.call("GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any) -> Any:
        answer = self.call("POST", path, body=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def order(self, side: str, configuration: dict[str, Any], product_id: str = "BTC-USD") -> Any:
        body = {"client_order_id": secrets.token_hex(8), "product_id": product_id, "side": side,
                "order_configuration": configuration}
        return self.post("/orders", body)


@dataclass
class Venue:
    url: str
    market: ScriptedMarket
    exchange: Exchange
    keys: KeyStore

    def quote(self, product_id: str, bid: str, ask: str, size: str = "10") -> None:
        quote = ScriptedQuote(D(bid), D(ask), D(size), D(size))
        self.market.quotes[product_id] = quote
        self.exchange.on_quote(product_id, quote)

    def trader(self) -> Trader:
        return Trader(self.url, self.keys.create_key())


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    market = ScriptedMarket()
    exchange = Exchange(Catalog.default(), market, clock=lambda: datetime(2026, 8, 9, 21, 0, tzinfo=UTC))
    keys = KeyStore(tmp_path_factory.mktemp("sandbox-state"))
    app = FastAPI()
    rest.install_error_handlers(app)
    app.include_router(orders.router)
    app.state.exchange, app.state.keys = exchange, keys
    with BackgroundServer(app) as server:
        venue = Venue(server.url, market, exchange, keys)
        venue.quote("BTC-USD", "64990.00", "65000.00")
        yield venue


def limit_gtc(size: str, price: str) -> dict[str, Any]:
    return {"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}}


# -- authentication --------------------------------------------------------------------------------


def test_requests_without_a_valid_token_get_a_plain_401(venue: Venue, tmp_path: Path) -> None:
    trader = venue.trader()
    uri = f"GET {trader.host}{API}/accounts"
    stranger = KeyStore(tmp_path).create_key()
    refusals = {
        "no header": httpx.get(venue.url + API + "/accounts", timeout=10),
        "not a JWT": trader.call("GET", "/accounts", token="not-a-jwt"),
        "another path": trader.call("GET", "/accounts", token=bearer(trader.key, f"GET {trader.host}{API}/orders")),
        "another method": trader.call(
            "GET", "/accounts", token=bearer(trader.key, f"POST {trader.host}{API}/accounts")
        ),
        "expired": trader.call("GET", "/accounts", token=bearer(trader.key, uri, issued=time.time() - 300)),
        "unknown key": trader.call("GET", "/accounts", token=bearer(stranger, uri)),
    }
    for case, answer in refusals.items():
        assert (answer.status_code, answer.text) == (401, "Unauthorized"), case
    assert trader.call("GET", "/accounts").status_code == 200


def test_a_get_with_an_empty_json_body_is_served(venue: Venue) -> None:
    trader = venue.trader()
    answer = trader.call("GET", "/transaction_summary", body={})
    assert answer.status_code == 200
    tier = answer.json()["fee_tier"]
    assert (tier["taker_fee_rate"], tier["maker_fee_rate"]) == ("0.006", "0.004")


# -- accounts --------------------------------------------------------------------------------------


def test_accounts_page_by_cursor_and_each_can_be_fetched(venue: Venue) -> None:
    trader = venue.trader()
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = trader.get("/accounts", limit=4, **({"cursor": cursor} if cursor else {}))
        assert page["size"] == len(page["accounts"]) <= 4
        seen += page["accounts"]
        cursor = page["cursor"]
        assert page["has_next"] is bool(cursor)
        if not cursor:
            break
    assert seen[0]["currency"] == "USD", "the funded account comes first"
    assert sorted(a["currency"] for a in seen) == Catalog.default().currencies()
    usd = seen[0]
    assert usd["available_balance"] == {"value": "100000", "currency": "USD"} and usd["type"] == "ACCOUNT_TYPE_FIAT"
    assert trader.get(f"/accounts/{usd['uuid']}") == {"account": usd}
    missing = trader.call("GET", "/accounts/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
    assert venue.trader().call("GET", f"/accounts/{usd['uuid']}").status_code == 404, "not another key's"


# -- orders ----------------------------------------------------------------------------------------


def test_an_order_is_placed_read_listed_and_cancelled(venue: Venue) -> None:
    trader = venue.trader()
    placed = trader.order("BUY", limit_gtc("0.1", "64000.00"))
    assert placed["success"] is True and placed["order_configuration"] == limit_gtc("0.1", "64000.00")
    order_id = placed["success_response"]["order_id"]

    order = trader.get(f"/orders/historical/{order_id}")["order"]
    assert (order["status"], order["order_type"]) == ("OPEN", "LIMIT")
    assert order["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    assert order["outstanding_hold_amount"] == "6438.40"
    assert datetime.fromisoformat(order["created_time"]) == datetime(2026, 8, 9, 21, 0, tzinfo=UTC)
    usd = trader.get("/accounts", limit=1)["accounts"][0]
    assert (usd["available_balance"]["value"], usd["hold"]["value"]) == ("93561.60", "6438.40")

    results = trader.post("/orders/batch_cancel", {"order_ids": [order_id, "no-such-order"]})["results"]
    assert results == [
        {"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id},
        {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": "no-such-order"},
    ]
    assert trader.get(f"/orders/historical/{order_id}")["order"]["status"] == "CANCELLED"
    assert D(trader.get("/accounts", limit=1)["accounts"][0]["hold"]["value"]) == 0


def test_a_refused_order_is_http_200_with_the_failure_shape(venue: Venue) -> None:
    trader = venue.trader()
    refused = trader.order("BUY", limit_gtc("0.000000015", "64000.00"))
    assert refused["success"] is False and refused["order_id"] == ""
    assert refused["error_response"]["error"] == "INVALID_SIZE_PRECISION"
    assert set(refused["error_response"]) == {
        "error", "message", "error_details", "preview_failure_reason", "new_order_failure_reason"
    }
    too_big = trader.order("BUY", {"market_market_ioc": {"quote_size": "200000.00"}})
    assert too_big["error_response"]["error"] == "INSUFFICIENT_FUND"


def test_a_resting_order_fills_as_maker_and_shows_in_fills_and_lists(venue: Venue) -> None:
    trader = venue.trader()
    resting = trader.order("BUY", limit_gtc("0.01", "64500.00"))["order_id"]
    market = trader.order("BUY", {"market_market_ioc": {"quote_size": "100.00"}})["order_id"]
    venue.quote("BTC-USD", "64400.00", "64450.00")
    venue.quote("BTC-USD", "64990.00", "65000.00")

    fills = trader.get("/orders/historical/fills")
    assert [(f["order_id"], f["liquidity_indicator"]) for f in fills["fills"]] == [
        (resting, "MAKER"),
        (market, "TAKER"),
    ]
    maker = fills["fills"][0]
    assert (maker["price"], maker["size"], maker["commission"], maker["side"]) == ("64500.00", "0.01", "2.58", "BUY")
    assert fills["cursor"] == ""
    only = trader.get("/orders/historical/fills", order_ids=[market])["fills"]
    assert [f["order_id"] for f in only] == [market]

    filled = trader.get("/orders/historical/batch", order_status=["FILLED"], product_ids=["BTC-USD", "ETH-USD"])
    assert [o["order_id"] for o in filled["orders"]] == [market, resting]
    assert filled["orders"][1]["average_filled_price"] == "64500.00" and filled["has_next"] is False
    assert trader.get("/orders/historical/batch", order_status=["QUEUED"])["orders"] == [], "documented, never here"
    first = trader.get("/orders/historical/batch", limit=1)
    second = trader.get("/orders/historical/batch", limit=1, cursor=first["cursor"])
    assert first["has_next"] is True and second["has_next"] is False
    assert [first["orders"][0]["order_id"], second["orders"][0]["order_id"]] == [market, resting]

    market_value = trader.get(f"/orders/historical/{market}")["order"]["filled_value"]
    assert D(trader.get("/transaction_summary")["total_volume"]) == D("645.00") + D(market_value)


def test_the_singular_product_id_filters_orders_and_fills(venue: Venue) -> None:
    trader = venue.trader()
    venue.quote("ETH-USD", "3199.00", "3200.00")
    btc = trader.order("BUY", {"market_market_ioc": {"quote_size": "50.00"}})["order_id"]
    eth = trader.order("BUY", {"market_market_ioc": {"quote_size": "50.00"}}, product_id="ETH-USD")["order_id"]

    for path in ("/orders/historical/batch", "/orders/historical/fills"):
        items = "orders" if path.endswith("batch") else "fills"
        assert [o["order_id"] for o in trader.get(path, product_id="BTC-USD")[items]] == [btc]
        assert [o["order_id"] for o in trader.get(path, product_id="ETH-USD")[items]] == [eth]
        assert [o["order_id"] for o in trader.get(path)[items]] == [eth, btc]
        both = trader.get(path, product_id="BTC-USD", product_ids=["ETH-USD"])[items]
        assert [o["order_id"] for o in both] == [eth, btc], "the singular and plural filters add up"


def test_a_preview_answers_what_the_order_would_cost(venue: Venue) -> None:
    trader = venue.trader()
    configuration = {"market_market_ioc": {"quote_size": "50.00"}}
    body = {"product_id": "BTC-USD", "side": "BUY", "order_configuration": configuration}
    preview = trader.post("/orders/preview", body)
    assert preview["errs"] == [] and preview["order_total"] == "50.00"
    assert (preview["best_bid"], preview["best_ask"]) == ("64990.00", "65000.00")
    assert trader.get("/orders/historical/batch")["orders"] == [], "nothing was placed"


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("POST", "/orders", None, ["not", "an", "object"]),
        ("POST", "/orders/batch_cancel", None, {"order_ids": "one"}),
        ("GET", "/orders/historical/batch", {"order_status": "DONE"}, None),
        ("GET", "/orders/historical/batch", {"start_date": "yesterday"}, None),
        ("GET", "/orders/historical/batch", {"limit": 0}, None),
        ("GET", "/orders/historical/fills", {"cursor": "not-a-cursor"}, None),
    ],
)
def test_malformed_requests_get_coinbases_error_body(
    venue: Venue, method: str, path: str, params: dict[str, Any] | None, body: Any
) -> None:
    answer = venue.trader().call(method, path, params=params, body=body)
    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == "INVALID_ARGUMENT" and error["message"] and error["error_details"]


def test_an_unknown_order_is_not_found(venue: Venue) -> None:
    answer = venue.trader().call("GET", "/orders/historical/no-such-order")
    assert answer.status_code == 404 and answer.json()["error"] == "NOT_FOUND"


# -- on the full sandbox ---------------------------------------------------------------------------


def test_on_the_full_sandbox_orders_trade_against_the_replay_in_market_time(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox()
    trader = Trader(sandbox.url, sandbox.keys.create_key())
    bought = trader.order("BUY", {"market_market_ioc": {"quote_size": "500.00"}})
    order = trader.get(f"/orders/historical/{bought['order_id']}")["order"]
    assert order["status"] == "FILLED"
    created = datetime.fromisoformat(order["created_time"]).timestamp()
    assert START <= created < START + 3600, "the exchange keeps the replay's clock, not the wall clock"
    bars = sandbox.bars["BTC-USD"].slice(START - 60, int(created) + 60)
    price = float(order["average_filled_price"])
    assert bars.low.min() * 0.999 <= price <= bars.high.max() * 1.001, "filled at the replayed market's ask"
    unlisted = trader.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}}, product_id="SOL-USD")
    assert unlisted["error_response"]["error"] == "INVALID_PRODUCT_ID", "in the catalogue, but not replayed"
