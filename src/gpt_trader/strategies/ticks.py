"""Exact price arithmetic on the tick grid, so comparisons of averages have one answer everywhere.

Exchange prices sit on a grid (BTC-USD on cents, MATIC-USD on 0.0001), so a sum of prices is an
integer number of ticks and two simple moving averages are often *exactly* equal. Float rolling means
turn those ties into noise of either sign, and whether a crossover happened then depends on the
summation order. Here prices become int64 ticks, window sums come from an int64 prefix sum, and
"SMA_fast > SMA_slow" is decided exactly as

    fast_sum * slow_window > slow_sum * fast_window

with `fast_sum = prefix[i + 1] - prefix[i + 1 - fast_window]`. `MAX_TICKS` bounds a price in ticks
(about 2.1e9: BTC at $1,000,000 on a cent grid is 1e8) so such products stay far inside int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache

MAX_DECIMALS = 12
MAX_TICKS = 2**31 - 1
GRID_TOLERANCE = 1e-12
"""How far a price may stray from the grid, relative to its size in ticks: float noise such as
0.1 + 0.2 = 0.30000000000000004 is ~1e-16 relative, while a price off the grid is a sizeable fraction
of a tick away (0.00001234 is 1.2e-5 of a whole-number tick: all of itself, so not on that grid)."""


@njit(cache=True, nogil=True)
def _sits_on_grid(prices: np.ndarray, scale: float) -> bool:
    for price in prices:
        scaled = price * scale
        if not abs(scaled) <= MAX_TICKS:  # also false for NaN and infinities
            return False
        if abs(scaled - np.rint(scaled)) > GRID_TOLERANCE * abs(scaled):
            return False
    return True


def infer_tick(prices: np.ndarray) -> float:
    """The coarsest decimal grid step (1, 0.1, ..., 1e-12) every price sits on, or 0.0 if there is none.

    Robust to float noise (see `GRID_TOLERANCE`). 0.0 also covers NaN, infinities, and prices too
    large for `MAX_TICKS` ticks; callers then fall back to float arithmetic. A grid coarser than the
    exchange's (all prices whole dollars) is still a grid: exactness only needs *a* common step.
    """
    values = np.ascontiguousarray(prices, dtype=np.float64)
    for decimals in range(MAX_DECIMALS + 1):
        scale = 10.0**decimals
        if _sits_on_grid(values, scale):
            return 1.0 / scale
    return 0.0


def to_ticks(prices: np.ndarray, tick: float) -> np.ndarray:
    """Prices as int64 multiples of `tick` (rounded to the nearest; `infer_tick` vouches for the grid)."""
    if not tick > 0:
        raise ValueError(f"tick must be positive, got {tick}")
    return np.rint(np.asarray(prices, dtype=np.float64) / tick).astype(np.int64)


def prefix_sum(ticks: np.ndarray) -> np.ndarray:
    """int64 prefix sums with a leading 0: the sum of ticks[a:b] is prefix[b] - prefix[a]."""
    prefix = np.zeros(len(ticks) + 1, dtype=np.int64)
    np.cumsum(ticks, out=prefix[1:])
    return prefix


@dataclass(frozen=True, eq=False)
class PriceTicks:
    """One product's high, low and close as int64 ticks of a common grid, with close prefix sums and
    the close's range (which bounds every deviation inside a window)."""

    tick: float
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    close_prefix: np.ndarray
    lowest_close: int
    highest_close: int


def price_ticks(bars: Bars, cache: IndicatorCache) -> PriceTicks | None:
    """The bars' prices on their tick grid (cached), or None when they sit on no decimal grid."""
    return cache.get(("price_ticks",), lambda: _price_ticks(bars))


def _price_ticks(bars: Bars) -> PriceTicks | None:
    ticks = [infer_tick(column) for column in (bars.high, bars.low, bars.close)]
    if min(ticks) == 0.0:
        return None
    # Decimal grids nest, so the finest of the three holds all of them.
    tick = min(ticks)
    close = to_ticks(bars.close, tick)
    lowest, highest = (int(close.min()), int(close.max())) if len(close) else (0, 0)
    high, low = to_ticks(bars.high, tick), to_ticks(bars.low, tick)
    return PriceTicks(tick, high, low, close, prefix_sum(close), lowest, highest)
