"""A connection's send queue on a fake clock and a socket the test opens and shuts: lag, the bound, numbering."""

from __future__ import annotations

import asyncio
import json

import pytest

from gpt_trader.sandbox.connection import GIVEN_UP, NOT_READING, SLOW_CONSUMER, Connection, WsSettings
from gpt_trader.sandbox.faults import Fault, FaultKind


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Socket:
    """Takes a frame only while `open` is set: a client that reads, or one that has stopped."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.open = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    async def send_text(self, frame: str) -> None:
        await self.open.wait()
        self.frames.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def connection_of(settings: WsSettings | None = None) -> tuple[Connection, Socket, Clock]:
    socket, clock = Socket(), Clock()
    connection = Connection(socket, settings or WsSettings(), lambda: "T", clock)  # type: ignore[arg-type]
    return connection, socket, clock


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_lag_is_how_long_the_oldest_message_waited_until_the_client_stops_reading() -> None:
    connection, socket, clock = connection_of()
    sender = asyncio.create_task(connection.send_loop())
    assert connection.lag() == 0.0
    connection.send("ticker", "[1]")
    await settle()  # the sender is now writing the first message into a socket that takes nothing
    clock.now += 0.2
    connection.send("ticker", "[2]")
    clock.now += 0.1
    assert connection.lag() == pytest.approx(0.3), "counted from when the first was queued"
    clock.now += NOT_READING
    assert connection.lag() is None, "one write blocked this long: the client is not reading"
    socket.open.set()
    await settle()
    assert connection.lag() == 0.0
    assert [json.loads(frame)["sequence_num"] for frame in socket.frames] == [0, 1]
    sender.cancel()


async def test_past_its_byte_bound_a_connection_is_dropped_and_its_queue_freed() -> None:
    connection, socket, _ = connection_of(WsSettings(send_queue_bytes=100))
    sender = asyncio.create_task(connection.send_loop())
    for number in range(10):
        connection.send("level2", json.dumps([{"n": number, "pad": "x" * 10}]))
    assert connection.dropped_as_slow and connection.closing.is_set()
    assert connection.close_reason == (SLOW_CONSUMER, "slow consumer: too many messages waiting to be read")
    assert connection.lag() is None
    socket.open.set()
    await asyncio.wait_for(sender, 1)
    assert len(socket.frames) <= 1, "what was queued is dropped, not sent"
    assert socket.closed == connection.close_reason


async def test_a_stalled_connection_does_not_count_as_lagging() -> None:
    connection, socket, clock = connection_of()
    socket.open.set()
    sender = asyncio.create_task(connection.send_loop())
    connection.inject(Fault(FaultKind.STALL, 0.05))
    await settle()
    connection.send("ticker", "[1]")
    clock.now += 0.04
    assert connection.lag() is None, "the stall is the fault's doing, not the client's"
    clock.now += 0.02
    assert connection.lag() == pytest.approx(0.06), "past the stall, the wait counts"
    await asyncio.wait_for(until_sent(socket, 1), 5)
    assert connection.lag() == 0.0
    sender.cancel()


async def until_sent(socket: Socket, count: int) -> None:
    while len(socket.frames) < count:
        await asyncio.sleep(0.01)


def test_a_client_far_behind_no_longer_counts_as_lagging() -> None:
    connection, _, clock = connection_of()
    connection.send("ticker", "[1]")
    clock.now += GIVEN_UP
    assert connection.lag() == GIVEN_UP
    clock.now += 0.01
    assert connection.lag() is None, "it is a slow consumer: dropped at the bound, not waited for"
