"""Metrics against an independent oracle: the definitions of `backtest.metrics` written again in plain NumPy.

The kernel and `compute_metrics` fold equity into running accumulators; `oracle_metrics` below shares none
of that code and computes each metric from whole arrays, the way the module doc defines it. Curves have
irregular bar times (so a span is not the bar count times the bar size) and round trips that break even
exactly (so a breakeven is neither a win nor a loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpt_trader.backtest.metrics import METRIC_NAMES, compute_metrics
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from tests.support.simulation_cases import close_enough, markets, signal_arrays, simulation_settings

YEAR = 365 * 86_400
START = 1_704_067_200
GRANULARITIES = [Granularity.ONE_MINUTE, Granularity.ONE_HOUR, Granularity.ONE_DAY]


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else math.nan


def _deepest_drawdown(curve: np.ndarray, ends: np.ndarray) -> tuple[float, int, float]:
    """(depth, bars, seconds) of the deepest fall below a running peak; `curve` starts with the initial cash
    and `ends[i]` is when curve point i was known (the first one: the first bar's open)."""
    peaks = np.maximum.accumulate(curve)
    depths = curve / peaks - 1.0
    deepest = float(depths.min())
    if deepest == 0.0:
        return 0.0, 0, 0.0
    underwater = np.r_[False, depths < 0.0, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(underwater) == 1)  # first underwater point of each episode
    stops = np.flatnonzero(np.diff(underwater) == -1)  # one past its last underwater point
    episode = next(i for i in range(len(starts)) if depths[starts[i]:stops[i]].min() == deepest)
    peak_at = starts[episode] - 1  # the last point at the peak
    until = min(stops[episode], len(curve) - 1)  # the recovery, or the end when there is none
    return deepest, int(until - peak_at), float(ends[until] - ends[peak_at])


def oracle_metrics(
    equity: np.ndarray,
    time: np.ndarray,
    bar_seconds: float,
    initial_cash: float,
    closed_pnl: np.ndarray,
    closed_returns: np.ndarray,
    trades: int,
    fees: float,
    exposure_bars: int,
) -> dict[str, float]:
    """Every metric but buy_and_hold_return, from the definitions in `backtest.metrics`."""
    n = len(equity)
    returns = equity / np.r_[initial_cash, equity[:-1]] - 1.0
    annualise = math.sqrt(YEAR / bar_seconds)
    mean, std = float(returns.mean()), float(returns.std())
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    growth = equity[-1] / initial_cash
    years = (time[-1] + bar_seconds - time[0]) / YEAR
    with np.errstate(over="ignore"):
        cagr = float(np.float64(growth) ** (1.0 / years) - 1.0) if growth > 0 else -1.0
    depth, depth_bars, depth_seconds = _deepest_drawdown(np.r_[initial_cash, equity],
                                                         np.r_[time[0], time + bar_seconds])
    wins, losses = closed_pnl[closed_pnl > 0], closed_pnl[closed_pnl < 0]
    closed = len(closed_pnl)
    return {
        "final_equity": float(equity[-1]),
        "total_return": float(growth - 1.0),
        "cagr": cagr,
        "volatility": std * annualise,
        "sharpe": _ratio(mean, std) * annualise,
        "sortino": _ratio(mean, downside) * annualise,
        "calmar": _ratio(cagr, -depth),
        "max_drawdown": depth,
        "max_drawdown_bars": depth_bars,
        "max_drawdown_seconds": depth_seconds,
        "win_rate": len(wins) / closed if closed else math.nan,
        "profit_factor": _ratio(float(wins.sum()), float(-losses.sum())) if closed else math.nan,
        "expectancy": float(closed_pnl.mean()) if closed else math.nan,
        "avg_trade_return": float(closed_returns.mean()) if closed else math.nan,
        "trades": trades,
        "closed_trades": closed,
        "exposure": exposure_bars / n,
        "fees": fees,
    }


def mismatches(got: dict[str, float], want: dict[str, float], returns: np.ndarray) -> dict[str, tuple[float, float]]:
    """Metrics that disagree. The accumulators compute a variance as E[r^2] - E[r]^2, which cancels when the
    returns are all but constant; the ratios built on it are then left out rather than loosely compared."""
    unstable = float(returns.std()) <= 1e-6 * float(np.abs(returns).mean())
    skip = {"volatility", "sharpe"} if unstable else set()
    return {name: (got[name], want[name]) for name in want
            if name not in skip and not close_enough(got[name], want[name], rel=1e-7)}


@dataclass(frozen=True)
class Curve:
    """An equity curve with its bar times and the round trips behind it, as `compute_metrics` takes them."""

    equity: np.ndarray
    time: np.ndarray
    bar_seconds: float
    closed_pnl: np.ndarray
    trades: int
    fees: float
    exposure_bars: int
    initial_cash: float = 100.0

    @property
    def returns(self) -> np.ndarray:
        return self.equity / np.r_[self.initial_cash, self.equity[:-1]] - 1.0

    def metrics(self) -> dict[str, float]:
        return compute_metrics(self.equity, self.time, self.bar_seconds, self.initial_cash,
                               closed_pnl=self.closed_pnl, closed_returns=self.closed_pnl / self.initial_cash,
                               trades=self.trades, fees=self.fees, exposure_bars=self.exposure_bars).as_dict()

    def oracle(self) -> dict[str, float]:
        return oracle_metrics(self.equity, self.time, self.bar_seconds, self.initial_cash, self.closed_pnl,
                              self.closed_pnl / self.initial_cash, self.trades, self.fees, self.exposure_bars)


@st.composite
def curves(draw: st.DrawFn) -> Curve:
    """Equity on a coarse grid (ties, flat runs, new peaks), irregular times, trades that break even."""
    n = draw(st.integers(1, 60))
    granularity = draw(st.sampled_from(GRANULARITIES))
    steps = draw(arrays(np.int64, n, elements=st.sampled_from([1, 1, 1, 2, 7])))
    pnl = draw(st.lists(st.sampled_from([-30.0, -2.5, 0.0, 0.0, 4.0, 55.0]), max_size=8))
    return Curve(
        equity=draw(arrays(np.float64, n, elements=st.integers(20, 200).map(float))),
        time=START + granularity.seconds * np.r_[0, np.cumsum(steps[1:])],
        bar_seconds=float(granularity.seconds),
        closed_pnl=np.array(pnl),
        trades=len(pnl) + draw(st.integers(0, 1)),
        fees=draw(st.sampled_from([0.0, 1.25])),
        exposure_bars=draw(st.integers(0, n)),
    )


@given(curves())
def test_compute_metrics_agrees_with_the_oracle(curve: Curve) -> None:
    assert not mismatches(curve.metrics(), curve.oracle(), curve.returns)


@st.composite
def irregular_runs(draw: st.DrawFn) -> tuple[Bars, np.ndarray, SimulationSettings]:
    """A random market whose bars are spread out in time with gaps, its signals and settings."""
    regular = draw(markets())
    steps = draw(arrays(np.int64, len(regular), elements=st.sampled_from([1, 1, 1, 3, 24])))
    time = regular.start + regular.granularity.seconds * np.r_[0, np.cumsum(steps[1:])]
    bars = Bars(regular.product_id, regular.granularity, time, regular.open, regular.high, regular.low,
                regular.close, regular.volume)
    return bars, draw(signal_arrays(len(bars))), draw(simulation_settings)


@given(irregular_runs())
def test_kernel_metrics_agree_with_the_oracle_on_its_own_curve_and_trades(
    run: tuple[Bars, np.ndarray, SimulationSettings],
) -> None:
    bars, signals, settings = run
    result = run_simulation(bars, signals, settings)
    trades = result.trades()
    closed = trades[trades["exit_reason"] != "open"]
    want = oracle_metrics(result.equity, bars.time, bars.granularity.seconds, settings.initial_cash,
                          closed["pnl"].to_numpy(), closed["return"].to_numpy(), len(trades),
                          float(trades["fees"].sum()), int(np.count_nonzero(result.units)))
    equity = result.equity
    assert not mismatches(result.metrics.as_dict(), want, equity / np.r_[settings.initial_cash, equity[:-1]] - 1.0)


def test_the_oracle_sees_a_breakeven_trade_and_a_gap_in_time() -> None:
    """The two mistakes the oracle exists to catch, in numbers a reader can check."""
    # Three daily bars spread over a whole year; one round trip won 10, the other broke even.
    curve = Curve(np.array([100.0, 100.0, 110.0]), START + 86_400 * np.array([0, 1, 364]), 86_400.0,
                  np.array([0.0, 10.0]), trades=2, fees=0.0, exposure_bars=2)
    got, want = curve.metrics(), curve.oracle()
    assert got["win_rate"] == want["win_rate"] == 0.5
    assert got["cagr"] == want["cagr"] == 1.1 - 1.0
    assert set(want) == set(METRIC_NAMES) - {"buy_and_hold_return"}
