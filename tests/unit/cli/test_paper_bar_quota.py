"""`paper`'s bar quota: a run asked for N bars stops once every product has closed N, not before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gpt_trader.cli.paper import _bar_quota
from gpt_trader.market.events import BarClosed, MarketEvent


def bar(product_id: str, start: int) -> BarClosed:
    return BarClosed(product_id, 60, start, 1.0, 1.0, 1.0, 1.0, 1.0)


async def feed(events: list[MarketEvent], stop: asyncio.Event) -> AsyncIterator[MarketEvent]:
    for event in events:
        if stop.is_set():
            return
        yield event


async def test_the_quota_stops_once_the_slowest_product_has_its_bars() -> None:
    events: list[MarketEvent] = [
        bar("BTC-USD", 0),
        bar("BTC-USD", 60),
        bar("BTC-USD", 120),
        bar("ETH-USD", 0),
        bar("OTHER-USD", 0),
        bar("ETH-USD", 60),
        bar("BTC-USD", 180),
        bar("ETH-USD", 120),
    ]
    stop = asyncio.Event()
    seen = [event async for event in _bar_quota(feed(events, stop), ("BTC-USD", "ETH-USD"), 2, stop)]
    assert stop.is_set()
    assert seen == events[:6], "BTC-USD's third bar and OTHER-USD's do not count for ETH-USD's second"


async def test_a_feed_that_ends_short_of_the_quota_leaves_the_stop_alone() -> None:
    stop = asyncio.Event()
    events: list[MarketEvent] = [bar("BTC-USD", 0), bar("BTC-USD", 60)]
    seen = [event async for event in _bar_quota(feed(events, stop), ("BTC-USD",), 3, stop)]
    assert seen == events and not stop.is_set()
