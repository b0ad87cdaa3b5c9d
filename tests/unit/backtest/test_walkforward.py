"""Walk-forward folds, segment scores and their pooling, against backtests run on the ranges directly."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.runner import Job, RunContext, evaluate_job
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation, summarize
from gpt_trader.backtest.walkforward import Fold, blocks, pool, walk_forward_folds
from gpt_trader.errors import UserError
from gpt_trader.strategies.registry import get_strategy
from tests.support.synthetic_bars import off_grid_bars


def test_rolling_and_anchored_folds_with_a_purge_gap() -> None:
    assert walk_forward_folds(600, folds=5, purge=10) == [
        Fold((0, 90), (100, 200)), Fold((100, 190), (200, 300)), Fold((200, 290), (300, 400)),
        Fold((300, 390), (400, 500)), Fold((400, 490), (500, 600)),
    ]
    anchored = walk_forward_folds(605, folds=2, anchored=True)
    assert anchored == [Fold((0, 201), (201, 402)), Fold((0, 402), (402, 605))]
    for fold in walk_forward_folds(10_000, folds=7, purge=33):
        assert fold.train[1] + 33 == fold.test[0]  # no training bar within the gap before its test
    with pytest.raises(UserError, match="fewer --folds"):
        walk_forward_folds(50, folds=5, purge=8)


def test_blocks_cover_every_bar_once() -> None:
    cuts = blocks(1003, 16)
    assert cuts[0][0] == 0 and cuts[-1][1] == 1003
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))


def test_a_segment_scores_like_a_backtest_of_its_range_on_signals_from_all_bars() -> None:
    bars = dataclasses.replace(off_grid_bars(2000, seed=4), product_id="BTC-USD")
    strategy = get_strategy("ma_crossover")
    combination = strategy.resolve({"fast": 5, "slow": 40})
    settings = SimulationSettings(fee_rate=0.001)
    segments = ((0, 2000), (300, 700), (1500, 2000))
    job = Job(0, strategy, "BTC-USD", (combination,), segments)
    scored = evaluate_job(RunContext({"BTC-USD": bars}, settings), job).metrics
    signals = strategy.signals(bars, combination)
    for slot, (first, stop) in enumerate(segments):
        expected = summarize(bars[first:stop], signals[first:stop], settings)
        np.testing.assert_array_equal(scored[0, slot], expected)


def test_pooled_ranges_equal_their_returns_laid_end_to_end() -> None:
    bars = dataclasses.replace(off_grid_bars(3000, seed=9), product_id="BTC-USD")
    strategy = get_strategy("ma_crossover")
    settings = SimulationSettings(fee_rate=0.002)
    ranges = [(500, 1200), (1200, 2100), (2100, 3000)]
    vectors, returns, holding = [], [], 1.0
    chosen = [{"fast": 3, "slow": 30}, {"fast": 8, "slow": 50}, {"fast": 5, "slow": 20}]
    for (first, stop), params in zip(ranges, chosen, strict=True):
        signals = strategy.signals(bars, strategy.resolve(params))[first:stop]
        vectors.append(summarize(bars[first:stop], signals, settings))
        equity = run_simulation(bars[first:stop], signals, settings).equity
        previous = np.concatenate([[settings.initial_cash], equity[:-1]])
        returns.append(equity / previous - 1)
        holding *= 1 + vectors[-1][METRIC_NAMES.index("buy_and_hold_return")]
    joined = np.concatenate(returns)
    pooled = pool(vectors, [b - a for a, b in ranges], 60.0)
    per_year = 365 * 1440
    assert pooled["total_return"] == pytest.approx(np.prod(1 + joined) - 1, rel=1e-9)
    assert pooled["volatility"] == pytest.approx(joined.std() * np.sqrt(per_year), rel=1e-9)
    assert pooled["sharpe"] == pytest.approx(joined.mean() / joined.std() * np.sqrt(per_year), rel=1e-9)
    assert pooled["buy_and_hold_return"] == pytest.approx(holding - 1, rel=1e-12)
