"""`paper --on-stop close`: the feed read on after the stop, and what it says of the positions it could not
close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from gpt_trader.cli.paper import Reading, unclosed
from gpt_trader.market.events import Side
from gpt_trader.trading.orders import Order, OrderRequest, OrderStatus, RejectReason


def stop_order(account: str, size: str) -> Order:
    return Order(f"paper-{account}", OrderRequest.market(account, "BTC-USD", Side.SELL, base_size=Decimal(size)), 0.0)


def test_each_position_left_open_is_named_with_what_is_left_and_why() -> None:
    filled = stop_order("closed", "1")
    filled.status = OrderStatus.FILLED
    refused = stop_order("gapped", "2").reject(RejectReason.NO_MARKET, "the BTC-USD book lost messages")
    partial = stop_order("thin", "3").cancel("immediate or cancel: the book had no more at an acceptable price")
    assert unclosed([filled, refused, partial]) == [
        "gapped on BTC-USD, 2 left (the BTC-USD book lost messages)",
        "thin on BTC-USD, 3 left (immediate or cancel: the book had no more at an acceptable price)",
    ]


def test_the_read_under_way_at_the_stop_goes_on_in_the_next_turn() -> None:
    async def turns() -> tuple[list[Any], list[Any]]:
        silent = asyncio.Event()

        async def feed() -> AsyncIterator[Any]:
            yield "before the stop"
            await silent.wait()  # the feed is silent when the stop comes
            yield "after it"

        reading = Reading(feed())
        stop, close_out_ends = asyncio.Event(), asyncio.Event()
        first = []
        async for event in reading.until(stop):
            first.append(event)
            asyncio.get_running_loop().call_later(0.01, stop.set)
        silent.set()
        second = [event async for event in reading.until(close_out_ends)]
        reading.close()
        return first, second

    assert asyncio.run(turns()) == (["before the stop"], ["after it"])
