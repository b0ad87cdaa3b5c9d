"""How fast the feed side turns market data into the engine's events, on one core.

    python -m bench.feed_events [--capture PATH] [--candles PATH] [--passes N] [--json out.json]

Six figures, each the median of 5 timed runs after a warm-up:

- `capture_messages_per_second`: the real Advanced Trade capture (1,030 messages: level2, ticker,
  market_trades, heartbeats, candles) but its two level-2 snapshots, repeated `--passes` times through
  `coinbase/messages.py`'s parser and `coinbase/feed.py`'s translator, with the events it yields per
  second beside it; `snapshot_levels_per_second`: the book levels of the two snapshots (69,334)
  through the same, which is what a resync costs;
- `trades_per_second`: one-second trades of two products through `market/aggregate.py`'s aggregator
  into 1-minute bars, clock checks included;
- `buffer_appends_per_second`: closed bars appended to `market/buffer.py`'s buffer, each followed by a
  500-bar trailing `view()` as a strategy would read it;
- `candle_events_per_second`: the 1-minute bars of `../shared/bench/ohlcv_1m.parquet` (every product)
  replayed by `market/replay.py`, a Quote and a BarClosed per bar.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

from gpt_trader.coinbase.feed import MessageTranslator
from gpt_trader.coinbase.messages import MessageParser
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed, Trade
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.replay import CandleReplay
from gpt_trader.market.sources.file import FileSource

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_CAPTURE = SHARED / "data" / "real" / "coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"
DEFAULT_CANDLES = SHARED / "bench" / "ohlcv_1m.parquet"
RUNS = 5
T0 = 1_717_200_000


def median_seconds(work: Callable[[], object]) -> float:
    work()
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def capture_rates(capture: Path, passes: int) -> dict[str, float]:
    """Messages per second without the two level-2 snapshots (the steady state), events per second
    beside it, and book levels per second through the snapshots (what a resync costs)."""
    frames = gzip.decompress(capture.read_bytes()).splitlines()
    snapshots = [frame for frame in frames if _is_snapshot(frame)]
    steady = [frame for frame in frames if not _is_snapshot(frame)] * passes
    events = 0

    def translate(batch: list[bytes]) -> int:
        parser, translator = MessageParser(), MessageTranslator()
        return sum(len(translator.translate(parser.parse(frame))) for frame in batch)

    def translate_steady() -> None:
        nonlocal events
        events = translate(steady)

    steady_seconds = median_seconds(translate_steady)
    levels = sum(len(json.loads(frame)["events"][0]["updates"]) for frame in snapshots)
    return {
        "capture_messages_per_second": len(steady) / steady_seconds,
        "capture_events_per_second": events / steady_seconds,
        "snapshot_levels_per_second": levels / median_seconds(lambda: translate(snapshots)),
    }


def _is_snapshot(frame: bytes) -> bool:
    return b'"channel":"l2_data"' in frame and b'"type":"snapshot"' in frame


def trade_rate(count: int) -> float:
    prices = 100.0 + np.cumsum(np.random.default_rng(5).normal(0.0, 0.05, count))
    trades = [Trade("BTC-USD" if i % 2 else "ETH-USD", T0 + i / 2, Decimal(repr(round(float(p), 2))),
                    Decimal("0.01")) for i, p in enumerate(prices)]

    async def aggregate() -> None:
        clock = iter([t.time for t in trades])
        aggregator = BarAggregator("1m", clock=lambda: next(clock), since=T0)
        for trade in trades:
            await aggregator.on_event(trade)

    return count / median_seconds(lambda: asyncio.run(aggregate()))


def buffer_rate(count: int) -> float:
    bars = [BarClosed("BTC-USD", 60, T0 + 60 * i, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(count)]

    def fill() -> None:
        buffer = BarBuffer("BTC-USD", Granularity.ONE_MINUTE)
        for bar in bars:
            buffer.append(bar)
            buffer.view(500)

    return count / median_seconds(fill)


def candle_rate(path: Path) -> float:
    replay = CandleReplay(list(FileSource(path).load_all().values()))
    count = sum(len(bars) for bars in replay.bars)
    return 2 * count / median_seconds(lambda: sum(1 for _ in replay))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE, help="the .jsonl.gz WebSocket capture")
    parser.add_argument("--candles", type=Path, default=DEFAULT_CANDLES, help="a Parquet file of 1-minute OHLCV")
    parser.add_argument("--passes", type=int, default=20, help="times the capture is repeated per timed run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = {
        **{name: round(value) for name, value in capture_rates(args.capture, args.passes).items()},
        "trades_per_second": round(trade_rate(50_000)),
        "buffer_appends_per_second": round(buffer_rate(50_000)),
        "candle_events_per_second": round(candle_rate(args.candles)),
    }
    for name, value in results.items():
        print(f"{name:>28}: {value:,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
