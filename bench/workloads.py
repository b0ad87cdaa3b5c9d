"""The backtest benchmark workloads W1 and W2, run with GPT-Trader's own engine.

    python -m bench.workloads w1 --json w1.json [--data PATH] [--check]
    python -m bench.workloads w2 --json w2.json [--check [N]]

W1: the five built-in strategies × five products on 15-minute bars (25 backtests).
W2: the SMA crossover sweep on 1-minute bars, fast 2..50, slow 10..200 step 5, fast < slow (8,610 backtests).
Both follow the benchmark's common rules ("seed-compatible": fill at the signal bar's close, 0.6 % fee,
all-in, long only), read the data through the project's file source, and report wall seconds (median of
3 warm runs after a warm-up), the first run in a fresh process (interpreter start and loading or
compiling the kernels included), throughput, peak memory and a digest of the results.

`--check` re-runs backtests with the plain-Python reference (signals and simulator) and counts
disagreements: every backtest for W1, a random sample of N (default 200) for W2, or all with `--check 0`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.reference import simulate_reference
from gpt_trader.backtest.runner import default_workers
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.resample import resample
from gpt_trader.market.sources.file import FileSource
from gpt_trader.strategies.reference import reference_signals

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "ohlcv_1m.parquet"
W2_PARAMS = {"ma_crossover": {"fast": "2:50:1", "slow": "10:200:5"}}


def load(data: Path, workload: str) -> dict[str, Bars]:
    bars = FileSource(data).load_all()
    if workload == "w1":
        return {product: resample(b, Granularity.FIFTEEN_MINUTE) for product, b in bars.items()}
    return bars


def run(workload: str, bars: dict[str, Bars], workers: int | None) -> Any:
    settings = SimulationSettings.seed_compatible()
    if workload == "w1":
        return sweep(products=list(bars), bars=bars, settings=settings, workers=workers)
    return sweep(["ma_crossover"], list(bars), params=W2_PARAMS, bars=bars, settings=settings, workers=workers)


def first_run_seconds(workload: str, data: Path) -> float:
    """Wall time of one run in a fresh interpreter: start-up, imports, kernels loaded or compiled, the run."""
    code = (
        "from pathlib import Path; from bench.workloads import load, run; "
        f"run({workload!r}, load(Path({str(data)!r}), {workload!r}), None)"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started


def measure(workload: str, data: Path, workers: int | None) -> dict[str, Any]:
    first = first_run_seconds(workload, data)
    bars = load(data, workload)
    run(workload, bars, workers)  # warm-up
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        result = run(workload, bars, workers)
        walls.append(time.perf_counter() - started)
    wall = statistics.median(walls)
    table = result.table
    n_bars = {product: len(b) for product, b in bars.items()}
    bar_evals = sum(n_bars[product] for product in table["product_id"])
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return {
        "tool": "gpt-trader",
        "workload": workload,
        "wall_s": wall,
        "wall_runs_s": walls,
        "first_run_s": first,
        "n_backtests": len(table),
        "bar_evals": bar_evals,
        "backtests_per_s": len(table) / wall,
        "bar_evals_per_s": bar_evals / wall,
        "peak_rss_mb": peak_kb / 1024,
        "sum_final_equity": float(table["final_equity"].sum()),
        "sum_trades": int(table["trades"].sum()),
        "backtests": [
            {
                "strategy": strategy,
                "product": product,
                "params": params,
                "final_equity": float(final_equity),
                "trades": int(trades),
            }
            for strategy, product, params, final_equity, trades in table[
                ["strategy", "product_id", "params", "final_equity", "trades"]
            ].itertuples(index=False, name=None)
        ],
    }


def _reference_row(args: tuple[Bars, str, dict[str, Any]]) -> tuple[float, int]:
    bars, strategy, params = args
    signals = reference_signals(strategy, bars, params)
    outcome = simulate_reference(bars, signals, SimulationSettings.seed_compatible())
    return outcome.final_equity, len(outcome.trades)


def check(report: dict[str, Any], data: Path, sample: int) -> dict[str, Any]:
    """Compare backtests with the plain-Python reference; returns counts and every disagreement."""
    bars = load(data, report["workload"])
    rows = report["backtests"]
    chosen = rows if sample == 0 or sample >= len(rows) else random.Random(0).sample(rows, sample)
    jobs = [(bars[row["product"]], row["strategy"], row["params"]) for row in chosen]
    with ProcessPoolExecutor(default_workers()) as pool:
        expected = list(pool.map(_reference_row, jobs, chunksize=4))
    disagreements = [
        {**row, "reference_final_equity": equity, "reference_trades": trades}
        for row, (equity, trades) in zip(chosen, expected, strict=True)
        if trades != row["trades"] or abs(equity - row["final_equity"]) > 1e-6 * abs(equity)
    ]
    return {"checked": len(chosen), "disagreements": disagreements}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads", description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=("w1", "w2"))
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the benchmark's ohlcv_1m.parquet")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: the engine's choice)")
    parser.add_argument(
        "--check", type=int, nargs="?", const=200, default=None, metavar="N",
        help="compare with the plain-Python reference (W2: a sample of N, 0 = all)",
    )
    options = parser.parse_args(argv)
    if not options.data.is_file():
        parser.error(f"no benchmark data at {options.data}; pass --data PATH to ohlcv_1m.parquet")
    report = measure(options.workload, options.data, options.workers)
    if options.check is not None:
        report["reference_check"] = check(report, options.data, options.check)
    print(
        f"{options.workload}: {report['n_backtests']} backtests, wall {report['wall_s']:.3f} s (median of 3), "
        f"first run {report['first_run_s']:.2f} s, {report['backtests_per_s']:,.0f} backtests/s, "
        f"{report['bar_evals_per_s'] / 1e6:,.1f} M bar-evals/s, peak {report['peak_rss_mb']:,.0f} MB, "
        f"digest {report['sum_final_equity']:.6f} / {report['sum_trades']} trades"
    )
    if "reference_check" in report:
        checked = report["reference_check"]
        print(f"reference check: {len(checked['disagreements'])} disagreements in {checked['checked']} backtests")
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
