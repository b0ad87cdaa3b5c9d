"""W3 and the optimiser's targets: scale, Dask on loopback, and walk-forward over the W2 grid.

    python -m bench.w3 scale [--days 365] [--products 5]      # W2's grid on a year of 1-minute bars
    python -m bench.w3 dask [--data PATH] [--rounds 5]        # W2 on 2 local Dask workers vs 2 local processes
    python -m bench.w3 optimize [--data PATH] [--folds 5]     # optimize, grid + walk-forward, on W2's data

scale: the W2 grid (8,610 SMA-cross backtests) over `--days` of the synthetic market's 1-minute bars (1,440 a
day, on each product's price grid like W2's candles) for `--products` products, on every core. It prints wall
seconds, bar evaluations per second, and peak RSS (the largest of this process and its workers); compare
bar_evals_per_s with W2's (`python -m bench.workloads w2`): the target is within 20 %, with peak RSS under 1.5 GB.

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
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.workloads import DEFAULT_DATA, W2_PARAMS, load
from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.runner import ProcessExecutor
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource

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


def scale(products: int, days: float) -> dict[str, Any]:
    bars = synthetic_year(products, days)
    settings = SimulationSettings.seed_compatible()
    started = time.perf_counter()
    result = sweep(["ma_crossover"], list(bars), params=W2_PARAMS, bars=bars, settings=settings)
    wall = time.perf_counter() - started
    evaluations = sum(len(bars[p]) for p in result.table["product_id"])
    return {
        "workload": "w3", "products": products, "bars_per_product": len(next(iter(bars.values()))),
        "n_backtests": len(result.table), "wall_s": wall, "bar_evals": evaluations,
        "bar_evals_per_s": evaluations / wall, "peak_rss_mb": peak_rss_mb(),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=("scale", "dask", "optimize"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--products", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.target == "scale":
        report = scale(args.products, args.days)
    elif args.target == "dask":
        report = dask(args.data, args.rounds)
    else:
        report = optimize_w2(args.data, args.folds, args.products)
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
