"""Volatility filter: go long in quiet markets trending up, leave when the close drops below its SMA."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import atr, rolling_quantile, sma
from gpt_trader.strategies.ticks import PriceTicks, price_ticks


@njit(cache=True, nogil=True)
def _true_range_sums(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int) -> np.ndarray:
    """window × ATR in ticks (the exact sum of the last `window` true ranges) as float64; NaN before
    bar `window`. Integers below 2**53 are exact in float64, so comparisons stay exact."""
    size = close.size
    out = np.full(size, np.nan)
    total = 0
    ranges = np.zeros(size, np.int64)
    for i in range(1, size):
        previous = close[i - 1]
        ranges[i] = max(high[i] - low[i], abs(high[i] - previous), abs(low[i] - previous))
        total += ranges[i]
        if i > window:
            total -= ranges[i - window]
        if i >= window:
            out[i] = float(total)
    return out


@njit(cache=True, nogil=True)
def _volatility_signals_exact(
    atr_sum: np.ndarray, atr_limit: np.ndarray, close: np.ndarray, close_prefix: np.ndarray, sma_window: int
) -> np.ndarray:
    """Views aligned at bar `sma_window - 1` keep the indices non-negative, so Numba vectorises the loop."""
    size = close.size
    out = np.zeros(size, np.int8)
    if size < sma_window:
        return out
    first = sma_window - 1
    signal, closes, ranges, limits = out[first:], close[first:], atr_sum[first:], atr_limit[first:]
    window_end, window_start = close_prefix[sma_window:], close_prefix[: size + 1 - sma_window]
    for j in range(signal.size):
        gap = closes[j] * sma_window - (window_end[j] - window_start[j])
        signal[j] = (gap > 0 and ranges[j] < limits[j]) - (gap < 0)
    return out


@njit(cache=True, nogil=True)
def _volatility_signals_float(
    average_range: np.ndarray, range_limit: np.ndarray, close: np.ndarray, average: np.ndarray
) -> np.ndarray:
    out = np.zeros(close.size, np.int8)
    for i in range(close.size):
        if close[i] < average[i]:
            out[i] = -1
        elif close[i] > average[i] and average_range[i] < range_limit[i]:
            out[i] = 1
    return out


class Volatility(Strategy):
    """LONG when ATR (simple mean of `atr_window` true ranges) is below its trailing `quantile` over
    `quantile_window` bars (linear interpolation, current bar included) and close > SMA(`sma_window`);
    SHORT when close < SMA.

    On the bars' price increment ATR is kept as an exact integer sum of true ranges (ATR scaled by its
    window, which changes neither the order nor the interpolated quantile) and close is compared with
    the SMA as integers, so flat stretches give no rounding-noise signals. Bars without a price
    increment use float ATR and SMA on every bar.
    """

    name = "volatility"
    description = "Buy in calm markets (low ATR) above the SMA, sell when the close drops below the SMA."
    params: ClassVar[dict[str, Param]] = {
        "atr_window": Param(14, 1, 500, "true ranges averaged into the ATR"),
        "quantile_window": Param(100, 2, 5000, "trailing bars of ATR the quantile is taken over"),
        "quantile": Param(0.3, 0.0, 1.0, "ATR must be below this quantile of its trailing values"),
        "sma_window": Param(10, 1, 1000, "bars in the simple moving average of the close"),
    }

    def lookback(self, params: Params) -> int:
        return max(int(params["atr_window"]) + int(params["quantile_window"]), int(params["sma_window"]))

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        atr_window = int(params["atr_window"])
        quantile_window = int(params["quantile_window"])
        quantile = float(params["quantile"])
        sma_window = int(params["sma_window"])
        cache = indicator_cache(bars, cache)
        ticks = price_ticks(bars, cache)
        if ticks is not None:
            return self._exact(ticks, cache, atr_window, quantile_window, quantile, sma_window)
        average_range = cache.get(
            ("atr", atr_window), lambda: atr(bars.high, bars.low, bars.close, atr_window)
        )
        range_limit = cache.get(
            ("quantile", ("atr", atr_window), quantile_window, quantile),
            lambda: rolling_quantile(average_range, quantile_window, quantile),
        )
        average = cache.get(("sma", "close", sma_window), lambda: sma(bars.close, sma_window))
        return _volatility_signals_float(average_range, range_limit, bars.close, average)

    @staticmethod
    def _exact(
        ticks: PriceTicks,
        cache: IndicatorCache,
        atr_window: int,
        quantile_window: int,
        quantile: float,
        sma_window: int,
    ) -> np.ndarray:
        atr_sum = cache.get(
            ("atr_tick_sum", atr_window),
            lambda: _true_range_sums(ticks.high, ticks.low, ticks.close, atr_window),
        )
        atr_limit = cache.get(
            ("quantile", ("atr_tick_sum", atr_window), quantile_window, quantile),
            lambda: rolling_quantile(atr_sum, quantile_window, quantile),
        )
        return _volatility_signals_exact(atr_sum, atr_limit, ticks.close, ticks.close_prefix, sma_window)
