"""The Coinbase feed adapter (`coinbase/feed.py`) on the sandbox's real WebSocket server: quotes, book
updates and trades for every product, and after an injected gap or disconnect the bars it missed,
backfilled over the sandbox's REST candles exactly once."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import numpy as np
import pytest

from gpt_trader.coinbase.feed import CoinbaseFeed, rest_backfill
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.config import load_settings
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.book import OrderBook
from gpt_trader.market.events import BarClosed, BookUpdate, FeedHealth, HealthKind, MarketEvent, Quote, Trade
from gpt_trader.market.sources import open_source
from tests.integration.sandbox.conftest import PRODUCTS, RunningSandbox, StartSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


async def test_the_sandbox_feed_yields_quotes_book_updates_and_trades_for_every_product(
    sandbox: RunningSandbox,
) -> None:
    feed = CoinbaseFeed(PRODUCTS, url=sandbox.ws_url, reconnect=FAST)

    def every_kind_for_every_product(events: list[MarketEvent]) -> bool:
        kinds = {(type(e), e.product_id) for e in events if isinstance(e, Quote | BookUpdate | Trade)}
        return len(kinds) == 3 * len(PRODUCTS) and sum(isinstance(e, Trade) for e in events) >= 20

    events: list[MarketEvent] = []
    async with asyncio.timeout(20):
        async for event in feed.events():
            events.append(event)
            if every_kind_for_every_product(events):
                break
    await feed.close()
    books = {product: OrderBook(product) for product in PRODUCTS}
    for event in events:
        if isinstance(event, BookUpdate):
            assert books[event.product_id].apply(event) and not books[event.product_id].crossed
    first_updates = {e.product_id: e for e in reversed(events) if isinstance(e, BookUpdate)}
    assert all(update.snapshot for update in first_updates.values()), "each book starts from a snapshot"
    quotes = [e for e in events if isinstance(e, Quote)]
    assert quotes and not any(q.crossed for q in quotes)
    trades = [e for e in events if isinstance(e, Trade)]
    assert all(t.aggressor is not None and t.price > 0 and t.size > 0 for t in trades)
    assert [h.kind for h in events if isinstance(h, FeedHealth)][:1] == [HealthKind.CONNECTED]
    for product in PRODUCTS:
        mine = [t.time for t in trades if t.product_id == product]
        assert mine == sorted(mine), f"{product} trades arrive oldest first"


@pytest.mark.parametrize(("fault", "health"), [("gap", HealthKind.GAP), ("disconnect", HealthKind.DISCONNECTED)])
async def test_after_an_injected_fault_the_missed_minutes_are_backfilled_once_over_rest(
    start_sandbox: StartSandbox, fault: str, health: HealthKind
) -> None:
    running = start_sandbox(speed=60.0)
    feed = CoinbaseFeed(PRODUCTS, url=running.ws_url, reconnect=FAST)
    # The bars run on the venue's clock (the sandbox's market time, from its messages), so the grace
    # period covers only how much later than its quote a trade's message may come.
    settings = load_settings(coinbase_rest_url=running.url)
    bars = BarAggregator(
        "1m", products=PRODUCTS, grace=5.0, clock=feed.venue_clock, backfill=rest_backfill(settings)
    )
    gap_sent = False
    events: list[MarketEvent] = []

    async with asyncio.timeout(60):
        async for event in feed.events(bars):
            events.append(event)
            closed = [e for e in events if isinstance(e, BarClosed) and e.product_id == "BTC-USD"]
            if len(closed) == 2 and not gap_sent:
                gap_sent = True
                async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
                    answer = await client.post("/sandbox/faults", json={"kind": fault})
                assert answer.status_code == 200, answer.text
            if any(e.backfilled for e in closed) and len(closed) >= 5:
                break
    await feed.close()

    assert any(isinstance(e, FeedHealth) and e.kind is health for e in events)
    for product in PRODUCTS:
        closed = [e for e in events if isinstance(e, BarClosed) and e.product_id == product]
        starts = [bar.start for bar in closed]
        assert starts == sorted(set(starts)), f"{product}: every minute at most once, in order"
        assert all(b - a == 60 for a, b in itertools.pairwise(starts)), f"{product}: a minute lost"
        assert bars.unseen(product) == () and bars.gap_report(product).count == 0
        backfilled = [bar for bar in closed if bar.backfilled]
        if product == "BTC-USD":
            assert backfilled, "the minutes the fault hid came over REST"
        venue = open_source("coinbase", settings).fetch(product, bars.granularity, starts[0], starts[-1] + 60)
        for bar in closed:
            row = int(np.searchsorted(venue.time, bar.start))
            assert int(venue.time[row]) == bar.start
            assert (bar.open, bar.high, bar.low, bar.close) == (
                venue.open[row], venue.high[row], venue.low[row], venue.close[row]
            ), f"{product} {bar}: bars built from the feed's trades and backfilled ones agree with the venue's candles"
            assert bar.volume == pytest.approx(venue.volume[row], rel=1e-9)
