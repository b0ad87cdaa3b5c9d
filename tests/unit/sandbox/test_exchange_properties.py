"""Random order flows against a moving scripted market: the books always balance (Hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange import Exchange, OrderEvent, OrderStatus, Side
from gpt_trader.sandbox.exchange.matching import walk

KEY = "organizations/org/apiKeys/property"
START = datetime(2026, 8, 9, 21, 0, tzinfo=UTC)
STARTING = {"USD": Decimal(20_000), "BTC": Decimal("0.2"), "DOGE": Decimal(5_000)}
# Opening bid in price increments, and the base sizes tried, per product.
MARKETS = {
    "BTC-USD": (6_500_000, ["0.00001", "0.0012", "0.05", "0.31"]),
    "DOGE-USD": (7_000, ["14.2", "100.0", "2500.5", "40000.0"]),
}


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


products = st.sampled_from(sorted(MARKETS))
operations = st.one_of(
    # The bid takes a random step (in increments), with a new spread and size shown at the touch.
    st.tuples(
        st.just("quote"),
        products,
        st.sampled_from([-40, -12, -4, -1, 0, 1, 4, 12, 40]),
        st.sampled_from([1, 2, 5]),
        st.integers(0, 3),
    ),
    st.tuples(st.just("market_buy"), products, st.sampled_from(["1.00", "25.00", "733.33", "9000.00"])),
    st.tuples(st.just("market_sell"), products, st.integers(0, 3)),
    st.tuples(
        st.just("limit"),
        products,
        st.sampled_from([Side.BUY, Side.SELL]),
        # A listed base size, or a fee margin: as much as the account can afford at the limit with that margin.
        st.sampled_from([0, 1, 2, 3, "0.0045", "0.0055", "0.0099"]),
        # The limit price: this many increments better than the touch on its own side (negative: crossing).
        st.sampled_from([-3, 0, 1, 4, 10]),
        st.sampled_from(["limit_limit_gtc", "limit_limit_gtd", "limit_limit_fok", "sor_limit_ioc"]),
        st.booleans(),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.integers(1, 120)),
)


class Flow:
    def __init__(self) -> None:
        self.market = ScriptedMarket()
        self.now = START
        self.catalog = Catalog.default()
        self.exchange = Exchange(self.catalog, self.market, clock=lambda: self.now, starting_balances=STARTING)
        self.events: list[OrderEvent] = []
        self.exchange.subscribe(self.events.append)
        self.order_ids: list[str] = []
        self.placed = 0

    def run(self, operation: tuple[Any, ...]) -> None:
        kind, *args = operation
        if kind == "quote":
            product_id, step, spread, size_index = args
            tick = self.catalog.get(product_id).price_increment
            previous = self.market.quotes.get(product_id)
            bid = max((previous.bid if previous else MARKETS[product_id][0] * tick) + step * tick, 2 * tick)
            shown = Decimal(MARKETS[product_id][1][size_index])
            quote = ScriptedQuote(bid, bid + spread * tick, shown, shown)
            self.market.quotes[product_id] = quote
            self.exchange.on_quote(product_id, quote)
        elif kind == "market_buy":
            self.place(args[0], "BUY", {"market_market_ioc": {"quote_size": args[1]}})
        elif kind == "market_sell":
            self.place(args[0], "SELL", {"market_market_ioc": {"base_size": MARKETS[args[0]][1][args[1]]}})
        elif kind == "limit":
            product_id, side, size_choice, offset, configuration, post_only = args
            tick = self.catalog.get(product_id).price_increment
            quote = self.market.quotes[product_id]
            price = quote.bid - offset * tick if side is Side.BUY else quote.ask + offset * tick
            fields: dict[str, Any] = {
                "base_size": self.size(product_id, side, size_choice, price),
                "limit_price": str(price),
            }
            if configuration in ("limit_limit_gtc", "limit_limit_gtd"):
                fields["post_only"] = post_only
            if configuration == "limit_limit_gtd":
                fields["end_time"] = (self.now + timedelta(seconds=90)).isoformat()
            self.place(product_id, side.value, {configuration: fields})
        elif kind == "cancel" and self.order_ids:
            self.exchange.cancel_orders(KEY, [self.order_ids[args[0] % len(self.order_ids)]])
        elif kind == "wait":
            self.now += timedelta(seconds=args[0])
            self.exchange.expire_due()

    def size(self, product_id: str, side: Side, choice: int | str, price: Decimal) -> str:
        """A listed size, or the most the account can afford at `price` with a fee margin of `choice`."""
        if isinstance(choice, int):
            return MARKETS[product_id][1][choice]
        product = self.catalog.get(product_id)
        if side is Side.SELL:
            return str(self.exchange.ledger.account(KEY, product.base_currency).available)
        available = self.exchange.ledger.account(KEY, product.quote_currency).available
        units = (available / (price * (1 + Decimal(choice))) / product.base_increment).to_integral_value(ROUND_DOWN)
        return str(units * product.base_increment)

    def place(self, product_id: str, side: str, configuration: dict[str, Any]) -> None:
        self.placed += 1
        body = {"client_order_id": f"c{self.placed}", "product_id": product_id, "side": side,
                "order_configuration": configuration}
        response = self.exchange.create_order(KEY, body)
        if response["success"]:
            self.order_ids.append(response["order_id"])
        else:
            assert response["error_response"]["error"] and response["error_response"]["preview_failure_reason"]

    def check(self) -> None:
        orders = self.exchange.list_orders(KEY)
        held: dict[str, Decimal] = defaultdict(Decimal)
        for order in orders:
            held[order.request.funding_currency] += order.hold
            assert order.hold >= 0 and (order.status.is_live or order.hold == 0)
            if order.request.base_size is not None:
                assert 0 <= order.filled_size <= order.request.base_size
                assert (order.status is OrderStatus.FILLED) == (order.remaining_size == 0)
            limit = order.request.limit_price
            for fill in order.fills:
                if limit is not None:
                    assert fill.price <= limit if order.side is Side.BUY else fill.price >= limit
                    assert fill.liquidity.value == "TAKER" or fill.price == limit
        flows: dict[str, Decimal] = defaultdict(Decimal)
        for fill in self.exchange.list_fills(KEY):
            product = self.catalog.get(fill.product_id)
            rate = self.exchange.fees.maker if fill.liquidity.value == "MAKER" else self.exchange.fees.taker
            increment = product.quote_increment
            assert fill.value == (fill.size * fill.price / increment).quantize(1, ROUND_HALF_UP) * increment
            assert fill.commission == (fill.value * rate / increment).quantize(1, ROUND_HALF_UP) * increment
            sign = 1 if fill.side is Side.BUY else -1
            flows[product.base_currency] += sign * fill.size
            flows[product.quote_currency] -= sign * fill.value + fill.commission
        for account in self.exchange.accounts(KEY):
            assert account.balance >= 0 and account.hold >= 0 and account.available >= 0, account
            assert account.hold == held[account.currency]
            # What each account holds is what it started with, plus what it bought, minus what it sold and
            # every fee paid: nothing appears or vanishes.
            assert account.balance == STARTING.get(account.currency, 0) + flows[account.currency]
        last_event = {event.order["order_id"]: event.order for event in self.events}
        for order in orders:
            assert last_event[order.order_id]["status"] == order.status.value
            assert last_event[order.order_id]["number_of_fills"] == str(len(order.fills))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=10, max_size=40))
def test_random_order_flows_keep_balances_holds_and_events_consistent(steps: list[tuple[Any, ...]]) -> None:
    flow = Flow()
    for operation in [("quote", "BTC-USD", 0, 5, 2), ("quote", "DOGE-USD", 0, 1, 2), *steps]:
        flow.run(operation)
        flow.check()


def reference_walk(side: Side, limit: Decimal, levels: list[ScriptedLevel], size: Decimal,
                   increment: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Taking the book one increment at a time: each unit from the best level that still has whole units."""
    units = []
    for level in levels:
        if level.price > limit if side is Side.BUY else level.price < limit:
            break
        units += [level.price] * int(level.size // increment)
    taken = units[: int(size // increment)]
    takes: list[tuple[Decimal, Decimal]] = []
    for price in taken:
        if takes and takes[-1][0] == price:
            takes[-1] = (price, takes[-1][1] + increment)
        else:
            takes.append((price, increment))
    return takes


@settings(max_examples=80, deadline=None)
@given(
    side=st.sampled_from([Side.BUY, Side.SELL]),
    steps=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 12), st.booleans()), min_size=1, max_size=8),
    # The limit sits on a level's price, a tick either side of it, or beyond the whole book.
    limit_at=st.tuples(st.integers(0, 8), st.sampled_from([-1, 0, 1, 500])),
    units=st.integers(0, 60),
)
def test_walking_the_book_matches_taking_it_unit_by_unit(
    side: Side, steps: list[tuple[int, int, bool]], limit_at: tuple[int, int], units: int
) -> None:
    tick, increment = Decimal("0.01"), Decimal("0.1")
    toward_worse = tick if side is Side.BUY else -tick
    levels, price = [], Decimal("100.00")
    for gap, whole, with_fraction in steps:
        price += gap * toward_worse
        levels.append(ScriptedLevel(price, whole * increment + (Decimal("0.05") if with_fraction else 0)))
    index, ticks = limit_at
    limit = levels[min(index, len(levels) - 1)].price + ticks * toward_worse
    takes = walk(side, limit, levels, units * increment, increment)
    assert [(take.price, take.size) for take in takes] == reference_walk(side, limit, levels, units * increment,
                                                                          increment)
