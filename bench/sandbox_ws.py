"""How many WebSocket messages per second the sandbox sustains to one client on loopback.

    python -m bench.sandbox_ws [--speed 1200] [--seconds 10] [--products BTC-USD,...] [--json out.json]

Starts `gpt-trader sandbox serve` in its own process (synthetic market, rate limits off), connects one
client that subscribes to heartbeats, ticker, level2 and market_trades for every product, and counts
the messages that arrive after a two-second warm-up. Every message is decoded (msgspec) and its
`sequence_num` checked, so a figure counts only for a feed that lost nothing. `backlog_seconds` is the
longest a heartbeat (queued once a second) arrived late against the pace of the first: near zero when
the server keeps up with what `--speed` offers; when it cannot, the queue grows until the server drops
the client as a slow consumer (`closed`). The target is at least 5,000 messages per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

import msgspec
import websockets

TARGET = 5_000
PRODUCTS = "BTC-USD,ETH-USD,SOL-USD,LINK-USD,DOGE-USD,LTC-USD,POL-USD"
CHANNELS = ("heartbeats", "ticker", "level2", "market_trades")
WARM_UP = 2.0


class Envelope(msgspec.Struct):
    channel: str
    sequence_num: int
    timestamp: str
    events: list[dict[str, Any]]


def start_server(speed: float, products: str, state_dir: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", "--speed", str(speed),
         "--products", products, "--days", "3", "--history-days", "0.1", "--no-rate-limits",
         "--state-dir", state_dir],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().startswith("WebSocket:"):
            return process, line.split("WebSocket:", 1)[1].strip()
    raise SystemExit("the sandbox did not start")


async def measure(url: str, products: list[str], seconds: float) -> dict[str, Any]:
    decoder = msgspec.json.Decoder(Envelope)
    async with websockets.connect(url, max_size=None, max_queue=None) as connection:
        for channel in CHANNELS:
            message = {"type": "subscribe", "channel": channel}
            if channel != "heartbeats":
                message["product_ids"] = products
            await connection.send(json.dumps(message))
        expected, count, size, losses = 0, 0, 0, 0
        started = time.perf_counter()
        counting_from = started + WARM_UP
        until = counting_from + seconds
        beats: list[tuple[float, float]] = []
        closed = ""
        while (now := time.perf_counter()) < until:
            try:
                frame = await connection.recv()
            except websockets.ConnectionClosed as error:
                # Offered more than it can send, the server drops the client as a slow consumer.
                closed = str(error)
                break
            envelope = decoder.decode(frame)
            losses += envelope.sequence_num != expected
            expected = envelope.sequence_num + 1
            if now >= counting_from:
                count += 1
                size += len(frame)
                if envelope.channel == "heartbeats":
                    beats.append((now, _seconds(envelope.events[0]["current_time"])))
        elapsed = time.perf_counter() - counting_from
    return {"messages": count, "bytes": size, "elapsed": elapsed, "losses": losses, "beats": beats, "closed": closed}


def backlog(beats: list[tuple[float, float]], speed: float) -> float:
    """The longest a heartbeat arrived after the first one's pace says it should have (wall seconds).

    A heartbeat is queued once a wall second stamped with the market time; market time runs at `speed`,
    so arriving later than `(its market time - the first's) / speed` after the first is time spent queued.
    """
    if not beats:
        return float("nan")
    first_wall, first_market = beats[0]
    return max(wall - first_wall - (market - first_market) / speed for wall, market in beats)


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339[:26].rstrip("Z") + "+00:00").timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1200.0, help="market seconds per wall second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to count, after the warm-up")
    parser.add_argument("--products", default=PRODUCTS)
    parser.add_argument("--json", help="also write the report here")
    arguments = parser.parse_args()
    products = [p.strip() for p in arguments.products.split(",") if p.strip()]
    with tempfile.TemporaryDirectory() as state_dir:
        process, url = start_server(arguments.speed, ",".join(products), state_dir)
        try:
            result = asyncio.run(measure(url, products, arguments.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)
    rate = result["messages"] / result["elapsed"]
    lag = backlog(result["beats"], arguments.speed)
    report = {
        "messages_per_second": round(rate),
        "megabytes_per_second": round(result["bytes"] / result["elapsed"] / 1e6, 2),
        "messages": result["messages"],
        "seconds": round(result["elapsed"], 2),
        "sequence_losses": result["losses"],
        "speed": arguments.speed,
        "products": len(products),
        "backlog_seconds": round(lag, 3),
        "closed": result["closed"],
        "target": TARGET,
        "meets_target": rate >= TARGET and result["losses"] == 0 and not result["closed"]
        and lag < 1,
    }
    print(json.dumps(report, indent=2))
    if arguments.json:
        with open(arguments.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
