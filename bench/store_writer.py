"""How fast the trading record is written: per-call `Store` transactions against the batched `StoreWriter`.

    python -m bench.store_writer [--rows 20000]

A replay writes an equity snapshot per account per bar; this writes that many snapshots both ways into a
fresh SQLite file and prints rows per second and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpt_trader.store import Store, open_store
from gpt_trader.store.writer import StoreWriter

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def account(store: Store) -> int:
    session_id = store.start_session(store.start_run("simulation", "bench"), "simulation", ["bench"])
    return store.add_account(
        session_id, "a", strategy="bench", product_id="BTC-USD", starting_cash="1000", quote_currency="USD"
    )


def per_call(store: Store, rows: int) -> float:
    account_id = account(store)
    started = time.perf_counter()
    for i in range(rows):
        store.add_equity_snapshot(account_id, cash="1000", position_value=i, time=T0 + timedelta(minutes=i))
    return time.perf_counter() - started


def batched(store: Store, rows: int) -> tuple[float, float, int]:
    account_id = account(store)
    started = time.perf_counter()
    with StoreWriter(store) as writer:
        for i in range(rows):
            writer.add_equity_snapshot(account_id, cash="1000", position_value=i, time=T0 + timedelta(minutes=i))
        queued = time.perf_counter() - started
        writer.flush()
        batches = writer.stats.batches
    return queued, time.perf_counter() - started, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--per-call-rows", type=int, default=2_000, help="rows for the (slow) per-call path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        with open_store(f"sqlite:///{Path(folder) / 'per-call.db'}") as store:
            slow = per_call(store, args.per_call_rows)
        with open_store(f"sqlite:///{Path(folder) / 'batched.db'}") as store:
            queued, total, batches = batched(store, args.rows)
    slow_rate, fast_rate = args.per_call_rows / slow, args.rows / total
    each_ms = slow / args.per_call_rows * 1e3
    print(f"per-call Store:   {slow_rate:10,.0f} rows/s ({args.per_call_rows:,} rows, {each_ms:.2f} ms each)")
    print(f"StoreWriter:      {fast_rate:10,.0f} rows/s committed ({args.rows:,} rows in {batches} batches)")
    print(f"  caller's cost:  {queued / args.rows * 1e6:10.1f} µs per row queued")
    print(f"  ratio:          {fast_rate / slow_rate:10.1f}x")


if __name__ == "__main__":
    main()
