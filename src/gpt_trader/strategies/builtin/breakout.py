"""Breakout: trade a close beyond the range of the bars before it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import rolling_max, rolling_min


@njit(cache=True, nogil=True)
def _channel_signals(close: np.ndarray, highest: np.ndarray, lowest: np.ndarray) -> np.ndarray:
    # Branch-free (the channel is never inverted, so at most one side holds): breakouts come in
    # no pattern a branch predictor could learn.
    out = np.empty(close.size, np.int8)
    for i in range(close.size):
        out[i] = np.int8(close[i] > highest[i]) - np.int8(close[i] < lowest[i])
    return out


class Breakout(Strategy):
    """LONG when the close tops the highest high of the `window` bars before it; SHORT when it falls
    under their lowest low. Prices are compared as they are, so the rule is exact."""

    name = "breakout"
    description = "Buy a close above the prior `window` bars' highest high, sell one below their lowest low."
    params: ClassVar[dict[str, Param]] = {
        "window": Param(20, 1, 1000, "bars before the current one that define the channel"),
    }

    def lookback(self, params: Params) -> int:
        return int(params["window"]) + 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["window"])
        cache = indicator_cache(bars, cache)
        highest = cache.get(("max_before", "high", window), lambda: rolling_max(bars.high, window, True))
        lowest = cache.get(("min_before", "low", window), lambda: rolling_min(bars.low, window, True))
        return _channel_signals(bars.close, highest, lowest)
