"""GPT-Trader's event engine beside nautilus-trader 1.221, side by side on the same machine: one EMA(10/30)
crossover, long only, over the 43,200 1-minute BTC-USD bars of the benchmark's `ohlcv_1m.parquet`.

    .venv/bin/python -m bench.peers.nautilus_vs_engine --data PATH/ohlcv_1m.parquet [--json out.json]

Our side replays the bars as closed-bar events through `trading.engine.Engine` with the paper broker (the
`bar` fill model: each rule decision filled at the bar price through `PaperBroker.fill_at`, booked in the
exact Decimal ledger), the strategy defined below on the project's own `ema` and `crossover` indicators. Two
ways are timed: `live` evaluates `Strategy.signals` on the trailing window at every bar, as paper trading
does; `tape` computes the signals once over the replay (a `SignalTape`), as `sim` may. The peer's side runs
`bench/peers/nautilus_ema.py` in nautilus's own virtualenv (`python bench/setup_peers.py --peer nautilus`).
Each figure is the median of `--repeat` timed runs after a warm-up; the events are built before timing,
as nautilus's bars are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, MarketEvent
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy
from gpt_trader.strategies.indicators import crossover, ema
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.tape import SignalTape

PRODUCT = "BTC-USD"
BENCH_DIR = Path(__file__).resolve().parents[1]
NAUTILUS_PYTHON = BENCH_DIR / ".venv-peers-nautilus" / "bin" / "python"


class EmaCross(Strategy):
    """Long when EMA(fast) crosses above EMA(slow), out when it crosses below: nautilus's EMACrossLongOnly."""

    name = "ema_cross"
    description = "Buy when the fast EMA crosses above the slow EMA, sell when it crosses below."
    params: ClassVar[dict[str, Param]] = {
        "fast": Param(10, 1, 500, "bars in the fast EMA"),
        "slow": Param(30, 2, 1000, "bars in the slow EMA"),
    }

    def lookback(self, params: Params) -> int:
        # An EMA never forgets its start: after 25 periods its weight is below float64 resolution.
        return 25 * int(params["slow"])

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        fast, slow = ema(bars.close, int(params["fast"])), ema(bars.close, int(params["slow"]))
        return crossover(fast, slow).astype(np.int8) - crossover(slow, fast).astype(np.int8)


def load_events(path: Path) -> tuple[Bars, list[BarClosed]]:
    frame = pd.read_parquet(path, columns=["product_id", "time", "open", "high", "low", "close", "volume"])
    rows = frame[frame["product_id"] == PRODUCT].sort_values("time")
    times = (rows["time"].astype("int64") // 1_000_000).to_numpy()
    columns = {name: rows[name].to_numpy(dtype=float) for name in ("open", "high", "low", "close", "volume")}
    bars = Bars(PRODUCT, 60, times, columns["open"], columns["high"], columns["low"], columns["close"],
                columns["volume"], price_increment=0.01)
    events = [
        BarClosed(PRODUCT, 60, int(start), o, h, low, c, v)
        for start, o, h, low, c, v in zip(times.tolist(), *(columns[n].tolist() for n in ("open", "high", "low",
                                                                                         "close", "volume")),
                                          strict=True)
    ]
    return bars, events


async def _replay(events: Sequence[MarketEvent]) -> AsyncIterator[MarketEvent]:
    for event in events:
        yield event


def run_engine(bars: Bars, events: Sequence[BarClosed], tape: bool) -> dict[str, Any]:
    # A strategy file is a spec the engine resolves, as `-s FILE.py:Class` on the command line.
    spec = InstanceSpec(f"{Path(__file__).resolve()}:EmaCross", {"fast": 10, "slow": 30}, PRODUCT, "ema",
                        Decimal(10_000))
    broker = PaperBroker(catalog_grids([PRODUCT]))
    signal_tape = SignalTape.record([spec], {PRODUCT: bars}, {PRODUCT: 0.01}) if tape else None
    engine = Engine([spec], granularity="1m", broker=broker, fill_model="bar", tape=signal_tape)
    started = time.perf_counter()
    summary = asyncio.run(engine.run(_replay(events)))
    wall = time.perf_counter() - started
    status = summary.statuses[0]
    return {"wall_s": wall, "bars": summary.bars, "orders": summary.orders, "trades": status.trades,
            "final_equity": float(status.equity)}


def run_nautilus(data: Path, repeat: int) -> dict[str, Any]:
    if not NAUTILUS_PYTHON.exists():
        sys.exit(f"no nautilus virtualenv at {NAUTILUS_PYTHON.parent.parent}; run: python bench/setup_peers.py "
                 "--peer nautilus")
    out = BENCH_DIR / ".nautilus_ema.json"
    subprocess.run([str(NAUTILUS_PYTHON), str(BENCH_DIR / "peers" / "nautilus_ema.py"), "--data", str(data),
                    "--repeat", str(repeat), "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the benchmark's ohlcv_1m.parquet")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    bars, events = load_events(args.data)
    ours: dict[str, Any] = {}
    for way in ("live", "tape"):
        run_engine(bars, events, way == "tape")
        runs = [run_engine(bars, events, way == "tape") for _ in range(max(args.repeat, 1))]
        wall = statistics.median(run["wall_s"] for run in runs)
        ours[way] = {**runs[0], "wall_s": wall, "bars_per_s": len(events) / wall}
    peer = run_nautilus(args.data, args.repeat)
    print(f"EMA 10/30 long only, {len(events):,} 1-minute {PRODUCT} bars")
    print(f"{'':28}{'wall s':>10}{'bars/s':>12}{'orders':>8}{'vs nautilus':>13}")
    print(f"{peer['peer']:28}{peer['wall_s']:>10.3f}{peer['bars_per_s']:>12,.0f}{peer['orders']:>8}{'1.0x':>13}")
    for way, figures in ours.items():
        ratio = figures["bars_per_s"] / peer["bars_per_s"]
        label = f"gpt-trader engine ({way})"
        print(f"{label:28}{figures['wall_s']:>10.3f}{figures['bars_per_s']:>12,.0f}{figures['orders']:>8}"
              f"{ratio:>12.1f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"nautilus": peer, "gpt_trader": ours}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
