"""Exact cases for `trading/fills.py` that mutation testing asked for (`python -m bench.mutation --module fills`)."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.market.events import Side
from gpt_trader.trading.fills import DepthBook, plan_take
from tests.unit.trading.conftest import COARSE, GRID, PRODUCT, quote, snapshot, update

D = Decimal
RATE = D("0.006")


def prices_and_sizes(pairs: list[tuple[str, str]]) -> list[tuple[Decimal, Decimal]]:
    return [(D(price), D(size)) for price, size in pairs]


def test_a_snapshot_level_of_size_zero_is_no_level() -> None:
    book = DepthBook(PRODUCT)
    book.apply_update(snapshot((("99", "0"), ("98", "1")), (("100", "0"), ("101", "1"))))
    assert (book.bids.best(), book.asks.best()) == (D(98), D(101))
    assert list(book.asks.levels()) == [(D(101), D(1))]


def test_a_book_is_stale_only_after_more_than_the_limit() -> None:
    book = DepthBook(PRODUCT)
    book.apply_update(snapshot((("99", "1"),), (("100", "1"),), time=10.0))
    assert book.problem(40.0, stale_after=30.0) is None
    problem = book.problem(40.5, stale_after=30.0)
    assert problem is not None and "stale: nothing for 30.5 s (limit 30 s)" in problem
    assert book.problem(1e9, stale_after=None) is None


def test_a_quote_at_the_same_price_with_a_new_size_replaces_the_level() -> None:
    book = DepthBook(PRODUCT)
    book.apply_quote(quote("99", "100", "2", "3"))
    book.asks.consume(D(100), D(3))
    book.apply_quote(quote("99", "100", "2", "5", time=1.0))
    assert book.asks.available(D(100)) == D(5)
    assert book.bids.available(D(99)) == D(2)


def test_a_limit_at_a_level_price_takes_that_level_and_no_worse() -> None:
    asks = prices_and_sizes([("100", "1"), ("101", "1")])
    assert plan_take(asks, Side.BUY, GRID, RATE, base_size=D(2), limit=D(100)) == asks[:1]
    bids = prices_and_sizes([("99", "1"), ("98", "1")])
    assert plan_take(bids, Side.SELL, GRID, RATE, base_size=D(2), limit=D(99)) == bids[:1]


def test_a_level_showing_less_than_one_base_increment_is_passed_over() -> None:
    asks = prices_and_sizes([("100", "0.004"), ("101", "1")])
    assert plan_take(asks, Side.BUY, COARSE, RATE, base_size=D(1)) == [(D(101), D(1))]
    assert plan_take(asks, Side.BUY, COARSE, RATE, budget=D(1000)) == [(D(101), D(1))]


def test_a_book_an_update_left_crossed_awaits_a_snapshot_though_the_next_update_uncrosses_it() -> None:
    book = DepthBook(PRODUCT)
    book.apply_update(snapshot((("99", "1"),), (("100", "1"),)))
    book.apply_update(update(bids=(("100", "1"),), time=1.0))
    book.apply_update(update(bids=(("100", "0"),), time=2.0))
    problem = book.problem(2.0, stale_after=30.0)
    assert problem is not None and "awaits a fresh snapshot" in problem
