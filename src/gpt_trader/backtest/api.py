"""The Python API of the backtester: `run_backtest` one strategy on one product, `sweep` a grid.

    import gpt_trader as gt
    result = gt.run_backtest("ma_crossover", "BTC-USD", params={"fast": 10, "slow": 30},
                             data=gt.DataSpec(source="synthetic"))
    result.metrics.sharpe, result.equity.plot(), result.trades
    gt.run_backtest("momentum", bars=frame)   # a pandas DataFrame of candles (see `backtest.frames`)

    sweep = gt.sweep(["ma_crossover"], ["BTC-USD", "ETH-USD"], params={"ma_crossover": {"fast": "5:20:5"}})
    sweep.summary(), sweep.top(10), sweep.detail(0).equity

Both read candles through `market.load.load_bars` (cache, validation, gap policy), or take them as Bars or
DataFrames, and simulate with `backtest.kernel`; `sweep` spreads its jobs over processes with
`backtest.runner`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.backtest.frames import bars_from_frame
from gpt_trader.backtest.metrics import INTEGER_METRICS, METRIC_NAMES, Metrics
from gpt_trader.backtest.runner import (
    Executor,
    Job,
    JobResult,
    Progress,
    RunContext,
    SerialExecutor,
    choose_executor,
    plan,
    run_jobs,
)
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import SimulationResult, run_simulation
from gpt_trader.backtest.space import ParameterSpace, ValueSpec, grid, sample
from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.load import Instant, LoadProgress, load_bars, parse_granularity, to_unix_seconds
from gpt_trader.market.products import QUICK_PRODUCTS
from gpt_trader.strategies.base import ParamValue, Strategy, checked_signals
from gpt_trader.strategies.builtin import BUILTIN_NAMES
from gpt_trader.strategies.registry import get_strategy

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.config import Settings

DEFAULT_DAYS = 30
JIT_WARM_UP_BARS = 64
"""Bars each strategy runs on once before a sweep so that Numba compiles (or loads) its kernels; this is
JIT warm-up, unrelated to the history an indicator needs."""
DAY = 86400


@dataclass(frozen=True)
class DataSpec:
    """Which candles a run reads: source, granularity, time range and gap policy.

    Without `start`, the range is the `days` before `end`. Without `end`, it is now for Coinbase, the
    start of today (UTC) for the synthetic market (so a day's runs share one cached range), and the
    end of the data for a file or imported (`local`) candles.
    """

    source: str = "coinbase"
    granularity: Granularity | str = "15m"
    days: float | None = DEFAULT_DAYS
    start: Instant | None = None
    end: Instant | None = None
    gaps: str = "keep"

    def load(
        self,
        products: Sequence[str],
        settings: Settings | None = None,
        progress: LoadProgress | None = None,
    ) -> dict[str, Bars]:
        granularity = parse_granularity(self.granularity)
        start = None if self.start is None else to_unix_seconds(self.start, "start")
        end = None if self.end is None else to_unix_seconds(self.end, "end")
        offline_file = self.source == "local" or self.source.startswith("file:")
        if end is None and not offline_file:
            now = int(time.time())
            end = now - now % DAY if self.source.startswith("synthetic") else now - now % granularity.seconds
        if start is None and self.days is not None and end is not None:
            start = end - int(self.days * DAY)
        bars = load_bars(products, granularity, start, end, self.source, self.gaps, settings, progress)
        if start is None and self.days is not None:
            # A file's last `days`: counted back from the end of its data.
            bars = {product: b.slice(b.end - int(self.days * DAY)) if len(b) else b for product, b in bars.items()}
        for product, product_bars in bars.items():
            if len(product_bars) == 0:
                raise UserError(
                    f"no {granularity.short} {product} candles in the requested range from {self.source}; "
                    "widen --days or --start/--end"
                )
        return bars


def fingerprint(bars: Mapping[str, Bars]) -> str:
    """One fingerprint of every product's candles, so a stored result names the data that produced it."""
    import hashlib

    digest = hashlib.sha256("|".join(bars[p].fingerprint() for p in sorted(bars)).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One strategy on one product: metrics, the equity curve and the trades."""

    strategy: str
    params: dict[str, ParamValue]
    simulation: SimulationResult

    @property
    def product_id(self) -> str:
        return self.simulation.bars.product_id

    @property
    def metrics(self) -> Metrics:
        return self.simulation.metrics

    @property
    def equity(self) -> pd.Series:
        """Equity at each bar's close, indexed by the bar's UTC open time."""
        return self.simulation.equity_curve()

    @property
    def trades(self) -> pd.DataFrame:
        """One row per entry (an open position at the end has exit reason "open")."""
        return self.simulation.trades()

    def __repr__(self) -> str:
        m = self.metrics
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return (
            f"BacktestResult({self.strategy}({shown}) on {self.simulation.bars!r}: "
            f"return {m.total_return:+.2%}, sharpe {m.sharpe:.2f}, max drawdown {m.max_drawdown:.2%}, "
            f"{m.trades} trades)"
        )


def run_backtest(
    strategy: str | Strategy = "ma_crossover",
    product: str = "BTC-USD",
    *,
    params: Mapping[str, Any] | None = None,
    bars: Bars | pd.DataFrame | None = None,
    data: DataSpec | None = None,
    settings: SimulationSettings | None = None,
    config: Settings | None = None,
) -> BacktestResult:
    """Backtest one strategy on one product.

    `bars` (Bars, or a pandas DataFrame of candles named `product`) replace loading by `data`; the
    starting cash, fees and fill rule are `settings` (`SimulationSettings(initial_cash=1_000)`).
    """
    chosen = _strategy(strategy)
    values = _resolve(chosen, params)
    if bars is None:
        bars = (data or DataSpec()).load([product], config)[product.upper()]
    elif not isinstance(bars, Bars):
        bars = bars_from_frame(bars, product)
    signals = checked_signals(chosen, bars, values)
    return BacktestResult(chosen.name, values, run_simulation(bars, signals, settings))


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Every backtest of a sweep as one table (a row per strategy × product × parameters).

    `columns` holds the table column by column (`strategy`, `product_id` and `params` as lists, each metric as
    an array); `table` is the same as a pandas DataFrame, built on first use, so a command that only prints a
    few rows never imports pandas. `seconds` times the backtests alone; `compile_seconds` the kernels'
    compilation (or loading from Numba's cache) before them. `trials` counts every row a winner of `top()` is
    chosen from (strategy × product × combination), the count the deflated Sharpe ratio needs. `failures` maps
    each strategy that raised to one line saying where and what (its rows are left out; the other strategies'
    are kept). `run_id` is set once the sweep is recorded (`backtest.record.record_sweep`).
    """

    columns: dict[str, Any]
    bars: dict[str, Bars]
    settings: SimulationSettings
    strategies: dict[str, Strategy]
    spaces: tuple[ParameterSpace, ...]
    trials: int
    seconds: float
    compile_seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    run_id: int | None = None

    @cached_property
    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns)

    @property
    def backtests(self) -> int:
        """The number of rows."""
        return len(self.columns["strategy"])

    def row(self, row: int) -> dict[str, Any]:
        """Row `row` as plain Python values: strategy, product_id, params and every metric."""
        return {name: _plain(values[row]) for name, values in self.columns.items()}

    def ranked(self, by: str = "sharpe") -> list[int]:
        """Every row number, best first by a metric (NaN last, ties in table order)."""
        if by not in METRIC_NAMES:
            raise UserError(f"cannot rank by {by!r}; choose one of {', '.join(METRIC_NAMES)}")
        values = np.asarray(self.columns[by], dtype=np.float64)
        return np.argsort(values if by in LOWER_IS_BETTER else -values, kind="stable").tolist()

    def top(self, n: int = 10, by: str = "sharpe") -> pd.DataFrame:
        """The `n` best rows by a metric (NaN last), indexed by their row numbers."""
        return self.table.iloc[self.ranked(by)[:n]]

    def summary_rows(self) -> list[dict[str, Any]]:
        """Per strategy, in the table's order: its backtests and the average return, buy-and-hold, Sharpe,
        max drawdown, trades and win rate (NaN left out of each average, as pandas does)."""
        strategies = self.columns["strategy"]
        rows = []
        for name in dict.fromkeys(strategies):
            mine = np.array([s == name for s in strategies])
            rows.append(
                {
                    "strategy": name,
                    "backtests": int(mine.sum()),
                    **{label: _mean(self.columns[metric][mine]) for label, metric in SUMMARISED_METRICS.items()},
                }
            )
        return rows

    def summary(self) -> pd.DataFrame:
        """`summary_rows` as a DataFrame indexed by strategy."""
        import pandas as pd

        return pd.DataFrame(self.summary_rows()).set_index("strategy")

    def detail(self, row: int) -> BacktestResult:
        """Re-run row `row` of the table in full (equity curve and trades)."""
        record = self.row(row)
        strategy = self.strategies[record["strategy"]]
        return run_backtest(
            strategy, record["product_id"], params=record["params"],
            bars=self.bars[record["product_id"]], settings=self.settings,
        )


LOWER_IS_BETTER = frozenset({"max_drawdown_bars", "max_drawdown_seconds", "fees", "volatility"})
SUMMARISED_METRICS = {
    "avg_return": "total_return",
    "avg_buy_and_hold_return": "buy_and_hold_return",
    "avg_sharpe": "sharpe",
    "avg_max_drawdown": "max_drawdown",
    "avg_trades": "trades",
    "avg_win_rate": "win_rate",
}


def _mean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    return float(kept.mean()) if len(kept) else math.nan


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def sweep(
    strategies: Sequence[str | Strategy] | None = None,
    products: Sequence[str] = QUICK_PRODUCTS,
    *,
    params: Mapping[str, Mapping[str, ValueSpec]] | None = None,
    samples: int | None = None,
    seed: int = 0,
    data: DataSpec | None = None,
    bars: Mapping[str, Bars | pd.DataFrame] | None = None,
    settings: SimulationSettings | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    compile_progress: Progress | None = None,
    config: Settings | None = None,
) -> SweepResult:
    """Backtest every strategy (default: the built-ins) × product × parameter combination.

    `params` maps a strategy name to its value specs (`{"ma_crossover": {"fast": "5:50:5"}}`, see
    `backtest.space`); parameters not named keep their defaults. `samples` draws that many combinations
    at random per strategy instead of the whole grid. `bars` (Bars or DataFrames by product) replace
    loading by `data`. `workers` defaults to every core for big runs; `executor` replaces the local processes
    (a Dask cluster: `backtest.dask.connect`). `progress` and `compile_progress`
    are called as (done, total) while backtesting and while the kernels compile.
    """
    settings = settings or SimulationSettings()
    spaces = plan_spaces(BUILTIN_NAMES if strategies is None else strategies, params, samples, seed)
    product_ids = [p.strip().upper() for p in products]
    if not product_ids:
        raise UserError("no product given; name at least one, e.g. BTC-USD")
    if bars is None:
        bars = (data or DataSpec()).load(product_ids, config)
    missing = [p for p in product_ids if p not in bars]
    if missing:
        raise UserError(f"no bars given for {', '.join(missing)}")
    given = {p: b if isinstance(b, Bars) else bars_from_frame(b, p) for p, b in bars.items() if p in product_ids}
    compile_started = time.perf_counter()
    failures = compile_kernels(spaces, given[product_ids[0]], settings, compile_progress)
    compile_seconds = time.perf_counter() - compile_started
    runnable = [space for space in spaces if space.strategy.name not in failures]
    started = time.perf_counter()
    bar_evaluations = sum(len(space) for space in runnable) * sum(len(given[p]) for p in product_ids)
    executor = executor or choose_executor(bar_evaluations, workers)
    jobs = plan(runnable, product_ids, executor.workers)
    results = run_jobs(RunContext(given, settings), jobs, executor, progress)
    for result in results:
        if result.failure is not None:
            failures.setdefault(jobs[result.index].strategy.name, result.failure)
    succeeded = [space for space in runnable if space.strategy.name not in failures]
    return SweepResult(
        columns=_columns(jobs, results, failures),
        bars=given,
        settings=settings,
        strategies={space.strategy.name: space.strategy for space in succeeded},
        spaces=tuple(spaces),
        trials=sum(len(space) for space in succeeded) * len(product_ids),
        seconds=time.perf_counter() - started,
        compile_seconds=compile_seconds,
        failures=failures,
    )


def compile_kernels(
    spaces: Sequence[ParameterSpace], bars: Bars, settings: SimulationSettings, progress: Progress | None = None
) -> dict[str, str]:
    """Compile (or load from Numba's on-disk cache) every kernel the run will use, on a few bars.

    The first run after an install compiles for seconds; doing it here keeps that out of the sweep's
    measured time, and forked workers inherit the compiled code. Returns the failures of strategies
    that raised (see `SweepResult.failures`).
    """
    sample = {bars.product_id: bars[:JIT_WARM_UP_BARS]}
    jobs = [Job(index, space.strategy, bars.product_id, space.combinations[:1]) for index, space in enumerate(spaces)]
    results = run_jobs(RunContext(sample, settings), jobs, SerialExecutor(), progress)
    return {jobs[r.index].strategy.name: r.failure for r in results if r.failure is not None}


def plan_spaces(
    strategies: Sequence[str | Strategy],
    params: Mapping[str, Mapping[str, ValueSpec]] | None,
    samples: int | None,
    seed: int,
) -> list[ParameterSpace]:
    """The parameter space of each strategy; a params entry for a strategy not in the run is an error."""
    chosen = [_strategy(s) for s in strategies]
    if not chosen:
        raise UserError("no strategy given; name at least one, e.g. ma_crossover")
    names = {s.name for s in chosen}
    for name in params or {}:
        if name not in names:
            raise UserError(f"parameters given for {name!r}, which is not in this run ({', '.join(names)})")
    spaces = []
    for strategy in chosen:
        specs = (params or {}).get(strategy.name, {})
        spaces.append(sample(strategy, specs, samples, seed) if samples else grid(strategy, specs))
    return spaces


def _columns(jobs: Sequence[Job], results: Sequence[JobResult], failures: Mapping[str, str]) -> dict[str, Any]:
    kept = [(job, result) for job, result in zip(jobs, results, strict=True) if job.strategy.name not in failures]
    matrices = [result.metrics for _, result in kept]
    metrics = np.vstack(matrices) if matrices else np.empty((0, len(METRIC_NAMES)))
    columns: dict[str, Any] = {
        "strategy": [job.strategy.name for job, _ in kept for _ in job.combinations],
        "product_id": [job.product_id for job, _ in kept for _ in job.combinations],
        "params": [dict(p) for job, _ in kept for p in job.combinations],
    }
    for index, name in enumerate(METRIC_NAMES):
        values = metrics[:, index]
        columns[name] = values.astype(np.int64) if name in INTEGER_METRICS else values
    return columns


def _strategy(strategy: str | Strategy) -> Strategy:
    return strategy if isinstance(strategy, Strategy) else get_strategy(strategy)


def _resolve(strategy: Strategy, params: Mapping[str, Any] | None) -> dict[str, ParamValue]:
    try:
        return strategy.resolve(params)
    except ValueError as error:
        raise UserError(str(error)) from None
