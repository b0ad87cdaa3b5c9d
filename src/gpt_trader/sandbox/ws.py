"""The sandbox's WebSocket feed, following section 7 of the Coinbase facts page on its own.

One `Hub` per server fans market and order events out to connections. Each connection:

- is closed (code 1008) if it has not subscribed within `subscribe_deadline` (5 s) of connecting;
- gets, after each subscribe, the channel's snapshot and then a `subscriptions` message listing
  everything it now receives under the names used to subscribe (`level2`, not `l2_data`);
- numbers every message it is sent with `sequence_num` from 0, step 1, across all channels; each has
  `channel`, `client_id` "", `timestamp` (RFC 3339, nanoseconds, market time) and `events`;
- gets one `heartbeats` message a second while subscribed to them (`current_time`, `heartbeat_counter`);
- has its own send queue and sender task, so a slow client delays only itself (past `send_queue_limit`
  queued messages it is closed as a slow consumer, as exchanges do);
- can be made to misbehave by the fault injector (`faults.py`).

Errors (a bad message, an unknown channel or product, `user` without a valid JWT) are sent as
`{"type": "error", "message": ...}` without an envelope, and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.faults import Fault, FaultInjector, FaultKind
from gpt_trader.sandbox.keys import AuthError
from gpt_trader.sandbox.market import CANDLE_SECONDS, CandleUpdate, MarketEvent, MarketReplay, rfc3339
from gpt_trader.sandbox.messages import (
    candle_payload,
    candle_row_payload,
    heartbeat_payload,
    level_payload,
    status_payload,
    ticker_payload,
    trade_payload,
)

log = logging.getLogger(__name__)

MARKET_CHANNELS = ("ticker", "ticker_batch", "level2", "market_trades", "candles", "status")
CHANNELS = ("heartbeats", *MARKET_CHANNELS, "user")
WIRE_NAMES = {"level2": "l2_data"}
"""Channels whose messages arrive under another name than the one subscribed to."""
RECENT_TRADES = 50
SNAPSHOT_CANDLES = 100
USER_SNAPSHOT_PAGE = 50
"""The user channel's snapshot lists open orders in pages of up to this many."""
NO_POSITIONS: dict[str, list[Any]] = {"perpetual_futures_positions": [], "expiring_futures_positions": []}
"""Spot accounts hold no futures positions."""
YIELD_EVERY = 32
"""Messages a connection sends in a row before letting the event loop run other work."""


@dataclass(frozen=True)
class WsSettings:
    """Coinbase's documented timings (seconds), and how far behind a client may fall before it is dropped."""

    subscribe_deadline: float = 5.0
    heartbeat_interval: float = 1.0
    ticker_batch_interval: float = 5.0
    send_queue_limit: int = 100_000


class OrderSource(Protocol):
    """What the `user` channel needs from the exchange (exchange.Exchange)."""

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]: ...

    def user_snapshot(self, key_name: str) -> list[dict[str, Any]]: ...


class TokenChecker(Protocol):
    def verify_ws(self, token: str) -> str: ...


_encode = msgspec.json.Encoder().encode


def _events(*events: dict[str, Any]) -> str:
    return _encode(list(events)).decode()


class Connection:
    """One client: its subscriptions, its send queue and sequence numbers, and its pending faults."""

    def __init__(self, websocket: WebSocket, hub: Hub) -> None:
        self.websocket = websocket
        self.hub = hub
        self.subscriptions: dict[str, list[str]] = {}
        self.key_name: str | None = None
        self.sequence = 0
        self.subscribed = False
        self.heartbeat: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[str | None, str] | None] = asyncio.Queue()
        self._faults: list[Fault] = []
        self._close: tuple[int, str] | None = None
        self._last_frame: str | None = None

    def send(self, channel: str, events: str) -> None:
        """Queue a message of `channel` with `events` (a JSON array); it is numbered when sent."""
        if self._close is not None:
            return
        if self._queue.qsize() >= self.hub.settings.send_queue_limit:
            log.warning("closing a WebSocket client that fell %d messages behind", self._queue.qsize())
            self.close(1008, "slow consumer: too many messages waiting")
            return
        self._queue.put_nowait((channel, events))

    def send_error(self, message: str) -> None:
        self._queue.put_nowait((None, json.dumps({"type": "error", "message": message})))

    def close(self, code: int, reason: str) -> None:
        """Close after the message being sent (queued ones are dropped)."""
        if self._close is None:
            self._close = (code, reason)
            self._queue.put_nowait(None)

    def inject(self, fault: Fault) -> None:
        self._faults.append(fault)
        self._queue.put_nowait(None)

    async def send_loop(self) -> None:
        """The only writer of the socket: faults, then the close request, then the next message."""
        websocket = self.websocket
        sent = 0
        while True:
            item = await self._queue.get()
            while self._faults:
                fault = self._faults.pop(0)
                if fault.kind is FaultKind.DISCONNECT:
                    self._close = self._close or (1011, "fault injected: disconnect")
                elif fault.kind is FaultKind.GAP:
                    self.sequence += int(fault.size)
                elif fault.kind is FaultKind.DUPLICATE and self._last_frame is not None:
                    await websocket.send_text(self._last_frame)
                elif fault.kind is FaultKind.STALL:
                    await asyncio.sleep(fault.size)
            if self._close is not None:
                await websocket.close(*self._close)
                return
            if item is None:
                continue
            channel, payload = item
            if channel is None:
                await websocket.send_text(payload)
                continue
            frame = (
                f'{{"channel":"{channel}","client_id":"","timestamp":"{self.hub.timestamp()}",'
                f'"sequence_num":{self.sequence},"events":{payload}}}'
            )
            self.sequence += 1
            self._last_frame = frame
            await websocket.send_text(frame)
            sent += 1
            if sent % YIELD_EVERY == 0:
                # A send into a socket with room never suspends: give the market, the heartbeats and the
                # other connections their turn, so a fast reader cannot starve them.
                await asyncio.sleep(0)


class Hub:
    """Every connection's subscriptions, and the fan-out of market and order events to them."""

    def __init__(
        self,
        replay: MarketReplay,
        catalog: Catalog,
        faults: FaultInjector,
        settings: WsSettings | None = None,
        keys: TokenChecker | None = None,
        exchange: OrderSource | None = None,
    ) -> None:
        self.replay = replay
        self.catalog = catalog
        self.faults = faults
        self.settings = settings or WsSettings()
        self.keys = keys
        self.exchange = exchange
        self.started = time.monotonic()
        self._listeners: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._batched: dict[str, dict[str, Any]] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def timestamp(self) -> str:
        return rfc3339(self.replay.market_time)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe.append(self.replay.subscribe(self.on_market))
        if self.exchange is not None:
            self._unsubscribe.append(self.exchange.subscribe(self.on_order))

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def run_ticker_batches(self) -> None:
        """Every `ticker_batch_interval`, the latest ticker of each product that traded since the last batch."""
        while True:
            await asyncio.sleep(self.settings.ticker_batch_interval)
            batched, self._batched = self._batched, {}
            for product_id, ticker in batched.items():
                events = _events({"type": "update", "tickers": [ticker]})
                for connection in self._listeners.get(("ticker_batch", product_id), ()):
                    connection.send("ticker_batch", events)

    async def serve(self, websocket: WebSocket) -> None:
        """The WebSocket endpoint (mounted at `/ws` and `/`)."""
        await websocket.accept()
        connection = Connection(websocket, self)
        self.faults.attach(connection)
        sender = asyncio.create_task(connection.send_loop())
        receiver = asyncio.create_task(self._receive_loop(connection))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.faults.detach(connection)
            self._forget(connection)
            tasks = [task for task in (sender, receiver, connection.heartbeat) if task is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                    await task

    # -- events ------------------------------------------------------------------------------------

    def on_market(self, event: MarketEvent) -> None:
        listeners = self._listeners
        if isinstance(event, CandleUpdate):
            candle_listeners = listeners.get(("candles", event.candle.product_id))
            if candle_listeners:
                events = _events({"type": "update", "candles": [candle_payload(event.candle)]})
                for connection in candle_listeners:
                    connection.send("candles", events)
            return
        product_id = event.product_id
        tickers, batches = listeners.get(("ticker", product_id)), listeners.get(("ticker_batch", product_id))
        if tickers or batches:
            ticker = ticker_payload(product_id, event.quote, self.replay.stats(product_id))
            if batches:
                self._batched[product_id] = ticker
            if tickers:
                events = _events({"type": "update", "tickers": [ticker]})
                for connection in tickers:
                    connection.send("ticker", events)
        trades = listeners.get(("market_trades", product_id))
        if trades:
            events = _events({"type": "update", "trades": [trade_payload(event.trade)]})
            for connection in trades:
                connection.send("market_trades", events)
        books = listeners.get(("level2", product_id))
        if books and event.book_changes:
            when = rfc3339(event.trade.time, 6)
            updates = [level_payload(change, when) for change in event.book_changes]
            events = _events({"type": "update", "product_id": product_id, "updates": updates})
            for connection in books:
                connection.send("l2_data", events)

    def on_order(self, event: Any) -> None:
        """An order changed (exchange.OrderEvent): tell the connections of its key subscribed to `user`."""
        product_id = event.order.get("product_id", "")
        for connection in self._listeners.get(("user", event.key_name), ()):
            wanted = connection.subscriptions.get("user", [])
            if not wanted or product_id in wanted:
                connection.send("user", _events({"type": "update", "orders": [event.order], "positions": NO_POSITIONS}))

    # -- subscriptions -----------------------------------------------------------------------------

    async def _receive_loop(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.subscribe_deadline
        while True:
            timeout = None if connection.subscribed else max(0.0, deadline - loop.time())
            try:
                message = await asyncio.wait_for(connection.websocket.receive(), timeout)
            except TimeoutError:
                seconds = f"{self.settings.subscribe_deadline:g}"
                connection.close(1008, f"no subscribe message within {seconds} seconds of connecting")
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
            self.handle(connection, text)

    def handle(self, connection: Connection, text: str) -> None:
        """Act on one client message. Runs without awaiting, so a snapshot precedes every later update."""
        try:
            message = json.loads(text)
        except ValueError:
            connection.send_error("malformed message: not JSON")
            return
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            connection.send_error("message type must be subscribe or unsubscribe")
            return
        channel = message.get("channel")
        if channel not in CHANNELS:
            connection.send_error(f"channel {channel!r} is not supported; use one of {', '.join(CHANNELS)}")
            return
        product_ids = message.get("product_ids") or []
        if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
            connection.send_error("product_ids must be a list of product ids")
            return
        unknown = [p for p in product_ids if p not in self.replay.products() or p not in self.catalog]
        if unknown:
            connection.send_error(f"Failure to subscribe: unknown product(s) {', '.join(unknown)}")
            return
        if channel in MARKET_CHANNELS and not product_ids:
            connection.send_error(f"channel {channel} needs product_ids")
            return
        if message["type"] == "unsubscribe":
            self._unsubscribe_from(connection, channel, product_ids)
        elif not self._subscribe(connection, channel, product_ids, message.get("jwt")):
            return
        connection.send("subscriptions", _events({"subscriptions": self._listing(connection)}))

    def _subscribe(self, connection: Connection, channel: str, product_ids: list[str], token: Any) -> bool:
        if channel == "user":
            key_name = self._verify(token)
            if key_name is None:
                connection.send_error("authentication failure: the user channel needs a valid jwt")
                return False
            connection.key_name = key_name
            self._listeners[("user", key_name)].add(connection)
            if self.exchange is not None:
                orders = [o for o in self.exchange.user_snapshot(key_name) if not product_ids or
                          o.get("product_id") in product_ids]
                for first in range(0, max(len(orders), 1), USER_SNAPSHOT_PAGE):
                    page = orders[first : first + USER_SNAPSHOT_PAGE]
                    connection.send("user", _events({"type": "snapshot", "orders": page, "positions": NO_POSITIONS}))
        elif channel == "heartbeats":
            if connection.heartbeat is None:
                connection.heartbeat = asyncio.create_task(self._beat(connection))
        else:
            new = [p for p in product_ids if p not in connection.subscriptions.get(channel, [])]
            self._send_snapshots(connection, channel, new)
            for product_id in new:
                self._listeners[(channel, product_id)].add(connection)
        listed = connection.subscriptions.setdefault(channel, [])
        listed.extend(p for p in product_ids if p not in listed)
        connection.subscribed = True
        return True

    def _unsubscribe_from(self, connection: Connection, channel: str, product_ids: list[str]) -> None:
        listed = connection.subscriptions.get(channel, [])
        dropped = product_ids or list(listed)
        remaining = [p for p in listed if p not in dropped]
        for product_id in dropped:
            self._listeners.get((channel, product_id), set()).discard(connection)
        if remaining:
            connection.subscriptions[channel] = remaining
            return
        connection.subscriptions.pop(channel, None)
        if channel == "heartbeats" and connection.heartbeat is not None:
            connection.heartbeat.cancel()
            connection.heartbeat = None
        if channel == "user" and connection.key_name is not None:
            self._listeners.get(("user", connection.key_name), set()).discard(connection)

    def _forget(self, connection: Connection) -> None:
        for listeners in self._listeners.values():
            listeners.discard(connection)

    def _listing(self, connection: Connection) -> dict[str, list[str]]:
        return {
            channel: products or [channel] if channel in ("heartbeats", "user") else products
            for channel, products in connection.subscriptions.items()
        }

    def _verify(self, token: Any) -> str | None:
        if self.keys is None or not isinstance(token, str) or not token:
            return None
        try:
            return self.keys.verify_ws(token)
        except AuthError as error:
            log.info("refused a user subscription: %s", error.reason)
            return None

    def _send_snapshots(self, connection: Connection, channel: str, product_ids: list[str]) -> None:
        replay = self.replay
        wire = WIRE_NAMES.get(channel, channel)
        if channel == "status":
            products = [status_payload(self.catalog.get(p)) for p in product_ids]
            connection.send(wire, _events({"type": "snapshot", "products": products}))
            return
        for product_id in product_ids:
            quote = replay.quote(product_id)
            if channel in ("ticker", "ticker_batch") and quote is not None:
                ticker = ticker_payload(product_id, quote, replay.stats(product_id))
                connection.send(wire, _events({"type": "snapshot", "tickers": [ticker]}))
            elif channel == "level2":
                bids, asks = replay.book(product_id)
                when = rfc3339(quote.time, 6) if quote else self.timestamp()
                updates = [level_payload(level, when) for level in (*bids, *asks)]
                connection.send(wire, _events({"type": "snapshot", "product_id": product_id, "updates": updates}))
            elif channel == "market_trades":
                trades = [trade_payload(trade) for trade in replay.recent_trades(product_id, RECENT_TRADES)]
                connection.send(wire, _events({"type": "snapshot", "trades": trades}))
            elif channel == "candles":
                now = int(replay.market_time)
                table = replay.candles(product_id, CANDLE_SECONDS, now - SNAPSHOT_CANDLES * CANDLE_SECONDS, now + 1)
                candles = [candle_row_payload(product_id, row) for row in zip(*table, strict=True)][::-1]
                connection.send(wire, _events({"type": "snapshot", "candles": candles}))

    async def _beat(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.heartbeat_interval
        counter = int((time.monotonic() - self.started) / interval)
        next_beat = loop.time()
        while True:
            uptime = time.monotonic() - self.started
            connection.send("heartbeats", _events(heartbeat_payload(self.replay.market_time, uptime, counter)))
            counter += 1
            next_beat += interval
            await asyncio.sleep(max(0.0, next_beat - loop.time()))
