"""Moving-average crossover, decided exactly in ticks of the price increment."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import sma
from gpt_trader.strategies.ticks import price_ticks


@njit(cache=True, nogil=True)
def _cross_signals_exact(prefix: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Crossovers from int64 prefix sums of close ticks, no float anywhere.

    `side` is the sign of SMA_fast − SMA_slow, i.e. of fast_sum·slow − slow_sum·fast; a cross needs a
    strict side on both bars, so a tie (side 0) is neither above nor below. The loops index aligned
    views from 0 rather than `prefix[i - window]`: Numba then drops its negative-index checks and
    vectorises them, about 5x faster (this kernel runs once per combination of a sweep).
    """
    size = prefix.size - 1
    out = np.zeros(size, np.int8)
    if size <= slow:
        return out
    window_end = prefix[slow:]
    fast_start = prefix[slow - fast : size + 1 - fast]
    slow_start = prefix[: size + 1 - slow]
    side = np.empty(window_end.size, np.int8)
    for j in range(window_end.size):
        difference = (window_end[j] - fast_start[j]) * slow - (window_end[j] - slow_start[j]) * fast
        side[j] = (difference > 0) - (difference < 0)
    signal = out[slow:]
    for j in range(signal.size):
        signal[j] = side[j + 1] if side[j] * side[j + 1] < 0 else 0
    return out


@njit(cache=True, nogil=True)
def _cross_signals_float(fast_average: np.ndarray, slow_average: np.ndarray) -> np.ndarray:
    out = np.zeros(fast_average.size, np.int8)
    for i in range(1, fast_average.size):
        before_fast, before_slow = fast_average[i - 1], slow_average[i - 1]
        now_fast, now_slow = fast_average[i], slow_average[i]
        if before_fast < before_slow and now_fast > now_slow:
            out[i] = 1
        elif before_fast > before_slow and now_fast < now_slow:
            out[i] = -1
    return out


class MaCrossover(Strategy):
    """LONG when SMA(fast) crosses strictly above SMA(slow), SHORT when it crosses strictly below.

    Strict means fast < slow on the previous bar and fast > slow on this one, with the averages
    compared exactly as integer tick sums (see `gpt_trader.strategies.ticks`): a tie is neither above
    nor below, so the answer is the same on every machine and in every summation order. Bars without
    a price increment use float averages on every bar.
    """

    name = "ma_crossover"
    description = "Buy when the fast SMA crosses above the slow SMA, sell when it crosses below."
    params: ClassVar[dict[str, Param]] = {
        "fast": Param(10, 1, 500, "bars in the fast simple moving average"),
        "slow": Param(30, 2, 1000, "bars in the slow simple moving average (more than fast)"),
    }

    def validate(self, params: Params) -> None:
        fast, slow = int(params["fast"]), int(params["slow"])
        if fast >= slow:
            raise ValueError(f"ma_crossover needs fast < slow, got fast={fast} and slow={slow}")

    def lookback(self, params: Params) -> int:
        return int(params["slow"]) + 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        fast, slow = int(params["fast"]), int(params["slow"])
        if not 1 <= fast < slow:
            raise ValueError(f"ma_crossover needs 1 <= fast < slow, got fast={fast} and slow={slow}")
        cache = indicator_cache(bars, cache)
        ticks = price_ticks(bars, cache)
        if ticks is not None:
            return _cross_signals_exact(ticks.close_prefix, fast, slow)
        fast_average = cache.get(("sma", "close", fast), lambda: sma(bars.close, fast))
        slow_average = cache.get(("sma", "close", slow), lambda: sma(bars.close, slow))
        return _cross_signals_float(fast_average, slow_average)
