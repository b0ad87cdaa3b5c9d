"""The `user` channel as wired by the server: a JWT-authenticated subscription fed by the exchange."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from gpt_trader.coinbase.auth import CdpKey
from gpt_trader.config import read_key_file
from gpt_trader.sandbox.keys import KeyStore
from tests.integration.sandbox.conftest import RunningSandbox, connect, receive, subscribe, until

API = "/api/v3/brokerage"


def place(sandbox: RunningSandbox, key: CdpKey, body: dict[str, Any]) -> dict[str, Any]:
    host = sandbox.url.removeprefix("http://")
    token = key.rest_jwt("POST", host, API + "/orders")
    answer = httpx.post(sandbox.url + API + "/orders", json=body, headers={"Authorization": f"Bearer {token}"},
                        timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["success"] is True, result
    return result


async def test_a_keys_orders_reach_its_user_subscription_and_no_one_elses(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    mine, theirs = (
        CdpKey.from_credentials(read_key_file(sandbox.keys.create_key(out=tmp_path / f"{who}.json").path or Path()))
        for who in ("mine", "theirs")
    )
    quote = sandbox.replay.quote("BTC-USD")
    assert quote is not None
    far_below = str((quote.bid / 2).quantize(Decimal("0.01")))
    resting = place(sandbox, mine, {
        "client_order_id": "rest-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.001", "limit_price": far_below}},
    })["success_response"]["order_id"]

    async with connect(sandbox.ws_url) as connection, connect(sandbox.ws_url) as other:
        await subscribe(connection, "user", jwt=mine.ws_jwt())
        snapshot = await until(connection, "user")
        await subscribe(other, "user", jwt=theirs.ws_jwt())
        other_snapshot = await until(other, "user")
        await subscribe(other, "heartbeats")
        assert (await until(connection, "subscriptions"))["events"][0]["subscriptions"] == {"user": ["user"]}
        bought = place(sandbox, mine, {
            "client_order_id": "market-1",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
        })["success_response"]["order_id"]
        updates = [await until(connection, "user")]
        while not any(order["status"] == "FILLED" for order in updates[-1]["events"][0]["orders"]):
            updates.append(await until(connection, "user"))
        # A heartbeat queued after the fill: any update for the other key would have come before it.
        others = await messages_until_a_later_heartbeat(other)

    assert snapshot["events"][0]["type"] == "snapshot"
    assert [(o["order_id"], o["status"]) for o in snapshot["events"][0]["orders"]] == [(resting, "OPEN")]
    assert other_snapshot["events"][0]["orders"] == []
    orders = [order for m in updates for event in m["events"] for order in event["orders"]]
    assert all(m["events"][0]["type"] == "update" for m in updates)
    assert {order["order_id"] for order in orders} == {bought}
    assert orders[-1]["status"] == "FILLED" and float(orders[-1]["total_fees"]) > 0
    assert [m for m in others if m["channel"] == "user"] == [], "another key's subscription hears nothing of it"


async def messages_until_a_later_heartbeat(connection: ClientConnection) -> list[dict[str, Any]]:
    """Everything up to the second heartbeat from now (the first may have been queued a moment ago)."""
    messages = [await receive(connection)]
    while sum(m["channel"] == "heartbeats" for m in messages) < 2:
        messages.append(await receive(connection))
    return messages


async def test_an_expired_token_or_one_of_an_unknown_key_is_refused(sandbox: RunningSandbox, tmp_path: Path) -> None:
    registered = sandbox.keys.create_key(out=tmp_path / "registered.json").path or Path()
    elsewhere = KeyStore(tmp_path / "another sandbox").create_key(out=tmp_path / "elsewhere.json").path or Path()
    expired = CdpKey.from_credentials(read_key_file(registered)).ws_jwt(now=int(time.time()) - 3600)
    unknown = CdpKey.from_credentials(read_key_file(elsewhere)).ws_jwt()
    async with connect(sandbox.ws_url) as connection:
        for token in (expired, unknown):
            await subscribe(connection, "user", jwt=token)
            refused = await receive(connection)
            assert refused["type"] == "error" and "jwt" in refused["message"]


async def test_the_user_snapshot_lists_open_orders_in_pages_of_50(sandbox: RunningSandbox, tmp_path: Path) -> None:
    key = CdpKey.from_credentials(read_key_file(sandbox.keys.create_key(out=tmp_path / "k.json").path or Path()))
    quote = sandbox.replay.quote("ETH-USD")
    assert quote is not None
    far_below = str((quote.bid / 2).quantize(Decimal("0.01")))
    placed = {
        place(sandbox, key, {
            "client_order_id": f"ladder-{i}",
            "product_id": "ETH-USD",
            "side": "BUY",
            "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": far_below}},
        })["success_response"]["order_id"]
        for i in range(51)
    }
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "user", jwt=key.ws_jwt())
        pages = [await until(connection, "user"), await until(connection, "user")]
    assert [len(page["events"][0]["orders"]) for page in pages] == [50, 1]
    assert {order["order_id"] for page in pages for order in page["events"][0]["orders"]} == placed
    assert all(page["events"][0]["type"] == "snapshot" for page in pages)
