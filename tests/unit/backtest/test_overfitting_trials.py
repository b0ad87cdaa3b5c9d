"""A sweep's trial count is every row its winner was chosen from: strategy × product × combination."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.judging import judge_sweep
from gpt_trader.backtest.overfitting import deflated_sharpe, return_moments
from tests.support.synthetic_bars import off_grid_bars


def test_trials_count_every_ranked_row_across_products() -> None:
    products = ["BTC-USD", "ETH-USD", "SOL-USD"]
    bars = {p: dataclasses.replace(off_grid_bars(400, seed=seed), product_id=p) for seed, p in enumerate(products)}
    result = sweep(["ma_crossover"], list(bars), params={"ma_crossover": {"fast": "5:15:5", "slow": "20,30"}},
                   bars=bars, workers=1)
    assert len(result.table) == 18
    assert len(result.top(100)) == 18
    assert result.trials == 18


def test_a_sweeps_verdict_deflates_the_best_row_by_every_rows_sharpe() -> None:
    products = ["BTC-USD", "ETH-USD"]
    bars = {p: dataclasses.replace(off_grid_bars(3000, seed=seed), product_id=p) for seed, p in enumerate(products)}
    result = sweep(["ma_crossover"], products, params={"ma_crossover": {"fast": "3:15:3", "slow": "20:60:10"}},
                   bars=bars, workers=1)
    ((row, dsr, said),) = judge_sweep(result, top=1)
    best = result.table.loc[row]
    assert row == result.top(1).index[0]
    per_bar = result.table["sharpe"].to_numpy() / math.sqrt(365 * 1440)
    detail = result.detail(row)
    equity = detail.simulation.equity
    returns = equity / np.concatenate([[result.settings.initial_cash], equity[:-1]]) - 1
    sharpe, skewness, kurtosis = return_moments(returns)
    assert sharpe * math.sqrt(365 * 1440) == pytest.approx(best["sharpe"], rel=1e-9)
    expected = deflated_sharpe(sharpe, len(result.table), float(np.var(per_bar)), len(returns), skewness, kurtosis)
    assert dsr == pytest.approx(expected, rel=1e-12)
    assert (said == "likely luck") == (expected < 0.95)
