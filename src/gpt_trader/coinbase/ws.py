"""An async client of Coinbase Advanced Trade's WebSocket feed: subscribed, sequenced, self-healing.

::

    async with CoinbaseWebSocket(subscriptions={"ticker": ["BTC-USD"], "level2": ["BTC-USD"]}) as feed:
        async for event in feed:
            match event:
                case FeedHealth():      # connected, disconnected, gap, stale, resynced, error
                    ...
                case TickerMessage():
                    ...
                case Level2Message():
                    feed.books["BTC-USD"].best_bid()

What downstream code can rely on:

- Each connection subscribes at once, well within Coinbase's 5-second deadline: one message per channel
  with all its products, always with `heartbeats`, each with a fresh JWT when `jwt_factory` is given.
- A message whose `sequence_num` is not new on its connection (a duplicate, or late) never comes out;
  nor does a trade already delivered (a reconnect's snapshot repeats recent trades).
- A jump of `sequence_num` or `heartbeat_counter` emits `gap` before the message that revealed it; the
  level2 books are then re-snapshotted (unsubscribe and subscribe again), their updates held back until
  the snapshot arrives, and `resynced` follows. A book found crossed is re-snapshotted the same way.
- Nothing received for `stale_after` seconds emits `stale` and reconnects; a lost connection emits
  `disconnected`; reconnects back off exponentially with jitter and resubscribe. After
  `reconnect.attempts` attempts in a row that deliver nothing, `CoinbaseUnavailable` is raised.
- Coinbase's `{"type": "error"}` becomes an `error` health event and the feed carries on; a malformed
  message is counted in `parser.counts` and dropped (a broken level2 message also re-snapshots).

Health events go to `on_health` when it is given, else they are yielded in the stream.

The client runs on the event loop that iterates it, so a consumer busy on that loop delays its reading;
`market/feed_thread.py` reads it in a thread of its own (as the live feed of `trading/live.py` does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.errors import OFFLINE_FEED_HINT, CoinbaseUnavailable
from gpt_trader.coinbase.messages import (
    EVENT_TYPES,
    ChannelMessage,
    ErrorMessage,
    HeartbeatsMessage,
    L2Event,
    Level2Message,
    Malformed,
    MarketTradesMessage,
    MessageParser,
    UnknownMessage,
)
from gpt_trader.coinbase.ratelimit import TokenBucket
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.config import load_settings
from gpt_trader.errors import ConfigError
from gpt_trader.market.book import OrderBook
from gpt_trader.market.feed import CounterTracker, FeedHealth, HealthKind, RecentKeys, SequenceTracker

log = logging.getLogger(__name__)

FeedEvent = ChannelMessage | UnknownMessage | FeedHealth
"""What iterating a `CoinbaseWebSocket` yields."""

DEFAULT_STALE_AFTER = 5.0 * constants.HEARTBEAT_INTERVAL_SECONDS
"""Five missed heartbeats: long enough for a slow network, short enough to act before a strategy does."""
DEFAULT_RECONNECT = RetryPolicy(attempts=20, base_delay=0.5, max_delay=30.0)
"""About seven minutes of attempts before the feed gives up."""
_CLOSE_TIMEOUT = 1.0
_LEVEL2 = constants.WS_LEVEL2_CHANNEL


def ws_url(configured: str | None = None) -> str:
    """The WebSocket URL in force: `configured`, else the `coinbase_ws_url` setting, else production."""
    url = configured or load_settings().coinbase_ws_url or constants.WS_MARKET_URL
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise ConfigError(f"the Coinbase WebSocket URL {url!r} must start with ws:// or wss://")
    return url


class CoinbaseWebSocket:
    """The feed of `subscriptions` (channel -> product ids; `heartbeats` is always added). See the module."""

    def __init__(
        self,
        url: str | None = None,
        subscriptions: Mapping[str, Sequence[str]] | None = None,
        *,
        jwt_factory: Callable[[], str] | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        reconnect: RetryPolicy = DEFAULT_RECONNECT,
        on_health: Callable[[FeedHealth], None] | None = None,
        track_books: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = ws_url(url)
        self.subscriptions = _channels(subscriptions or {})
        needing_jwt = constants.WS_AUTHENTICATED_CHANNELS.intersection(self.subscriptions)
        if needing_jwt and jwt_factory is None:
            raise ConfigError(
                f"the {', '.join(sorted(needing_jwt))} channel needs a Coinbase API key: pass a jwt_factory"
            )
        self.stale_after = stale_after
        self.reconnect = reconnect
        self.parser = MessageParser()
        self.books = {product: OrderBook(product) for product in self._level2_products} if track_books else {}
        """The level2 book of each subscribed product, kept current when `track_books`."""
        self.connections = 0
        self.duplicates = 0
        """Messages dropped because their sequence_num was not new."""
        self.repeated_trades = 0
        self.held_back = 0
        """Level2 events dropped while their product waited for a fresh snapshot."""
        self.unknown_sides = 0
        """Level2 levels whose side was neither bid nor ask; left out of the books."""
        self._jwt_factory = jwt_factory
        self._on_health = on_health
        self._ssl = ssl_context
        self._open_timeout = open_timeout
        self._pacer = TokenBucket(constants.WS_MESSAGES_PER_SECOND)
        self._pending: deque[FeedEvent] = deque()
        self._connection: ClientConnection | None = None
        self._closed = False
        self._failures = 0
        self._last_problem = ""
        self._trades = RecentKeys()
        self._announce_resync = False
        self._receiving_since: float | None = None
        """Loop time at which the receive under way began waiting (None: none is); see `_watch`."""
        self._watchdog: asyncio.Task[None] | None = None
        self._new_connection_state()

    @property
    def _level2_products(self) -> tuple[str, ...]:
        return self.subscriptions.get(_LEVEL2, ())

    def _new_connection_state(self) -> None:
        self._sequence = SequenceTracker()
        self._heartbeats = CounterTracker()
        self._delivered = False
        self._awaiting_snapshot = set(self._level2_products)
        self._resync_wanted: set[str] = set()
        self._went_stale = False

    async def __aenter__(self) -> CoinbaseWebSocket:
        await self._open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        self._stop_watchdog()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def __aiter__(self) -> CoinbaseWebSocket:
        return self

    async def __anext__(self) -> FeedEvent:
        pending = self._pending
        while not pending:
            if self._closed:
                raise StopAsyncIteration
            if self._connection is None:
                await self._open()
            else:
                await self._receive(self._connection)
        return pending.popleft()

    async def resync(self, product_ids: Iterable[str] | None = None) -> None:
        """Ask for fresh level2 snapshots (all subscribed products by default), e.g. for a crossed book."""
        self._want_snapshots(self._level2_products if product_ids is None else product_ids)
        if self._connection is not None:
            try:
                await self._send_resync(self._connection)
            except ConnectionClosed as error:
                # Receiving on it will find it closed and reconnect; a new connection snapshots every book.
                log.debug("the feed closed while resyncing: %s", error)

    async def _open(self) -> None:
        """Connect (backing off if this is a reconnect) and subscribe."""
        while self._connection is None and not self._closed:
            if self._failures >= self.reconnect.attempts:
                problem = f"{self._failures} connections in a row failed, the last with {self._last_problem}"
                raise CoinbaseUnavailable(self.url, problem, OFFLINE_FEED_HINT)
            if self.connections or self._failures:
                await asyncio.sleep(self.reconnect.backoff(max(1, self._failures)))
            try:
                connection = await connect(
                    self.url,
                    open_timeout=self._open_timeout,
                    close_timeout=_CLOSE_TIMEOUT,
                    max_size=constants.WS_MAX_MESSAGE_BYTES,
                    ssl=self._ssl,
                )
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self._failures += 1
                self._last_problem = f"{type(error).__name__}: {error}"
                log.debug("connecting to %s failed: %s", self.url, self._last_problem)
                continue
            self.connections += 1
            self._new_connection_state()
            self._connection = connection
            self._watchdog = asyncio.create_task(self._watch(connection))
            self._health(HealthKind.CONNECTED, self.url)
            try:
                for channel, products in self.subscriptions.items():
                    await self._send(connection, "subscribe", channel, products)
            except ConnectionClosed as error:
                await self._drop(f"closed while subscribing ({error})")

    async def _receive(self, connection: ClientConnection) -> None:
        self._receiving_since = asyncio.get_running_loop().time()
        try:
            raw = await connection.recv(decode=False)
        except ConnectionClosed as error:
            if self._went_stale:
                self._health(HealthKind.STALE, f"nothing received for {self.stale_after:g} s; reconnecting")
                await self._drop("stale")
            elif not self._closed:
                await self._drop(f"connection closed ({error})")
            return
        finally:
            self._receiving_since = None
        self._accept(raw)
        if self._resync_wanted:
            try:
                await self._send_resync(connection)
            except ConnectionClosed as error:
                await self._drop(f"closed while resyncing ({error})")

    async def _watch(self, connection: ClientConnection) -> None:
        """Abort `connection` once a receive has waited `stale_after` seconds; the receive then reports it stale.

        One task per connection instead of a deadline around every receive, which cost more than reading
        a small message; only time spent waiting in a receive counts, as a consumer that takes its time
        between messages is not a silent venue.
        """
        loop = asyncio.get_running_loop()
        while True:
            since = self._receiving_since
            waited = 0.0 if since is None else loop.time() - since
            if waited >= self.stale_after:
                self._went_stale = True
                connection.transport.abort()
                return
            await asyncio.sleep(self.stale_after - waited)

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()

    async def _drop(self, reason: str) -> None:
        self._stop_watchdog()
        connection, self._connection = self._connection, None
        if not self._delivered:
            self._failures += 1
            self._last_problem = reason
        self._health(HealthKind.DISCONNECTED, reason)
        self._announce_resync = bool(self._level2_products)
        for book in self.books.values():
            book.invalidate()
        if connection is not None:
            await connection.close()

    def _accept(self, raw: bytes | str) -> None:
        """Check one frame's order, keep state, and queue what downstream should see. Constant work."""
        message = self.parser.parse(raw)
        if isinstance(message, ErrorMessage):
            self._health(HealthKind.ERROR, f"Coinbase: {message.message}")
            return
        if not self._delivered:
            # Only data proves a connection works: a server that answers each attempt with an error and
            # hangs up must still exhaust the reconnect attempts.
            self._delivered = True
            self._failures = 0
        lost = 0
        if message.sequence_num is not None:
            lost = self._sequence.check(message.sequence_num)
            if lost < 0:
                self.duplicates += 1
                return
            if lost:
                self._gap(f"sequence_num jumped to {message.sequence_num}: {lost} message(s) lost")
        if isinstance(message, Level2Message):
            self._level2(message)
            return
        if isinstance(message, Malformed):
            if message.channel == constants.WS_LEVEL2_ARRIVES_AS:
                self._health(HealthKind.ERROR, f"unreadable level2 message ({message.reason}); re-snapshotting")
                self._want_snapshots(self._level2_products)
            return
        if isinstance(message, HeartbeatsMessage):
            for beat in message.events:
                skipped = self._heartbeats.check(beat.heartbeat_counter)
                if skipped and not lost:
                    self._gap(f"heartbeat_counter jumped to {beat.heartbeat_counter}: {skipped} beat(s) lost")
        elif isinstance(message, MarketTradesMessage):
            trades_message = self._new_trades(message)
            if trades_message is None:
                return
            message = trades_message
        self._pending.append(message)

    def _level2(self, message: Level2Message) -> None:
        awaiting = self._awaiting_snapshot
        if awaiting:
            events = [event for event in message.events if event.type == "snapshot" or event.product_id not in awaiting]
            self.held_back += len(message.events) - len(events)
            if not events:
                return
            if len(events) != len(message.events):
                message = msgspec.structs.replace(message, events=events)
        self._pending.append(message)
        books = self.books
        for event in message.events:
            if event.type == "snapshot" and event.product_id in awaiting:
                awaiting.discard(event.product_id)
                if not awaiting and self._announce_resync:
                    self._announce_resync = False
                    self._health(HealthKind.RESYNCED, "every level2 book has a fresh snapshot")
            book = books.get(event.product_id)
            if book is not None and not self._apply(book, event) and event.product_id not in awaiting:
                problem = "is crossed" if book.crossed else f"has {book.unreadable_levels} unreadable level(s)"
                self._health(HealthKind.ERROR, f"{event.product_id} order book {problem}; re-snapshotting")
                self._want_snapshots([event.product_id])

    def _apply(self, book: OrderBook, event: L2Event) -> bool:
        """Apply a snapshot or update to `book` (an event of another type is passed over); True if sound."""
        if event.type not in EVENT_TYPES:
            return not book.needs_snapshot
        bids, asks, unknown = event.sides()
        self.unknown_sides += unknown
        if event.type == "snapshot":
            return book.apply_snapshot(bids, asks)
        return book.apply_changes(bids, asks)

    def _new_trades(self, message: MarketTradesMessage) -> MarketTradesMessage | None:
        """The message without trades already delivered, or None if nothing is left."""
        events = []
        repeated = 0
        for event in message.events:
            trades = [trade for trade in event.trades if self._trades.add((trade.product_id, trade.trade_id))]
            if len(trades) == len(event.trades):
                events.append(event)
                continue
            repeated += len(event.trades) - len(trades)
            if trades:
                events.append(msgspec.structs.replace(event, trades=trades))
        if not repeated:
            return message
        self.repeated_trades += repeated
        return msgspec.structs.replace(message, events=events) if events else None

    def _gap(self, detail: str) -> None:
        self._health(HealthKind.GAP, detail)
        self._want_snapshots(self._level2_products)

    def _want_snapshots(self, product_ids: Iterable[str]) -> None:
        for product in product_ids:
            self._announce_resync = True
            self._awaiting_snapshot.add(product)
            self._resync_wanted.add(product)
            book = self.books.get(product)
            if book is not None:
                book.invalidate()

    async def _send_resync(self, connection: ClientConnection) -> None:
        products = sorted(self._resync_wanted)
        self._resync_wanted.clear()
        if products:
            await self._send(connection, "unsubscribe", _LEVEL2, products)
            await self._send(connection, "subscribe", _LEVEL2, products)

    async def _send(self, connection: ClientConnection, kind: str, channel: str, products: Sequence[str]) -> None:
        await self._pacer.acquire()
        request: dict[str, object] = {"type": kind, "channel": channel, "product_ids": list(products)}
        if self._jwt_factory is not None:
            request["jwt"] = self._jwt_factory()  # made after the pacing wait, so it is as fresh as can be
        await connection.send(json.dumps(request))

    def _health(self, kind: HealthKind, detail: str) -> None:
        health = FeedHealth(kind, detail, self.connections)
        level = logging.INFO if kind in (HealthKind.CONNECTED, HealthKind.RESYNCED) else logging.WARNING
        log.log(level, "feed %s (connection %d): %s", kind.value, self.connections, detail)
        if self._on_health is not None:
            self._on_health(health)
        else:
            self._pending.append(health)


def _channels(subscriptions: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Channel -> products, `heartbeats` first, each product once; unknown channel names refused."""
    channels: dict[str, tuple[str, ...]] = {constants.WS_HEARTBEATS_CHANNEL: ()}
    for channel, products in subscriptions.items():
        if channel not in constants.WS_CHANNELS:
            hint = f" (subscribe to {_LEVEL2!r}; its messages arrive as {channel!r})" if channel == "l2_data" else ""
            known = ", ".join(constants.WS_CHANNELS)
            raise ConfigError(f"unknown Coinbase WebSocket channel {channel!r}{hint}; the channels are: {known}")
        listed = [products] if isinstance(products, str) else products
        channels[channel] = tuple(dict.fromkeys(listed))
    return channels
