"""Slow, plain reference signals of the built-in strategies, for tests and the benchmark's agreement check.

Written apart from the Numba kernels and on purpose in a different way: pandas rolling windows where
floats are exact (maxima, percent changes), and Python loops over exact rationals where sums decide
(moving averages, standard deviations, ATR). Prices enter as the decimals they print as
(`Decimal(repr(price))`: 42007.13, not the nearest binary fraction), so no tick grid has to be inferred,
and a moving-average tie is a tie by construction.

Speed: a few seconds for the 43,200 one-minute bars of a month; use it on samples, not in sweeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, localcontext
from fractions import Fraction
from itertools import accumulate
from typing import Any

import numpy as np
import pandas as pd

from gpt_trader.market.bars import Bars


def reference_signals(name: str, bars: Bars, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The reference signals of built-in strategy `name` with `params` (defaults for the missing ones)."""
    from gpt_trader.strategies.registry import get_strategy

    resolved = get_strategy(name).resolve(params)
    compute = _REFERENCES.get(name)
    if compute is None:
        raise ValueError(f"no reference for strategy {name!r}; references exist for {', '.join(_REFERENCES)}")
    return compute(bars, **resolved)


def momentum(bars: Bars, lookback: int, threshold: float) -> np.ndarray:
    change = pd.Series(bars.close).pct_change(lookback)
    return _signals(change > threshold, change < -threshold)


def breakout(bars: Bars, window: int) -> np.ndarray:
    highest_before = pd.Series(bars.high).shift(1).rolling(window).max()
    lowest_before = pd.Series(bars.low).shift(1).rolling(window).min()
    close = pd.Series(bars.close)
    return _signals(close > highest_before, close < lowest_before)


def ma_crossover(bars: Bars, fast: int, slow: int) -> np.ndarray:
    """Strict crossings of exact SMAs: fast < slow on the bar before and fast > slow now.

    The averages are compared exactly by cross-multiplying the exact decimal window sums:
    fast_sum / fast > slow_sum / slow  <=>  fast_sum * slow > slow_sum * fast.
    """
    sums = _window_sums(_decimals(bars.close))
    out = np.zeros(len(bars), np.int8)
    previous_side = 0
    for i in range(slow - 1, len(bars)):
        with localcontext() as context:
            context.prec = 80
            difference = sums(i, fast) * slow - sums(i, slow) * fast
        side = (difference > 0) - (difference < 0)
        if previous_side == -1 and side == 1:
            out[i] = 1
        elif previous_side == 1 and side == -1:
            out[i] = -1
        previous_side = side
    return out


def mean_reversion(bars: Bars, window: int, num_std: float) -> np.ndarray:
    """close < mean − k·σ or > mean + k·σ, decided on exact rationals: (mean − close)² against k²·σ²."""
    closes = [Fraction(value) for value in _decimals(bars.close)]
    k_squared = Fraction(num_std) ** 2
    out = np.zeros(len(bars), np.int8)
    for i in range(window - 1, len(bars)):
        values = closes[i - window + 1 : i + 1]
        mean = sum(values, Fraction(0)) / window
        variance = sum(((value - mean) ** 2 for value in values), Fraction(0)) / window
        distance = mean - closes[i]
        if distance != 0 and distance**2 > k_squared * variance:
            out[i] = 1 if distance > 0 else -1
    return out


def volatility(
    bars: Bars, atr_window: int, quantile_window: int, quantile: float, sma_window: int
) -> np.ndarray:
    """ATR below its trailing quantile and close above the SMA: LONG; close below the SMA: SHORT.

    ATR is the exact mean of exact true ranges, rounded once to float for pandas' rolling quantile
    (equal ATRs stay equal, distinct ones stay ordered); close and SMA are compared as rationals.
    """
    highs, lows, closes = (_decimals(column) for column in (bars.high, bars.low, bars.close))
    true_ranges = [Decimal(0)] + [
        max(highs[i] - lows[i], abs(highs[i] - closes[i - 1]), abs(lows[i] - closes[i - 1]))
        for i in range(1, len(bars))
    ]
    range_sums = _window_sums(true_ranges)
    average_range = pd.Series(
        [float(Fraction(range_sums(i, atr_window)) / atr_window) if i >= atr_window else np.nan
         for i in range(len(bars))]
    )
    range_limit = average_range.rolling(quantile_window).quantile(quantile)
    close_sums = _window_sums(closes)
    below = np.zeros(len(bars), bool)
    above = np.zeros(len(bars), bool)
    for i in range(sma_window - 1, len(bars)):
        average = Fraction(close_sums(i, sma_window)) / sma_window
        below[i] = closes[i] < average
        above[i] = closes[i] > average
    return _signals(pd.Series(above) & (average_range < range_limit), pd.Series(below))


def _decimals(values: np.ndarray) -> list[Decimal]:
    return [Decimal(repr(float(value))) for value in values]


def _window_sums(values: list[Decimal]) -> Callable[[int, int], Decimal]:
    """`sums(i, n)`: the exact sum of the n values ending at index i."""
    with localcontext() as context:
        context.prec = 60
        prefix = [Decimal(0), *accumulate(values, lambda a, b: a + b)]

    def sums(i: int, window: int) -> Decimal:
        with localcontext() as context:
            context.prec = 60
            return prefix[i + 1] - prefix[i + 1 - window]

    return sums


def _signals(long: pd.Series, short: pd.Series) -> np.ndarray:
    out = np.zeros(len(long), np.int8)
    out[short.to_numpy(dtype=bool)] = -1
    out[long.to_numpy(dtype=bool)] = 1
    return out


_REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "momentum": momentum,
    "mean_reversion": mean_reversion,
    "breakout": breakout,
    "ma_crossover": ma_crossover,
    "volatility": volatility,
}
