"""Worker processes for the store's concurrency tests, run as `python workers.py ROLE URL ...`.

Each prints one line per event on stdout (flushed), so the test sees what was committed even when
the process is killed with SIGKILL.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from gpt_trader.store import open_store

BATCH_ROWS = 200
# A worker never outlives a broken test by much.
SAFETY_SECONDS = 60.0


def result_rows(first: int, count: int, writer: str) -> list[dict[str, object]]:
    return [
        {
            "strategy": writer,
            "product_id": "BTC-USD",
            "granularity": "1m",
            "params": {"index": index, "window": index % 50},
            "sharpe": index / 1000,
            "trades": index,
        }
        for index in range(first, first + count)
    ]


def write(url: str, stop_file: Path, name: str) -> None:
    """Insert batches of BATCH_ROWS in one transaction each until `stop_file` exists."""
    store = open_store(url)
    run_id = store.start_run("sweep", name)
    print(f"ready {run_id}", flush=True)
    committed = 0
    deadline = time.monotonic() + SAFETY_SECONDS
    while not stop_file.exists() and time.monotonic() < deadline:
        store.add_backtest_results(run_id, result_rows(committed, BATCH_ROWS, name))
        committed += BATCH_ROWS
        print(f"committed {committed}", flush=True)
    store.finish_run(run_id)
    print(f"done {committed}", flush=True)


def read(url: str, seconds: float) -> None:
    """Count the result rows and list the runs over and over for `seconds`; print the counts seen."""
    store = open_store(url)
    counts: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts.append(store.count_backtest_results())
        store.list_runs(limit=5)
    print(json.dumps({"counts": counts}), flush=True)


def open_only(url: str) -> None:
    """Open (and so migrate) the store, then report the tables it has."""
    store = open_store(url)
    print(json.dumps({"runs": len(store.list_runs())}), flush=True)


if __name__ == "__main__":
    role, url, *rest = sys.argv[1:]
    if role == "writer":
        write(url, Path(rest[0]), rest[1])
    elif role == "reader":
        read(url, float(rest[0]))
    elif role == "opener":
        open_only(url)
    else:
        raise SystemExit(f"unknown role {role!r}; use writer, reader or opener")
