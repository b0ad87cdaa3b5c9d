"""Buy-and-hold, the benchmark printed next to every strategy, pays the same costs on the way in and out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.backtest.reference import reference_buy_and_hold
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity

START = 1_704_067_200


def hourly(open_: list[float], close: list[float]) -> Bars:
    n = len(close)
    high = np.maximum(open_, close)
    low = np.minimum(open_, close)
    times = START + 3600 * np.arange(n)
    return Bars("BTC-USD", Granularity.ONE_HOUR, times, np.array(open_), high, low, np.array(close), np.ones(n))


def test_buy_and_hold_charges_the_entry_and_the_exit_fee() -> None:
    bars = hourly([90.0, 110.0, 140.0], [100.0, 120.0, 150.0])
    flat = np.zeros(3, dtype=np.int8)
    at_close = run_simulation(bars, flat, SimulationSettings(fill="close", fee_rate=0.01)).metrics
    assert at_close.buy_and_hold_return == pytest.approx(150 * 0.99 / (100 * 1.01) - 1)
    costs = SimulationSettings(fee_rate=0.0, half_spread_bps=100)
    next_open = run_simulation(bars, flat, costs).metrics
    assert next_open.buy_and_hold_return == pytest.approx(150 * 0.99 / (110 * 1.01) - 1)
    assert reference_buy_and_hold(bars, costs) == pytest.approx(next_open.buy_and_hold_return)


prices = st.lists(st.floats(1.0, 1_000.0), min_size=3, max_size=40)


@settings(max_examples=60, deadline=None)
@given(prices, st.floats(0.0, 0.02), st.floats(0.0, 50.0))
def test_buy_and_hold_is_the_round_trip_a_strategy_would_make(
    close: list[float], fee: float, spread_bps: float
) -> None:
    """Bought at the first close and sold at the last one, a strategy earns exactly buy-and-hold."""
    bars = hourly(close, close)
    signals = np.zeros(len(close), dtype=np.int8)
    signals[0], signals[-1] = 1, -1
    costs = SimulationSettings(fill="close", fee_rate=fee, half_spread_bps=spread_bps)
    metrics = run_simulation(bars, signals, costs).metrics
    assert metrics.closed_trades == 1
    assert metrics.buy_and_hold_return == pytest.approx(metrics.total_return, rel=1e-9, abs=1e-12)
    assert reference_buy_and_hold(bars, costs) == pytest.approx(metrics.total_return, rel=1e-9, abs=1e-12)
