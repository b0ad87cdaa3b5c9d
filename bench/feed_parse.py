"""How fast the WebSocket message parser reads real Coinbase ticker messages, on one core.

    python -m bench.feed_parse [--capture PATH] [--messages N] [--json out.json]

Takes the ticker messages of the real Advanced Trade capture (160 of its 1,030), repeats them to
`--messages` frames, and times, as the median of 5 runs after a warm-up: the typed decoding alone
(`messages.parse`), the same with the per-channel counts the client keeps (`MessageParser.parse`), and
`json.loads` as a yardstick. The target is at least 50,000 messages per second through `MessageParser`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpt_trader.coinbase.messages import MessageParser, TickerMessage, parse

CAPTURE_NAME = "coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"
DEFAULT_CAPTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / CAPTURE_NAME
TARGET = 50_000
RUNS = 5


def ticker_frames(capture: Path, count: int) -> list[bytes]:
    tickers = [
        frame for frame in gzip.decompress(capture.read_bytes()).splitlines() if isinstance(parse(frame), TickerMessage)
    ]
    if not tickers:
        raise SystemExit(f"{capture} holds no ticker messages")
    return (tickers * (count // len(tickers) + 1))[:count]


def rate(reader: Callable[[bytes], Any], frames: list[bytes]) -> float:
    """Messages per second: the median of `RUNS` timed passes after one warm-up pass."""
    for frame in frames:
        reader(frame)
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for frame in frames:
            reader(frame)
        seconds.append(time.perf_counter() - started)
    return len(frames) / statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_parse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE, help="the .jsonl.gz WebSocket capture")
    parser.add_argument("--messages", type=int, default=200_000, help="frames per timed pass")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    frames = ticker_frames(args.capture, args.messages)
    counting = MessageParser()
    results = {
        "messages": len(frames),
        "mean_frame_bytes": round(sum(map(len, frames)) / len(frames)),
        "parse_per_second": round(rate(parse, frames)),
        "message_parser_per_second": round(rate(counting.parse, frames)),
        "json_loads_per_second": round(rate(json.loads, frames)),
        "target_per_second": TARGET,
    }
    results["meets_target"] = results["message_parser_per_second"] >= TARGET
    for name, value in results.items():
        shown = value if isinstance(value, bool) else f"{value:,}"
        print(f"{name:>28}: {shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
