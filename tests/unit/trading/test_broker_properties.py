"""Random feeds and random orders for several accounts: after every fill the books balance, nothing
overdraws, and nothing fills against an unsound book."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.events import FeedHealth, HealthKind, Side, Trade
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.fills import BOOK, TOUCH
from gpt_trader.trading.money import ZERO, is_multiple
from gpt_trader.trading.orders import Fill, OrderRequest, TimeInForce
from tests.unit.trading.conftest import COARSE, snapshot, update

D = Decimal
ACCOUNTS = ("a", "b", "c")
START = D(2_000)
PRODUCT = COARSE.product_id

cents = st.integers(min_value=9_990, max_value=10_010).map(lambda c: D(c) / 100)
sizes = st.integers(min_value=10, max_value=400).map(lambda c: D(c) / 100)
sides = st.sampled_from([Side.BUY, Side.SELL])
orders = st.tuples(
    st.just("order"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(["market", "budget", "gtc", "ioc", "fok", "post", "stop"]),
    sides,
    sizes,
    cents,
)
by_kind: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "order": orders,
    "trade": st.tuples(st.just("trade"), cents, sizes, st.one_of(st.none(), sides)),
    "snapshot": st.tuples(
        st.just("snapshot"), cents, st.lists(sizes, min_size=1, max_size=4), st.lists(sizes, min_size=1, max_size=4)
    ),
    "update": st.tuples(st.just("update"), sides, cents, st.one_of(st.just(ZERO), sizes)),
    "gap": st.tuples(st.just("gap")),
    "cancel": st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=30)),
}
# Orders and trades make up most of a run; gaps and snapshots are rarer, as on a real feed.
actions = st.sampled_from(["order"] * 5 + ["trade"] * 3 + ["update"] * 2 + ["snapshot", "gap", "cancel"]).flatmap(
    by_kind.__getitem__
)


def request_for(account: str, kind: str, side: Side, size: Decimal, price: Decimal) -> OrderRequest:
    if kind == "market":
        return OrderRequest.market(account, PRODUCT, side, base_size=size)
    if kind == "budget":
        return OrderRequest.market(account, PRODUCT, Side.BUY, quote_size=max(size * 100, D(1)).quantize(D("0.01")))
    if kind == "stop":
        return OrderRequest.stop(account, PRODUCT, side, size, price)
    tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.GTC)
    return OrderRequest.limit(account, PRODUCT, side, size, price, time_in_force=tif, post_only=kind == "post")


def apply(paper: PaperBroker, action: tuple[Any, ...], now: float) -> list[Fill]:
    name = action[0]
    if name == "snapshot":
        _, mid, bid_sizes, ask_sizes = action
        bids = tuple((str(mid - D("0.01") * (1 + i)), str(size)) for i, size in enumerate(bid_sizes))
        asks = tuple((str(mid + D("0.01") * i), str(size)) for i, size in enumerate(ask_sizes))
        return paper.on_event(snapshot(bids, asks, now, PRODUCT))
    if name == "update":
        _, side, price, size = action
        level = ((str(price), str(size)),)
        change = update(bids=level, time=now, product_id=PRODUCT) if side is Side.BUY else update(
            asks=level, time=now, product_id=PRODUCT)  # fmt: skip
        return paper.on_event(change)
    if name == "trade":
        _, price, size, aggressor = action
        return paper.on_event(Trade(PRODUCT, now, price, size, aggressor))
    if name == "gap":
        return paper.on_event(FeedHealth(HealthKind.GAP, "lost", 1, now))
    if name == "cancel":
        orders = list(paper.orders)
        if orders:
            paper.cancel(orders[action[1] % len(orders)])
        return []
    _, account, kind, side, size, price = action
    return paper.submit(request_for(account, kind, side, size, price), now).fills


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(actions, st.integers(min_value=0, max_value=4)), min_size=15, max_size=50),
    touch=st.booleans(),
)
def test_after_every_fill_the_books_balance_and_nothing_overdraws(
    steps: list[tuple[tuple[Any, ...], int]], touch: bool
) -> None:
    paper = PaperBroker({PRODUCT: COARSE}, fill_model=TOUCH if touch else BOOK, stale_after=30.0)
    for account in ACCOUNTS:
        paper.open_account(account, START)
    cash = dict.fromkeys(ACCOUNTS, START)
    units: dict[str, Decimal] = defaultdict(lambda: ZERO)
    now = 0.0
    for action, pause in [(("snapshot", D(100), [D(1), D(2)], [D(1), D(2)]), 0), *steps]:
        now += pause
        book = paper.books[PRODUCT]
        fills = apply(paper, action, now)
        if fills:
            assert book.problem(now, paper.stale_after) is None, "filled against an unsound book"
        for each in fills:
            assert each.size > 0 and is_multiple(each.size, COARSE.base_increment)
            assert each.price > 0 and is_multiple(each.price, COARSE.price_increment)
            assert each.fee >= 0 and each.value == COARSE.value(each.size, each.price)
            assert each.quote is not None and not each.quote.crossed
            cash[each.account_id] += each.value - each.fee if each.side is Side.SELL else -each.value - each.fee
            units[each.account_id] += each.size * each.side.sign
        marks = {PRODUCT: D(100)}
        for name, account in paper.accounts.items():
            assert account.cash == cash[name] and account.units(PRODUCT) == units[name]
            assert account.cash >= 0 and account.available_cash >= 0 and account.held_cash >= 0
            assert 0 <= account.held_units.get(PRODUCT, ZERO) <= account.units(PRODUCT)
            assert account.fees >= 0
            assert account.equity(marks) == START + account.realised + account.unrealised(marks) - account.fees
