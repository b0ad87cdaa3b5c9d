"""Exact price arithmetic on the product's price grid, so comparisons of averages have one answer everywhere.

Exchange prices sit on a grid (BTC-USD on cents, MATIC-USD on 0.0001), so a sum of prices is an
integer number of ticks and two simple moving averages are often *exactly* equal. Float rolling means
turn those ties into noise of either sign, and whether a crossover happened then depends on the
summation order. Here prices become int64 ticks, window sums come from an int64 prefix sum, and
"SMA_fast > SMA_slow" is decided exactly as

    fast_sum * slow_window > slow_sum * fast_window

with `fast_sum = prefix[i + 1] - prefix[i + 1 - fast_window]`.

The grid is the bars' `price_increment`, a fact known before the first bar (product metadata, or fixed
when a file is imported), never one inferred from the bars at hand: the arithmetic used at bar i then
cannot change when later bars arrive or earlier ones are cut off. Bars without an increment run in
floats from their first bar; a price off the increment is an `OffGridPrice` naming the bar.
`market.bars.MAX_TICKS` bounds a price in ticks so window sums stay far inside int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from gpt_trader.errors import DataError
from gpt_trader.market.bars import GRID_TOLERANCE, MAX_TICKS, Bars, iso_time
from gpt_trader.strategies.base import IndicatorCache


class OffGridPrice(DataError):
    """A price of bars that carry a price increment is not a whole number of that increment."""


@njit(cache=True, nogil=True)
def _ticks_on_grid(prices: np.ndarray, tick: float) -> tuple[np.ndarray, bool]:
    """Prices as int64 multiples of `tick` (rounded to the nearest) and, in the same pass, whether every
    one is on the grid as `market.bars.on_grid` has it: (ticks, all on the grid)."""
    ticks = np.empty(prices.size, np.int64)
    on_grid = True
    for i in range(prices.size):
        scaled = prices[i] / tick
        nearest = np.rint(scaled)
        # Written so that NaN fails both comparisons.
        if not (abs(scaled) <= MAX_TICKS and abs(scaled - nearest) <= GRID_TOLERANCE * abs(scaled)):
            on_grid = False
            nearest = 0.0
        ticks[i] = np.int64(nearest)
    return ticks, on_grid


def prefix_sum(ticks: np.ndarray) -> np.ndarray:
    """int64 prefix sums with a leading 0: the sum of ticks[a:b] is prefix[b] - prefix[a]."""
    prefix = np.zeros(len(ticks) + 1, dtype=np.int64)
    np.cumsum(ticks, out=prefix[1:])
    return prefix


@dataclass(frozen=True, eq=False)
class PriceTicks:
    """One product's high, low and close as int64 ticks of its price increment, with close prefix sums."""

    tick: float
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    close_prefix: np.ndarray


def price_ticks(bars: Bars, cache: IndicatorCache) -> PriceTicks | None:
    """The bars' prices in ticks of their price increment (cached), or None when they carry none.

    Raises `OffGridPrice` naming the first bar with a price off the increment (or missing, or beyond
    `MAX_TICKS` ticks): the bars break the grid they claim, and exact arithmetic cannot take it.
    """
    if bars.price_increment is None:
        return None
    return cache.get(("price_ticks", bars.price_increment), lambda: _price_ticks(bars))


def _price_ticks(bars: Bars) -> PriceTicks:
    tick = bars.price_increment
    assert tick is not None
    (_, open_ok), (high, high_ok), (low, low_ok), (close, close_ok) = (
        _ticks_on_grid(column, tick) for column in (bars.open, bars.high, bars.low, bars.close)
    )
    off = None if open_ok and high_ok and low_ok and close_ok else bars.first_off_grid()
    if off is not None:
        bar, column = off
        price = float(getattr(bars, column)[bar])
        raise OffGridPrice(
            f"{bars.product_id}: {column} {price!r} of bar {bar} ({iso_time(bars.time[bar])}) is not a whole "
            f"number of the price increment {tick!r} (at most {MAX_TICKS:,} of them); fix or drop that bar, "
            "or give the bars no price increment (`bars.with_price_increment(None)`) to compare prices as "
            "floats on every bar"
        )
    return PriceTicks(tick, high, low, close, prefix_sum(close))
