"""Optimising one strategy's parameters, with the odds that the winner is luck reported by default.

    import gpt_trader as gt
    result = gt.optimize("ma_crossover", ["BTC-USD"], params={"fast": "2:50", "slow": "10:200:5"},
                         method="grid", objective="sharpe", data=gt.DataSpec(source="synthetic"))
    result.candidates     # the best rows, each with its deflated Sharpe, plateau score and verdict
    result.walk_forward   # per product: parameters chosen fold by fold and their out-of-sample record

The search (`grid`, `random` or `optuna`, see `backtest.study`) picks which combinations to run; every one is
scored on the whole history, on every walk-forward training and test range, and on the blocks of CSCV, in a
single pass of the runner (`Job.segments`). From those scores come, without running anything again:

* walk-forward: per fold the combination best on training, and its test record; pooled into the
  out-of-sample headline metrics (`backtest.walkforward`);
* the deflated Sharpe ratio of each candidate from the trial count (every product × combination run), the
  probability of backtest overfitting, the plateau score, and a verdict (`backtest.overfitting`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.backtest.judging import equity_deflated_sharpe, objective_scores, per_bar_sharpes
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.overfitting import Evidence, plateau_score, probability_of_overfitting, verdict
from gpt_trader.backtest.regimes import breakdown, regime_labels
from gpt_trader.backtest.runner import Executor, Progress, RunContext, plan, run_jobs
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.backtest.space import ParameterSpace, ValueSpec
from gpt_trader.backtest.walkforward import Fold, blocks, pool, walk_forward_folds
from gpt_trader.config import load_settings
from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import ParamValue, Strategy, checked_signals
from gpt_trader.strategies.registry import get_strategy

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.backtest.api import DataSpec
    from gpt_trader.config import Settings

Combination = dict[str, ParamValue]
OBJECTIVE_ALIASES = {"return": "total_return"}
CSCV_BLOCKS = 16


def objective_metric(objective: str) -> str:
    """The metric an objective names (`return` is `total_return`), or a UserError listing the choices."""
    metric = OBJECTIVE_ALIASES.get(objective, objective)
    if metric not in METRIC_NAMES:
        raise UserError(f"--objective {objective!r}: choose return or one of {', '.join(METRIC_NAMES)}")
    return metric


@dataclass(frozen=True)
class Evaluation:
    """How the combinations are judged: walk-forward folds (anchored or rolling, purge gap) and CSCV blocks."""

    folds: int = 5
    anchored: bool = False
    purge: int = 0
    cscv_blocks: int = CSCV_BLOCKS

    def layout(self, bars: int) -> tuple[list[Fold], list[tuple[int, int]]]:
        return walk_forward_folds(bars, self.folds, self.anchored, self.purge), blocks(bars, self.cscv_blocks)

    def segments(self, bars: int) -> tuple[tuple[int, int], ...]:
        """Slot 0 the whole history, then each fold's training range, each test range, each CSCV block."""
        folds, cscv = self.layout(bars)
        return ((0, bars), *(f.train for f in folds), *(f.test for f in folds), *cscv)


@dataclass
class Scores:
    """Every combination run so far on each product: metrics per segment (combinations × segments × metrics)."""

    combinations: list[Combination] = field(default_factory=list)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    index: dict[tuple[tuple[str, ParamValue], ...], int] = field(default_factory=dict)

    def add(self, combinations: Sequence[Combination], metrics: Mapping[str, np.ndarray]) -> None:
        for combination in combinations:
            self.index[key(combination)] = len(self.combinations)
            self.combinations.append(combination)
        for product, values in metrics.items():
            previous = self.metrics.get(product)
            self.metrics[product] = values if previous is None else np.concatenate([previous, values])


def key(combination: Mapping[str, ParamValue]) -> tuple[tuple[str, ParamValue], ...]:
    return tuple(sorted(combination.items()))


def score(
    strategy: Strategy,
    combinations: Sequence[Combination],
    context: RunContext,
    segments: Mapping[str, tuple[tuple[int, int], ...]],
    executor: Executor,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Run `combinations` on every product of `context`, scored on its `segments`: product → metrics array."""
    products = list(segments)
    space = ParameterSpace(strategy, tuple(combinations), 0)
    jobs = plan([space], products, executor.workers, segments)
    results = run_jobs(context, jobs, executor, progress)
    by_product: dict[str, list[np.ndarray]] = {product: [] for product in products}
    for job, result in zip(jobs, results, strict=True):
        if result.failure is not None:
            raise UserError(result.failure)
        by_product[job.product_id].append(result.metrics)
    return {product: np.concatenate(parts) for product, parts in by_product.items()}


@dataclass(frozen=True)
class WalkForward:
    """One product's walk-forward: the combination chosen on each fold's training range and its test record."""

    product_id: str
    chosen: tuple[Combination, ...]
    in_sample: tuple[float, ...]
    """The chosen combination's objective on each training range."""
    out_of_sample: tuple[float, ...]
    """Its objective on the test range that follows."""
    headline: dict[str, float]
    """The test ranges laid end to end: total_return, volatility, sharpe and buy_and_hold_return (see
    `walkforward.pool`)."""
    pbo: float


@dataclass(frozen=True)
class Candidate:
    """One of the best rows on the whole history, and what is known of its luck."""

    product_id: str
    params: Combination
    objective: float
    sharpe: float
    deflated_sharpe: float
    plateau: float
    verdict: str
    regimes: tuple[dict[str, Any], ...] = ()
    """Its whole-history returns by market regime (see `backtest.regimes.breakdown`)."""


@dataclass(frozen=True, eq=False)
class OptimizeResult:
    """An optimisation: every row run, the walk-forward per product, and the best candidates judged."""

    strategy: str
    method: str
    objective: str
    table: pd.DataFrame
    """One row per product × combination: the whole-history metrics, and `oos_sharpe` / `oos_return` of
    those fixed parameters over the test ranges."""
    trials: int
    walk_forward: tuple[WalkForward, ...]
    candidates: tuple[Candidate, ...]
    bars: dict[str, Bars]
    settings: SimulationSettings
    evaluation: Evaluation
    seconds: float
    run_id: int | None = None


def judge(
    strategy: Strategy,
    scores: Scores,
    bars: Mapping[str, Bars],
    settings: SimulationSettings,
    evaluation: Evaluation,
    metric: str,
    top: int,
) -> tuple[pd.DataFrame, tuple[WalkForward, ...], tuple[Candidate, ...]]:
    """The table, the walk-forward of each product and the `top` candidates judged, from the scores."""
    import pandas as pd

    folds = evaluation.folds
    walks = []
    frames = []
    for product, metrics in scores.metrics.items():
        layout, _ = evaluation.layout(len(bars[product]))
        walks.append(_walk_forward(product, scores.combinations, metrics, layout, bars[product], metric, evaluation))
        test_lengths = [f.test[1] - f.test[0] for f in layout]
        seconds = float(bars[product].granularity.seconds)
        pooled = [pool(list(row[1 + folds : 1 + 2 * folds]), test_lengths, seconds) for row in metrics]
        frame = pd.DataFrame(metrics[:, 0, :], columns=list(METRIC_NAMES))
        frame.insert(0, "params", [dict(c) for c in scores.combinations])
        frame.insert(0, "product_id", product)
        frame.insert(0, "strategy", strategy.name)
        frame["oos_sharpe"] = [p["sharpe"] for p in pooled]
        frame["oos_return"] = [p["total_return"] for p in pooled]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    trials = len(table)
    ranked = np.argsort(-objective_scores(table[list(METRIC_NAMES)].to_numpy(), metric), kind="stable")
    walk_by_product = {w.product_id: w for w in walks}
    candidates = []
    for row in ranked[:top]:
        record = table.loc[int(row)]
        product = str(record["product_id"])
        metrics = scores.metrics[product]
        combination = dict(record["params"])
        candidates.append(
            _candidate(strategy, product, combination, scores, metrics, bars[product], settings, metric,
                       trials, walk_by_product[product])
        )
    return table, tuple(walks), tuple(candidates)


def _walk_forward(
    product: str,
    combinations: Sequence[Combination],
    metrics: np.ndarray,
    layout: Sequence[Fold],
    bars: Bars,
    metric: str,
    evaluation: Evaluation,
) -> WalkForward:
    folds = len(layout)
    chosen: list[Combination] = []
    in_sample: list[float] = []
    out_of_sample: list[float] = []
    tests = []
    for k in range(folds):
        train = objective_scores(metrics[:, 1 + k, :], metric)
        best = int(np.argmax(train))
        chosen.append(dict(combinations[best]))
        in_sample.append(float(train[best]))
        out_of_sample.append(float(objective_scores(metrics[best, 1 + folds + k, :], metric)))
        tests.append(metrics[best, 1 + folds + k, :])
    lengths = [f.test[1] - f.test[0] for f in layout]
    headline = pool(tests, lengths, float(bars.granularity.seconds))
    block_scores = objective_scores(metrics[:, 1 + 2 * folds :, :], metric).T
    pbo = (
        probability_of_overfitting(block_scores, evaluation.cscv_blocks).pbo
        if len(combinations) > 1 else float("nan")
    )
    return WalkForward(product, tuple(chosen), tuple(in_sample), tuple(out_of_sample), headline, pbo)


def _candidate(
    strategy: Strategy,
    product: str,
    combination: Combination,
    scores: Scores,
    metrics: np.ndarray,
    bars: Bars,
    settings: SimulationSettings,
    metric: str,
    trials: int,
    walk: WalkForward,
) -> Candidate:
    row = scores.index[key(combination)]
    whole = metrics[:, 0, :]
    equity = run_simulation(bars, checked_signals(strategy, bars, combination), settings).equity
    sharpes = per_bar_sharpes(whole[:, METRIC_NAMES.index("sharpe")], bars)
    dsr = equity_deflated_sharpe(equity, settings.initial_cash, trials, sharpes)
    regimes = breakdown(bars, equity, settings.initial_cash, regime_labels(bars))
    plateau = plateau_score(scores.combinations, objective_scores(whole, metric), row)
    headline = walk.headline
    evidence = Evidence(
        dsr, headline["sharpe"], walk.pbo, plateau, headline["total_return"] - headline["buy_and_hold_return"]
    )
    return Candidate(
        product, combination, float(objective_scores(whole[row], metric)),
        float(whole[row, METRIC_NAMES.index("sharpe")]), dsr, plateau, verdict(evidence), tuple(regimes),
    )


def optimize(
    strategy: str | Strategy,
    products: Sequence[str] = ("BTC-USD",),
    *,
    params: Mapping[str, ValueSpec] | None = None,
    method: str = "grid",
    trials: int | None = None,
    objective: str = "sharpe",
    evaluation: Evaluation | None = None,
    seed: int = 0,
    data: DataSpec | None = None,
    bars: Mapping[str, Bars | pd.DataFrame] | None = None,
    settings: SimulationSettings | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    top: int = 5,
    progress: Progress | None = None,
    config: Settings | None = None,
) -> OptimizeResult:
    """Search `strategy`'s `params` (value specs, see `backtest.space`) on `products` and judge the winners.

    `method` is grid (every combination), random (`trials` of them, default 100) or optuna (a TPE study of
    `trials` proposals, stored in `storage`, default beside the project database, under `study_name`, so
    running it again resumes it). `objective` is the metric to maximise (`return` for total_return; volatility,
    fees and drawdown lengths are minimised). `executor` replaces the local one (a Dask cluster, see
    `backtest.dask`).
    """
    from gpt_trader.backtest.api import DataSpec, compile_kernels
    from gpt_trader.backtest.frames import bars_from_frame
    from gpt_trader.backtest.runner import choose_executor
    from gpt_trader.backtest.study import run_study, search_combinations, study_storage

    started = time.perf_counter()
    chosen = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    metric = objective_metric(objective)
    evaluation = evaluation or Evaluation()
    settings = settings or SimulationSettings()
    specs = dict(params or {})
    if method not in ("grid", "random", "optuna"):
        raise UserError(f"--method {method!r}: choose grid, random or optuna")
    product_ids = [p.strip().upper() for p in products]
    if not product_ids:
        raise UserError("no product given; name at least one, e.g. BTC-USD")
    full_grid = search_combinations("grid", chosen, specs, None, seed)  # bad specs fail before any loading
    if bars is None:
        bars = (data or DataSpec()).load(product_ids, config)
    given = {p: b if isinstance(b, Bars) else bars_from_frame(b, p) for p, b in bars.items() if p in product_ids}
    missing = [p for p in product_ids if p not in given]
    if missing:
        raise UserError(f"no bars given for {', '.join(missing)}")
    segments = {p: evaluation.segments(len(given[p])) for p in product_ids}
    failures = compile_kernels([ParameterSpace(chosen, full_grid[:1], 0)], given[product_ids[0]], settings)
    if failures:
        raise UserError("\n".join(failures.values()))
    context = RunContext(given, settings)
    planned = len(full_grid) if method == "grid" else min(trials or 100, len(full_grid))
    # Segments score each bar about three times: the whole history, a training and a test range, a CSCV block.
    bar_evaluations = planned * sum(len(b) for b in given.values()) * 3
    runner = executor or choose_executor(bar_evaluations, workers)
    scores = Scores()
    done = 0

    def report(step: int, _total: int) -> None:
        if progress is not None:
            progress(done + step, planned * len(product_ids))

    def evaluate(combinations: Sequence[Combination]) -> list[float]:
        nonlocal done
        new = list({key(c): c for c in combinations if key(c) not in scores.index}.values())
        if new:
            scores.add(new, score(chosen, new, context, segments, runner, report))
            done += len(new) * len(product_ids)
        rows = [scores.index[key(c)] for c in combinations]
        folds = evaluation.folds
        # Optuna is told the mean training objective over products and folds: it never sees a test range alone.
        train = [objective_scores(m[rows, 1 : 1 + folds, :], metric).mean(axis=1) for m in scores.metrics.values()]
        return [float(v) for v in np.mean(train, axis=0)]

    if method == "optuna":
        name = study_name or default_study_name(chosen.name, product_ids, specs, metric)
        run_study(
            chosen, specs, trials or 100, evaluate,
            storage=storage or study_storage((config or load_settings()).database), study_name=name, seed=seed,
        )
    else:
        evaluate(search_combinations(method, chosen, specs, trials, seed))
    table, walks, candidates = judge(chosen, scores, given, settings, evaluation, metric, top)
    return OptimizeResult(
        strategy=chosen.name, method=method, objective=metric, table=table, trials=len(table), walk_forward=walks,
        candidates=candidates, bars=given, settings=settings, evaluation=evaluation,
        seconds=time.perf_counter() - started,
    )


def default_study_name(strategy: str, products: Sequence[str], specs: Mapping[str, ValueSpec], metric: str) -> str:
    """One name per strategy, products, parameter specs and objective: the same command resumes its study."""
    shown = ",".join(f"{name}={spec}" for name, spec in sorted(specs.items()))
    return f"{strategy} {','.join(products)} {shown} {metric}"
