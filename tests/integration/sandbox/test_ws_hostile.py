"""The WebSocket feed against careless and hostile clients: one of them must never freeze the others."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from gpt_trader.sandbox.ws import WsSettings
from tests.integration.sandbox.conftest import (
    FREEZE,
    RunningSandbox,
    StartSandbox,
    connect,
    feed_status,
    receive,
    subscribe,
    tight_client,
    until,
)


async def heartbeats(connection: ClientConnection, count: int) -> list[tuple[float, dict[str, Any]]]:
    """The next `count` heartbeat messages with their arrival times."""
    beats: list[tuple[float, dict[str, Any]]] = []
    while len(beats) < count:
        message = await receive(connection, 10)
        if message.get("channel") == "heartbeats":
            beats.append((time.monotonic(), message))
    return beats


def assert_kept_pace(beats: list[tuple[float, dict[str, Any]]]) -> None:
    counters = [message["events"][0]["heartbeat_counter"] for _, message in beats]
    numbers = [message["sequence_num"] for _, message in beats]
    assert counters == list(range(counters[0], counters[0] + len(beats))), "no beat lost"
    assert numbers == list(range(numbers[0], numbers[0] + len(beats))), "no message lost"
    silences = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(beats)]
    assert max(silences) < FREEZE, f"the heartbeats stalled for {max(silences):.1f} s"


async def answers_until_acknowledged(connection: ClientConnection) -> list[dict[str, Any]]:
    """Everything the server sends up to and including the next `subscriptions` message."""
    answers = [await receive(connection, 10)]
    while answers[-1].get("channel") != "subscriptions":
        answers.append(await receive(connection, 10))
    return answers


async def test_a_huge_subscribe_is_refused_unread_and_another_connections_heartbeats_keep_their_pace(
    sandbox: RunningSandbox,
) -> None:
    async with connect(sandbox.ws_url) as watcher, connect(sandbox.ws_url) as hostile:
        await subscribe(watcher, "heartbeats")
        before = await heartbeats(watcher, 1)
        for _ in range(3):
            await subscribe(hostile, "level2", *["BTC-USD"] * 20_000)  # 220 kB
        assert_kept_pace(before + await heartbeats(watcher, 4))
        refusals = [await receive(hostile) for _ in range(3)]
        await subscribe(hostile, "level2", "BTC-USD")
        answers = await answers_until_acknowledged(hostile)
    for refusal in refusals:
        assert refusal["type"] == "error" and "too large" in refusal["message"] and "65536" in refusal["message"]
    assert answers[-1]["events"][0]["subscriptions"] == {"level2": ["BTC-USD"]}, "the connection stays usable"


async def test_repeated_products_are_subscribed_once_with_one_snapshot(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "level2", *["BTC-USD", "ETH-USD"] * 1_000)
        answers = await answers_until_acknowledged(connection)
    snapshots = [m["events"][0]["product_id"] for m in answers if m["channel"] == "l2_data"]
    assert sorted(snapshots) == ["BTC-USD", "ETH-USD"], "one snapshot per distinct product"
    assert answers[-1]["events"][0]["subscriptions"] == {"level2": ["BTC-USD", "ETH-USD"]}


async def test_more_distinct_products_than_allowed_are_refused_naming_the_bound(start_sandbox: StartSandbox) -> None:
    assert WsSettings().max_products == 100
    running = start_sandbox(ws_settings=WsSettings(max_products=1))
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "ticker", "BTC-USD", "ETH-USD", "BTC-USD")
        refusal = await receive(connection)
        await subscribe(connection, "ticker", "ETH-USD", "ETH-USD")
        answers = await answers_until_acknowledged(connection)
    assert refusal == {
        "type": "error",
        "message": "Failure to subscribe: 2 products in one message; at most 1 per subscribe (send several)",
    }
    assert answers[-1]["events"][0]["subscriptions"] == {"ticker": ["ETH-USD"]}


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("[" * 50_000, "not JSON"),
        ("{not json", "not JSON"),
        ('"subscribe"', "type must be"),
        ('{"type": "subscribe", "channel": ["level2"]}', "not supported"),
        ('{"type": "subscribe", "channel": "level2", "product_ids": "BTC-USD"}', "must be a list"),
        ('{"type": "subscribe", "channel": "level2", "product_ids": [{"id": 1}]}', "must be a list"),
        ('{"type": "subscribe", "channel": "level2", "product_ids": ["\\ud800"]}', "unknown product"),
        ('{"type": "subscribe", "channel": "level2"}', "needs product_ids"),
        (json.dumps({"type": "subscribe", "channel": "level2", "product_ids": ["X"] * 30_000}), "too large"),
    ],
)
async def test_junk_is_answered_with_an_error_and_the_connection_stays_open(
    sandbox: RunningSandbox, message: str, complaint: str
) -> None:
    async with connect(sandbox.ws_url) as connection:
        await connection.send(message)
        refusal = await receive(connection)
        await subscribe(connection, "heartbeats")
        ack = await until(connection, "subscriptions")
    assert refusal["type"] == "error" and complaint in refusal["message"], refusal
    assert ack["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"]}


async def test_a_client_that_stops_reading_is_dropped_as_a_slow_consumer(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=300, ws_settings=WsSettings(send_queue_bytes=256 * 1024))
    async with connect(running.ws_url) as reader, tight_client(running) as idle:
        await subscribe(reader, "heartbeats")
        await subscribe(idle, "level2", "BTC-USD", "ETH-USD")
        await subscribe(idle, "market_trades", "BTC-USD", "ETH-USD")
        async with asyncio.timeout(60):
            while (await feed_status(running))["dropped_slow_consumers"] == 0:
                await heartbeats(reader, 1)
        beats = await heartbeats(reader, 3)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await receive(idle, 30)
        assert (await feed_status(running))["connections"] == 1, "only the reader is left"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "slow consumer" in closed.value.rcvd.reason
    assert_kept_pace(beats)
