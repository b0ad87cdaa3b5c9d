"""How fast the dashboard answers on a large store: 100 k fills and 10 k backtest results by default.

    python -m bench.dashboard [--fills 100000] [--results 10000] [--repeat 5]

Builds a fresh SQLite store (sweeps of 1,000 results each; one paper session whose accounts' orders
have two fills each, an equity snapshot per fill, feed events), then times each view query and the
overview as the browser loads it over HTTP on loopback (the page, its script, the schema and
`/api/overview`). Prints the median of `--repeat` runs per figure.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from gpt_trader.monitor.web import create_app
from gpt_trader.sandbox.server import BackgroundServer
from gpt_trader.store import Store, open_store
from gpt_trader.store.views import StoreViews
from gpt_trader.store.writer import StoreWriter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNTS = 10
SWEEP_SIZE = 1_000


def build(store: Store, fills: int, results: int) -> dict[str, int]:
    """Fill `store` as a long research and paper-trading history would; returns the ids the timings use."""
    chance = random.Random(7)
    sweep_id = 0
    for first in range(0, results, SWEEP_SIZE):
        sweep_id = store.start_run("sweep", f"sweep {first // SWEEP_SIZE}", {"source": "synthetic"}, trials=SWEEP_SIZE)
        store.add_backtest_results(
            sweep_id,
            [
                {
                    "strategy": "ma_crossover",
                    "product_id": "BTC-USD",
                    "granularity": "1h",
                    "params": {"fast": 5 + i % 40, "slow": 50 + i // 40},
                    "sharpe": chance.gauss(0, 1),
                    "total_return": chance.gauss(0, 0.1),
                    "max_drawdown": -abs(chance.gauss(0, 0.1)),
                    "trades": 20,
                }
                for i in range(min(SWEEP_SIZE, results - first))
            ],
        )
        store.finish_run(sweep_id)
    session = store.start_session(store.start_run("paper", "paper bench"), "paper", ["ma_crossover"])
    accounts = [
        store.add_account(
            session,
            f"acct-{n}",
            strategy="ma_crossover",
            product_id="BTC-USD",
            starting_cash=10_000,
            quote_currency="USD",
        )
        for n in range(ACCOUNTS)
    ]
    with StoreWriter(store) as writer:
        for order in range(fills // 2):
            account = accounts[order % ACCOUNTS]
            moment = T0 + timedelta(seconds=order)
            client_id = f"o-{order}"
            writer.record_order(
                account,
                client_id,
                product_id="BTC-USD",
                side="BUY" if order % 2 else "SELL",
                order_type="MARKET",
                status="FILLED",
                base_size="0.02",
                time=moment,
            )
            for part in range(2):
                writer.add_fill(
                    client_id,
                    trade_id=f"t-{order}-{part}",
                    price=50_000 + order % 500,
                    size="0.01",
                    fee="0.3",
                    liquidity="TAKER",
                    time=moment,
                )
                writer.add_equity_snapshot(
                    account, cash=9_000, position_value=1_000 + order % 100, time=moment + timedelta(milliseconds=part)
                )
            if order % 100 == 0:
                writer.record_feed_event(
                    "connected" if order % 200 else "stale",
                    session_id=session,
                    product_id="BTC-USD",
                    connection=1,
                    time=moment,
                )
        writer.flush()
    return {"session": session, "account": accounts[0], "sweep": sweep_id}


def median_seconds(action: Callable[[], Any], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dashboard.db"
        store = open_store(f"sqlite:///{path}")
        started = time.perf_counter()
        ids = build(store, options.fills, options.results)
        print(
            f"store: {options.fills:,} fills, {options.results:,} backtest results, "
            f"{path.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s"
        )
        views = StoreViews.of(store)
        queries: dict[str, Callable[[], Any]] = {
            "runs (newest 50)": lambda: views.runs(limit=50),
            "runs of a strategy": lambda: views.runs(strategy="ma_crossover", limit=500),
            "sessions with accounts": views.sessions,
            "recent fills (100)": lambda: views.fills(limit=100),
            "fills of one session": lambda: views.fills(session_id=ids["session"]),
            "open orders": lambda: views.orders(open_only=True),
            "equity curve (one account)": lambda: views.equity(ids["account"]),
            "feed health": views.feed_health,
            "sweep results (1,000)": lambda: views.results(ids["sweep"]),
        }
        for name, query in queries.items():
            print(f"  {name:<28} {1000 * median_seconds(query, options.repeat):8.1f} ms")
        server = BackgroundServer(create_app(store))
        with server, httpx.Client(base_url=server.url, timeout=60) as http:

            def overview_page() -> None:
                for target in ("/", "/static/dashboard.js", "/static/plotly.min.js", "/openapi.json", "/api/overview"):
                    http.get(target).raise_for_status()

            page = median_seconds(overview_page, options.repeat)
            api = median_seconds(lambda: http.get("/api/overview").raise_for_status(), options.repeat)
            heat = median_seconds(
                lambda: http.get(f"/api/runs/{ids['sweep']}/heatmap").raise_for_status(), options.repeat
            )
        print(f"  {'GET /api/overview':<28} {1000 * api:8.1f} ms")
        print(f"  {'GET sweep heat map':<28} {1000 * heat:8.1f} ms")
        print(
            f"overview page (HTML, script, plotly.js, schema, /api/overview): {1000 * page:.1f} ms, "
            f"median of {options.repeat}"
        )
        store.close()


if __name__ == "__main__":
    main()
