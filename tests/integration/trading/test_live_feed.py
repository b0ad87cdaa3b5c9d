"""The live feed plumbing (`trading/live.py`) on the sandbox's real servers: which endpoints `--feed`
names, every product on one connection with its bars, a product the feed does not carry refused before
anything trades, and a gap's bars backfilled over the sandbox's REST."""

from __future__ import annotations

import asyncio
import gc

import httpx
import numpy as np
import pytest

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.config import load_settings
from gpt_trader.errors import UserError
from gpt_trader.market.events import BarClosed, BookUpdate, FeedHealth, HealthKind, MarketEvent, Quote, Trade
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.trading.live import (
    DEFAULT_SANDBOX_WS_URL,
    FeedProductError,
    LiveFeed,
    feed_endpoints,
    fetch_venue_grids,
    freeze_warm_up,
    unlisted,
)
from tests.integration.sandbox.conftest import PRODUCTS, RunningSandbox, StartSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


def test_feed_names_coinbase_the_sandbox_setting_or_a_url() -> None:
    settings = load_settings()
    coinbase = feed_endpoints("coinbase", settings)
    assert (coinbase.ws_url, coinbase.rest_url) == (constants.WS_MARKET_URL, constants.REST_URL)
    default = feed_endpoints("sandbox", settings)
    assert (default.ws_url, default.rest_url) == (DEFAULT_SANDBOX_WS_URL, "http://127.0.0.1:8765")
    configured = feed_endpoints("sandbox", load_settings(coinbase_ws_url="wss://10.0.0.1:9000/ws"))
    assert (configured.ws_url, configured.rest_url) == ("wss://10.0.0.1:9000/ws", "https://10.0.0.1:9000")
    given = feed_endpoints("ws://127.0.0.1:4321/ws", settings)
    assert (given.ws_url, given.rest_url) == ("ws://127.0.0.1:4321/ws", "http://127.0.0.1:4321")


@pytest.mark.parametrize("spec", ["kraken", "http://127.0.0.1:8765/ws", "ws://"])
def test_a_feed_that_is_none_of_them_is_a_user_error_saying_what_is(spec: str) -> None:
    with pytest.raises(UserError, match=r"ws://HOST:PORT/ws"):
        feed_endpoints(spec, load_settings())


def _live(running: RunningSandbox, products: tuple[str, ...], **options: float) -> LiveFeed:
    settings = load_settings()
    return LiveFeed(feed_endpoints(running.ws_url, settings), products, "1m", settings=settings, grace=5.0,
                    reconnect=FAST, **options)


async def test_every_product_on_one_connection_gives_quotes_books_trades_and_bars(sandbox: RunningSandbox) -> None:
    live = _live(sandbox, PRODUCTS)
    measured: list[float | None] = []
    live.on_clock_measured(lambda: measured.append(live.clock_speed))
    await live.open()
    events: list[MarketEvent] = []
    async with asyncio.timeout(30):
        async for event in live.events():
            events.append(event)
            if {e.product_id for e in events if isinstance(e, BarClosed)} == set(PRODUCTS) and measured:
                break
    await live.close()
    kinds = {(type(e), e.product_id) for e in events if isinstance(e, Quote | BookUpdate | Trade)}
    assert kinds == {(kind, product) for kind in (Quote, BookUpdate, Trade) for product in PRODUCTS}
    connected = [e for e in events if isinstance(e, FeedHealth) and e.kind is HealthKind.CONNECTED]
    assert len(connected) == 1 and live.feed.client.connections == 1
    stats = live.statistics()
    assert stats["connections"] == 1 and stats["events"] >= len(events)
    # The sandbox is asked for 60x; a loaded machine replays slower, never faster, and never at wall speed.
    assert 1.5 < stats["clock_speed"] <= 60.0 * 1.5, "the feed measures the sandbox's replay speed"
    assert live.bars.grace == pytest.approx(5.0 * stats["clock_speed"]) and measured == [stats["clock_speed"]]
    assert stats["bars_closed"] >= sum(isinstance(e, BarClosed) for e in events) >= len(PRODUCTS)
    assert stats["health_events"] == {"connected": 1}


async def test_the_clock_speed_is_measured_on_the_reads_even_when_the_caller_stalls(sandbox: RunningSandbox) -> None:
    """A caller busy for two seconds after `open()` (a session's first rotation) takes the messages read
    meanwhile in a rush: the speed still comes from when they were read, not from when they were taken."""
    live = _live(sandbox, PRODUCTS)
    await live.open()
    await asyncio.sleep(2.0)
    async with asyncio.timeout(30):
        async for _ in live.events():
            if live.clock_speed is not None:
                break
    await live.close()
    assert live.clock_speed is not None and 1.5 < live.clock_speed <= 60.0 * 1.5


async def test_a_history_fetched_before_the_feed_opens_is_followed_by_every_bar_once(
    start_sandbox: StartSandbox,
) -> None:
    """The history ends at the bucket forming on the venue's clock; the sandbox's market runs on while the
    caller warms up (here two wall seconds, two market minutes at 60x): those bars come backfilled, then the
    feed's own, with no bucket missing or repeated."""
    running = start_sandbox(speed=60.0)
    live = _live(running, ("BTC-USD",))
    history = (await live.history({"BTC-USD": 10}))["BTC-USD"]
    assert len(history) == 10 and set(np.diff(history.time)) == {60}
    await asyncio.sleep(2.0)
    await live.open()
    closed: list[BarClosed] = []
    async with asyncio.timeout(60):
        async for event in live.events():
            if isinstance(event, BarClosed):
                closed.append(event)
            if len(closed) >= 5 and not closed[-1].backfilled:
                break
    await live.close()
    starts = [int(t) for t in history.time] + [bar.start for bar in closed]
    assert np.all(np.diff(starts) == 60), "every minute once, in order, from the history on"
    assert closed[0].backfilled and live.statistics()["unseen_bars"] == {"BTC-USD": 0}


async def test_a_product_the_feed_does_not_carry_is_refused_before_trading(sandbox: RunningSandbox) -> None:
    live = _live(sandbox, ("BTC-USD", "DOGE-USD"))
    with pytest.raises(FeedProductError, match=r"does not carry DOGE-USD") as raised:
        await live.open()
    assert "\n" not in str(raised.value)


async def test_a_product_that_shows_nothing_in_time_is_named(sandbox: RunningSandbox) -> None:
    live = _live(sandbox, ("BTC-USD",), ready_timeout=0.0)
    with pytest.raises(FeedProductError, match=r"no market data for BTC-USD .* within 0 s"):
        await live.open()


async def test_a_gap_is_counted_and_its_bars_come_backfilled_over_the_sandbox_rest(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(speed=60.0)
    live = _live(running, PRODUCTS)
    await live.open()
    gap_sent = False
    closed: list[BarClosed] = []
    async with asyncio.timeout(60):
        async for event in live.events():
            if isinstance(event, BarClosed) and event.product_id == "BTC-USD":
                closed.append(event)
            if len(closed) == 2 and not gap_sent:
                gap_sent = True
                async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
                    assert (await client.post("/sandbox/faults", json={"kind": "gap"})).status_code == 200
            if any(bar.backfilled for bar in closed) and len(closed) >= 4:
                break
    await live.close()
    stats = live.statistics()
    assert stats["health_events"].get("gap", 0) >= 1 and stats["bars_backfilled"] >= 1
    assert stats["unseen_bars"] == dict.fromkeys(PRODUCTS, 0)


async def test_venue_grids_come_from_the_sandbox_listing_and_a_product_it_lacks_is_named(
    sandbox: RunningSandbox,
) -> None:
    endpoints = feed_endpoints(sandbox.ws_url, load_settings())
    grids = await fetch_venue_grids(endpoints, PRODUCTS)
    catalog = Catalog.default()
    for product in PRODUCTS:
        assert grids[product].price_increment == catalog.get(product).price_increment
        assert grids[product].base_increment == catalog.get(product).base_increment
    with pytest.raises(FeedProductError, match=r"the feed does not carry SOL-USD \(it lists BTC-USD, ETH-USD\)"):
        await fetch_venue_grids(endpoints, ("BTC-USD", "SOL-USD"))


def test_a_product_missing_from_a_long_list_is_unknown_with_the_closest_listed_id() -> None:
    listed = [f"COIN{n}-USD" for n in range(20)] + ["BTC-USD"]
    said = unlisted(["BTC-USDT"], listed)
    assert said == "unknown product BTC-USDT (did you mean BTC-USD?): the venue does not list it"
    assert unlisted(["ZZZ"], listed) == "unknown product ZZZ: the venue does not list it"
    assert unlisted(["SOL-USD"], ["BTC-USD"]) == "the feed does not carry SOL-USD (it lists BTC-USD)"


def test_what_the_warm_up_made_is_frozen_out_of_the_collectors_reach() -> None:
    history = [[float(i)] for i in range(1000)]  # lists: objects the cyclic collector tracks
    frozen = gc.get_freeze_count()
    try:
        freeze_warm_up()
        assert gc.get_freeze_count() >= frozen + len(history)
        assert not any(item is history for item in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()
