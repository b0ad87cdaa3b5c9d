"""The tape made from one bar, and the book around a quote: properties that must hold for any bar."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.sandbox.ticks import MAKER_SELL, TickGrid, bar_ticks, book_sides

GRID = TickGrid(Decimal("0.01"), Decimal("0.00000001"))


@st.composite
def bars_on_grid(draw: st.DrawFn) -> tuple[float, float, float, float, float]:
    """(open, high, low, close, volume) with prices on the 0.01 grid and high/low bracketing the body."""
    low = draw(st.integers(100, 10_000_000))
    high = low + draw(st.integers(0, 50_000))
    open_, close = draw(st.integers(low, high)), draw(st.integers(low, high))
    volume = draw(st.floats(0.000001, 5_000.0))
    return open_ / 100, high / 100, low / 100, close / 100, volume


@settings(max_examples=150, deadline=None)
@given(bar=bars_on_grid(), trades=st.integers(1, 80), seed=st.integers(0, 2**32))
def test_a_bars_trades_open_at_its_open_close_at_its_close_and_touch_its_high_and_low(
    bar: tuple[float, float, float, float, float], trades: int, seed: int
) -> None:
    open_, high, low, close, volume = bar
    ticks = bar_ticks(bar, 60, GRID, np.random.default_rng(seed), trades, spread_bps=0.05)
    units = int(volume * 1e8 + 1e-9)
    assert len(ticks) == min(trades, units)
    prices = ticks.price
    cents = [round(value * 100) for value in (open_, high, low, close)]
    assert prices[-1] == cents[3]
    if len(ticks) >= 2:
        assert prices[0] == cents[0]
    if len(ticks) >= 4:
        assert prices.max() == cents[1] and prices.min() == cents[2]
    assert prices.min() >= cents[2] and prices.max() <= cents[1]
    assert ticks.size.sum() == units and (ticks.size >= 1).all()
    assert (np.diff(ticks.offset) >= 0).all() and ticks.offset[0] == 0 and ticks.offset[-1] < 60


@settings(max_examples=150, deadline=None)
@given(bar=bars_on_grid(), seed=st.integers(0, 2**32), spread_bps=st.sampled_from([0.0, 0.05, 2.0]))
def test_every_trade_is_at_the_bid_or_the_ask_of_an_uncrossed_quote(
    bar: tuple[float, float, float, float, float], seed: int, spread_bps: float
) -> None:
    ticks = bar_ticks(bar, 60, GRID, np.random.default_rng(seed), 30, spread_bps=spread_bps)
    assert (ticks.ask - ticks.bid >= 1).all(), "the spread is at least one increment"
    at_ask = ticks.maker_side == MAKER_SELL
    assert (ticks.price[at_ask] == ticks.ask[at_ask]).all()
    assert (ticks.price[~at_ask] == ticks.bid[~at_ask]).all()
    rises = np.diff(ticks.price) > 0
    assert (ticks.maker_side[1:][rises] == MAKER_SELL).all(), "an up-tick lifted the offer"


def test_the_same_seed_gives_the_same_tape_and_another_seed_another() -> None:
    bar = (100.0, 101.5, 99.25, 100.75, 12.5)
    first, again, other = (bar_ticks(bar, 60, GRID, np.random.default_rng(s), 40, 0.05) for s in (1, 1, 2))
    assert np.array_equal(first.price, again.price) and np.array_equal(first.size, again.size)
    assert not np.array_equal(first.price, other.price)


def test_a_bar_without_volume_has_no_trades() -> None:
    assert len(bar_ticks((100.0, 100.0, 100.0, 100.0, 0.0), 60, GRID, np.random.default_rng(0), 24, 0.05)) == 0


@settings(max_examples=150, deadline=None)
@given(
    bid=st.integers(1, 10**9),
    spread=st.integers(1, 500),
    depth=st.integers(1, 60),
    step=st.integers(1, 400),
    typical=st.floats(0.5, 1e9),
)
def test_the_book_is_never_crossed_and_its_levels_are_ordered_and_sized(
    bid: int, spread: int, depth: int, step: int, typical: float
) -> None:
    bids, bid_sizes, asks, ask_sizes = book_sides(bid, bid + spread, depth, step, typical, salt=7)
    assert bids[0] == bid and asks[0] == bid + spread
    assert bids.max() < asks.min()
    assert (np.diff(bids) < 0).all() and (np.diff(asks) > 0).all()
    assert (bids > 0).all() and len(asks) == depth and len(bids) <= depth
    assert (bid_sizes >= 1).all() and (ask_sizes >= 1).all()


def test_a_small_move_of_the_quote_changes_only_the_levels_at_its_edges() -> None:
    before = book_sides(1_000_000, 1_000_005, 25, 100, 1e6, salt=3)
    after = book_sides(1_000_002, 1_000_007, 25, 100, 1e6, salt=3)

    def changed(side: int) -> set[int]:
        old = dict(zip(before[side].tolist(), before[side + 1].tolist(), strict=True))
        new = dict(zip(after[side].tolist(), after[side + 1].tolist(), strict=True))
        return {price for price in old.keys() | new.keys() if old.get(price) != new.get(price)}

    # The new best bid appears and the deepest bid drops off; 1,000,000 stays as a lattice level.
    assert changed(0) == {1_000_002, 997_600}
    assert changed(2) == {1_000_005, 1_000_007}
