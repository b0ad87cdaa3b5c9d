"""The engine's JSON shapes carry every field of the recorded Advanced Trade payloads, typed as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange import (
    Exchange,
    OrderEvent,
    account_payload,
    fill_payload,
    order_payload,
)
from tests.support.fixtures import REST_FIXTURES, WS_FIXTURES

KEY = "organizations/org/apiKeys/shapes"


@dataclass(frozen=True)
class FixedQuote:
    bid: Decimal = Decimal("64990.00")
    ask: Decimal = Decimal("65000.00")
    bid_size: Decimal = Decimal("0.3")
    ask_size: Decimal = Decimal("0.3")


@dataclass(frozen=True)
class FixedLevel:
    price: Decimal
    size: Decimal


class FixedMarket:
    """One quote that never changes, and a book that is just its touch."""

    def quote(self, product_id: str) -> FixedQuote:
        return FixedQuote()

    def book(self, product_id: str) -> tuple[list[FixedLevel], list[FixedLevel]]:
        quote = FixedQuote()
        return [FixedLevel(quote.bid, quote.bid_size)], [FixedLevel(quote.ask, quote.ask_size)]


@pytest.fixture
def traded() -> tuple[Exchange, list[OrderEvent]]:
    """An exchange after a partly filled limit buy (one taker fill, the rest resting)."""
    exchange = Exchange(Catalog.default(), FixedMarket(), clock=lambda: datetime(2026, 8, 9, 21, 5, 48, 298032, UTC))
    events: list[OrderEvent] = []
    exchange.subscribe(events.append)
    body = {
        "client_order_id": "shape-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.5", "limit_price": "65100.00", "post_only": False}},
    }
    assert exchange.create_order(KEY, body)["success"] is True
    return exchange, events


def load(name: str) -> Any:
    return json.loads((REST_FIXTURES / name).read_text())


def assert_like(ours: dict[str, Any], recorded: dict[str, Any]) -> None:
    """Every recorded field is present, with a value of the same JSON type (a string stays a string)."""
    missing = recorded.keys() - ours.keys()
    assert not missing, f"missing fields {sorted(missing)}"
    for field, value in recorded.items():
        if value is not None and ours[field] is not None:
            assert type(ours[field]) is type(value), f"{field}: {ours[field]!r} vs recorded {value!r}"


def test_the_order_has_every_field_of_the_recorded_order(traded: tuple[Exchange, Any]) -> None:
    exchange, _ = traded
    (order,) = exchange.list_orders(KEY)
    payload = order_payload(order)
    assert_like(payload, load("http_order.json")["order"])
    recorded = load("coinbase_advanced_rest_extract.json")["fetchClosedOrders_spot"]["httpResponse"]
    assert_like(payload, {k: v for k, v in recorded["orders"][0].items() if k != "cursor"})
    assert (payload["filled_size"], payload["number_of_fills"], payload["status"]) == ("0.3", "1", "OPEN")
    assert payload["completion_percentage"] == "60.00" and payload["average_filled_price"] == "65000.00"
    assert datetime.fromisoformat(payload["created_time"]) == datetime(2026, 8, 9, 21, 5, 48, 298032, UTC)
    assert payload["created_time"] == "2026-08-09T21:05:48.298032Z"


def test_the_fill_has_every_field_of_the_recorded_fills(traded: tuple[Exchange, Any]) -> None:
    exchange, _ = traded
    (fill,) = exchange.list_fills(KEY)
    payload = fill_payload(fill)
    for recorded in load("http_fills.json")["fills"]:
        assert_like(payload, recorded)
    assert (payload["price"], payload["size"], payload["commission"]) == ("65000.00", "0.3", "117.00")
    assert payload["liquidity_indicator"] == "TAKER" and payload["trade_type"] == "FILL"


def test_the_account_has_every_field_of_the_recorded_accounts(traded: tuple[Exchange, Any]) -> None:
    exchange, _ = traded
    usd = account_payload(exchange.accounts(KEY)[0])
    for recorded in load("http_accounts.json")["accounts"]:
        assert_like(usd, recorded)
    # 100000 - (19500.00 + 117.00) spent - 13020.00 + 78.12 held for the resting 0.2.
    assert usd["available_balance"] == {"value": "67284.88", "currency": "USD"}
    assert usd["hold"] == {"value": "13098.12", "currency": "USD"}


def test_the_user_channel_order_has_every_field_of_the_recorded_snapshot(
    traded: tuple[Exchange, list[OrderEvent]]
) -> None:
    exchange, events = traded
    recorded = json.loads((WS_FIXTURES / "ws_user.json").read_text())["events"][0]["orders"][0]
    (snapshot_order,) = exchange.user_snapshot(KEY)
    assert_like(snapshot_order, recorded)
    assert snapshot_order == events[-1].order, "the snapshot shows the order as its last update did"
    assert (snapshot_order["cumulative_quantity"], snapshot_order["leaves_quantity"]) == ("0.3", "0.2")
    assert snapshot_order["order_type"] == "Limit" and snapshot_order["creation_time"].endswith("Z")
