"""How many WebSocket messages per second the sandbox sustains to one client on loopback, and at what speed.

    python -m bench.sandbox_ws [--speed 1200] [--seconds 10] [--products BTC-USD,...] [--json out.json]

Starts `gpt-trader sandbox serve` in its own process (synthetic market, rate limits off), connects one
client that subscribes to heartbeats, ticker, level2 and market_trades for every product, and counts
the messages that arrive after a two-second warm-up. Every message is decoded (msgspec) and its
`sequence_num` checked, so a figure counts only for a feed that lost nothing. The client reads with the
`websockets` default queue (16 frames), so when it falls behind the server feels it.

Offered more than it can replay or send, the sandbox slows its market clock rather than stall or drop
the client: `sustained_speed` is the market speed that actually arrived (market seconds per wall second,
from the heartbeats' `current_time`), so asking for more than the server can do (e.g. `--speed 100000`)
reports the highest speed it sustains; `slowed` and `why` are the server's own account
(`GET /sandbox/feed`). `backlog_seconds` is the longest a heartbeat (one a wall second, numbered by
`heartbeat_counter`) arrived late against the pace of the first. The target is at least 5,000 messages
per second.
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
import urllib.request
from dataclasses import dataclass
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


@dataclass
class Sandbox:
    """A sandbox server process and its URLs."""

    process: subprocess.Popen[str]
    rest_url: str
    ws_url: str

    def feed_status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.rest_url + "/sandbox/feed", timeout=30) as answer:
            status: dict[str, Any] = json.load(answer)
        return status

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def start_server(speed: float, products: str, state_dir: str) -> Sandbox:
    """`gpt-trader sandbox serve` on a free loopback port, once it has printed its URLs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", "--speed", str(speed),
         "--products", products, "--days", "3", "--history-days", "0.1", "--no-rate-limits",
         "--state-dir", state_dir],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    for line in process.stdout:
        name, _, url = line.strip().partition(":")
        if name in ("REST", "WebSocket"):
            urls[name] = url.strip()
        if len(urls) == 2:
            return Sandbox(process, urls["REST"], urls["WebSocket"])
    raise SystemExit("the sandbox did not start")


def backlog(beats: list[tuple[float, int]], interval: float = 1.0) -> float:
    """The longest a heartbeat `(arrival, heartbeat_counter)` arrived after the first one's pace says it
    should have (wall seconds): the server numbers one beat a wall second, so lateness is time spent queued."""
    if not beats:
        return float("nan")
    first_wall, first_counter = beats[0]
    return max(wall - first_wall - (counter - first_counter) * interval for wall, counter in beats)


def market_speed(beats: list[tuple[float, float]]) -> float:
    """Market seconds per wall second between the first and the last `(arrival, market time)` heartbeat."""
    if len(beats) < 2 or beats[-1][0] <= beats[0][0]:
        return float("nan")
    return (beats[-1][1] - beats[0][1]) / (beats[-1][0] - beats[0][0])


def market_seconds(current_time: str) -> float:
    """A heartbeat's `current_time` (`2026-08-09 21:05:48.854840045 +0000 UTC m=+...`) as Unix seconds."""
    return datetime.fromisoformat(current_time[:26] + "+00:00").timestamp()


async def measure(sandbox: Sandbox, products: list[str], seconds: float) -> dict[str, Any]:
    decoder = msgspec.json.Decoder(Envelope)
    async with websockets.connect(sandbox.ws_url, max_size=None) as connection:
        for channel in CHANNELS:
            message = {"type": "subscribe", "channel": channel}
            if channel != "heartbeats":
                message["product_ids"] = products
            await connection.send(json.dumps(message))
        expected, count, size, losses = 0, 0, 0, 0
        counting_from = time.perf_counter() + WARM_UP
        until = counting_from + seconds
        counters: list[tuple[float, int]] = []
        market: list[tuple[float, float]] = []
        closed = ""
        while (now := time.perf_counter()) < until:
            try:
                frame = await asyncio.wait_for(connection.recv(), until - now)
            except TimeoutError:
                break
            except websockets.ConnectionClosed as error:
                closed = str(error)
                break
            envelope = decoder.decode(frame)
            losses += envelope.sequence_num != expected
            expected = envelope.sequence_num + 1
            if now >= counting_from:
                count += 1
                size += len(frame)
                if envelope.channel == "heartbeats":
                    beat = envelope.events[0]
                    counters.append((now, int(beat["heartbeat_counter"])))
                    market.append((now, market_seconds(beat["current_time"])))
        elapsed = time.perf_counter() - counting_from
        status = await asyncio.to_thread(sandbox.feed_status)  # while the client is still there
    return {
        "messages": count, "bytes": size, "elapsed": elapsed, "losses": losses, "closed": closed,
        "backlog": backlog(counters), "speed": market_speed(market), "status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1200.0, help="market seconds per wall second asked for")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to count, after the warm-up")
    parser.add_argument("--products", default=PRODUCTS)
    parser.add_argument("--json", help="also write the report here")
    arguments = parser.parse_args()
    products = [p.strip() for p in arguments.products.split(",") if p.strip()]
    with tempfile.TemporaryDirectory() as state_dir:
        sandbox = start_server(arguments.speed, ",".join(products), state_dir)
        try:
            result = asyncio.run(measure(sandbox, products, arguments.seconds))
        finally:
            sandbox.stop()
    rate = result["messages"] / result["elapsed"]
    lag, status = result["backlog"], result["status"]
    report = {
        "messages_per_second": round(rate),
        "megabytes_per_second": round(result["bytes"] / result["elapsed"] / 1e6, 2),
        "messages": result["messages"],
        "seconds": round(result["elapsed"], 2),
        "sequence_losses": result["losses"],
        "speed": arguments.speed,
        "sustained_speed": round(result["speed"], 1),
        "slowed": status["slowed"],
        "why": status["why"],
        "products": len(products),
        "backlog_seconds": round(lag, 3),
        "closed": result["closed"],
        "target": TARGET,
        "meets_target": rate >= TARGET and result["losses"] == 0 and not result["closed"] and lag < 1,
    }
    print(json.dumps(report, indent=2))
    if arguments.json:
        with open(arguments.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
