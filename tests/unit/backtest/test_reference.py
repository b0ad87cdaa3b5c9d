"""The compiled kernel against the plain-Python reference, on random markets, signals and settings."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.reference import simulate_reference
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation, summarize
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from tests.support.rule_replay import make_bars
from tests.support.simulation_cases import START, close_enough, simulation_cases


@given(simulation_cases())
def test_kernel_trades_and_equity_match_the_reference(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    kernel = run_simulation(bars, signals, simulation)
    reference = simulate_reference(bars, signals, simulation)
    trades = kernel.trades()
    assert list(zip(trades["entry_bar"], trades["exit_bar"], trades["side"], trades["exit_reason"],
                    strict=True)) == [
        (t.entry_bar, t.exit_bar, "long" if t.side > 0 else "short", t.exit_reason) for t in reference.trades
    ]
    for row, expected in zip(trades.itertuples(), reference.trades, strict=True):
        for got, want in ((row.units, expected.units), (row.entry_price, expected.entry_price),
                          (row.exit_price, expected.exit_price), (row.fees, expected.fees),
                          (row.pnl, expected.pnl)):
            assert close_enough(got, want)
    for got_curve, want_curve in ((kernel.equity, reference.equity), (kernel.cash, reference.cash),
                                  (kernel.units, reference.units)):
        assert all(close_enough(got, want) for got, want in zip(got_curve, want_curve, strict=True))
    assert close_enough(kernel.final_equity, reference.final_equity)
    assert close_enough(kernel.fees, reference.fees)


@given(simulation_cases())
def test_kernel_metrics_match_the_metrics_of_the_reference_curve(
    case: tuple[Bars, np.ndarray, SimulationSettings],
) -> None:
    bars, signals, simulation = case
    kernel = run_simulation(bars, signals, simulation).metrics.as_dict()
    reference = simulate_reference(bars, signals, simulation).metrics(bars, simulation).as_dict()
    mismatched = {name: (kernel[name], reference[name]) for name in METRIC_NAMES
                  if not close_enough(kernel[name], reference[name], rel=1e-9)}
    assert not mismatched


@given(simulation_cases())
def test_summary_equals_the_full_simulation_exactly(case: tuple[Bars, np.ndarray, SimulationSettings]) -> None:
    bars, signals, simulation = case
    full = run_simulation(bars, signals, simulation)
    summary = summarize(bars, signals, simulation)
    expected = np.array(list(full.metrics.as_dict().values()), dtype=float)
    np.testing.assert_array_equal(summary, expected)
    assert summary[METRIC_NAMES.index("final_equity")] == full.final_equity
    assert summary[METRIC_NAMES.index("trades")] == full.n_trades


def test_long_markets_agree_through_the_vectorised_held_blocks() -> None:
    """Thousands of held bars go through the kernel's block path (new peaks, troughs, NaN closes)."""
    rng = np.random.default_rng(7)
    n = 6_000
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n)))
    close[rng.random(n) < 0.002] = np.nan
    bars = Bars("BTC-USD", Granularity.ONE_MINUTE, START + 60 * np.arange(n), close, close, close, close,
                np.ones(n))
    signals = np.zeros(n, dtype=np.int8)
    signals[rng.integers(0, n, 40)] = 1
    signals[rng.integers(0, n, 40)] = -1
    for simulation in (SimulationSettings(), SimulationSettings.seed_compatible(),
                       SimulationSettings(allow_short=True, fraction=0.5)):
        kernel = run_simulation(bars, signals, simulation)
        reference = simulate_reference(bars, signals, simulation)
        np.testing.assert_array_equal(kernel.equity, reference.equity)
        got = kernel.metrics.as_dict()
        want = reference.metrics(bars, simulation).as_dict()
        assert all(close_enough(got[name], want[name], rel=1e-9) for name in METRIC_NAMES), (got, want)
        np.testing.assert_array_equal(summarize(bars, signals, simulation),
                                      np.array(list(got.values()), dtype=float))


def test_the_reference_never_fills_a_stop_at_a_zero_price() -> None:
    bars = make_bars([100, 100, 100, 100], open_=[100, 0, 100, 100], high=[100, 100, 0, 100], low=[100, 0, 0, 100])
    for side, settings in ((1, SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05)),
                           (-1, SimulationSettings(fill="close", fee_rate=0.0, trailing_stop=0.05, allow_short=True)),
                           (-1, SimulationSettings(fill="close", fee_rate=0.0, take_profit=0.05, allow_short=True))):
        result = simulate_reference(bars, np.array([side, 0, 0, 0], dtype=np.int8), settings)
        assert [trade.exit_reason for trade in result.trades] == ["open"], (settings, result.trades)
