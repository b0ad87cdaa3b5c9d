"""Momentum: follow a large percent change over a fixed number of bars."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit

from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import roc


@njit(cache=True, nogil=True)
def _threshold_signals(change: np.ndarray, threshold: float) -> np.ndarray:
    out = np.zeros(change.size, np.int8)
    for i in range(change.size):
        if change[i] > threshold:
            out[i] = 1
        elif change[i] < -threshold:
            out[i] = -1
    return out


class Momentum(Strategy):
    """LONG when close / close `lookback` bars ago − 1 exceeds +threshold, SHORT below −threshold.

    The change is the float expression of pandas' `pct_change`, which is correctly rounded and so
    reproducible everywhere; no sum is involved.
    """

    name = "momentum"
    description = "Buy after a rise above `threshold` over `lookback` bars, sell after a fall as large."
    params: ClassVar[dict[str, Param]] = {
        "lookback": Param(10, 1, 1000, "bars over which the percent change is measured"),
        "threshold": Param(0.05, 0.0, 10.0, "change that fires a signal, as a fraction (0.05 = 5 %)"),
    }

    def lookback(self, params: Params) -> int:
        return int(params["lookback"]) + 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["lookback"])
        threshold = float(params["threshold"])
        cache = indicator_cache(bars, cache)
        change = cache.get(("roc", "close", window), lambda: roc(bars.close, window))
        return _threshold_signals(change, threshold)
