"""Many level-2 subscribers and one hostile client at once: does every honest connection keep its pace?

    python -m bench.sandbox_soak [--seconds 30] [--subscribers 50] [--speed 60] [--products BTC-USD,ETH-USD]
                                 [--json out.json]

Starts `gpt-trader sandbox serve` in its own process (as `bench.sandbox_ws` does) and connects
`--subscribers` clients, each subscribed to heartbeats and level2 for every product, plus one hostile
client that, all along, sends junk (not JSON, 50,000 nested brackets, wrong types), a 220 kB subscribe
of 20,000 repeated products, subscribes naming more products than allowed, and subscribe/unsubscribe
churn, reading the errors it is sent. For each subscriber it prints the longest silence between two
heartbeats (due once a second), the heartbeat_counter values and sequence numbers it never saw, and
how it ended; for the server, its resident memory sampled twice a second (peak, and growth over the
second half of the run, which stays near zero when memory is bounded).

Target: no heartbeat gap above 2 s, no sequence gap, no subscriber dropped, memory bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import websockets

from bench.sandbox_ws import Envelope, Sandbox, start_server

MAX_GAP = 2.0
HOSTILE_MESSAGES_PER_SECOND = 20


@dataclass
class Subscriber:
    """What one honest connection saw."""

    max_gap: float = 0.0
    sequence_gaps: int = 0
    beats_lost: int = 0
    beats: int = 0
    messages: int = 0
    closed: str = ""
    _last_beat: float | None = None
    _last_counter: int | None = None
    _expected: int = 0

    def see(self, envelope: Envelope, now: float) -> None:
        self.messages += 1
        self.sequence_gaps += envelope.sequence_num != self._expected
        self._expected = envelope.sequence_num + 1
        if envelope.channel != "heartbeats":
            return
        counter = int(envelope.events[0]["heartbeat_counter"])
        if self._last_beat is not None and self._last_counter is not None:
            self.max_gap = max(self.max_gap, now - self._last_beat)
            self.beats_lost += max(0, counter - self._last_counter - 1)
        self._last_beat, self._last_counter = now, counter
        self.beats += 1


@dataclass
class Hostile:
    sent: int = 0
    errors: int = 0
    closed: str = ""
    kinds: dict[str, int] = field(default_factory=dict)


def hostile_messages(products: list[str]) -> list[tuple[str, str]]:
    """(kind, message) pairs the hostile client cycles through."""
    many = [f"{product}" for product in products] * (20_000 // len(products))
    return [
        ("not json", "{not json"),
        ("nested brackets", "[" * 50_000),
        ("wrong types", json.dumps({"type": "subscribe", "channel": ["level2"], "product_ids": 7})),
        ("huge subscribe", json.dumps({"type": "subscribe", "channel": "level2", "product_ids": many})),
        ("too many products", json.dumps(
            {"type": "subscribe", "channel": "ticker", "product_ids": [f"P{i}-USD" for i in range(500)]})),
        ("subscribe", json.dumps({"type": "subscribe", "channel": "level2", "product_ids": products})),
        ("unsubscribe", json.dumps({"type": "unsubscribe", "channel": "level2", "product_ids": products})),
    ]


async def subscribe(sandbox: Sandbox, products: list[str], until: float, seen: Subscriber) -> None:
    decoder = msgspec.json.Decoder(Envelope)
    try:
        async with websockets.connect(sandbox.ws_url, max_size=None, open_timeout=30) as connection:
            await connection.send(json.dumps({"type": "subscribe", "channel": "heartbeats"}))
            await connection.send(json.dumps({"type": "subscribe", "channel": "level2", "product_ids": products}))
            while (left := until - time.monotonic()) > 0:
                try:
                    frame = await asyncio.wait_for(connection.recv(), left)
                except TimeoutError:
                    break
                seen.see(decoder.decode(frame), time.monotonic())
    except (websockets.ConnectionClosed, OSError) as error:
        seen.closed = str(error) or type(error).__name__


async def harass(sandbox: Sandbox, products: list[str], until: float, hostile: Hostile) -> None:
    messages = hostile_messages(products)
    try:
        async with websockets.connect(sandbox.ws_url, max_size=None, open_timeout=30) as connection:
            reader = asyncio.create_task(_count_errors(connection, hostile))
            number = 0
            while time.monotonic() < until:
                kind, message = messages[number % len(messages)]
                await connection.send(message)
                hostile.sent += 1
                hostile.kinds[kind] = hostile.kinds.get(kind, 0) + 1
                number += 1
                await asyncio.sleep(1 / HOSTILE_MESSAGES_PER_SECOND)
            reader.cancel()
    except (websockets.ConnectionClosed, OSError) as error:
        hostile.closed = str(error) or type(error).__name__


async def _count_errors(connection: websockets.ClientConnection, hostile: Hostile) -> None:
    async for frame in connection:
        hostile.errors += '"type":"error"' in str(frame).replace(" ", "")


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def sample_memory(pid: int, until: float, samples: list[tuple[float, float]]) -> None:
    while time.monotonic() < until:
        samples.append((time.monotonic(), resident_mb(pid)))
        await asyncio.sleep(0.5)


async def soak(sandbox: Sandbox, products: list[str], subscribers: int, seconds: float) -> dict[str, Any]:
    until = time.monotonic() + seconds
    seen = [Subscriber() for _ in range(subscribers)]
    hostile = Hostile()
    memory: list[tuple[float, float]] = []
    started = time.monotonic()
    _, _, _, status = await asyncio.gather(
        asyncio.gather(*(subscribe(sandbox, products, until, each) for each in seen)),
        harass(sandbox, products, until, hostile),
        sample_memory(sandbox.process.pid, until, memory),
        _status_near_the_end(sandbox, seconds),
    )
    half = started + seconds / 2
    second_half = [mb for at, mb in memory if at >= half]
    return {"seen": seen, "hostile": hostile, "memory": memory, "second_half": second_half, "status": status}


async def _status_near_the_end(sandbox: Sandbox, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds * 0.9)
    return await asyncio.to_thread(sandbox.feed_status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the soak lasts")
    parser.add_argument("--subscribers", type=int, default=50, help="honest level-2 subscribers")
    parser.add_argument("--speed", type=float, default=60.0, help="market seconds per wall second")
    parser.add_argument("--products", default="BTC-USD,ETH-USD")
    parser.add_argument("--json", help="also write the report here")
    arguments = parser.parse_args()
    products = [p.strip() for p in arguments.products.split(",") if p.strip()]
    with tempfile.TemporaryDirectory() as state_dir:
        sandbox = start_server(arguments.speed, ",".join(products), state_dir)
        try:
            result = asyncio.run(soak(sandbox, products, arguments.subscribers, arguments.seconds))
        finally:
            sandbox.stop()
    seen: list[Subscriber] = result["seen"]
    hostile: Hostile = result["hostile"]
    rss = [mb for _, mb in result["memory"]]
    second_half = result["second_half"]
    worst_gap = max(each.max_gap for each in seen)
    report = {
        "seconds": arguments.seconds,
        "subscribers": arguments.subscribers,
        "speed": arguments.speed,
        "products": products,
        "max_heartbeat_gap_s": round(worst_gap, 3),
        "max_heartbeat_gap_s_per_connection": " ".join(f"{each.max_gap:.2f}" for each in seen),
        "heartbeats_per_connection_min": min(each.beats for each in seen),
        "heartbeat_counters_lost": sum(each.beats_lost for each in seen),
        "sequence_gaps": sum(each.sequence_gaps for each in seen),
        "messages_received": sum(each.messages for each in seen),
        "subscribers_closed": [each.closed for each in seen if each.closed],
        "hostile": {"sent": hostile.sent, "errors_received": hostile.errors, "kinds": hostile.kinds,
                    "closed": hostile.closed},
        "server_rss_mb": {"first": round(rss[0], 1), "peak": round(max(rss), 1), "last": round(rss[-1], 1),
                          "second_half_growth": round(max(second_half) - min(second_half), 1)},
        "server": result["status"],
        "meets_target": worst_gap <= MAX_GAP and all(e.sequence_gaps == 0 and not e.closed for e in seen),
    }
    print(json.dumps(report, indent=2))
    if arguments.json:
        with open(arguments.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
