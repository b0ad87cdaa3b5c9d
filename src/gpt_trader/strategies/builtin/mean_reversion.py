"""Mean reversion: fade a close outside the Bollinger bands."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy
from gpt_trader.strategies.indicators import rolling_std, sma
from gpt_trader.strategies.ticks import price_ticks

_SAFE_WINDOW_DEVIATION = 2**31
"""window × (largest deviation in ticks) below this keeps window² · Σdeviation² inside int64."""


@njit(cache=True, nogil=True)
def _band_signals_exact(close: np.ndarray, window: int, num_std_squared: float, base: int) -> np.ndarray:
    """Decide close < mid − k·σ and close > mid + k·σ from integer tick sums.

    With S and Q the window's sums of (close − base) and of its square, and u the current close − base:
    gap = S − window·u = window·(mid − close) and spread = window·Q − S² = window²·σ², both exact. So
    close < mid − k·σ  ⟺  gap > 0 and gap² > k²·spread (and the mirror image for close > mid + k·σ).
    The sums are bounded by the caller's overflow check; gap and spread themselves are local (a window
    times a deviation, or squared) and so far below 2**26 and 2**53 that their floats are exact.
    """
    out = np.zeros(close.size, np.int8)
    total = 0
    squares = 0
    for i in range(close.size):
        entering = close[i] - base
        total += entering
        squares += entering * entering
        if i >= window:
            leaving = close[i - window] - base
            total -= leaving
            squares -= leaving * leaving
        if i >= window - 1:
            gap = total - window * entering
            spread = window * squares - total * total
            if gap != 0 and float(gap) * float(gap) > num_std_squared * float(spread):
                out[i] = 1 if gap > 0 else -1
    return out


@njit(cache=True, nogil=True)
def _band_signals_float(
    close: np.ndarray, middle: np.ndarray, deviation: np.ndarray, num_std: float
) -> np.ndarray:
    out = np.zeros(close.size, np.int8)
    for i in range(close.size):
        if close[i] < middle[i] - num_std * deviation[i]:
            out[i] = 1
        elif close[i] > middle[i] + num_std * deviation[i]:
            out[i] = -1
    return out


class MeanReversion(Strategy):
    """LONG when the close is below SMA − num_std·σ, SHORT when above SMA + num_std·σ (σ: population).

    On a tick grid the bands are compared exactly (see `_band_signals_exact`), so a flat window, where
    close = SMA and σ = 0, never fires on rounding noise. `num_std` is used as the binary float it is:
    exact for values such as 1, 1.5, 2 or 2.5. Prices off any grid use float bands.
    """

    name = "mean_reversion"
    description = "Buy a close below the lower Bollinger band, sell one above the upper band."
    params: ClassVar[dict[str, Param]] = {
        "window": Param(20, 2, 1000, "bars in the moving average and standard deviation"),
        "num_std": Param(2.0, 0.0, 10.0, "band half-width in standard deviations"),
    }

    def lookback(self, params: Params) -> int:
        return int(params["window"])

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["window"])
        num_std = float(params["num_std"])
        cache = IndicatorCache() if cache is None else cache
        ticks = price_ticks(bars, cache)
        if ticks is not None:
            # Deviations from the middle of the close range are at most half the range, plus one.
            base = (ticks.lowest_close + ticks.highest_close) // 2
            if window * ((ticks.highest_close - ticks.lowest_close) // 2 + 1) < _SAFE_WINDOW_DEVIATION:
                return _band_signals_exact(ticks.close, window, num_std * num_std, base)
        middle = cache.get(("sma", "close", window), lambda: sma(bars.close, window))
        deviation = cache.get(("std", "close", window), lambda: rolling_std(bars.close, window))
        return _band_signals_float(bars.close, middle, deviation, num_std)
