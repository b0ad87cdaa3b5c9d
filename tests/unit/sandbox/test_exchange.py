"""The matching engine against a scripted market: fills and fees to the cent, holds, statuses, refusals."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpt_trader.errors import UserError
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange import Exchange, OrderEvent, OrderStatus, fill_payload, order_payload
from gpt_trader.sandbox.exchange.state import load_state, save_state

KEY = "organizations/org/apiKeys/alice"
OTHER_KEY = "organizations/org/apiKeys/bob"
START = datetime(2026, 8, 9, 21, 0, tzinfo=UTC)
D = Decimal


@dataclass(frozen=True)
class ScriptedQuote:
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: Decimal


Book = tuple[list[Level], list[Level]]


class ScriptedMarket:
    """A quote source whose quotes (and, when a test gives them, deeper books) the test sets, one product
    at a time; without a book, the touch is the whole book. It does not trade `closed` products."""

    def __init__(self) -> None:
        self.quotes: dict[str, ScriptedQuote] = {}
        self.books: dict[str, Book] = {}
        self.closed: set[str] = set()

    def quote(self, product_id: str) -> ScriptedQuote | None:
        if product_id in self.closed:
            raise KeyError(product_id)
        return self.quotes.get(product_id)

    def book(self, product_id: str) -> Book:
        if product_id in self.books:
            return self.books[product_id]
        quote = self.quotes.get(product_id)
        if quote is None:
            return [], []
        return [Level(quote.bid, quote.bid_size)], [Level(quote.ask, quote.ask_size)]


class ManualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Venue:
    """An exchange wired to a scripted market and a manual clock, with shorthand for orders."""

    def __init__(self, balances: dict[str, str] | None = None, catalog: Catalog | None = None) -> None:
        self.market = ScriptedMarket()
        self.clock = ManualClock()
        starting = {currency: D(value) for currency, value in (balances or {"USD": "100000"}).items()}
        self.exchange = Exchange(catalog or Catalog.default(), self.market, clock=self.clock,
                                 starting_balances=starting)
        self.events: list[OrderEvent] = []
        self.exchange.subscribe(self.events.append)
        self._ids = 0

    def quote(self, product_id: str, bid: str, ask: str, bid_size: str = "100", ask_size: str = "100") -> None:
        quote = ScriptedQuote(D(bid), D(ask), D(bid_size), D(ask_size))
        book = self.market.books.get(product_id)
        if book is not None and (book[0][0].price, book[1][0].price) != (quote.bid, quote.ask):
            del self.market.books[product_id]
        self.market.quotes[product_id] = quote
        self.exchange.on_quote(product_id, quote)

    def book(self, product_id: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        """A new book of (price, size) levels, best first; its touch is the quote."""
        book = [Level(D(p), D(q)) for p, q in bids], [Level(D(p), D(q)) for p, q in asks]
        self.market.books[product_id] = book
        (bid, *_), (ask, *_) = book
        self.quote(product_id, str(bid.price), str(ask.price), str(bid.size), str(ask.size))

    def order(self, side: str, configuration: dict[str, Any], product_id: str = "BTC-USD",
              key: str = KEY, client_order_id: str | None = None) -> dict[str, Any]:
        self._ids += 1
        body = {
            "client_order_id": client_order_id or f"client-{self._ids}",
            "product_id": product_id,
            "side": side,
            "order_configuration": configuration,
        }
        return self.exchange.create_order(key, body)

    def balance(self, currency: str, key: str = KEY) -> tuple[Decimal, Decimal]:
        """(available, hold) of the key's account in `currency`."""
        account = self.exchange.ledger.account(key, currency)
        return account.available, account.hold

    def status(self, response: dict[str, Any], key: str = KEY) -> OrderStatus:
        order = self.exchange.get_order(key, response["order_id"])
        assert order is not None
        return order.status


def limit(size: str, price: str, kind: str = "limit_limit_gtc", **extra: Any) -> dict[str, Any]:
    return {kind: {"base_size": size, "limit_price": price, **extra}}


# -- market orders ---------------------------------------------------------------------------------


def test_a_market_buy_spends_its_quote_size_at_the_ask_fee_included() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    response = venue.order("BUY", {"market_market_ioc": {"quote_size": "1000.00"}})

    assert response["success"] is True
    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None and order.status is OrderStatus.FILLED
    # 1000 / (65000 × 1.006) = 0.015292858…; 0.01529285 BTC × 65000 = 994.03525 → 994.04; fee 5.96424 → 5.96.
    (fill,) = order.fills
    assert (fill.price, fill.size, fill.value, fill.commission) == (
        D("65000.00"), D("0.01529285"), D("994.04"), D("5.96")
    )
    assert fill.liquidity.value == "TAKER"
    assert venue.balance("USD") == (D("99000.00"), D(0))
    assert venue.balance("BTC") == (D("0.01529285"), D(0))
    assert order.value_after_fees == D("1000.00") and order.completion == 100


def test_a_market_sell_sells_its_base_size_at_the_bid() -> None:
    venue = Venue({"USD": "0", "ETH": "2"})
    venue.quote("ETH-USD", "3000.00", "3000.50")
    response = venue.order("SELL", {"market_market_ioc": {"base_size": "0.5"}}, product_id="ETH-USD")

    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None and order.status is OrderStatus.FILLED
    assert (order.filled_value, order.total_fees, order.average_price) == (D("1500.00"), D("9.00"), D("3000.00"))
    assert venue.balance("USD") == (D("1491.00"), D(0))
    assert venue.balance("ETH") == (D("1.5"), D(0))


def test_a_market_buy_sized_in_base_pays_value_and_fee() -> None:
    venue = Venue()
    venue.quote("DOGE-USD", "0.07030", "0.07040")
    venue.order("BUY", {"market_market_ioc": {"base_size": "1000.0"}}, product_id="DOGE-USD")
    # 1000 × 0.0704 = 70.40000; fee 0.4224 (to the 0.00001 quote increment).
    assert venue.balance("USD") == (D("100000") - D("70.40000") - D("0.42240"), D(0))
    assert venue.balance("DOGE")[0] == D("1000.0")


def test_a_market_order_without_a_quote_is_accepted_then_fails() -> None:
    venue = Venue()
    response = venue.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}})
    assert response["success"] is True
    assert venue.status(response) is OrderStatus.FAILED
    assert [event.order["status"] for event in venue.events] == ["PENDING", "FAILED"]
    assert venue.events[-1].order["reject_reason"] == "INVALID_NO_LIQUIDITY"
    assert venue.balance("USD") == (D(100000), D(0))


# -- limit orders ----------------------------------------------------------------------------------


def test_a_resting_limit_buy_holds_funds_and_fills_as_maker_when_the_ask_reaches_it() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    response = venue.order("BUY", limit("0.1", "64000.00"))

    assert venue.status(response) is OrderStatus.OPEN
    # Held: 0.1 × 64000 = 6400.00 plus the taker-rate fee 38.40.
    assert venue.balance("USD") == (D("93561.60"), D("6438.40"))
    venue.quote("BTC-USD", "64100.00", "64000.01")
    assert venue.status(response) is OrderStatus.OPEN, "an ask one cent above the limit does not reach it"

    venue.quote("BTC-USD", "63900.00", "63950.00")
    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None and order.status is OrderStatus.FILLED
    (fill,) = order.fills
    assert (fill.price, fill.value, fill.commission, fill.liquidity.value) == (
        D("64000.00"), D("6400.00"), D("25.60"), "MAKER"
    ), "a resting order trades at its own price and pays the maker rate"
    assert venue.balance("USD") == (D("93574.40"), D(0))
    assert venue.balance("BTC") == (D("0.1"), D(0))


def test_a_resting_limit_sell_holds_base_and_fills_when_the_bid_reaches_it() -> None:
    venue = Venue({"USD": "0", "SOL": "10"})
    venue.quote("SOL-USD", "150.00", "150.05")
    response = venue.order("SELL", limit("4", "155.00"), product_id="SOL-USD")
    assert venue.balance("SOL") == (D(6), D(4))
    venue.quote("SOL-USD", "155.00", "155.10")
    assert venue.status(response) is OrderStatus.FILLED
    assert venue.balance("SOL") == (D(6), D(0))
    assert venue.balance("USD") == (D("620.00") - D("2.48"), D(0))


ISSUE_BOOK_ASKS = [("15438.40", "0.30"), ("15439.17", "0.35"), ("15440.72", "0.44")]
ISSUE_BOOK_BIDS = [("15438.39", "0.5"), ("15437.00", "1")]


def test_a_marketable_limit_takes_the_book_at_its_prices_never_at_its_own_limit() -> None:
    venue = Venue()
    venue.book("BTC-USD", ISSUE_BOOK_BIDS, ISSUE_BOOK_ASKS)
    response = venue.order("BUY", limit("2", "20069.92"))

    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None and order.status is OrderStatus.OPEN
    assert [(f.price, f.size, f.liquidity.value) for f in order.fills] == [
        (D("15438.40"), D("0.30"), "TAKER"), (D("15439.17"), D("0.35"), "TAKER"), (D("15440.72"), D("0.44"), "TAKER"),
    ], "each level of the book up to the limit, at that level's price"
    venue.book("BTC-USD", ISSUE_BOOK_BIDS, ISSUE_BOOK_ASKS)
    assert order.status is OrderStatus.FILLED
    assert all(f.liquidity.value == "TAKER" and f.price <= D("15440.72") for f in order.fills), (
        "the remainder keeps taking the book while it crosses: it never rests across it"
    )
    assert order.filled_size == 2 and order.average_price < D("15440")
    assert venue.balance("USD") == (D(100000) - order.value_after_fees, D(0))


def test_a_marketable_limit_takes_only_up_to_its_limit_then_rests_and_later_makes() -> None:
    venue = Venue()
    venue.book("BTC-USD", ISSUE_BOOK_BIDS, ISSUE_BOOK_ASKS)
    response = venue.order("BUY", limit("1", "15439.17"))

    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None
    assert [(f.price, f.size) for f in order.fills] == [(D("15438.40"), D("0.30")), (D("15439.17"), D("0.35"))]
    assert order.status is OrderStatus.OPEN and order.remaining_size == D("0.35")
    # Held: what the remaining 0.35 costs at its limit and the taker rate.
    assert order.hold == D("5403.71") + D("32.42")

    venue.quote("BTC-USD", "15440.00", "15441.00")
    assert order.remaining_size == D("0.35"), "the ask moved above the limit: the remainder now rests"
    venue.quote("BTC-USD", "15430.00", "15435.00")
    assert order.status is OrderStatus.FILLED
    maker = order.fills[-1]
    assert (maker.price, maker.size, maker.liquidity.value) == (D("15439.17"), D("0.35"), "MAKER")
    assert venue.balance("USD")[1] == 0 and venue.balance("BTC") == (D(1), D(0))


def test_a_marketable_limit_sell_takes_the_bids_down_to_its_limit() -> None:
    venue = Venue({"USD": "0", "BTC": "3"})
    venue.book("BTC-USD", [("15438.39", "0.5"), ("15437.00", "1"), ("15000.00", "9")], ISSUE_BOOK_ASKS)
    response = venue.order("SELL", limit("2", "15437.00", kind="sor_limit_ioc"))

    order = venue.exchange.get_order(KEY, response["order_id"])
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert [(f.price, f.size) for f in order.fills] == [(D("15438.39"), D("0.5")), (D("15437.00"), D("1"))]
    assert venue.balance("BTC") == (D("1.5"), D(0))


def test_fill_or_kill_counts_the_book_up_to_its_limit() -> None:
    venue = Venue()
    venue.book("BTC-USD", ISSUE_BOOK_BIDS, ISSUE_BOOK_ASKS)
    killed = venue.order("BUY", limit("1", "15439.17", kind="limit_limit_fok"))
    filled = venue.order("BUY", limit("1", "15440.72", kind="limit_limit_fok"))
    assert venue.status(killed) is OrderStatus.CANCELLED
    order = venue.exchange.get_order(KEY, filled["order_id"])
    assert order is not None and order.status is OrderStatus.FILLED
    assert [f.size for f in order.fills] == [D("0.30"), D("0.35"), D("0.35")]


def test_post_only_refuses_to_cross_and_rests_when_it_does_not() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    refused = venue.order("BUY", limit("0.1", "65000.00", post_only=True))
    assert refused["success"] is False
    assert refused["error_response"]["error"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert refused["error_response"]["preview_failure_reason"] == "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    assert venue.exchange.list_orders(KEY) == [] and venue.balance("USD") == (D(100000), D(0))

    rests = venue.order("BUY", limit("0.1", "64999.99", post_only=True))
    assert venue.status(rests) is OrderStatus.OPEN


def test_fill_or_kill_fills_whole_or_not_at_all() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00", ask_size="0.5")
    killed = venue.order("BUY", limit("0.6", "65100.00", kind="limit_limit_fok"))
    assert venue.status(killed) is OrderStatus.CANCELLED
    assert venue.exchange.list_fills(KEY) == [] and venue.balance("USD") == (D(100000), D(0))

    filled = venue.order("BUY", limit("0.5", "65100.00", kind="limit_limit_fok"))
    assert venue.status(filled) is OrderStatus.FILLED
    assert venue.balance("BTC") == (D("0.5"), D(0))


def test_immediate_or_cancel_keeps_what_fills_and_cancels_the_rest() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00", ask_size="0.25")
    partial = venue.order("BUY", limit("1", "65000.00", kind="sor_limit_ioc"))
    order = venue.exchange.get_order(KEY, partial["order_id"])
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert order.filled_size == D("0.25") and order.hold == 0

    missed = venue.order("BUY", limit("1", "64000.00", kind="sor_limit_ioc"))
    assert venue.status(missed) is OrderStatus.CANCELLED
    assert venue.balance("USD")[1] == 0 and venue.balance("BTC")[0] == D("0.25")


def test_a_good_till_date_order_expires_at_its_end_time() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    end = (START + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = venue.order("BUY", limit("0.1", "64000.00", kind="limit_limit_gtd", end_time=end))
    venue.clock.now = START + timedelta(seconds=59)
    venue.quote("BTC-USD", "64980.00", "64990.00")
    assert venue.status(response) is OrderStatus.OPEN

    venue.clock.now = START + timedelta(seconds=60)
    venue.quote("BTC-USD", "63000.00", "63010.00")
    assert venue.status(response) is OrderStatus.EXPIRED, "expired before the quote that would have filled it"
    assert venue.balance("USD") == (D(100000), D(0))

    past = venue.order("BUY", limit("0.1", "64000.00", kind="limit_limit_gtd", end_time=end))
    assert past["success"] is False and "not in the future" in past["error_response"]["error_details"]


def test_cancelling_frees_the_hold_and_reports_each_id() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    resting = venue.order("BUY", limit("0.1", "64000.00"))["order_id"]
    filled = venue.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}})["order_id"]
    bobs = venue.order("BUY", limit("0.1", "64000.00"), key=OTHER_KEY)["order_id"]

    results = venue.exchange.cancel_orders(KEY, [resting, resting, filled, bobs, "no-such-order"])
    assert [(r["success"], r["failure_reason"]) for r in results] == [
        (True, "UNKNOWN_CANCEL_FAILURE_REASON"),
        (False, "DUPLICATE_CANCEL_REQUEST"),
        (False, "INVALID_CANCEL_REQUEST"),
        (False, "UNKNOWN_CANCEL_ORDER"),
        (False, "UNKNOWN_CANCEL_ORDER"),
    ]
    assert [r["order_id"] for r in results][3] == bobs
    assert venue.balance("USD") == (D("99990.00"), D(0))
    assert venue.status({"order_id": bobs}, key=OTHER_KEY) is OrderStatus.OPEN
    venue.quote("BTC-USD", "63000.00", "63010.00")
    assert venue.status({"order_id": resting}) is OrderStatus.CANCELLED, "a cancelled order never fills"


# -- refusals --------------------------------------------------------------------------------------


def test_insufficient_funds_refuses_the_order_and_changes_nothing() -> None:
    venue = Venue({"USD": "1000"})
    venue.quote("BTC-USD", "64990.00", "65000.00")
    venue.order("BUY", limit("0.01", "64000.00"))  # holds 640.00 + 3.84
    too_big = venue.order("BUY", limit("0.01", "64000.00"))
    assert too_big == {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": "INSUFFICIENT_FUND",
            "message": "Insufficient balance in source account",
            "error_details": "the order needs 643.84 USD; 356.16 is available",
            "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
            "new_order_failure_reason": "INSUFFICIENT_FUND",
        },
        "order_configuration": limit("0.01", "64000.00"),
    }
    unfunded_sell = venue.order("SELL", {"market_market_ioc": {"base_size": "0.001"}})
    assert unfunded_sell["error_response"]["error"] == "INSUFFICIENT_FUND"
    assert len(venue.exchange.list_orders(KEY)) == 1
    assert venue.balance("USD") == (D("356.16"), D("643.84"))


def test_a_buy_must_afford_its_hold_at_the_taker_rate() -> None:
    venue = Venue({"USD": "1005.00"})
    venue.quote("BTC-USD", "64990.00", "65000.00")
    # 1000.00 of BTC plus a maker fee (4.00) fits in 1005.00; plus the taker fee held (6.00) does not.
    response = venue.order("BUY", limit("0.02", "50000.00"))
    assert response["error_response"]["error"] == "INSUFFICIENT_FUND"
    assert venue.order("BUY", limit("0.0199", "50000.00"))["success"] is True, "995.00 + 5.97 fits"
    assert venue.balance("USD") == (D("4.03"), D("1000.97"))


@pytest.mark.parametrize(
    ("product_id", "side", "configuration", "error", "preview"),
    [
        ("BTC-USD", "BUY", limit("0.000000015", "65000.00"), "INVALID_SIZE_PRECISION",
         "PREVIEW_INVALID_SIZE_PRECISION"),
        ("BTC-USD", "BUY", limit("0.01", "65000.005"), "INVALID_PRICE_PRECISION", "PREVIEW_INVALID_PRICE_PRECISION"),
        ("LINK-USD", "BUY", limit("0.005", "8.000"), "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
        ("BTC-USD", "BUY", limit("3401", "1.00"), "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
        ("BTC-USD", "BUY", limit("0.00001", "65000.00"), "UNKNOWN_FAILURE_REASON",
         "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "10.001"}}, "INVALID_SIZE_PRECISION",
         "PREVIEW_INVALID_QUOTE_SIZE_PRECISION"),
        ("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "0.99"}}, "UNKNOWN_FAILURE_REASON",
         "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ("BTC-USD", "BUY", limit("0.01", "0"), "INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE"),
        ("XRP-USD", "BUY", limit("1", "1.00"), "INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID"),
        ("BTC-USD", "HOLD", limit("0.01", "65000.00"), "INVALID_SIDE", "PREVIEW_INVALID_SIDE"),
        ("BTC-USD", "BUY", {**limit("0.01", "1.00"), **limit("0.01", "1.00", kind="limit_limit_fok")},
         "UNSUPPORTED_ORDER_CONFIGURATION", "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "BUY", {"stop_limit_stop_limit_gtc": {"base_size": "0.01", "limit_price": "1.00",
                                                          "stop_price": "2.00"}},
         "UNSUPPORTED_ORDER_CONFIGURATION", "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "SELL", {"market_market_ioc": {"quote_size": "10.00"}}, "UNSUPPORTED_ORDER_CONFIGURATION",
         "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "BUY", {"market_market_ioc": {}}, "UNSUPPORTED_ORDER_CONFIGURATION",
         "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "BUY", limit("0.01", 65000.5), "UNSUPPORTED_ORDER_CONFIGURATION", "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "BUY", limit("0.01", "65000.00", post_only="yes"), "UNSUPPORTED_ORDER_CONFIGURATION",
         "PREVIEW_INVALID_ORDER_CONFIG"),
        ("BTC-USD", "BUY", limit("0.01", "65000.00", kind="limit_limit_gtd"), "UNSUPPORTED_ORDER_CONFIGURATION",
         "PREVIEW_INVALID_ORDER_CONFIG"),
    ],
)
def test_invalid_orders_fail_with_coinbases_codes(
    product_id: str, side: str, configuration: dict[str, Any], error: str, preview: str
) -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    response = venue.order(side, configuration, product_id=product_id)
    assert response["success"] is False
    assert (response["error_response"]["error"], response["error_response"]["preview_failure_reason"]) == (
        error,
        preview,
    )
    assert response["error_response"]["error_details"], "the details say what was wrong"
    assert venue.events == [] and venue.exchange.list_orders(KEY) == []


def test_sizes_are_named_with_the_rule_they_break() -> None:
    venue = Venue()
    response = venue.order("BUY", limit("0.000000015", "65000.00"))
    assert response["error_response"]["error_details"] == (
        "base_size 0.000000015 is not a multiple of BTC-USD's base_increment 0.00000001"
    )


def test_a_product_closed_to_trading_refuses_new_orders() -> None:
    catalog = Catalog(replace(spec, trading_disabled=spec.product_id == "ETH-USD") for spec in Catalog.default())
    venue = Venue(catalog=catalog)
    venue.quote("ETH-USD", "3000.00", "3000.50")
    response = venue.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}}, product_id="ETH-USD")
    assert response["error_response"]["error"] == "ORDER_ENTRY_DISABLED"


def test_a_product_the_market_does_not_trade_is_refused() -> None:
    venue = Venue()
    venue.market.closed.add("SOL-USD")
    response = venue.order("BUY", limit("1", "150.00"), product_id="SOL-USD")
    assert response["error_response"]["error"] == "INVALID_PRODUCT_ID"
    assert "does not trade" in response["error_response"]["error_details"]


# -- idempotency, events, snapshot -----------------------------------------------------------------


def test_a_repeated_client_order_id_returns_the_original_order() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    first = venue.order("BUY", {"market_market_ioc": {"quote_size": "100.00"}}, client_order_id="once")
    again = venue.order("BUY", {"market_market_ioc": {"quote_size": "500.00"}}, client_order_id="once")
    assert again == first and first["success_response"]["client_order_id"] == "once"
    assert len(venue.exchange.list_orders(KEY)) == 1
    assert venue.balance("USD")[0] == D("99900.00"), "charged once"
    other = venue.order("BUY", {"market_market_ioc": {"quote_size": "100.00"}}, key=OTHER_KEY, client_order_id="once")
    assert other["order_id"] != first["order_id"], "the id is per key"


def test_a_refused_order_does_not_use_up_its_client_order_id() -> None:
    venue = Venue()
    refused = venue.order("BUY", limit("0.01", "65000.005"), client_order_id="retry-me")
    accepted = venue.order("BUY", limit("0.01", "65000.00"), client_order_id="retry-me")
    assert refused["success"] is False and accepted["success"] is True


def test_every_state_change_is_published_with_the_user_channel_shape() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00", ask_size="0.4")
    partly = venue.order("BUY", limit("1", "66000.00"))["order_id"]
    venue.quote("BTC-USD", "65900.00", "66000.00")
    cancelled = venue.order("BUY", limit("0.1", "60000.00"))["order_id"]
    venue.exchange.cancel_orders(KEY, [cancelled])

    steps = [(e.order["order_id"], e.order["status"], e.order["cumulative_quantity"], e.order["number_of_fills"])
             for e in venue.events]
    assert steps == [
        (partly, "PENDING", "0", "0"),
        (partly, "OPEN", "0", "0"),
        (partly, "OPEN", "0.4", "1"),
        (partly, "FILLED", "1.0", "2"),
        (cancelled, "PENDING", "0", "0"),
        (cancelled, "OPEN", "0", "0"),
        (cancelled, "CANCELLED", "0", "0"),
    ]
    filled = venue.events[3].order
    assert filled["order_type"] == "Limit" and filled["order_side"] == "BUY" and filled["leaves_quantity"] == "0"
    assert filled["limit_price"] == "66000.00" and filled["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    # Both fills take: the rest still crossed the book after arrival, so it never rested as maker.
    assert filled["total_fees"] == "393.60" and filled["filled_value"] == "65600.00"
    assert D(filled["avg_price"]) == D("65600")
    assert venue.events[2].order["leaves_quantity"] == "0.6"
    assert all(event.key_name == KEY for event in venue.events)
    assert all(isinstance(value, str | bool) for event in venue.events for value in event.order.values())


def test_a_failing_subscriber_does_not_stop_the_others_and_unsubscribing_stops_delivery() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")

    def broken(event: OrderEvent) -> None:
        raise RuntimeError("gone away")

    venue.exchange.subscribe(broken)
    seen: list[OrderEvent] = []
    unsubscribe = venue.exchange.subscribe(seen.append)
    venue.order("BUY", limit("0.1", "60000.00"))
    unsubscribe()
    venue.order("BUY", limit("0.1", "60000.00"))
    assert len(seen) == 2 and len(venue.events) == 4


def test_the_user_snapshot_lists_the_keys_open_orders_only() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    open_id = venue.order("BUY", limit("0.1", "60000.00"))["order_id"]
    venue.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}})
    venue.order("BUY", limit("0.1", "60000.00"), key=OTHER_KEY)
    snapshot = venue.exchange.user_snapshot(KEY)
    assert [order["order_id"] for order in snapshot] == [open_id]
    assert snapshot[0]["status"] == "OPEN" and snapshot[0]["leaves_quantity"] == "0.1"


# -- reports ---------------------------------------------------------------------------------------


def test_lists_filter_and_run_newest_first() -> None:
    venue = Venue({"USD": "100000", "ETH": "1"})
    venue.quote("BTC-USD", "64990.00", "65000.00")
    venue.quote("ETH-USD", "3000.00", "3000.50")
    first = venue.order("BUY", limit("0.1", "60000.00"))["order_id"]
    venue.clock.now += timedelta(seconds=10)
    second = venue.order("SELL", {"market_market_ioc": {"base_size": "0.5"}}, product_id="ETH-USD")["order_id"]
    third = venue.order("BUY", {"market_market_ioc": {"quote_size": "10.00"}})["order_id"]

    def ids(**filters: Any) -> list[str]:
        return [order.order_id for order in venue.exchange.list_orders(KEY, **filters)]

    assert ids() == [third, second, first]
    assert ids(product_ids={"BTC-USD"}) == [third, first]
    assert ids(statuses={"OPEN"}) == [first]
    assert ids(side="SELL") == [second]
    assert ids(order_types={"MARKET"}, time_in_forces={"IMMEDIATE_OR_CANCEL"}) == [third, second]
    assert ids(start=START + timedelta(seconds=10)) == [third, second]
    assert ids(end=START + timedelta(seconds=10)) == [first]
    assert venue.exchange.list_orders(OTHER_KEY) == []
    fills = venue.exchange.list_fills(KEY)
    assert [fill.order_id for fill in fills] == [third, second]
    assert [fill.order_id for fill in venue.exchange.list_fills(KEY, product_ids={"ETH-USD"})] == [second]
    assert venue.exchange.list_fills(KEY, trade_ids={fills[0].trade_id}) == [fills[0]]


def test_the_transaction_summary_totals_volume_and_fees() -> None:
    venue = Venue({"USD": "100000", "ETH": "1"})
    venue.quote("ETH-USD", "3000.00", "3000.50")
    venue.order("SELL", {"market_market_ioc": {"base_size": "0.5"}}, product_id="ETH-USD")
    venue.order("BUY", {"market_market_ioc": {"base_size": "0.1"}}, product_id="ETH-USD")
    summary = venue.exchange.transaction_summary(KEY)
    # 1500.00 (fee 9.00) + 300.05 (fee 1.80).
    assert (summary["total_volume"], summary["total_fees"]) == ("1800.05", "10.80")
    assert summary["fee_tier"]["taker_fee_rate"] == "0.006" and summary["fee_tier"]["maker_fee_rate"] == "0.004"
    assert venue.exchange.transaction_summary(OTHER_KEY)["total_volume"] == "0"


def test_a_preview_prices_the_order_without_placing_it() -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    market_buy = {"market_market_ioc": {"quote_size": "1000.00"}}
    preview = venue.exchange.preview_order(
        KEY, {"product_id": "BTC-USD", "side": "BUY", "order_configuration": market_buy}
    )
    assert preview["errs"] == [] and venue.exchange.list_orders(KEY) == []
    assert (preview["base_size"], preview["quote_size"], preview["commission_total"], preview["order_total"]) == (
        "0.01529285", "994.04", "5.96", "1000.00"
    )
    assert (preview["best_bid"], preview["best_ask"]) == ("64990.00", "65000.00")
    poor = venue.exchange.preview_order(OTHER_KEY, {"product_id": "BTC-USD", "side": "SELL",
                                                    "order_configuration": limit("1", "70000.00")})
    assert poor["errs"] == ["PREVIEW_INSUFFICIENT_FUND"]


def test_each_key_starts_with_the_configured_balances_in_every_currency() -> None:
    venue = Venue({"USD": "2500", "BTC": "0.5"})
    accounts = venue.exchange.accounts(KEY)
    assert [a.currency for a in accounts[:2]] == ["USD", "BTC"], "funded currencies first"
    assert {a.currency for a in accounts} == set(Catalog.default().currencies())
    assert {a.currency: a.balance for a in accounts if a.balance} == {"USD": D(2500), "BTC": D("0.5")}
    assert venue.exchange.account(KEY, accounts[0].uuid) is accounts[0]
    assert venue.exchange.account(OTHER_KEY, accounts[0].uuid) is None, "another key's account is invisible"
    assert Venue().exchange.accounts(KEY)[0].uuid == accounts[0].uuid, "account ids are stable across runs"


def test_a_saved_exchange_restores_to_one_that_carries_on_alike(tmp_path: Path) -> None:
    venue = Venue()
    venue.quote("BTC-USD", "64990.00", "65000.00")
    venue.order("BUY", {"market_market_ioc": {"quote_size": "1000.00"}})
    resting = venue.order("BUY", limit("0.1", "64000.00"))["order_id"]
    expiring = venue.order("BUY", limit("0.1", "63000.00", kind="limit_limit_gtd",
                                        end_time=(START + timedelta(minutes=5)).isoformat()))["order_id"]
    save_state(tmp_path / "exchange.json", venue.exchange, 1_754_773_548.25)

    saved = load_state(tmp_path / "exchange.json", Catalog.default())
    assert saved is not None and saved.market_time == 1_754_773_548.25
    restored = Venue()
    restored.exchange.restore(saved.accounts, saved.orders, saved.fills)
    assert [order_payload(o) for o in restored.exchange.list_orders(KEY)] == [
        order_payload(o) for o in venue.exchange.list_orders(KEY)
    ]
    assert [fill_payload(f) for f in restored.exchange.list_fills(KEY)] == [
        fill_payload(f) for f in venue.exchange.list_fills(KEY)
    ]
    assert restored.balance("USD") == venue.balance("USD") and restored.balance("BTC") == venue.balance("BTC")
    assert restored.order("BUY", limit("0.1", "64000.00"), client_order_id="client-2")["order_id"] == resting

    restored.clock.now = START + timedelta(minutes=5)
    restored.quote("BTC-USD", "63900.00", "63950.00")
    assert restored.status({"order_id": expiring}) is OrderStatus.EXPIRED
    assert restored.status({"order_id": resting}) is OrderStatus.FILLED
    assert restored.balance("USD")[1] == 0
    fills = restored.exchange.list_fills(KEY)
    assert len({fill.sequence for fill in fills}) == len(fills) == 2, "new records continue the sequence"


def test_a_saved_order_in_a_product_no_longer_listed_is_named(tmp_path: Path) -> None:
    venue = Venue()
    venue.quote("DOGE-USD", "0.07030", "0.07040")
    venue.order("BUY", limit("100.0", "0.07000"), product_id="DOGE-USD")
    save_state(tmp_path / "exchange.json", venue.exchange, 0.0)
    fewer = Catalog([spec for spec in Catalog.default() if spec.product_id != "DOGE-USD"])
    with pytest.raises(UserError, match="holds orders in DOGE-USD, which this sandbox does not list"):
        load_state(tmp_path / "exchange.json", fewer)
