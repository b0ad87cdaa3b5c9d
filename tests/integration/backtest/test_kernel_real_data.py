"""The kernel against the reference, and against its rules called bar by bar, on recorded data: the benchmark's
1-minute file and real Coinbase hours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.backtest.reference import simulate_reference
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation, summarize
from gpt_trader.market.bars import Bars
from tests.support.rule_replay import closed_trips, replay_rules


def crossover_signals(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """LONG when the fast mean crosses above the slow one, SHORT when it crosses below (NaN: no cross)."""
    frame = pd.Series(close)
    spread = (frame.rolling(fast).mean() - frame.rolling(slow).mean()).to_numpy()
    above, below = spread > 0, spread < 0
    signals = np.zeros(len(close), dtype=np.int8)
    signals[1:][above[1:] & ~above[:-1]] = 1
    signals[1:][below[1:] & ~below[:-1]] = -1
    return signals


def assert_agrees(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> None:
    kernel = run_simulation(bars, signals, settings)
    reference = simulate_reference(bars, signals, settings)
    trades = kernel.trades()
    assert len(trades) == len(reference.trades) > 10
    assert list(trades["entry_bar"]) == [trade.entry_bar for trade in reference.trades]
    assert list(trades["exit_bar"]) == [trade.exit_bar for trade in reference.trades]
    assert list(trades["exit_reason"]) == [trade.exit_reason for trade in reference.trades]
    np.testing.assert_allclose(kernel.equity, reference.equity, rtol=1e-12)
    np.testing.assert_array_equal(summarize(bars, signals, settings),
                                  np.array(list(kernel.metrics.as_dict().values()), dtype=float))
    expected = reference.metrics(bars, settings).as_dict()
    for name, value in kernel.metrics.as_dict().items():
        assert value == pytest.approx(expected[name], rel=1e-9, nan_ok=True), name


@pytest.fixture(scope="module")
def bench_bars(shared_dir: Path) -> Bars:
    frame = pd.read_parquet(shared_dir / "bench" / "ohlcv_1m.parquet")
    btc = frame[frame["product_id"] == "BTC-USD"].set_index("time")
    return Bars.from_frame(btc, "BTC-USD", "1m")


@pytest.fixture(scope="module")
def coinbase_hours(shared_dir: Path) -> Bars:
    """Real BTC-USD hours; gap-filler rows (zero_volume_fill) carry no price, so they become NaN."""
    frame = pd.read_csv(shared_dir / "data" / "real" / "coinbase_1h_BTC-ETH-LTC-USD_2017-07_2019-08.csv.gz")
    btc = frame[frame["product_id"] == "BTC-USD"].sort_values("unix_s").reset_index(drop=True)
    missing = btc["zero_volume_fill"] == 1
    btc.loc[missing, ["open", "high", "low", "close"]] = np.nan
    btc = btc.rename(columns={"unix_s": "time", "volume_base": "volume"})
    return Bars.from_frame(btc[["time", "open", "high", "low", "close", "volume"]], "BTC-USD", "1h")


def test_benchmark_minutes_seed_compatible(bench_bars: Bars) -> None:
    assert len(bench_bars) == 43_200
    assert_agrees(bench_bars, crossover_signals(bench_bars.close, 10, 30), SimulationSettings.seed_compatible())


def test_benchmark_minutes_next_open_with_costs_and_shorts(bench_bars: Bars) -> None:
    settings = SimulationSettings(half_spread_bps=1, slippage_bps=1, allow_short=True, fraction=0.5)
    assert_agrees(bench_bars, crossover_signals(bench_bars.close, 20, 100), settings)


def test_real_coinbase_hours_with_missing_prices_and_stops(coinbase_hours: Bars) -> None:
    assert np.isnan(coinbase_hours.close).sum() > 0
    settings = SimulationSettings(half_spread_bps=5, stop_loss=0.04, take_profit=0.12, trailing_stop=0.06)
    assert_agrees(coinbase_hours, crossover_signals(coinbase_hours.close, 12, 48), settings)
    assert_agrees(coinbase_hours, crossover_signals(coinbase_hours.close, 24, 96), SimulationSettings())


def test_real_coinbase_hours_bar_by_bar_through_the_rules(coinbase_hours: Bars) -> None:
    """Every bar of two years of real hours, one call per rule phase, as an event engine replays them."""
    signals = crossover_signals(coinbase_hours.close, 12, 48)
    for settings in (SimulationSettings(half_spread_bps=5, stop_loss=0.04, take_profit=0.12, trailing_stop=0.06,
                                        allow_short=True),
                     SimulationSettings(fill="close", trailing_stop=0.03)):
        trips, cash, _ = replay_rules(coinbase_hours, signals, settings)
        expected = closed_trips(coinbase_hours, signals, settings)
        assert len(trips) == len(expected) > 100
        assert [trip[:4] for trip in trips] == [trip[:4] for trip in expected]
        np.testing.assert_allclose([trip[4:] for trip in trips], [trip[4:] for trip in expected], rtol=1e-12)
        assert cash == pytest.approx(run_simulation(coinbase_hours, signals, settings).cash[-1], rel=1e-12)
