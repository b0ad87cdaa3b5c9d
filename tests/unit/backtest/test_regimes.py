"""Regime labels are causal, follow their definitions, and break a result down into stored rows."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.backtest.regimes import REGIMES, UNKNOWN, breakdown, record_regimes, regime_frame, regime_labels
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.store import RunKind, open_store
from gpt_trader.strategies.registry import get_strategy
from tests.support.synthetic_bars import off_grid_bars


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(60, 400), st.integers(1, 300))
def test_appending_bars_never_changes_an_earlier_label(seed: int, prefix: int, appended: int) -> None:
    bars = off_grid_bars(prefix + appended, seed=seed)
    whole = regime_labels(bars, window=10, history=50)
    np.testing.assert_array_equal(regime_labels(bars[:prefix], window=10, history=50), whole[:prefix])


def test_labels_follow_their_definitions() -> None:
    bars = off_grid_bars(3000, seed=1)
    window, history = 20, 200
    labels = regime_labels(bars, window, history)
    close = bars.close
    log_returns = np.diff(np.log(close), prepend=np.nan)
    for t in (window * 2, 500, 1777, 2999):
        efficiency = abs(close[t] - close[t - window]) / np.abs(np.diff(close[t - window : t + 1])).sum()
        volatility = [log_returns[i - window + 1 : i + 1].std() for i in range(max(window, t - history + 1), t + 1)]
        trending = efficiency >= 0.3
        high = volatility[-1] > np.median(volatility)
        expected = REGIMES.index(f"{'trending' if trending else 'ranging'}, {'high' if high else 'low'} volatility")
        assert labels[t] == expected, t
    assert (labels[:window] == UNKNOWN).all()


def test_a_breakdown_compounds_the_returns_of_each_regimes_bars(tmp_path: Path) -> None:
    bars = dataclasses.replace(off_grid_bars(4000, seed=2), product_id="BTC-USD")
    strategy = get_strategy("ma_crossover")
    params = strategy.resolve({"fast": 5, "slow": 30})
    result = run_simulation(bars, strategy.signals(bars, params), SimulationSettings())
    labels = regime_labels(bars)
    rows = breakdown(bars, result.equity, 10_000.0, labels)
    assert sum(r["bars"] for r in rows) == int((labels != UNKNOWN).sum())
    known_growth = math.prod(1 + r["total_return"] for r in rows)
    returns = result.equity / np.concatenate([[10_000.0], result.equity[:-1]]) - 1
    assert known_growth == pytest.approx(np.prod(1 + returns[labels != UNKNOWN]), rel=1e-9)

    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        run_id = store.start_run(RunKind.SWEEP, "regimes", {})
        record_regimes(store, run_id, [{"strategy": "ma_crossover", "product_id": "BTC-USD", "params": params, **r}
                                       for r in rows])
        stored = regime_frame(store, run_id)
        ranging_high = regime_frame(store, regime="ranging, high volatility")
    assert list(stored["regime"]) == [r["regime"] for r in rows]
    np.testing.assert_allclose(stored["total_return"], [r["total_return"] for r in rows])
    assert list(ranging_high["bars"]) == [r["bars"] for r in rows if r["regime"] == "ranging, high volatility"]
