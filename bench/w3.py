"""W3 and the optimiser's targets: scale, Dask on loopback, and walk-forward over the W2 grid.

    python -m bench.w3 scale [--days 365] [--products 5]      # W2's grid on a year of 1-minute bars
    python -m bench.w3 scale --rounds 3 [--data PATH]         # ... alternating with W2, medians and ratios
    python -m bench.w3 cache [--lengths N,N,...] [--rounds 3] # CPU per bar, one process against two, by bar count
    python -m bench.w3 dask [--data PATH] [--rounds 5]        # W2 on 2 local Dask workers vs 2 local processes
    python -m bench.w3 optimize [--data PATH] [--folds 5]     # optimize, grid + walk-forward, on W2's data

scale: the W2 grid (8,610 SMA-cross backtests) over `--days` of the synthetic market's 1-minute bars (1,440 a
day, on each product's price grid like W2's candles) for `--products` products, on every core. It prints wall
seconds, bar evaluations per second of wall time and of CPU time (this process and its workers: on a loaded
machine the wall figure mostly measures the share of the cores the run got), and peak RSS (the largest of this
process and its workers); compare bar_evals_per_s with W2's (`python -m bench.workloads w2`): the target is
within 20 %, with peak RSS under 1.5 GB. `--rounds N` does that comparison in one process: N rounds of W2 (the
median of three runs after one warm-up, as `bench.workloads w2` times it) then W3, each round's figures and
the medians and ratios of both throughputs, with the load average before and after.

cache: whether bar count costs throughput once arrays outgrow a core's cache: a sample of the W2 grid (every
13th combination, 133) run through the runner's own job code on the first `--lengths` bars of the synthetic
year, in one process and in two at once (forked, reading the same bars), alternating, `--rounds` rounds. It
prints the median CPU nanoseconds per bar evaluation of each, and two processes' cost over one process's at
each length: a ratio that grows with the bar count means two cores contend for the shared cache or memory.
Lengths compare different stretches of the market too, so read the ratio at each length, not across them.

dask: W2 on a Dask LocalCluster of two single-thread worker processes on 127.0.0.1, against the local
runner's two processes, alternating sweep by sweep for `--rounds` rounds after each one's first sweep (Dask's
first includes sending the bars to the workers; later sweeps on the same bars send only their jobs): the first
sweep's seconds, every round's, the throughput of each (medians), their ratio (target >= 0.8), the median of
the rounds' ratios, the 1-minute load average before and after, and whether every metric of every backtest is
identical.

optimize: `optimize` with the W2 grid, five rolling walk-forward folds and CSCV on W2's data (one product per
`--products`, default all five): the wall time, trials and the verdict of the best candidate.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.workloads import DEFAULT_DATA, W2_PARAMS, load
from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.runner import Job, ProcessExecutor, RunContext, evaluate_job
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.space import grid
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource
from gpt_trader.strategies.registry import get_strategy

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "POL-USD")
START = 1_704_067_200
"""2024-01-01 00:00 UTC."""


def synthetic_year(products: int, days: float, seed: int = 0) -> dict[str, Bars]:
    """`days` of the synthetic market's 1-minute bars for the first `products` of PRODUCTS.

    They carry their products' price increments, as W2's real candles do, so the SMA crossover compares its
    averages exactly in ticks there and here: the same code path, at twelve times the bars.
    """
    source = SyntheticSource(seed)
    end = START + int(days * 86_400)
    return {product: source.fetch(product, Granularity.ONE_MINUTE, START, end) for product in PRODUCTS[:products]}


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the sweep's worker processes)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_sweep(bars: dict[str, Bars]) -> dict[str, Any]:
    """The W2 grid on `bars`: wall and CPU seconds and both throughputs."""
    settings = SimulationSettings.seed_compatible()
    cpu, started = cpu_seconds(), time.perf_counter()
    result = sweep(["ma_crossover"], list(bars), params=W2_PARAMS, bars=bars, settings=settings)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    evaluations = sum(len(bars[p]) for p in result.table["product_id"])
    return {
        "n_backtests": len(result.table),
        "wall_s": wall,
        "cpu_s": cpu,
        "bar_evals": evaluations,
        "bar_evals_per_s": evaluations / wall,
        "bar_evals_per_cpu_s": evaluations / cpu,
    }


def scale(products: int, days: float) -> dict[str, Any]:
    bars = synthetic_year(products, days)
    return {
        "workload": "w3",
        "products": products,
        "bars_per_product": len(next(iter(bars.values()))),
        **timed_sweep(bars),
        "peak_rss_mb": peak_rss_mb(),
    }


def figures(run: dict[str, Any]) -> str:
    return f"{run['bar_evals_per_s'] / 1e6:.1f} M bar-evals/s ({run['bar_evals_per_cpu_s'] / 1e6:.1f} per CPU s)"


def scale_against_w2(products: int, days: float, data: Path, rounds: int) -> dict[str, Any]:
    """`rounds` of W2 then W3 in this process; each round's figures, their medians and the W3 / W2 ratios."""
    load_before = os.getloadavg()
    w2_bars, w3_bars = load(data, "w2"), synthetic_year(products, days)
    timed_sweep(w2_bars)  # warm-up: the kernels loaded, as bench.workloads w2 does before timing
    table: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        w2_runs = [timed_sweep(w2_bars) for _ in range(3)]
        w2 = sorted(w2_runs, key=lambda run: run["wall_s"])[1]  # the median run
        w3 = timed_sweep(w3_bars)
        row = {"round": number, "w2": w2, "w3": w3}
        table.append(row)
        print(f"round {number}: W2 {figures(w2)}, W3 {figures(w3)}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    medians = {
        f"{workload}_{figure}": statistics.median(row[workload][figure] for row in table)
        for workload in ("w2", "w3")
        for figure in ("bar_evals_per_s", "bar_evals_per_cpu_s")
    }
    return {
        "workload": "w3 against w2",
        "products": products,
        "bars_per_product": len(next(iter(w3_bars.values()))),
        "rounds": table,
        **medians,
        "w3_over_w2": medians["w3_bar_evals_per_s"] / medians["w2_bar_evals_per_s"],
        "w3_over_w2_cpu": medians["w3_bar_evals_per_cpu_s"] / medians["w2_bar_evals_per_cpu_s"],
        "peak_rss_mb": peak_rss_mb(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


CACHE_LENGTHS = (43_200, 131_072, 262_144, 525_600)
"""W2's bars per product (345 KB a float64 column), 1 and 2 MB columns (a core's L2 holds 2 MB), W3's (4.2 MB)."""
CACHE_BUDGET = 200_000_000
"""Bar evaluations each process times per measurement."""


def _cpu_ns_per_bar_eval(job: Job, context: RunContext, repeats: int, results: Any) -> None:
    """In a worker process: CPU nanoseconds per bar evaluation of `job` run `repeats` times after a warm run."""
    evaluate_job(context, job)  # the kernels loaded and the product's price ticks cached
    started = time.process_time()
    for _ in range(repeats):
        evaluate_job(context, job)
    bars = len(context.bars[job.product_id])
    results.put((time.process_time() - started) / (repeats * len(job.combinations) * bars) * 1e9)


def cache(lengths: list[int], rounds: int) -> dict[str, Any]:
    year = synthetic_year(1, max(lengths) / 1_440)
    product = next(iter(year))
    space = grid(get_strategy("ma_crossover"), W2_PARAMS["ma_crossover"])
    combinations = tuple(space.combinations[::13])
    fork = multiprocessing.get_context("fork")
    samples: dict[tuple[int, int], list[float]] = {(n, p): [] for n in lengths for p in (1, 2)}
    for _ in range(rounds):
        for length in lengths:
            context = RunContext({product: year[product][:length]}, SimulationSettings.seed_compatible())
            job = Job(0, space.strategy, product, combinations)
            repeats = max(1, CACHE_BUDGET // (len(combinations) * length))
            for processes in (1, 2):
                results = fork.SimpleQueue()
                workers = [
                    fork.Process(target=_cpu_ns_per_bar_eval, args=(job, context, repeats, results))
                    for _ in range(processes)
                ]
                for worker in workers:
                    worker.start()
                samples[length, processes] += [results.get() for _ in workers]
                for worker in workers:
                    worker.join()
    table = []
    for length in lengths:
        one, two = (statistics.median(samples[length, processes]) for processes in (1, 2))
        table.append({"bars": length, "one_process_ns": one, "two_processes_ns": two, "two_over_one": two / one})
        print(f"{length:>9,} bars: {one:.2f} ns one process, {two:.2f} ns two, ratio {two / one:.2f}", file=sys.stderr)
    return {
        "workload": "w3 cache",
        "combinations": len(combinations),
        "rounds": rounds,
        "lengths": table,
        "load_average": os.getloadavg(),
    }


def dask(data: Path, rounds: int) -> dict[str, Any]:
    from gpt_trader.backtest.dask import connect

    bars = load(data, "w2")
    settings = SimulationSettings.seed_compatible()

    def timed(executor: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        result = sweep(["ma_crossover"], list(bars), params=W2_PARAMS, bars=bars, settings=settings,
                       executor=executor)
        return time.perf_counter() - started, result

    local_executor = ProcessExecutor(2)
    load_before = os.getloadavg()
    with connect("local", 2) as dask_executor:
        # The first sweep of each: the local one compiles or loads the kernels in this process; Dask's also
        # sends the bars to both workers, which load their kernels on their first jobs.
        local_first, local = timed(local_executor)
        dask_first, remote = timed(dask_executor)
        local_walls, dask_walls = [], []
        for _ in range(rounds):  # alternating, so both see the same load
            local_walls.append(timed(local_executor)[0])
            wall, remote = timed(dask_executor)
            dask_walls.append(wall)
    identical = all(np.array_equal(local.table[m], remote.table[m], equal_nan=True) for m in METRIC_NAMES)
    evaluations = sum(len(bars[p]) for p in local.table["product_id"])
    local_wall, dask_wall = statistics.median(local_walls), statistics.median(dask_walls)
    return {
        "workload": "w2", "n_backtests": len(local.table), "rounds": rounds,
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "local_first_s": local_first, "dask_first_s": dask_first, "local_walls_s": local_walls,
        "dask_walls_s": dask_walls, "local_wall_s": local_wall, "dask_wall_s": dask_wall,
        "local_bar_evals_per_s": evaluations / local_wall, "dask_bar_evals_per_s": evaluations / dask_wall,
        "dask_over_local": local_wall / dask_wall,
        "dask_over_local_by_round": statistics.median(
            [lw / dw for lw, dw in zip(local_walls, dask_walls, strict=True)]
        ),
        "identical": identical,
    }


def optimize_w2(data: Path, folds: int, products: int) -> dict[str, Any]:
    from gpt_trader.backtest.optimize import Evaluation, optimize

    bars = load(data, "w2")
    chosen = {p: b for p, b in list(bars.items())[:products]}
    started = time.perf_counter()
    result = optimize(
        "ma_crossover", list(chosen), params=W2_PARAMS["ma_crossover"], bars=chosen,
        settings=SimulationSettings.seed_compatible(), evaluation=Evaluation(folds=folds),
    )
    wall = time.perf_counter() - started
    best = result.candidates[0]
    return {
        "workload": "w2 optimize", "products": len(chosen), "folds": folds, "trials": result.trials,
        "wall_s": wall, "peak_rss_mb": peak_rss_mb(), "best": {"product_id": best.product_id, "params": best.params,
        "deflated_sharpe": best.deflated_sharpe, "verdict": best.verdict},
    }


def bar_counts(text: str) -> list[int]:
    """`--lengths`: comma-separated bar counts."""
    parts = text.split(",")
    if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of bar counts such as 43200,525600")
    return [int(part) for part in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=("scale", "cache", "dask", "optimize"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--products", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=0, help="scale: alternate with W2 this many rounds; cache: 3; dask: 5"
    )
    parser.add_argument("--lengths", type=bar_counts, default=list(CACHE_LENGTHS), help="cache: bar counts, N,N,...")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.target == "scale" and args.rounds > 0:
        report = scale_against_w2(args.products, args.days, args.data, args.rounds)
    elif args.target == "scale":
        report = scale(args.products, args.days)
    elif args.target == "cache":
        report = cache(args.lengths, args.rounds or 3)
    elif args.target == "dask":
        report = dask(args.data, args.rounds or 5)
    else:
        report = optimize_w2(args.data, args.folds, args.products)
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
