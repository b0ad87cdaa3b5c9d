"""The feed thread's hand-over on a scripted client: order, the bound and the gap that stands for what it dropped,
failures raised on the consumer's side, resync run on the reader's thread, and no thread left after closing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

import pytest

from gpt_trader.market import arrival
from gpt_trader.market.feed import FeedHealth, HealthKind
from gpt_trader.market.feed_thread import FeedThread


class Scripted:
    """Yields `script` (an exception in it is raised), each item once `gates[index]` is set if it has one."""

    def __init__(self, script: list[object], gates: dict[int, threading.Event] | None = None) -> None:
        self.script = script
        self.gates = gates or {}
        self.connections = 1
        self.resyncs: list[tuple[list[str] | None, str]] = []
        self.closed_on: str | None = None

    async def __aenter__(self) -> Scripted:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.closed_on = threading.current_thread().name

    def __aiter__(self) -> AsyncIterator[object]:
        return self._items()

    async def _items(self) -> AsyncIterator[object]:
        for index, item in enumerate(self.script):
            gate = self.gates.get(index)
            if gate is not None:
                await asyncio.to_thread(gate.wait, 10)
            if isinstance(item, BaseException):
                raise item
            yield item
        await asyncio.Event().wait()  # a feed that has said all it will, still connected

    async def resync(self, product_ids: Iterable[str] | None = None) -> None:
        self.resyncs.append((None if product_ids is None else list(product_ids), threading.current_thread().name))


async def take(messages: FeedThread[object], count: int) -> list[object]:
    async with asyncio.timeout(10):
        return [await anext(messages) for _ in range(count)]


async def test_messages_come_in_order_stamped_when_read_and_closing_ends_the_thread() -> None:
    client = Scripted([1, 2, 3])
    before = arrival.now()
    async with FeedThread(client, name="feed-reader-test") as messages:
        assert await take(messages, 3) == [1, 2, 3]
        assert messages.stamp is not None and messages.stamp[0] >= before[0]
        await messages.resync(["BTC-USD"])
    assert client.resyncs == [(["BTC-USD"], "feed-reader-test")], "resync ran on the reader's thread"
    assert client.closed_on == "feed-reader-test"
    assert not [thread for thread in threading.enumerate() if thread.name == "feed-reader-test"]


async def test_a_full_backlog_drops_all_but_health_until_half_is_taken_then_a_gap_stands_for_the_loss() -> None:
    go = threading.Event()
    disconnected = FeedHealth(HealthKind.DISCONNECTED, "closed")
    script: list[object] = [*range(10), disconnected, 10, 11]
    client = Scripted(script, {11: go})
    async with FeedThread(client, backlog=4) as messages:
        while messages.peak < 5:  # four messages and the health event, which passes while the rest is dropped
            await asyncio.sleep(0.01)
        assert messages.dropped == 6
        assert await take(messages, 3) == [0, 1, 2]
        go.set()  # two wait, half the backlog: the next message read ends the dropping
        taken = await take(messages, 4)
    assert taken[:2] == [3, disconnected]
    gap = taken[2]
    assert isinstance(gap, FeedHealth) and gap.kind is HealthKind.GAP and gap.connection == 1
    assert gap.detail == "the engine fell 4 messages behind the feed: 7 dropped; re-snapshotting the books"
    assert taken[3] == 11 and messages.dropped == 7 and messages.peak == 5
    assert [products for products, _ in client.resyncs] == [None], "every book asked for afresh"


async def test_the_readers_failure_is_raised_on_the_consumers_side_then_the_messages_end() -> None:
    messages = FeedThread(Scripted([1, ConnectionError("the venue is gone")]))
    async with messages:
        assert await take(messages, 1) == [1]
        with pytest.raises(ConnectionError, match="the venue is gone"):
            await anext(messages)
        with pytest.raises(StopAsyncIteration):
            await anext(messages)


def test_a_backlog_too_small_to_halve_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 messages, not 1"):
        FeedThread(Scripted([]), backlog=1)
