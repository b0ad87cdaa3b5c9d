"""optimize(): winners of searches on random walks are flagged as luck; a planted edge holds out of sample."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.optimize import Evaluation, optimize
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import summarize
from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.strategies.registry import get_strategy
from tests.support.synthetic_bars import off_grid_bars

NO_FEE = SimulationSettings(fee_rate=0.0)
SPACE = {"fast": "2:60", "slow": "10:400:5"}


def _walk(seed: int, count: int = 2500) -> dict[str, Bars]:
    return {"BTC-USD": dataclasses.replace(off_grid_bars(count, seed=seed), product_id="BTC-USD")}


def _cycles(count: int, seed: int, amplitude: float = 0.1, period: int = 2000) -> dict[str, Bars]:
    """A market with a planted edge: slow cycles any moving-average crossover follows, little net drift."""
    rng = np.random.default_rng(seed)
    steps = np.arange(count)
    close = 100 * np.exp(amplitude * np.sin(2 * np.pi * steps / period) + np.cumsum(rng.normal(0, 0.001, count)))
    opens = np.concatenate(([100.0], close[:-1]))
    bars = Bars("BTC-USD", Granularity.ONE_MINUTE, 1_704_067_200 + 60 * steps, opens, np.maximum(opens, close),
                np.minimum(opens, close), close, np.ones(count))
    return {"BTC-USD": bars}


@pytest.mark.slow
def test_the_best_of_a_thousand_trials_on_random_walks_is_flagged_as_not_significant() -> None:
    verdicts = []
    for seed in range(20):
        result = optimize("ma_crossover", ["BTC-USD"], params=SPACE, method="random", trials=1000, seed=seed,
                          bars=_walk(seed), settings=NO_FEE, workers=1, top=1)
        assert result.trials == 1000
        verdicts.append(result.candidates[0].verdict)
    holding = sum(v in ("holds out of sample", "significant") for v in verdicts)
    assert holding <= 1, verdicts  # at least 95 % of the 20 winners flagged


def test_a_planted_edge_survives_and_holds_out_of_sample() -> None:
    result = optimize("ma_crossover", ["BTC-USD"], params=SPACE, method="random", trials=1000,
                      bars=_cycles(10_000, seed=0), settings=NO_FEE, workers=1, top=3)
    best = result.candidates[0]
    assert best.deflated_sharpe > 0.95
    assert best.verdict == "holds out of sample"
    walk = result.walk_forward[0]
    assert walk.headline["sharpe"] > 0 and walk.headline["total_return"] > walk.headline["buy_and_hold_return"]
    assert walk.pbo < 0.5


def test_grid_rows_are_the_sweeps_rows_and_walk_forward_picks_each_folds_training_best() -> None:
    bars = _walk(3, 3000)
    space = {"fast": "3:15:4", "slow": "20:60:20"}
    result = optimize("ma_crossover", ["BTC-USD"], params=space, method="grid", bars=bars, workers=1,
                      evaluation=Evaluation(folds=3, purge=5))
    swept = sweep(["ma_crossover"], ["BTC-USD"], params={"ma_crossover": space}, bars=bars, workers=1)
    assert result.trials == len(swept.table) == 12
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(result.table[name], swept.table[name], err_msg=name)
    walk = result.walk_forward[0]
    strategy = get_strategy("ma_crossover")
    combinations = list(result.table["params"])
    for fold, chosen in zip(Evaluation(folds=3, purge=5).layout(3000)[0], walk.chosen, strict=True):
        first, stop = fold.train
        trained = [
            summarize(bars["BTC-USD"][first:stop], strategy.signals(bars["BTC-USD"], c)[first:stop])
            for c in combinations
        ]
        sharpes = np.nan_to_num([vector[METRIC_NAMES.index("sharpe")] for vector in trained], nan=-np.inf)
        assert chosen == combinations[int(np.argmax(sharpes))]


def test_an_optuna_study_is_stored_and_resumed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    bars = _walk(5, 2000)
    first = optimize("ma_crossover", ["BTC-USD"], params=SPACE, method="optuna", trials=20, bars=bars,
                     workers=1, storage=storage, study_name="s")
    assert first.trials == len(first.table) <= 20
    again = optimize("ma_crossover", ["BTC-USD"], params=SPACE, method="optuna", trials=35, bars=bars,
                     workers=1, storage=storage, study_name="s")
    import optuna

    study = optuna.load_study(study_name="s", storage=storage)
    complete = [t for t in study.trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 35
    # The resumed run reports every trial of the study, the first run's included.
    assert set(map(str, first.table["params"])) <= set(map(str, again.table["params"]))


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(UserError, match="--objective 'profit'"):
        optimize("ma_crossover", params=SPACE, objective="profit", bars=_walk(0))
    with pytest.raises(UserError, match="--method 'anneal'"):
        optimize("ma_crossover", params=SPACE, method="anneal", bars=_walk(0))
    with pytest.raises(UserError, match="give at least one --param"):
        optimize("ma_crossover", method="optuna", bars=_walk(0), storage="sqlite://", study_name="x")
