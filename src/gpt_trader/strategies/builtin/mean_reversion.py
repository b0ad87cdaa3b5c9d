"""Mean reversion: fade a close outside the Bollinger bands."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import rolling_max, rolling_mean_std, rolling_min
from gpt_trader.strategies.ticks import price_ticks

_SAFE_WINDOW_DEVIATION = 2**31
"""window × (largest deviation in ticks) below this keeps window² · Σdeviation² inside int64."""


@njit(cache=True, nogil=True)
def _band_signals_exact(
    close: np.ndarray, ranges: np.ndarray, window: int, num_std_squared: float
) -> tuple[np.ndarray, np.ndarray]:
    """Decide close < mid − k·σ and close > mid + k·σ from integer tick sums; (signals, exact).

    With S and Q the window's sums of (close − base) and of its square, and u the current close − base:
    gap = S − window·u = window·(mid − close) and spread = window·Q − S² = window²·σ², both exact
    integers and the same for every base (the final comparison of gap² with k²·spread is in float64,
    so a flat window, where both are 0, is decided exactly). The base is a close inside the window
    (moved to the current close at least every `window` bars), so every deviation is at most the
    window's close range. A window whose range times `window` reaches `_SAFE_WINDOW_DEVIATION` could
    overflow and is left to the float bands (`exact` is False there). Which bars are exact thus depends
    on each window alone, never on the rest of the series: a trailing window decides a bar as the full
    history does.
    """
    size = close.size
    out = np.zeros(size, np.int8)
    exact = np.zeros(size, np.bool_)
    total = 0
    squares = 0
    base = 0
    centred_at = -window
    for i in range(window - 1, size):
        if window * ranges[i] >= _SAFE_WINDOW_DEVIATION:
            centred_at = -window
            continue
        exact[i] = True
        if i - centred_at >= window:
            base = close[i]
            centred_at = i
            total = 0
            squares = 0
            for j in range(i - window + 1, i + 1):
                deviation = close[j] - base
                total += deviation
                squares += deviation * deviation
        else:
            entering = close[i] - base
            leaving = close[i - window] - base
            total += entering - leaving
            squares += entering * entering - leaving * leaving
        gap = total - window * (close[i] - base)
        spread = window * squares - total * total
        if gap != 0 and float(gap) * float(gap) > num_std_squared * float(spread):
            out[i] = 1 if gap > 0 else -1
    return out, exact


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


def _window_ranges(close: np.ndarray, window: int) -> np.ndarray:
    """max − min of the `window` closes (in ticks) ending at each bar; NaN before the first full window.

    All zeros when the whole series' range already keeps every window safe: each window's range is
    at most that, so the kernel decides every bar exactly either way, and the common case skips two
    passes. Tick counts below 2**31 are exact in float64, and so are their differences.
    """
    if close.size == 0 or window * (int(close.max()) - int(close.min())) < _SAFE_WINDOW_DEVIATION:
        return np.zeros(close.size)
    as_float = close.astype(np.float64)
    return rolling_max(as_float, window) - rolling_min(as_float, window)


class MeanReversion(Strategy):
    """LONG when the close is below SMA − num_std·σ, SHORT when above SMA + num_std·σ (σ: population).

    On the bars' price increment the bands are compared in integer ticks (see `_band_signals_exact`),
    so a flat window, where close = SMA and σ = 0, never fires on rounding noise. `num_std` is used as
    the binary float it is: exact for values such as 1, 1.5, 2 or 2.5. Bars without a price increment
    use float bands on every bar.
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
        cache = indicator_cache(bars, cache)
        ticks = price_ticks(bars, cache)
        if ticks is None:
            return self._float_signals(bars, cache, window, num_std)
        ranges = cache.get(("range", "close_ticks", window), lambda: _window_ranges(ticks.close, window))
        signals, exact = _band_signals_exact(ticks.close, ranges, window, num_std * num_std)
        if not exact[window - 1 :].all():
            fallback = self._float_signals(bars, cache, window, num_std)
            signals[~exact] = fallback[~exact]
        return signals

    @staticmethod
    def _float_signals(bars: Bars, cache: IndicatorCache, window: int, num_std: float) -> np.ndarray:
        # Each window's mean and σ on their own, so a trailing window decides as the full history.
        middle, deviation = cache.get(("mean_std", "close", window), lambda: rolling_mean_std(bars.close, window))
        return _band_signals_float(bars.close, middle, deviation, num_std)
