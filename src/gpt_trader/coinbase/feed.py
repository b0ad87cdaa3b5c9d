"""Coinbase's WebSocket feed in the engine's language: `Quote`, `BookUpdate`, `Trade`, `BarClosed`, `FeedHealth`.

This is the one place that knows how Coinbase's channels become market events (`market/events.py`)::

    feed = CoinbaseFeed(["BTC-USD", "ETH-USD"])
    bars = BarAggregator("1m", products=feed.products, clock=feed.venue_clock, backfill=rest_backfill())
    async for event in feed.events(bars):
        ...

- `ticker` (and `ticker_batch`) -> `Quote`: the best bid and ask with their sizes, at the message's
  timestamp. A ticker carries neither a trade's size nor its id, and it is no count of trades (the
  real capture has 158 ticker updates for 79 trades), while `market_trades` reports every trade in
  full: so trades come from `market_trades` alone.
- `level2` (arriving as `l2_data`) -> `BookUpdate` at the message's timestamp; a snapshot replaces the
  book; Coinbase's `offer` side (and `ask`) are the asks.
- `market_trades` -> `Trade` at the trade's own time, oldest first (Coinbase lists the trades of an
  event newest first). Coinbase's `side` is the maker's, so the aggressor is the opposite side.
- The client's `FeedHealth` passes through (`coinbase/ws.py` detects gaps, stalls and disconnects).
- `heartbeats`, `subscriptions`, `candles` (five-minute only: bars come from aggregating trades, at
  any granularity), `status` and `user` yield no market event; every message still advances the
  venue clock and the bars' clock, so bars close on time on a quiet market.

The work per message is constant apart from the levels and trades it carries. A value that cannot
be read (a price that is not a number, a time that is not RFC 3339) is left out and counted in
`MessageTranslator.unreadable`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gpt_trader.coinbase.messages import (
    L2Event,
    Level2Message,
    MarketTrade,
    MarketTradesMessage,
    Ticker,
    TickerBatchMessage,
    TickerMessage,
)
from gpt_trader.coinbase.ws import CoinbaseWebSocket, FeedEvent
from gpt_trader.config import Settings
from gpt_trader.errors import ConfigError
from gpt_trader.market.aggregate import Backfill, BarAggregator, source_backfill
from gpt_trader.market.events import BookLevel, BookUpdate, FeedHealth, MarketEvent, Quote, Side, Trade
from gpt_trader.market.sources import open_source

DEFAULT_CHANNELS = ("ticker", "level2", "market_trades")
"""Quotes, the level-2 book and trades: everything the engine and its bars need."""

_AGGRESSOR = {"BUY": Side.SELL, "SELL": Side.BUY}
"""Coinbase reports the maker's side; the taker, who crossed the spread, took the other one."""


def market_time(text: str) -> float:
    """Unix seconds of an RFC 3339 time with up to nine fractional digits (UTC when it names no zone);
    ValueError if unreadable."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _number(text: str) -> Decimal:
    """A finite decimal; InvalidOperation for anything else (text, NaN, infinity)."""
    value = Decimal(text)
    if not value.is_finite():
        raise InvalidOperation(f"not a finite number: {text!r}")
    return value


class MessageTranslator:
    """Parsed Coinbase messages (`coinbase/messages.py`) -> market events. Pure and synchronous.

    It keeps the venue's clock: `market_time` is the newest message timestamp so far (Coinbase's send
    time; a sandbox's market time, at whatever replay speed), never moving back.
    """

    def __init__(self) -> None:
        self.unreadable = 0
        """Tickers, levels, trades and timestamps left out because a number or a time could not be read."""
        self.market_time: float | None = None

    def clock(self) -> float:
        """The venue's time: `market_time`, or wall time before the first timestamped message."""
        return time.time() if self.market_time is None else self.market_time

    def translate(self, message: FeedEvent) -> list[MarketEvent]:
        """The events `message` carries, in order. Quotes and book updates take the message's timestamp
        (the venue clock where it has none); trades their own time."""
        if isinstance(message, FeedHealth):
            return [message]
        stamp = self._advance(getattr(message, "timestamp", ""))
        if isinstance(message, TickerMessage | TickerBatchMessage):
            return [quote for event in message.events for ticker in event.tickers
                    if (quote := self._quote(ticker, stamp)) is not None]
        if isinstance(message, Level2Message):
            return [self._book_update(event, stamp) for event in message.events]
        if isinstance(message, MarketTradesMessage):
            trades: list[MarketEvent] = []
            for event in message.events:
                trades += _oldest_first([trade for item in event.trades if (trade := self._trade(item)) is not None])
            return trades
        return []

    def _advance(self, timestamp: str) -> float:
        """Move the venue clock to `timestamp` (if later) and return the message's time."""
        if timestamp:
            try:
                stamp = market_time(timestamp)
            except ValueError:
                self.unreadable += 1
            else:
                if self.market_time is None or stamp > self.market_time:
                    self.market_time = stamp
                return stamp
        return self.clock()

    def _quote(self, ticker: Ticker, stamp: float) -> Quote | None:
        try:
            return Quote(
                ticker.product_id, stamp, _number(ticker.best_bid), _number(ticker.best_ask),
                _number(ticker.best_bid_quantity), _number(ticker.best_ask_quantity),
            )
        except InvalidOperation:
            self.unreadable += 1
            return None

    def _book_update(self, event: L2Event, stamp: float) -> BookUpdate:
        bids, asks, unknown = event.sides()
        self.unreadable += unknown
        return BookUpdate(event.product_id, stamp, self._levels(bids), self._levels(asks), event.type == "snapshot")

    def _levels(self, pairs: Iterable[tuple[str, str]]) -> tuple[BookLevel, ...]:
        levels = []
        for price, size in pairs:
            try:
                levels.append(BookLevel(_number(price), _number(size)))
            except InvalidOperation:
                self.unreadable += 1
        return tuple(levels)

    def _trade(self, trade: MarketTrade) -> Trade | None:
        try:
            return Trade(
                trade.product_id, market_time(trade.time), _number(trade.price), _number(trade.size),
                _AGGRESSOR.get(trade.side), trade.trade_id,
            )
        except (InvalidOperation, ValueError):
            self.unreadable += 1
            return None


def _oldest_first(trades: list[Trade]) -> list[Trade]:
    """Coinbase lists the trades of an event newest first, in snapshots and (the real capture shows) in
    updates alike; the engine wants them in the order they happened."""
    if len(trades) > 1 and _sequence(trades[0]) > _sequence(trades[-1]):
        trades.reverse()
    return trades


def _sequence(trade: Trade) -> tuple[float, int]:
    """When a trade happened; its numeric id orders trades of the same microsecond."""
    return trade.time, int(trade.trade_id) if trade.trade_id.isdigit() else 0


async def market_events(
    messages: AsyncIterator[FeedEvent], translator: MessageTranslator, bars: BarAggregator | None = None
) -> AsyncIterator[MarketEvent]:
    """Each message's events, followed by the bars they (or the clock at their arrival) closed."""
    async for message in messages:
        events = translator.translate(message)
        for event in events:
            yield event
            if bars is not None:
                for bar in await bars.on_event(event):
                    yield bar
        if bars is not None and not events and translator.market_time is not None:
            # A tick of the clock; none before the venue's first timestamp, which starts the venue clock.
            for bar in await bars.on_clock():
                yield bar


class CoinbaseFeed:
    """The live feed of `products` on Coinbase's (or a sandbox's) WebSocket, as market events.

    Keyword arguments beyond `url` and `channels` go to `CoinbaseWebSocket` (`stale_after`,
    `reconnect`, `jwt_factory`, `ssl_context`...), which `client` is, for its counters and books.
    `venue_clock` is the time of the newest message: the clock for bars that close the same way live,
    on a sandbox at any speed, and in a replay of a capture.
    """

    def __init__(
        self,
        products: Sequence[str],
        *,
        url: str | None = None,
        channels: Sequence[str] = DEFAULT_CHANNELS,
        **client_options: Any,
    ) -> None:
        if not products:
            raise ConfigError("a feed needs at least one product id, e.g. BTC-USD")
        self.products = tuple(products)
        self.channels = tuple(channels)
        self.client = CoinbaseWebSocket(url, {channel: self.products for channel in channels}, **client_options)
        self.translator = MessageTranslator()
        self.venue_clock = self.translator.clock

    def events(self, bars: BarAggregator | None = None) -> AsyncIterator[MarketEvent]:
        """Every market event until the feed is closed (`close()`) or gives up (`CoinbaseUnavailable`),
        with the bars `bars` builds from the trades (give it `products`, `venue_clock` and a
        `rest_backfill()`)."""
        if bars is not None and "market_trades" not in self.channels:
            raise ConfigError(
                f"bars are built from trades: add 'market_trades' to the channels ({', '.join(self.channels)})"
            )
        return self._events(bars)

    async def _events(self, bars: BarAggregator | None) -> AsyncIterator[MarketEvent]:
        async with self.client as client:
            async for event in market_events(client, self.translator, bars):
                yield event

    async def close(self) -> None:
        await self.client.close()


def rest_backfill(settings: Settings | None = None) -> Backfill:
    """A `Backfill` over Coinbase's REST candles endpoint, at the `coinbase_rest_url` of `settings` (by
    default the settings in force: production, or a sandbox)."""
    return source_backfill(open_source("coinbase", settings))
