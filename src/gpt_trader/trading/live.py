"""The live market for paper trading: one WebSocket connection for every product of every instance,
its trades aggregated into closed bars, the bars a feed gap hid backfilled over REST.

::

    endpoints = feed_endpoints("sandbox", load_settings())
    live = LiveFeed(endpoints, ["BTC-USD", "ETH-USD"], "1m")
    await live.open()                # raises FeedProductError for a product the feed does not carry
    async for event in live.events():
        ...                          # quotes, book updates, trades, closed bars, feed health
    await live.close()

`--feed` names the venue: `coinbase` (Coinbase's public market feed and REST candles), `sandbox` (the
`coinbase_ws_url` setting, i.e. `GPT_TRADER_COINBASE_WS_URL`, by default the local sandbox at
`DEFAULT_SANDBOX_WS_URL`), or a `ws://HOST:PORT/ws` URL of a sandbox. A sandbox serves REST on the
same host and port as its WebSocket, so its backfill comes from there (unless `coinbase_rest_url` names
another place).

`fetch_venue_grids` reads each product's order grid from the venue's REST product list (the paper broker rounds
to it); a product the venue does not list is a user error naming it, before anything connects.

The WebSocket is read in a thread of its own (`market/feed_thread.py`), so a strategy that takes seconds on
one bar delays neither the reading nor the feed's stale detection; its messages become market events and bars
on the caller's loop, as the engine takes them. `resync()` asks the venue for fresh level-2 snapshots from the
caller's side; an engine that falls `backlog` messages behind gets a `gap` in their place (see there).

`open()` proves the feed before anything trades: every product must show its book (a level-2 snapshot
or a quote) within `ready_timeout` seconds. The events read meanwhile are kept and come first out of
`events()`, so nothing is lost. Over the first `CLOCK_SAMPLE_SECONDS` of messages the feed measures how fast
the venue's clock runs against the wall clock (1 on Coinbase; a sandbox's replay speed), because the grace
period for late trades is wall time: a sandbox at 600x delivers a trade a fifth of a wall second late, two
market minutes by its own clock. Until then bars wait as if the clock ran very fast (late rather than lossy),
and `on_clock_measured` callbacks hear when it is known.

`history()` before `open()` fetches the bars up to the bucket forming on the venue's clock (REST `/time`) and
tells the bar aggregator so: the buckets that close between then and the feed's first whole one come
backfilled, in order. The engine can then warm up before the feed opens, and no message waits for it.
"""

from __future__ import annotations

import asyncio
import difflib
import gc
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.feed import CoinbaseFeed, market_events
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.config import Settings
from gpt_trader.errors import UserError
from gpt_trader.market import arrival
from gpt_trader.market.aggregate import DEFAULT_GRACE, BarAggregator, source_backfill
from gpt_trader.market.arrival import ReadMoment
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, BookUpdate, FeedHealth, HealthKind, MarketEvent, Quote
from gpt_trader.market.feed_thread import DEFAULT_BACKLOG, FeedThread
from gpt_trader.market.gaps import GapPolicy
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources import open_source
from gpt_trader.trading.money import ProductIncrements

DEFAULT_SANDBOX_WS_URL = "ws://127.0.0.1:8765/ws"
"""Where `gpt-trader sandbox serve` listens by default."""
DEFAULT_READY_TIMEOUT = 15.0
"""Seconds every product has to show its book after connecting."""
CLOCK_SAMPLE_SECONDS = 1.0
"""Wall seconds of messages over which the feed measures the venue clock's speed."""
FEED_HELP = "coinbase, sandbox (the coinbase_ws_url setting, default ws://127.0.0.1:8765/ws) or ws://HOST:PORT/ws"


_UNMEASURED_SPEED = 10_000.0
"""Until the venue clock is measured, bars wait, and books keep, as if it ran this fast: late rather than lossy."""


class FeedProductError(UserError):
    """A product the feed does not carry (or did not show in time): nothing may trade on it."""


@dataclass(frozen=True, slots=True)
class FeedEndpoints:
    """Where a feed's WebSocket and REST candles are."""

    name: str
    """`coinbase`, `sandbox`, or the URL as given."""
    ws_url: str
    rest_url: str


def feed_endpoints(spec: str, settings: Settings) -> FeedEndpoints:
    """The endpoints `--feed spec` names (see the module docstring); UserError for anything else."""
    given = spec.strip()
    if given == "coinbase":
        return FeedEndpoints("coinbase", constants.WS_MARKET_URL, constants.REST_URL)
    if given == "sandbox":
        ws_url = settings.coinbase_ws_url or DEFAULT_SANDBOX_WS_URL
        return FeedEndpoints(
            "sandbox",
            _checked_ws_url(ws_url, "the coinbase_ws_url setting"),
            settings.coinbase_rest_url or _rest_beside(ws_url),
        )
    if "://" in given:
        return FeedEndpoints(given, _checked_ws_url(given, "--feed"), settings.coinbase_rest_url or _rest_beside(given))
    raise UserError(f"--feed {spec!r} is not a feed: use {FEED_HELP}")


def _checked_ws_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UserError(f"{where} gives {url!r}, which is not a WebSocket URL: write ws://HOST:PORT/ws")
    return url


def _rest_beside(ws_url: str) -> str:
    """The REST base URL on the WebSocket's host and port (a sandbox serves both)."""
    parts = urlsplit(ws_url)
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))


async def fetch_venue_grids(endpoints: FeedEndpoints, products: Sequence[str]) -> dict[str, ProductIncrements]:
    """Each product's order grid from the venue's product list (one request); FeedProductError naming
    every product the venue does not list."""
    async with CoinbaseRestClient(endpoints.rest_url) as client:
        listed = {product.product_id: product for product in await client.products(product_type=constants.SPOT)}
    unknown = [product_id for product_id in dict.fromkeys(products) if product_id not in listed]
    if unknown:
        raise FeedProductError(
            f"{unlisted(unknown, sorted(listed))} at {endpoints.rest_url}; "
            "choose products it lists, written as BASE-QUOTE ids"
        )
    grids: dict[str, ProductIncrements] = {}
    for product_id in dict.fromkeys(products):
        spec = listed[product_id]
        grids[product_id] = ProductIncrements(
            product_id,
            spec.base_increment,
            spec.quote_increment,
            spec.price_increment,
            spec.base_min_size,
            spec.base_max_size,
            spec.quote_min_size,
            spec.quote_max_size,
        )
    return grids


def unlisted(unknown: list[str], listed: list[str]) -> str:
    """What to say of products a venue does not list: its whole list when short, else a close match."""
    if len(listed) <= 12:
        return f"the feed does not carry {', '.join(unknown)} (it lists {', '.join(listed) or 'nothing'})"
    guesses = [guess for product_id in unknown for guess in difflib.get_close_matches(product_id, listed, n=1)]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return f"unknown product {', '.join(unknown)}{hint}: the venue does not list it"


def freeze_warm_up() -> None:
    """Call once the warm-up is done, before the feed opens. What it made (history, accounts, compiled code,
    the engine) lives as long as the run: kept out of the cyclic collector's reach, a full collection
    during the feed scans only what trading made since, instead of pausing the engine for a tenth of a
    second with every message waiting."""
    gc.collect()
    gc.freeze()


class LiveFeed:
    """Market events and closed bars of `products` from one connection to `endpoints`. See the module.

    `client_options` go to the WebSocket client (`reconnect`, `stale_after`, ...); `backlog` bounds the
    messages its reader thread holds for the caller.
    """

    def __init__(
        self,
        endpoints: FeedEndpoints,
        products: Sequence[str],
        granularity: Granularity | str,
        *,
        settings: Settings,
        grace: float = DEFAULT_GRACE,
        gap_policy: GapPolicy | str = GapPolicy.KEEP,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        backlog: int = DEFAULT_BACKLOG,
        **client_options: Any,
    ) -> None:
        self.endpoints = endpoints
        self.products = tuple(dict.fromkeys(products))
        self.feed = CoinbaseFeed(self.products, url=endpoints.ws_url, **client_options)
        self.reader = FeedThread(self.feed.client, backlog=backlog)
        self.grace = grace
        """Wall seconds a bar waits for late trades after its end."""
        self.clock_speed: float | None = None
        """Venue seconds per wall second, measured over the first `CLOCK_SAMPLE_SECONDS` of messages."""
        self._clock_sample: tuple[float, float] | None = None
        """When the first message with a venue time was read (`time.perf_counter()`), and that venue time."""
        self._on_clock_measured: list[Callable[[], None]] = []
        self.candles = open_source("coinbase", replace(settings, coinbase_rest_url=endpoints.rest_url))
        """The venue's REST candles: the backfill after a gap, and the history before the first bar."""
        self.bars = BarAggregator(
            granularity,
            products=self.products,
            grace=grace * _UNMEASURED_SPEED,
            gap_policy=gap_policy,
            clock=self.feed.venue_clock,
            backfill=source_backfill(self.candles),
        )
        self.ready_timeout = ready_timeout
        self.health_counts: dict[str, int] = {}
        self.events_seen = 0
        self.bars_closed = 0
        self.bars_backfilled = 0
        self.first_bar: dict[str, int] = {}
        """Open time of each product's first bar from the feed (history ends before it)."""
        self._stream: AsyncIterator[MarketEvent] | None = None
        self._early: deque[tuple[MarketEvent, ReadMoment | None]] = deque()

    async def open(self) -> None:
        """Connect and wait until every product shows its book; FeedProductError naming the products the
        feed refused or did not show within `ready_timeout` seconds."""
        stream = self._stream = self._counted(self._market())
        waiting = set(self.products)
        refusals: list[str] = []
        deadline = time.monotonic() + self.ready_timeout
        while waiting:
            try:
                event = await asyncio.wait_for(anext(stream), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                break
            self._early.append((event, self.reader.stamp))
            if isinstance(event, Quote | BookUpdate):
                waiting.discard(event.product_id)
            elif isinstance(event, FeedHealth) and event.kind is HealthKind.ERROR:
                refusals.append(event.detail)
                if any(product in event.detail for product in waiting):
                    break
        if waiting:
            await self.close()
            raise FeedProductError(self._not_carried(sorted(waiting), refusals))

    def on_clock_measured(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the venue clock's speed is measured (at once if it is): what depends on it
        (a book's staleness in venue seconds) can follow."""
        if self.clock_speed is not None:
            callback()
        else:
            self._on_clock_measured.append(callback)

    def _measure_clock(self) -> None:
        # On the moments the messages were read, not taken: a caller that stalls (a session's first rotation)
        # takes a backlog in a rush, which would make the venue's clock look slow.
        venue, read = self.feed.translator.market_time, self.reader.stamp
        if venue is None or read is None:
            return
        now = read[0]
        if self._clock_sample is None:
            self._clock_sample = (now, venue)
            return
        wall_start, venue_start = self._clock_sample
        if now - wall_start < CLOCK_SAMPLE_SECONDS:
            return
        self.clock_speed = max(1.0, (venue - venue_start) / (now - wall_start))
        self.bars.grace = self.grace * self.clock_speed
        for callback in self._on_clock_measured:
            callback()
        self._on_clock_measured.clear()

    def _not_carried(self, missing: list[str], refusals: list[str]) -> str:
        named = [product for product in missing if any(product in refusal for refusal in refusals)]
        if named:
            return (
                f"the feed at {self.endpoints.ws_url} does not carry {', '.join(named)}: choose products it "
                "lists (a sandbox lists them when it starts; --products of `sandbox serve` sets them)"
            )
        said = f" (it said: {refusals[-1]})" if refusals else ""
        return (
            f"no market data for {', '.join(missing)} from the feed at {self.endpoints.ws_url} within "
            f"{self.ready_timeout:g} s{said}: check that the feed lists these products and is running"
        )

    async def events(self) -> AsyncIterator[MarketEvent]:
        """Every event from `open()` on, until `close()`, each handed over with the moment its message was read
        (`market/arrival.py`)."""
        if self._stream is None:
            raise RuntimeError("open() the live feed before reading its events")
        try:
            while self._early:
                event, moment = self._early.popleft()
                arrival.hand_over(moment)
                yield event
            async for event in self._stream:
                arrival.hand_over(self.reader.stamp)
                yield event
        finally:
            arrival.hand_over(None)

    async def _market(self) -> AsyncIterator[MarketEvent]:
        async with self.reader as messages:
            async for event in market_events(messages, self.feed.translator, self.bars):
                yield event

    async def _counted(self, stream: AsyncIterator[MarketEvent]) -> AsyncIterator[MarketEvent]:
        async for event in stream:
            if self.clock_speed is None:
                self._measure_clock()
            self.events_seen += 1
            if isinstance(event, FeedHealth):
                self.health_counts[event.kind.value] = self.health_counts.get(event.kind.value, 0) + 1
            elif isinstance(event, BarClosed):
                self.first_bar.setdefault(event.product_id, event.start)
                self.bars_closed += 1
                self.bars_backfilled += event.backfilled
            yield event

    def venue_seconds(self, wall_seconds: float) -> float:
        """`wall_seconds` on the venue's clock: what a deadline in wall time (a book's staleness) becomes there."""
        return wall_seconds * (_UNMEASURED_SPEED if self.clock_speed is None else self.clock_speed)

    async def history(self, bars_wanted: dict[str, int]) -> dict[str, Bars]:
        """Up to `bars_wanted[product]` closed bars of each product from the venue's REST candles, so that a
        strategy sees a full window from its first live bar. Before `open()`: up to the bucket forming on the
        venue's clock, the bars after them backfilled once the feed runs (see the module); after: up to the
        first bar the feed delivers (or will: the bucket forming now). Fetched in worker threads."""
        size = self.bars.granularity
        opened = self._stream is not None
        if opened:
            ends = {product_id: self.first_bar.get(product_id, self.bars.open_bucket(product_id))
                    for product_id in bars_wanted}  # fmt: skip
        else:
            ends = dict.fromkeys(bars_wanted, await self._venue_time() // size.seconds * size.seconds)
        wanted = {product_id: (end - count * size.seconds, end) for product_id, count in bars_wanted.items()
                  if (end := ends[product_id]) is not None and count > 0}  # fmt: skip
        fetched = await asyncio.gather(*(asyncio.to_thread(self.candles.fetch, product_id, size, start, end)
                                         for product_id, (start, end) in wanted.items()))  # fmt: skip
        history = dict(zip(wanted, fetched, strict=True))
        if not opened:
            for product_id, (_, end) in wanted.items():
                bars = history[product_id]
                # Bars the venue had not finished yet are backfilled too: known only up to the last one it gave.
                self.bars.known_before(product_id, int(bars.time[-1]) + size.seconds if len(bars) else end)
        return history

    async def _venue_time(self) -> int:
        async with CoinbaseRestClient(self.endpoints.rest_url) as client:
            return (await client.server_time()).epoch_seconds

    async def resync(self, product_ids: Sequence[str] | None = None) -> None:
        """Ask the venue for fresh level-2 snapshots of `product_ids` (every product by default): a `resynced`
        health event follows once they came."""
        await self.reader.resync(product_ids)

    async def close(self) -> None:
        """Stop reading: the connection closes and the reader thread ends."""
        await self.reader.close()

    def statistics(self) -> dict[str, Any]:
        """What the run's record keeps about its feed: where it was, what came and what went wrong."""
        client = self.feed.client
        return {
            "feed": self.endpoints.name,
            "ws_url": self.endpoints.ws_url,
            "products": list(self.products),
            "granularity": self.bars.granularity.short,
            "clock_speed": self.clock_speed,
            "connections": client.connections,
            "events": self.events_seen,
            "bars_closed": self.bars_closed,
            "bars_backfilled": self.bars_backfilled,
            "health_events": dict(self.health_counts),
            "duplicates_dropped": client.duplicates,
            "backlog_peak": self.reader.peak,
            "dropped_behind": self.reader.dropped,
            "waited_ms": _percentiles_ms(self.reader.waits),
            "late_trades": self.bars.late_trades,
            "unreadable_values": self.feed.translator.unreadable,
            "unseen_bars": {
                product: sum(gap.missing_bars for gap in self.bars.unseen(product)) for product in self.products
            },
        }


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float] | None:
    """The median, 99th percentile and maximum of `seconds`, in milliseconds; None without samples."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"p50": ordered[len(ordered) // 2] * 1e3, "p99": p99 * 1e3, "max": ordered[-1] * 1e3}
