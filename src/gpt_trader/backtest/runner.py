"""The parallel runner: plans strategy × product × parameter jobs and spreads them over an executor.

A job is one strategy on one product's bars with a chunk of parameter combinations; every job on a
product shares that product's `IndicatorCache`, so an indicator is computed once per worker process. Jobs hold
only names and parameters; the bars and simulation settings travel once per worker (the executor's
`context`), not once per job.

A strategy that is not built in and raises (or breaks the signal contract) fails its own jobs only: their
`JobResult` says why, and the run's other strategies carry on.

Executors are pluggable (`Executor`): `SerialExecutor` runs in this process, `ProcessExecutor`
spreads jobs over local processes. Anything that can run `evaluate_job(context, job)` remotely
and stream back its results (a Dask cluster, say) fits the same protocol.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gpt_trader.backtest.kernel import summarize_into
from gpt_trader.backtest.metrics import N_METRICS
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.space import ParameterSpace
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, ParamValue, Strategy, checked_signals
from gpt_trader.strategies.registry import describe_failure

Progress = Callable[[int, int], None]
"""progress(done_backtests, total_backtests)."""

# Below this many bar evaluations, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD_BAR_EVALS = 20_000_000


@dataclass(frozen=True)
class Job:
    """One strategy on one product with a chunk of parameter combinations."""

    index: int
    strategy: Strategy
    product_id: str
    combinations: tuple[dict[str, ParamValue], ...]
    segments: tuple[tuple[int, int], ...] = ()
    """Bar ranges [first, stop) to score each combination on, from signals over all bars (walk-forward
    folds, say); empty scores the whole run."""


Segments = Mapping[str, tuple[tuple[int, int], ...]]
"""The bar ranges to score per product (see `Job.segments`)."""


@dataclass(frozen=True)
class RunContext:
    """What every job of a run shares: the bars of each product and the simulation settings.

    `caches` holds the IndicatorCache of the product being run, filled as jobs run, so strategies that read
    the same indicator (or the same price ticks) on a product compute it once per process and product.
    """

    bars: Mapping[str, Bars]
    settings: SimulationSettings
    caches: dict[str, IndicatorCache] = field(default_factory=dict, compare=False)


def plan(
    spaces: Sequence[ParameterSpace], products: Sequence[str], workers: int, segments: Segments | None = None
) -> list[Job]:
    """Split every (strategy, product) into chunks, enough of them to keep `workers` busy."""
    total = sum(len(space) for space in spaces) * len(products)
    # Aim for about four chunks per worker in all, never splitting a small space.
    target = max(64, -(-total // max(1, workers * 4)))
    jobs: list[Job] = []
    # Product-major order: consecutive jobs reuse one product's bars and indicators while they are in cache.
    for product in products:
        for space in spaces:
            combos = space.combinations
            for first in range(0, len(combos), target):
                chunk = combos[first : first + target]
                jobs.append(Job(len(jobs), space.strategy, product, chunk, (segments or {}).get(product, ())))
    return jobs


@dataclass(frozen=True)
class JobResult:
    """A job's metrics matrix (one row per combination), or why its strategy failed (then no rows).

    With segments the metrics are combinations × segments × metrics."""

    index: int
    metrics: np.ndarray
    failure: str | None = None


def evaluate_job(context: RunContext, job: Job) -> JobResult:
    """Run every combination of `job`; a strategy that is not built in and raises gives a failed result."""
    bars = context.bars[job.product_id]
    if job.product_id not in context.caches:
        # Jobs come product by product: a worker moving on to the next product drops the last one's
        # indicators, so memory holds one product's arrays, not every product's (a year of 1-minute bars
        # has hundreds of MB of moving averages per product).
        context.caches.clear()
    cache = context.caches.setdefault(job.product_id, IndicatorCache())
    kernel_params = context.settings.kernel_params()
    bar_seconds = float(bars.granularity.seconds)
    count = len(job.combinations)
    out = np.empty((count, len(job.segments), N_METRICS) if job.segments else (count, N_METRICS))
    # Built-in strategies produce valid int8 signals by construction; others are checked on each call.
    trusted = type(job.strategy).__module__.startswith("gpt_trader.strategies.builtin")
    for row, params in enumerate(job.combinations):
        if trusted:
            signals = job.strategy.signals(bars, params, cache)
        else:
            try:
                signals = checked_signals(job.strategy, bars, params, cache)
            except Exception as error:  # a user's strategy failing ends its own part of the run, not the run
                return JobResult(job.index, out[:0], describe_failure(job.strategy, error))
        if not job.segments:
            summarize_into(
                out[row], bars.open, bars.high, bars.low, bars.close, bars.time, signals, kernel_params, bar_seconds
            )
        for slot, (first, stop) in enumerate(job.segments):
            summarize_into(
                out[row, slot], bars.open[first:stop], bars.high[first:stop], bars.low[first:stop],
                bars.close[first:stop], bars.time[first:stop], signals[first:stop], kernel_params, bar_seconds,
            )
    return JobResult(job.index, out)


class Executor(Protocol):
    """Runs jobs against a shared context and yields each job's result as it completes."""

    workers: int

    def run(self, context: RunContext, jobs: Sequence[Job]) -> Iterator[JobResult]: ...


class SerialExecutor:
    """Runs every job in this process, one after another."""

    workers = 1

    def run(self, context: RunContext, jobs: Sequence[Job]) -> Iterator[JobResult]:
        for job in jobs:
            yield evaluate_job(context, job)


_worker_context: RunContext | None = None


def _install_context(context: RunContext) -> None:
    global _worker_context
    _worker_context = context


def _evaluate_in_worker(job: Job) -> JobResult:
    assert _worker_context is not None, "worker started without its context"
    return evaluate_job(_worker_context, job)


class ProcessExecutor:
    """Spreads jobs over `workers` local processes; each receives the context once, at start."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()

    def run(self, context: RunContext, jobs: Sequence[Job]) -> Iterator[JobResult]:
        # fork starts workers in milliseconds with the compiled kernels already loaded.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_install_context,
            initargs=(context,),
        ) as pool:
            pending: set[Future[JobResult]] = {
                pool.submit(_evaluate_in_worker, job) for job in jobs
            }
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def choose_executor(bar_evaluations: int, workers: int | None) -> Executor:
    """Processes for big runs, this process for small ones (or when one worker is asked for)."""
    count = workers or default_workers()
    if count <= 1 or (workers is None and bar_evaluations < PARALLEL_THRESHOLD_BAR_EVALS):
        return SerialExecutor()
    return ProcessExecutor(count)


def run_jobs(
    context: RunContext,
    jobs: Sequence[Job],
    executor: Executor,
    progress: Progress | None = None,
) -> list[JobResult]:
    """Every job's result, in job order, reporting progress in backtests."""
    total = sum(len(job.combinations) for job in jobs)
    done = 0
    results: list[JobResult | None] = [None] * len(jobs)
    for result in executor.run(context, jobs):
        results[result.index] = result
        done += len(jobs[result.index].combinations)
        if progress is not None:
            progress(done, total)
    return [result for result in results if result is not None]
