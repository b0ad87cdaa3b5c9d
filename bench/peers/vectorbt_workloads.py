"""W1 and W2 of the benchmark workloads, written the way a vectorbt 1.2 user would write them.

Run it with the peers' interpreter (see bench/setup_peers.py), never the project's:

    bench/.venv-peers/bin/python bench/peers/vectorbt_workloads.py w1 --data ohlcv_1m.parquet --json w1.json

`Portfolio.from_signals` with `fees=0.006, size=inf, init_cash=10_000` is exactly the workloads'
"seed-compatible" fill mode: it fills at the signal bar's close, `size=inf` buys as many units as
cash / (close × (1 + fees)) affords, an exit sells everything, no accumulation, long only; the final value
marks an open position at the last close. Indicators come from vectorbt (MA, BBANDS, ATR and their crossing
helpers) or pandas where vectorbt has none (rolling max/min/quantile), with vectorbt's float semantics.

What is timed: indicators, signals, the portfolio simulation and reading back final equity and trade counts.
Reading the Parquet file and reshaping it (pivot, 15-minute resample) happen once before timing and are
reported apart as `load_s`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np
import pandas as pd
import vectorbt as vbt

FEE_RATE = 0.006
START_CASH = 10_000.0
EXPECTED_DATA_SHA256 = "692218cbab6e1a4361a768078d6a56187ebe08c140a52604a1ac73d461267735"
W2_FAST_WINDOWS = range(2, 51)
W2_SLOW_WINDOWS = range(10, 201, 5)

# The Numba engine is the one measured; "auto" would switch to Rust whenever vectorbt-rust happens to be installed.
vbt.settings["engine"] = "numba"

Frames = dict[str, pd.DataFrame]  # field name (high, low, close: all the strategies read) -> bars × products
Row = dict[str, Any]


def load_frames(path: Path, bar_minutes: int) -> Frames:
    """Read the long-format Parquet file into one wide frame per field (time × product)."""
    long = pd.read_parquet(path, columns=["product_id", "time", "high", "low", "close"])
    frames = {
        field: long.pivot(index="time", columns="product_id", values=field)
        for field in ("high", "low", "close")
    }
    if bar_minutes == 1:
        return frames
    # Left-closed, left-labelled: a 15-minute bar is labelled by its open time and holds minutes [t, t+15).
    rule = f"{bar_minutes}min"
    aggregations = {"high": "max", "low": "min", "close": "last"}
    return {
        field: getattr(frame.resample(rule, closed="left", label="left"), aggregations[field])()
        for field, frame in frames.items()
    }


def by_product(signal: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """Drop an indicator's parameter column levels so one-parameter signals line up with `close`."""
    if list(signal.columns.get_level_values(-1)) != list(close.columns):
        raise ValueError("indicator columns do not end with the product level in close's order")
    return pd.DataFrame(signal.to_numpy(), index=close.index, columns=close.columns)


def w1_signals(frames: Frames) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Entries and exits (bars × products) of W1's five strategies."""
    high, low, close = frames["high"], frames["low"], frames["close"]

    change = close.pct_change(10)
    momentum = (change > 0.05, change < -0.05)

    bands = vbt.BBANDS.run(close, window=20, alpha=2)  # population σ (ddof=0) is vectorbt's default
    mean_reversion = (by_product(bands.close_below(bands.lower), close),
                      by_product(bands.close_above(bands.upper), close))

    prior_high = high.rolling(20).max().shift(1)
    prior_low = low.rolling(20).min().shift(1)
    breakout = (close > prior_high, close < prior_low)

    fast = vbt.MA.run(close, 10, short_name="fast")
    slow = vbt.MA.run(close, 30, short_name="slow")
    ma_crossover = (by_product(fast.ma_crossed_above(slow), close),
                    by_product(fast.ma_crossed_below(slow), close))

    atr = by_product(vbt.ATR.run(high, low, close, window=14, ewm=False).atr, close)
    calm = atr < atr.rolling(100).quantile(0.3)  # linear interpolation, current bar included
    sma10 = by_product(vbt.MA.run(close, 10).ma, close)
    volatility = (calm & (close > sma10), close < sma10)

    return {"momentum": momentum, "mean_reversion": mean_reversion, "breakout": breakout,
            "ma_crossover": ma_crossover, "volatility": volatility}


def simulate(close: pd.DataFrame, entries: pd.DataFrame, exits: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Final equity and trade count (entries, an open position included) of every column."""
    portfolio = vbt.Portfolio.from_signals(
        close, entries, exits,
        fees=FEE_RATE, size=np.inf, init_cash=START_CASH, accumulate=False, direction="longonly",
    )
    return portfolio.final_value(), portfolio.entry_trades.count()


# W1's parameters under the names GPT-Trader's strategies use, so reports can be matched row by row.
W1_PARAMS = {
    "momentum": {"lookback": 10, "threshold": 0.05},
    "mean_reversion": {"window": 20, "num_std": 2.0},
    "breakout": {"window": 20},
    "ma_crossover": {"fast": 10, "slow": 30},
    "volatility": {"atr_window": 14, "quantile_window": 100, "quantile": 0.3, "sma_window": 10},
}


def run_w1(frames: Frames) -> list[Row]:
    """25 backtests in one `from_signals` call: columns are (strategy, product)."""
    signals = w1_signals(frames)
    close = frames["close"]
    names = list(signals)
    entries = pd.concat([signals[name][0] for name in names], axis=1, keys=names, names=["strategy"])
    exits = pd.concat([signals[name][1] for name in names], axis=1, keys=names, names=["strategy"])
    tiled_close = pd.concat([close] * len(names), axis=1, keys=names, names=["strategy"])
    final_equity, trades = simulate(tiled_close, entries, exits)
    return [
        {"strategy": strategy, "product": product, "params": W1_PARAMS[strategy],
         "final_equity": float(final_equity[(strategy, product)]), "trades": int(trades[(strategy, product)])}
        for strategy, product in final_equity.index
    ]


def w2_pairs() -> tuple[list[int], list[int]]:
    """The fast and slow window of every W2 combination (fast < slow): 1,722 pairs."""
    pairs = [(fast, slow) for fast in W2_FAST_WINDOWS for slow in W2_SLOW_WINDOWS if fast < slow]
    return [fast for fast, _ in pairs], [slow for _, slow in pairs]


def run_w2(frames: Frames) -> list[Row]:
    """SMA crossover sweep; vectorbt's MA cache computes each distinct window once per call."""
    close = frames["close"]
    fast_windows, slow_windows = w2_pairs()
    fast = vbt.MA.run(close, window=fast_windows, short_name="fast")
    slow = vbt.MA.run(close, window=slow_windows, short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    del fast, slow  # two bars × backtests float frames: let them go before the simulation allocates its own
    final_equity, trades = simulate(close, entries, exits)
    return [
        {"strategy": "ma_crossover", "product": product, "params": {"fast": int(fast_w), "slow": int(slow_w)},
         "final_equity": float(final_equity[(fast_w, slow_w, product)]),
         "trades": int(trades[(fast_w, slow_w, product)])}
        for fast_w, slow_w, product in final_equity.index
    ]


class Workload(NamedTuple):
    bar_minutes: int
    run: Callable[[Frames], list[Row]]
    batch: str  # default: "all" products in one vectorbt call, or one "product" per call


# W2 with all five products in one call passes 22 GB (vectorbt keeps several 43,200 × 8,610 float frames
# alive while it broadcasts); one product per call peaks near 6 GB for the same simulation work.
WORKLOADS = {
    "w1": Workload(bar_minutes=15, run=run_w1, batch="all"),
    "w2": Workload(bar_minutes=1, run=run_w2, batch="product"),
}


def run_products(workload: Callable[[Frames], list[Row]], frames: Frames, groups: Sequence[list[str]]) -> list[Row]:
    """Run the workload on each group of product columns in turn and join the rows."""
    rows: list[Row] = []
    for products in groups:
        rows.extend(workload({field: frame[products] for field, frame in frames.items()}))
    return rows


def timed(action: Callable[[], list[Row]]) -> tuple[float, list[Row]]:
    started = time.perf_counter()
    rows = action()
    return time.perf_counter() - started, rows


def digest(rows: list[Row]) -> tuple[float, int]:
    return sum(row["final_equity"] for row in rows), sum(row["trades"] for row in rows)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--data", type=Path, required=True, help="ohlcv_1m.parquet of the benchmark")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--repeat", type=int, default=3, help="timed warm runs after the warm-up (default 3)")
    parser.add_argument("--batch", choices=["all", "product"],
                        help="products per vectorbt call: all at once, or one at a time (the default for W2, "
                        "which needs over 22 GB all at once); W1's default is all")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file; pass the benchmark's ohlcv_1m.parquet")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    workload = WORKLOADS[args.workload]
    batch = args.batch or workload.batch
    load_started = time.perf_counter()
    frames = load_frames(args.data, workload.bar_minutes)
    load_s = time.perf_counter() - load_started
    products = list(frames["close"].columns)
    groups = [[product] for product in products] if batch == "product" else [products]

    def run() -> list[Row]:
        return run_products(workload.run, frames, groups)

    first_run_s, rows = timed(run)  # the warm-up: Numba compiles (or loads its cache) here
    warm_times = []
    for _ in range(args.repeat):
        seconds, repeat_rows = timed(run)
        if digest(repeat_rows) != digest(rows):
            raise RuntimeError("a repeated run gave different results; the timings would not be comparable")
        warm_times.append(seconds)

    wall_s = statistics.median(warm_times)
    n_backtests = len(rows)
    bar_evals = n_backtests * len(frames["close"].index)
    sum_final_equity, sum_trades = digest(rows)
    data_sha256 = file_sha256(args.data)
    result: dict[str, Any] = {
        "tool": "vectorbt",
        "tool_version": vbt.__version__,
        "engine": "numba",
        "workload": args.workload,
        "batch": batch,
        "wall_s": wall_s,
        "warm_runs_s": warm_times,
        "first_run_s": first_run_s,
        "load_s": load_s,
        "n_backtests": n_backtests,
        "bar_evals": bar_evals,
        "backtests_per_s": n_backtests / wall_s,
        "bar_evals_per_s": bar_evals / wall_s,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sum_final_equity": sum_final_equity,
        "sum_trades": sum_trades,
        "data_sha256": data_sha256,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "numba": numba.__version__,
        "backtests": rows,
    }
    notes = []
    if batch == "product":
        notes.append("one vectorbt call per product (--batch product), to bound memory")
    if data_sha256 != EXPECTED_DATA_SHA256:
        notes.append("data file differs from the benchmark's ohlcv_1m.parquet (sha256 mismatch)")
    if notes:
        result["note"] = "; ".join(notes)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))

    summary = {key: result[key] for key in ("wall_s", "first_run_s", "backtests_per_s", "bar_evals_per_s",
                                            "peak_rss_mb", "sum_final_equity", "sum_trades")}
    print(f"vectorbt {vbt.__version__} {args.workload}: " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
