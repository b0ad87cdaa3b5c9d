"""Metrics against hand-computed cases: a 4-bar curve, annualisation per bar size, trade statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt_trader.backtest.metrics import METRIC_NAMES, Metrics, compute_metrics
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity

DAY = 86_400
START = 1_704_067_200


def times(n: int, seconds: int) -> np.ndarray:
    return START + seconds * np.arange(n)


def test_four_bar_curve_by_hand() -> None:
    # From 100: +10 %, -10 %, flat, +22.2 %. Peak 110 at bar 0, trough 99, recovered at bar 3.
    equity = np.array([110.0, 99.0, 99.0, 121.0])
    metrics = compute_metrics(equity, times(4, DAY), DAY, 100.0)
    returns = [0.1, -0.1, 0.0, 121 / 99 - 1]
    mean = sum(returns) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 4)
    downside = math.sqrt((0.1**2) / 4)
    assert metrics.final_equity == 121.0
    assert metrics.total_return == pytest.approx(0.21)
    assert metrics.cagr == pytest.approx(1.21 ** (365 / 4) - 1)
    assert metrics.volatility == pytest.approx(std * math.sqrt(365))
    assert metrics.sharpe == pytest.approx(mean / std * math.sqrt(365))
    assert metrics.sortino == pytest.approx(mean / downside * math.sqrt(365))
    assert metrics.max_drawdown == pytest.approx(99 / 110 - 1)
    assert metrics.max_drawdown_bars == 3
    assert metrics.max_drawdown_seconds == 3 * DAY
    assert metrics.calmar == pytest.approx(metrics.cagr / 0.1)


def test_drawdown_that_never_recovers_lasts_to_the_end() -> None:
    # A shallow dip (recovered) then a deeper one from the peak at bar 2 that never comes back.
    equity = np.array([100.0, 95.0, 105.0, 90.0, 80.0, 85.0])
    metrics = compute_metrics(equity, times(6, 3600), 3600, 100.0)
    assert metrics.max_drawdown == pytest.approx(80 / 105 - 1)
    assert metrics.max_drawdown_bars == 3
    assert metrics.max_drawdown_seconds == 3 * 3600


def test_drawdown_duration_counts_from_the_last_bar_at_the_peak() -> None:
    equity = np.array([110.0, 110.0, 110.0, 100.0, 110.0])
    metrics = compute_metrics(equity, times(5, 60), 60, 100.0)
    assert metrics.max_drawdown_bars == 2
    assert metrics.max_drawdown_seconds == 120


def test_duration_seconds_follow_the_real_times_across_a_gap() -> None:
    equity = np.array([100.0, 90.0, 100.0])
    metrics = compute_metrics(equity, np.array([START, START + 60, START + 600]), 60, 100.0)
    assert metrics.max_drawdown_bars == 2
    assert metrics.max_drawdown_seconds == 600
    # CAGR spans the bars as they lie in time: first open to last close.
    assert metrics.cagr == 0.0


@pytest.mark.parametrize("granularity", [Granularity.ONE_MINUTE, Granularity.FIFTEEN_MINUTE,
                                         Granularity.ONE_HOUR, Granularity.ONE_DAY])
def test_ratios_annualise_with_the_square_root_of_bars_per_year(granularity: Granularity) -> None:
    rng = np.random.default_rng(3)
    equity = 1_000 * np.cumprod(1 + rng.normal(0.001, 0.01, 500))
    per_day = compute_metrics(equity, times(500, DAY), DAY, 1_000.0)
    metrics = compute_metrics(equity, times(500, granularity.seconds), granularity.seconds, 1_000.0)
    scale = math.sqrt(granularity.bars_per_year / 365)
    assert metrics.sharpe == pytest.approx(per_day.sharpe * scale)
    assert metrics.sortino == pytest.approx(per_day.sortino * scale)
    assert metrics.volatility == pytest.approx(per_day.volatility * scale)
    returns = np.diff(np.r_[1_000.0, equity]) / np.r_[1_000.0, equity[:-1]]
    assert metrics.sharpe == pytest.approx(returns.mean() / returns.std() * math.sqrt(granularity.bars_per_year))
    years = 500 * granularity.seconds / (365 * DAY)
    with np.errstate(over="ignore"):  # 500 minutes of growth compound past float range in a year
        assert metrics.cagr == pytest.approx((equity[-1] / 1_000) ** (1 / years) - 1)


def test_a_flat_curve_has_no_defined_ratios() -> None:
    metrics = compute_metrics(np.full(10, 100.0), times(10, 3600), 3600, 100.0)
    assert metrics.total_return == 0.0
    assert metrics.max_drawdown == 0.0
    assert metrics.max_drawdown_bars == 0
    assert math.isnan(metrics.sharpe) and math.isnan(metrics.sortino) and math.isnan(metrics.calmar)


def test_a_curve_that_never_falls_has_infinite_sortino_and_calmar() -> None:
    metrics = compute_metrics(np.array([101.0, 103.0, 106.0]), times(3, DAY), DAY, 100.0)
    assert metrics.sortino == math.inf
    assert metrics.calmar == math.inf
    assert math.isfinite(metrics.sharpe)


def test_trade_statistics_count_closed_round_trips() -> None:
    metrics = compute_metrics(
        np.array([100.0, 110.0, 105.0]), times(3, 3600), 3600, 100.0,
        closed_pnl=np.array([12.0, -4.0, -2.0]), closed_returns=np.array([0.12, -0.04, -0.02]),
        trades=4, fees=1.5, exposure_bars=2, buy_and_hold_return=0.3,
    )
    assert metrics.win_rate == pytest.approx(1 / 3)
    assert metrics.profit_factor == pytest.approx(12 / 6)
    assert metrics.expectancy == pytest.approx(2.0)
    assert metrics.avg_trade_return == pytest.approx(0.02)
    assert (metrics.trades, metrics.closed_trades) == (4, 3)
    assert metrics.exposure == pytest.approx(2 / 3)
    assert (metrics.fees, metrics.buy_and_hold_return) == (1.5, 0.3)


@pytest.mark.parametrize(
    ("pnl", "expected"),
    [([5.0, 1.0], math.inf), ([-5.0, -1.0], 0.0), ([0.0], math.nan), ([], math.nan), ([3.0, -1.0, 0.0], 3.0)],
)
def test_profit_factor_edge_cases(pnl: list[float], expected: float) -> None:
    metrics = compute_metrics(np.array([100.0]), times(1, 60), 60, 100.0, closed_pnl=np.array(pnl),
                              closed_returns=np.zeros(len(pnl)), trades=len(pnl))
    if math.isnan(expected):
        assert math.isnan(metrics.profit_factor)
    else:
        assert metrics.profit_factor == expected
    assert math.isnan(metrics.win_rate) == (not pnl)


def test_win_rate_of_a_run_ignores_the_position_still_open() -> None:
    close = np.array([100.0, 110.0, 100.0, 90.0, 100.0, 150.0])
    bars = Bars("SOL-USD", Granularity.ONE_HOUR, times(6, 3600), close, close, close, close, np.ones(6))
    signals = np.array([1, -1, 1, -1, 1, 0], dtype=np.int8)  # a win, a loss, then a big open winner
    metrics = run_simulation(bars, signals, SimulationSettings(fill="close", fee_rate=0.0)).metrics
    assert (metrics.trades, metrics.closed_trades) == (3, 2)
    assert metrics.win_rate == 0.5
    assert metrics.profit_factor == pytest.approx(1_000 / (11_000 * 0.1))
    assert metrics.exposure == pytest.approx(4 / 6)  # held at the close of bars 0, 2, 4 and 5


def test_buy_and_hold_uses_the_same_costs_and_first_fill_opportunity() -> None:
    close = np.array([100.0, 120.0, 150.0])
    open_ = np.array([90.0, 110.0, 140.0])
    bars = Bars("SOL-USD", Granularity.ONE_HOUR, times(3, 3600), open_, close, open_, close, np.ones(3))
    hold = np.zeros(3, dtype=np.int8)
    at_close = run_simulation(bars, hold, SimulationSettings(fill="close", fee_rate=0.01)).metrics
    assert at_close.buy_and_hold_return == pytest.approx(150 * 0.99 / (100 * 1.01) - 1)
    next_open = run_simulation(bars, hold, SimulationSettings(fee_rate=0.0, half_spread_bps=100)).metrics
    assert next_open.buy_and_hold_return == pytest.approx(150 * 0.99 / (110 * 1.01) - 1)
    assert at_close.trades == 0 and at_close.total_return == 0.0


def test_metrics_record_round_trips_through_its_vector_in_name_order() -> None:
    values = np.arange(len(METRIC_NAMES), dtype=float)
    metrics = Metrics.from_array(values)
    assert list(metrics.as_dict()) == list(METRIC_NAMES)
    assert list(metrics.as_dict().values()) == list(range(len(METRIC_NAMES)))
    assert isinstance(metrics.trades, int) and isinstance(metrics.sharpe, float)
    with pytest.raises(ValueError, match=f"a metric vector has {len(METRIC_NAMES)} values, got 3"):
        Metrics.from_array(np.zeros(3))


def test_compute_metrics_refuses_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="one equity value per bar time"):
        compute_metrics(np.ones(3), times(2, 60), 60, 1.0)
    with pytest.raises(ValueError, match="closed_pnl has 2 values but closed_returns has 1"):
        compute_metrics(np.ones(2), times(2, 60), 60, 1.0, closed_pnl=np.ones(2), closed_returns=np.ones(1))
