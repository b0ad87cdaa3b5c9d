"""Our WebSocket client against the sandbox's fault mode: every fault is survived, nothing is delivered twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.coinbase.ws import CoinbaseWebSocket
from gpt_trader.market.feed import FeedHealth, HealthKind
from tests.integration.sandbox.conftest import PRODUCTS, RunningSandbox
from tests.support.sandbox_faults import inject

STALE_AFTER = 1.5


class Recorder:
    """Consumes the feed in the background; keeps every event with the time it arrived."""

    def __init__(self, feed: CoinbaseWebSocket) -> None:
        self.feed = feed
        self.events: list[tuple[float, Any]] = []
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.feed:
            self.events.append((time.monotonic(), event))

    def health(self, kind: HealthKind) -> list[tuple[float, FeedHealth]]:
        return [(t, e) for t, e in self.events if isinstance(e, FeedHealth) and e.kind is kind]

    async def until(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; events: {[e for _, e in self.events][-12:]}"
            await asyncio.sleep(0.02)

    def messages(self) -> list[Any]:
        return [e for _, e in self.events if not isinstance(e, FeedHealth)]


def assert_no_message_twice(recorder: Recorder) -> None:
    """Within each connection, delivered sequence numbers strictly increase."""
    connection, last = 0, -1
    for _, event in recorder.events:
        if isinstance(event, FeedHealth):
            if event.kind is HealthKind.CONNECTED:
                connection, last = event.connection, -1
            continue
        number = getattr(event, "sequence_num", None)
        if number is not None:
            assert number > last, f"connection {connection}: {number} delivered after {last}"
            last = number


async def test_our_client_survives_every_fault_of_the_sandbox(sandbox: RunningSandbox) -> None:
    feed = CoinbaseWebSocket(
        sandbox.ws_url,
        {"ticker": list(PRODUCTS), "level2": list(PRODUCTS)},
        stale_after=STALE_AFTER,
        reconnect=RetryPolicy(attempts=10, base_delay=0.1, max_delay=0.5),
    )
    async with feed:
        recorder = Recorder(feed)
        await recorder.until(lambda: len(recorder.messages()) > 20)

        # A gap: detected on the very message that reveals it, then the level2 books are re-snapshotted.
        await inject(sandbox, "gap", 3)
        await recorder.until(lambda: recorder.health(HealthKind.RESYNCED))
        (gap_at, gap), *_ = recorder.health(HealthKind.GAP)
        revealing = next(e for t, e in recorder.events if t >= gap_at and not isinstance(e, FeedHealth))
        assert recorder.events.index((gap_at, gap)) + 1 == [e for _, e in recorder.events].index(revealing)
        assert all(not book.crossed for book in feed.books.values())

        # A duplicate: dropped before it reaches us.
        await inject(sandbox, "duplicate")
        await recorder.until(lambda: feed.duplicates >= 1)

        # A stall longer than the deadline: reported stale, then a new connection.
        connections = feed.connections
        stalled_at = time.monotonic()
        await inject(sandbox, "stall", 4)
        await recorder.until(lambda: feed.connections > connections)
        (stale_at, _), *_ = recorder.health(HealthKind.STALE)
        assert stale_at - stalled_at < STALE_AFTER + 1.0

        # A disconnect: reconnect and resubscribe, and the ticker flows again on the new connection.
        connections = feed.connections
        await inject(sandbox, "disconnect")
        await recorder.until(lambda: feed.connections > connections)
        flowing_again = len(recorder.messages())
        await recorder.until(lambda: len(recorder.messages()) > flowing_again + 10)
        assert recorder.health(HealthKind.DISCONNECTED)

        recorder.task.cancel()
    assert_no_message_twice(recorder)
