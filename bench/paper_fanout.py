"""Paper fan-out: hundreds of strategy instances on one sandbox feed, one WebSocket connection.

    python -m bench.paper_fanout [--instances 500] [--seconds 30] [--speed 200] [--json out.json]

Starts `gpt-trader sandbox serve` in a subprocess on a free loopback port (the quick screen's five products,
the synthetic market at `--speed`), then paper-trades `--instances` instances in this process exactly as
`gpt-trader paper` does: the five built-ins round-robin over the five products, each instance on its own
account, the `book` fill model, 1-minute bars from the feed's trades. Targets (issue 10): at least 1,000
messages a second, p99 message-to-decision latency under 10 ms, no message dropped by the engine (every
event the feed delivered was read by the engine), RSS under 1 GB (this process, the sandbox apart).
At the default `--speed 200` the five products send 1,100–1,200 messages a second, the target's rate with
a margin; `--speed 600` sends nearly three times that.

Figures: messages per second; latency (from the feed's reader thread reading a message to the end of the
decisions on its closed bar or quote by every instance of its product), p50/p99 over both kinds and
p50/p99/max of each; how long messages waited between the read and the engine taking them (`waited_*`, part
of the latency); events delivered vs read, messages the reader dropped because the engine was a full backlog
behind and the most that waited for it, losses the feed reported, bars, orders, peak RSS, and the
CPU seconds this process used per wall second (on a loaded machine, latency also counts the time the process
waited for a core) and per message (both threads, the reader's and the engine's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.config import load_settings
from gpt_trader.market.events import MarketEvent
from gpt_trader.market.products import QUICK_PRODUCTS
from gpt_trader.strategies.builtin import BUILTIN_NAMES
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine, EngineSummary
from gpt_trader.trading.fills import BOOK
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.live import LiveFeed, feed_endpoints, fetch_venue_grids, freeze_warm_up


def start_sandbox(speed: float, state_dir: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", "--products",
               ",".join(QUICK_PRODUCTS), "--speed", f"{speed:g}", "--days", "3", "--history-days", "1",
               "--state-dir", state_dir]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if line.strip().startswith("WebSocket:"):
            return process, line.split("WebSocket:", 1)[1].strip()
        if time.monotonic() > deadline:
            break
    process.kill()
    sys.exit("the sandbox did not start")


def specs(count: int) -> list[InstanceSpec]:
    return [
        InstanceSpec(BUILTIN_NAMES[n % len(BUILTIN_NAMES)], {}, QUICK_PRODUCTS[(n // len(BUILTIN_NAMES)) %
                     len(QUICK_PRODUCTS)], f"instance-{n}", Decimal(10_000), SimulationSettings())
        for n in range(count)
    ]  # fmt: skip


async def until(events: AsyncIterator[MarketEvent], seconds: float) -> AsyncIterator[MarketEvent]:
    deadline = time.monotonic() + seconds
    async for event in events:
        yield event
        if time.monotonic() >= deadline:
            return


def latency_figures(summary: EngineSummary) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "latency_p50_ms": None if summary.latency_p50 is None else summary.latency_p50 * 1e3,
        "latency_p99_ms": None if summary.latency_p99 is None else summary.latency_p99 * 1e3,
    }
    for kind, latency in summary.latency.items():
        figures[f"{kind}s_decided"] = 0 if latency is None else latency.count
        for name in ("p50", "p99", "max"):
            figures[f"{kind}_{name}_ms"] = None if latency is None else getattr(latency, name) * 1e3
    for kind, latency in summary.cpu_latency.items():
        for name in ("p50", "p99", "max"):
            figures[f"{kind}_cpu_{name}_ms"] = None if latency is None else getattr(latency, name) * 1e3
    return figures


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def trade(ws_url: str, count: int, seconds: float) -> dict[str, Any]:
    settings = load_settings()
    endpoints = feed_endpoints(ws_url, settings)
    grids = await fetch_venue_grids(endpoints, QUICK_PRODUCTS)
    live = LiveFeed(endpoints, QUICK_PRODUCTS, "1m", settings=settings)
    broker = PaperBroker(grids, fill_model=BOOK, stale_after=live.venue_seconds(30.0))
    live.on_clock_measured(lambda: setattr(broker, "stale_after", live.venue_seconds(30.0)))
    engine = Engine(specs(count), granularity="1m", broker=broker, fill_model="book")
    wanted = {product: max(i.lookback for i in engine.instances if i.spec.product_id == product)
              for product in QUICK_PRODUCTS}  # fmt: skip
    engine.warm_up(await live.history(wanted))
    freeze_warm_up()
    await live.open()
    cpu_before = cpu_seconds()
    summary = await engine.run(until(live.events(), seconds))
    cpu = cpu_seconds() - cpu_before
    await live.close()
    stats = live.statistics()
    return {
        "instances": count,
        "seconds": summary.seconds,
        "messages": summary.messages,
        "messages_per_s": summary.messages / summary.seconds,
        **latency_figures(summary),
        "events_delivered": stats["events"],
        "events_read_by_engine": summary.messages,
        "dropped_by_engine": stats["events"] - summary.messages,
        "dropped_behind": stats["dropped_behind"],
        "backlog_peak": stats["backlog_peak"],
        **{f"waited_{name}_ms": value for name, value in (stats["waited_ms"] or {}).items()},
        "feed_losses": stats["health_events"],
        "bars": summary.bars,
        "instance_bars": summary.instance_bars,
        "orders": summary.orders,
        "fills": summary.fills,
        "rejected_orders": summary.rejected_orders,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_per_wall_second": cpu / summary.seconds,
        "cpu_per_message_us": cpu / max(summary.messages, 1) * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0, help="wall seconds of trading")
    parser.add_argument("--speed", type=float, default=200.0,
                        help="the sandbox's replay speed (200: 1,100-1,200 messages a second)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paper-fanout-") as state_dir:
        process, ws_url = start_sandbox(args.speed, state_dir)
        try:
            report = asyncio.run(trade(ws_url, args.instances, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)
    for key, value in report.items():
        print(f"{key:>22}: {value:,.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    print(f"{'load average':>22}: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
