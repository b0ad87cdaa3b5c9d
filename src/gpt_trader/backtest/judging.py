"""A sweep's best rows judged: is each winner skill or the luck of having tried many combinations?

`judge_sweep` gives each of a sweep's best rows its deflated Sharpe ratio from every trial run, its plateau
score on the parameter grid, and a verdict (`backtest.overfitting`). `gpt-trader backtest` prints them after
every sweep, so this module stays apart from `backtest.optimize` and the walk-forward and regime machinery a
sweep does not use; `optimize` judges its candidates with the same pieces.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.backtest.metrics import METRIC_NAMES, SECONDS_PER_YEAR
from gpt_trader.backtest.overfitting import Evidence, deflated_sharpe, plateau_score, return_moments, verdict
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import checked_signals

if TYPE_CHECKING:
    from gpt_trader.backtest.api import SweepResult

LOWER_IS_BETTER = frozenset({"volatility", "fees", "max_drawdown_bars", "max_drawdown_seconds"})


def objective_scores(metrics: np.ndarray, metric: str) -> np.ndarray:
    """The objective of each metric vector in `metrics` (last axis), higher better, NaN as -inf."""
    values = metrics[..., METRIC_NAMES.index(metric)]
    values = -values if metric in LOWER_IS_BETTER else values
    return np.where(np.isnan(values), -np.inf, values)


def per_bar_sharpes(annualised: np.ndarray, bars: Bars) -> np.ndarray:
    """Trials' annualised Sharpe ratios divided back to per-bar ones, the deflated Sharpe's unit."""
    per_year = SECONDS_PER_YEAR / float(bars.granularity.seconds)
    return np.asarray(annualised, dtype=np.float64) / math.sqrt(per_year)


def equity_deflated_sharpe(equity: np.ndarray, initial_cash: float, trials: int, trial_sharpes: np.ndarray) -> float:
    """The deflated Sharpe ratio of the backtest with this equity curve, chosen from `trials` whose per-bar
    Sharpes vary as `trial_sharpes` do (a trial that never trades has no Sharpe and is left out of the
    variance only); the curve gives the returns' skewness and kurtosis.
    """
    previous = np.concatenate([[initial_cash], equity[:-1]])
    returns = equity / previous - 1
    sharpe, skewness, kurtosis = return_moments(returns)
    finite = trial_sharpes[np.isfinite(trial_sharpes)]
    variance = float(np.var(finite)) if len(finite) > 1 else 0.0
    if not math.isfinite(sharpe):
        return float("nan")
    return deflated_sharpe(sharpe, trials, variance, len(returns), skewness, kurtosis)


def judge_sweep(result: SweepResult, top: int = 3, by: str = "sharpe") -> list[tuple[int, float, str]]:
    """(table row, deflated Sharpe, verdict) of a sweep's `top` rows by `by`, from all its `trials`.

    A sweep has no walk-forward, so a significant row is only "significant" (in sample); `optimize` tells
    whether it holds out of sample.
    """
    columns = result.columns
    sharpes_of_all = np.asarray(columns["sharpe"], dtype=np.float64)
    metrics = np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in METRIC_NAMES])
    rows: list[tuple[int, float, str]] = []
    for row in result.ranked(by)[:top]:
        record = result.row(row)
        product = str(record["product_id"])
        bars = result.bars[product]
        same = [
            i for i, (s, p) in enumerate(zip(columns["strategy"], columns["product_id"], strict=True))
            if s == record["strategy"] and p == product
        ]
        sharpes = per_bar_sharpes(sharpes_of_all, bars)
        strategy = result.strategies[str(record["strategy"])]
        signals = checked_signals(strategy, bars, dict(record["params"]))
        equity = run_simulation(bars, signals, result.settings).equity
        dsr = equity_deflated_sharpe(equity, result.settings.initial_cash, result.trials, sharpes)
        combos = [dict(columns["params"][i]) for i in same]
        plateau = plateau_score(combos, objective_scores(metrics[same], by), same.index(row))
        over_holding = float(record["total_return"] - record["buy_and_hold_return"])
        rows.append((row, dsr, verdict(Evidence(dsr, plateau=plateau, over_holding=over_holding))))
    return rows
