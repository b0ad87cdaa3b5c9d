"""Hypothesis strategies for simulation tests: random candles, signals and settings that make ties likely.

Shared by the kernel-versus-reference and the accounting-invariant tests.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpt_trader.backtest.settings import FILL_MODES, SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity

START = 1_704_067_200


def close_enough(a: float, b: float, rel: float = 1e-9) -> bool:
    """Equal within `rel`, NaN matching NaN and infinities matching exactly."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


@st.composite
def markets(draw: st.DrawFn, max_bars: int = 80) -> Bars:
    """Valid OHLC candles (low <= open, close <= high), on a coarse tick grid so that prices often tie
    with each other and with stop levels; sometimes with NaN prices and whole missing bars."""
    n = draw(st.integers(1, max_bars))
    moves = draw(arrays(np.float64, n, elements=st.floats(-0.08, 0.08)))
    gaps = draw(arrays(np.float64, n, elements=st.floats(-0.04, 0.04)))
    wicks = draw(arrays(np.float64, (2, n), elements=st.floats(0.0, 0.06)))
    tick = draw(st.sampled_from([0.5, 0.01]))
    close = np.round(100 * np.exp(np.cumsum(moves)) / tick) * tick
    open_ = np.round(np.r_[close[0], close[:-1]] * np.exp(gaps) / tick) * tick
    high = np.round(np.fmax(open_, close) * (1 + wicks[0]) / tick) * tick
    low = np.round(np.fmin(open_, close) * (1 - wicks[1]) / tick) * tick
    columns = [open_, high, low, close]
    if draw(st.booleans()):
        for column in columns:
            column[draw(st.lists(st.integers(0, n - 1), max_size=max(1, n // 6)))] = np.nan
        for bar in draw(st.lists(st.integers(0, n - 1), max_size=2)):
            for column in columns:
                column[bar] = np.nan
    granularity = draw(st.sampled_from([Granularity.ONE_MINUTE, Granularity.ONE_HOUR, Granularity.ONE_DAY]))
    time = START + granularity.seconds * np.arange(n)
    return Bars("ETH-USD", granularity, time, *columns, np.ones(n))


def signal_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    sparse = arrays(np.int8, n, elements=st.sampled_from([0, 0, 0, 0, 1, -1]))
    dense = arrays(np.int8, n, elements=st.sampled_from([1, -1]))
    return st.one_of(sparse, dense)


simulation_settings = st.builds(
    SimulationSettings,
    fill=st.sampled_from(FILL_MODES),
    fee_rate=st.sampled_from([0.0, 0.006, 0.0125]),
    half_spread_bps=st.sampled_from([0.0, 2.5, 20.0]),
    slippage_bps=st.sampled_from([0.0, 1.0, 15.0]),
    stop_loss=st.none() | st.sampled_from([0.01, 0.025, 0.05, 0.1]),
    take_profit=st.none() | st.sampled_from([0.02, 0.05, 0.2]),
    trailing_stop=st.none() | st.sampled_from([0.01, 0.03, 0.08]),
    fraction=st.sampled_from([1.0, 0.5, 0.1]),
    allow_short=st.booleans(),
)


@st.composite
def simulation_cases(draw: st.DrawFn) -> tuple[Bars, np.ndarray, SimulationSettings]:
    bars = draw(markets())
    return bars, draw(signal_arrays(len(bars))), draw(simulation_settings)
