"""Accounting invariants of every simulated bar and trade, on random markets, signals and settings."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from tests.support.simulation_cases import markets, signal_arrays, simulation_cases, simulation_settings


@given(simulation_cases())
def test_equity_is_cash_plus_units_at_every_usable_close(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    result = run_simulation(bars, signals, simulation)
    usable = bars.close > 0
    marked = result.cash[usable] + result.units[usable] * bars.close[usable]
    np.testing.assert_allclose(result.equity[usable], marked, rtol=1e-12, atol=1e-9)
    flat = result.units == 0
    np.testing.assert_array_equal(result.equity[flat], result.cash[flat])


@given(simulation_cases())
def test_fees_are_never_negative_and_add_up(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    result = run_simulation(bars, signals, simulation)
    trades = result.trades()
    assert (trades["fees"] >= 0).all()
    assert result.fees >= 0
    np.testing.assert_allclose(trades["fees"].sum(), result.fees, rtol=1e-9, atol=1e-9)
    if simulation.fee_rate == 0:
        assert result.fees == 0


@given(simulation_cases())
def test_trade_pnl_adds_up_to_the_change_in_equity(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    result = run_simulation(bars, signals, simulation)
    total = result.trades()["pnl"].sum()
    np.testing.assert_allclose(total, result.final_equity - simulation.initial_cash, rtol=1e-9, atol=1e-6)


@given(st.data())
def test_long_only_cash_never_goes_negative(data: st.DataObject) -> None:
    bars = data.draw(markets())
    signals = data.draw(signal_arrays(len(bars)))
    simulation = data.draw(simulation_settings.filter(lambda s: not s.allow_short))
    result = run_simulation(bars, signals, simulation)
    assert (result.cash >= 0).all()
    assert (result.units >= 0).all()


@given(simulation_cases())
def test_no_fill_happens_without_a_usable_price(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    quotes = bars.open if simulation.fill == "next_open" else bars.close
    for trade in run_simulation(bars, signals, simulation).trades().itertuples():
        assert quotes[trade.entry_bar] > 0, "entry on a bar without a usable fill price"
        if trade.exit_reason == "signal":
            assert quotes[trade.exit_bar] > 0, "signal exit on a bar without a usable fill price"
        assert trade.exit_price > 0
        assert trade.entry_price > 0


@given(simulation_cases())
def test_at_most_one_position_and_entries_only_on_signals(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    result = run_simulation(bars, signals, simulation)
    trades = result.trades()
    shift = 1 if simulation.fill == "next_open" else 0
    for trade in trades.itertuples():
        wanted = 1 if trade.side == "long" else -1
        assert signals[trade.entry_bar - shift] == wanted
    # Round trips never overlap: each entry comes at or after the previous exit.
    assert (trades["entry_bar"].to_numpy()[1:] >= trades["exit_bar"].to_numpy()[:-1]).all()
    assert result.metrics.trades == len(trades)
    assert 0.0 <= result.metrics.exposure <= 1.0
