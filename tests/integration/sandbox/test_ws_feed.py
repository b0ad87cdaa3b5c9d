"""The sandbox's WebSocket feed over real connections: the rules of section 7 of the facts page."""

from __future__ import annotations

import asyncio
import json
import re
import time
from decimal import Decimal
from typing import Any

import pytest
import websockets

from gpt_trader.sandbox.ws import WsSettings
from tests.integration.sandbox.conftest import (
    RunningSandbox,
    StartSandbox,
    collect,
    connect,
    receive,
    subscribe,
    until,
)

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


async def test_a_connection_that_does_not_subscribe_in_time_is_closed(start_sandbox: StartSandbox) -> None:
    assert WsSettings().subscribe_deadline == 5, "Coinbase's documented deadline"
    running = start_sandbox(ws_settings=WsSettings(subscribe_deadline=0.6))
    async with connect(running.ws_url) as connection:
        opened = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive(connection, 5)
        assert time.monotonic() - opened >= 0.5, "not before the deadline"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "subscribe" in closed.value.rcvd.reason
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        subscribed = time.monotonic()
        beats = [await until(connection, "heartbeats") for _ in range(2)]
        assert time.monotonic() - subscribed > 0.6, "the second beat comes after the deadline has passed"
        assert beats[1]["events"][0]["heartbeat_counter"] == beats[0]["events"][0]["heartbeat_counter"] + 1


async def test_each_subscribe_is_acknowledged_with_everything_under_the_subscribed_names(
    sandbox: RunningSandbox,
) -> None:
    async with connect(sandbox.ws_url.removesuffix("/ws")) as connection:  # the bare host:port URL works too
        await subscribe(connection, "heartbeats")
        first = await until(connection, "subscriptions")
        await subscribe(connection, "level2", "BTC-USD", "ETH-USD")
        second = await until(connection, "subscriptions")
        await subscribe(connection, "ticker", "ETH-USD")
        third = await until(connection, "subscriptions")
    assert first["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"]}}]
    assert second["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"], "level2": ["BTC-USD", "ETH-USD"]}}]
    assert third["events"][0]["subscriptions"] == {
        "heartbeats": ["heartbeats"],
        "level2": ["BTC-USD", "ETH-USD"],
        "ticker": ["ETH-USD"],
    }


async def test_every_message_is_numbered_per_connection_from_zero_in_steps_of_one(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as first, connect(sandbox.ws_url) as second:
        await subscribe(first, "heartbeats")
        await subscribe(first, "market_trades", "BTC-USD", "ETH-USD")
        await subscribe(first, "level2", "BTC-USD")
        early = [await receive(first)]
        while early[-1]["channel"] != "market_trades" or early[-1]["events"][0]["type"] != "update":
            early.append(await receive(first))
        await subscribe(second, "ticker", "ETH-USD")  # once the first has been numbering for a while
        later, others = await asyncio.gather(collect(first, 2.0), collect(second, 1.0))
        messages = early + later
    assert {m["channel"] for m in messages} >= {"heartbeats", "market_trades", "l2_data", "subscriptions"}
    assert [m["sequence_num"] for m in messages] == list(range(len(messages)))
    assert [m["sequence_num"] for m in others] == list(range(len(others)))
    for message in messages:
        assert set(message) == {"channel", "client_id", "timestamp", "sequence_num", "events"}
        assert message["client_id"] == "" and TIMESTAMP.fullmatch(message["timestamp"])


async def test_heartbeats_arrive_once_a_second_counting_up_by_one(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        beats = [(await until(connection, "heartbeats", timeout=5))["events"][0] for _ in range(4)]
    counters = [event["heartbeat_counter"] for event in beats]
    assert counters == list(range(counters[0], counters[0] + 4))
    # The server's own uptime (`m=+...`) at each: beat i goes out no sooner than i seconds after the first.
    uptimes = [float(event["current_time"].rpartition("m=+")[2]) for event in beats]
    assert uptimes == sorted(uptimes) and uptimes[-1] - uptimes[0] >= 2.9, uptimes
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+\d+\.\d{9}", beats[0]["current_time"])


async def test_every_channel_sends_its_snapshot_before_its_updates(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600, ws_settings=WsSettings(ticker_batch_interval=0.5))
    async with connect(running.ws_url) as connection:
        for channel in ("ticker", "ticker_batch", "level2", "market_trades", "candles", "status"):
            await subscribe(connection, channel, "BTC-USD", "ETH-USD")
        messages = await collect(connection, 2.5)
    first_of: dict[tuple[str, str], str] = {}
    for message in messages:
        for event in message["events"]:
            if "type" not in event:
                continue
            for product in _products(message["channel"], event):
                first_of.setdefault((message["channel"], product), event["type"])
    channels = {"ticker", "ticker_batch", "l2_data", "market_trades", "candles", "status"}
    assert {channel for channel, _ in first_of} == channels
    assert set(first_of.values()) == {"snapshot"}, first_of
    updates = {(m["channel"], e["type"]) for m in messages for e in m["events"] if e.get("type") == "update"}
    assert {channel for channel, _ in updates} == channels - {"status"}
    status = next(m for m in messages if m["channel"] == "status")["events"][0]["products"]
    assert {p["id"] for p in status} == {"BTC-USD", "ETH-USD"} and status[0]["base_increment"] == "0.00000001"


def _products(channel: str, event: dict[str, Any]) -> set[str]:
    if channel == "l2_data":
        return {event["product_id"]}
    items = event.get("tickers") or event.get("trades") or event.get("candles") or event.get("products") or []
    return {item.get("product_id") or item.get("id") for item in items}


async def test_the_level2_book_rebuilt_from_l2_data_is_never_crossed(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=900)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "level2", "BTC-USD", "ETH-USD")
        messages = await collect(connection, 2.0)
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    updates = 0
    for message in messages:
        if message["channel"] != "l2_data":
            continue
        for event in message["events"]:
            if event["type"] == "snapshot":
                books[event["product_id"]] = {"bid": {}, "offer": {}}
            book = books[event["product_id"]]
            for change in event["updates"]:
                side, price, size = change["side"], Decimal(change["price_level"]), Decimal(change["new_quantity"])
                if size == 0:
                    del book[side][price]
                else:
                    book[side][price] = size
            assert max(book["bid"]) < min(book["offer"])
            updates += event["type"] == "update"
    assert set(books) == {"BTC-USD", "ETH-USD"} and updates > 50


async def test_the_user_channel_needs_a_jwt_and_the_connection_stays_open(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "user")
        error = await receive(connection)
        assert error["type"] == "error" and "jwt" in error["message"]
        await subscribe(connection, "user", jwt="not.a.token")
        assert (await receive(connection))["type"] == "error"
        await connection.send("{not json")
        assert (await receive(connection))["type"] == "error"
        await subscribe(connection, "tickers", "BTC-USD")
        assert "not supported" in (await receive(connection))["message"]
        await subscribe(connection, "ticker", "NOPE-USD")
        assert "NOPE-USD" in (await receive(connection))["message"]
        await subscribe(connection, "ticker", "BTC-USD")
        ack = await until(connection, "subscriptions")
        assert ack["events"][0]["subscriptions"] == {"ticker": ["BTC-USD"]}


async def test_after_unsubscribing_a_channel_sends_nothing_more(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await until(connection, "subscriptions")
        await subscribe(connection, "market_trades", "BTC-USD")
        assert "market_trades" in (await until(connection, "subscriptions"))["events"][0]["subscriptions"]
        await until(connection, "market_trades")
        unsubscribe = {"type": "unsubscribe", "channel": "market_trades", "product_ids": ["BTC-USD"]}
        await connection.send(json.dumps(unsubscribe))
        message = await until(connection, "subscriptions")
        later = await collect(connection, 1.5)
    assert message["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"]}
    assert later and {m["channel"] for m in later} == {"heartbeats"}
