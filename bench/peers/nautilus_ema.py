"""nautilus-trader 1.221's BacktestEngine running its bundled `EMACrossLongOnly` example (EMA 10/30) on the
43,200 1-minute BTC-USD bars of the benchmark's `ohlcv_1m.parquet`: bars per second.

Run it with the nautilus peer's interpreter (see bench/setup_peers.py), never the project's:

    bench/.venv-peers-nautilus/bin/python bench/peers/nautilus_ema.py --data PATH/ohlcv_1m.parquet --json out.json

The strategy is imported from the installed package (`nautilus_trader.examples.strategies.ema_cross_long_only`),
as a nautilus user would run it: a market buy of `--trade-size` BTC when the fast EMA crosses above the slow one,
flat when it crosses below. The venue is a cash account in USD with the 0.6 % taker fee, and the instrument is
BTC-USD on Coinbase's grid (price 0.01, size 0.00000001). What is timed is `engine.run()` over bars already
loaded; building the engine, the instrument and the bar objects is reported apart as `load_s`.
`bench/peers/nautilus_vs_engine.py` runs this script beside GPT-Trader's engine and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader import __version__ as nautilus_version
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.examples.strategies.ema_cross_long_only import EMACrossLongOnly, EMACrossLongOnlyConfig
from nautilus_trader.model.currencies import BTC, USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler

PRODUCT = "BTC-USD"
FAST, SLOW = 10, 30
VENUE = Venue("COINBASE")
START_CASH = 1_000_000
"""Enough USD that fees never run a fixed-size strategy's cash account dry before the last bar."""
TAKER_FEE = Decimal("0.006")
MAKER_FEE = Decimal("0.004")


def load_bars(path: Path) -> pd.DataFrame:
    """The product's 1-minute bars, indexed by open time, as `BarDataWrangler` reads them."""
    frame = pd.read_parquet(path, columns=["product_id", "time", "open", "high", "low", "close", "volume"])
    bars = frame[frame["product_id"] == PRODUCT].drop(columns="product_id").set_index("time").sort_index()
    if bars.empty:
        sys.exit(f"{path} holds no {PRODUCT} bars")
    return bars


def instrument() -> CurrencyPair:
    instrument_id = InstrumentId(Symbol(PRODUCT), VENUE)
    return CurrencyPair(
        instrument_id=instrument_id, raw_symbol=Symbol(PRODUCT), base_currency=BTC, quote_currency=USD,
        price_precision=2, size_precision=8, price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.00000001"), lot_size=None, max_quantity=None,
        min_quantity=Quantity.from_str("0.00000001"), max_notional=None, min_notional=None, max_price=None,
        min_price=None, margin_init=Decimal(0), margin_maint=Decimal(0), maker_fee=MAKER_FEE, taker_fee=TAKER_FEE,
        ts_event=0, ts_init=0,
    )


def run_once(frame: pd.DataFrame, trade_size: Decimal) -> dict[str, Any]:
    """Build an engine over the bars, time `engine.run()`, and read back what it did."""
    built = time.perf_counter()
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(venue=VENUE, oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=None,
                     starting_balances=[Money(START_CASH, USD), Money(0, BTC)])
    pair = instrument()
    engine.add_instrument(pair)
    bar_type = BarType.from_str(f"{pair.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, pair).process(frame)
    engine.add_data(bars)
    engine.add_strategy(EMACrossLongOnly(EMACrossLongOnlyConfig(
        instrument_id=pair.id, bar_type=bar_type, trade_size=trade_size, fast_ema_period=FAST,
        slow_ema_period=SLOW, request_historical_bars=False,
    )))
    started = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - started
    outcome = engine.get_result()
    account = engine.cache.account_for_venue(VENUE)
    result = {
        "bars": len(bars), "iterations": outcome.iterations, "load_s": started - built, "wall_s": wall,
        "orders": outcome.total_orders, "positions": outcome.total_positions,
        "final_usd": account.balance_total(USD).as_double(), "final_btc": account.balance_total(BTC).as_double(),
    }
    if outcome.iterations != len(bars):
        sys.exit(f"nautilus stopped after {outcome.iterations} of {len(bars)} bars; raise START_CASH")
    engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the benchmark's ohlcv_1m.parquet")
    parser.add_argument("--trade-size", type=Decimal, default=Decimal("0.1"), help="BTC bought per entry")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    frame = load_bars(args.data)
    warm_up = run_once(frame, args.trade_size)
    runs = [run_once(frame, args.trade_size) for _ in range(max(args.repeat, 1))]
    wall = statistics.median(run["wall_s"] for run in runs)
    report = {
        "peer": f"nautilus_trader {nautilus_version}", "strategy": f"EMACrossLongOnly EMA {FAST}/{SLOW}",
        "product": PRODUCT, "bars": runs[0]["bars"], "wall_s": wall, "bars_per_s": runs[0]["bars"] / wall,
        "first_run_s": warm_up["wall_s"], "warm_runs_s": [run["wall_s"] for run in runs],
        "load_s": runs[0]["load_s"], "orders": runs[0]["orders"], "positions": runs[0]["positions"],
        "final_usd": runs[0]["final_usd"], "final_btc": runs[0]["final_btc"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    for key, value in report.items():
        print(f"{key:>12}: {value:,.3f}" if isinstance(value, float) else f"{key:>12}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
