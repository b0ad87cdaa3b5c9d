"""The sandbox's WebSocket feed, following section 7 of the Coinbase facts page on its own.

One `Hub` per server fans market and order events out to connections (`connection.Connection`). Each:

- is closed (code 1008) if it has not subscribed within `subscribe_deadline` (5 s) of connecting;
- gets, after each subscribe, the channel's snapshot and then a `subscriptions` message listing
  everything it now receives under the names used to subscribe (`level2`, not `l2_data`);
- numbers every message it is sent with `sequence_num` from 0, step 1, across all channels; each has
  `channel`, `client_id` "", `timestamp` (RFC 3339, nanoseconds, market time) and `events`;
- gets one `heartbeats` message a second while subscribed to them (`current_time`, `heartbeat_counter`);
- has its own send queue and sender task, so a slow client delays only itself (past `send_queue_bytes`
  of unsent messages it is dropped as a slow consumer, close code 1008, as exchanges do);
- can be made to misbehave by the fault injector (`faults.py`).

No client can hold up the others: a message longer than `max_message_bytes` is refused unread, a
subscribe's products are deduplicated and bounded by `max_products`, and snapshots are built one product
at a time, yielding between. When the clients together cannot take what the replay offers, the replay's
clock slows (`pacing`) and `GET /sandbox/feed` says how far.

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
from typing import Any, Protocol

import msgspec
from fastapi import APIRouter, Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.connection import Connection, WsSettings
from gpt_trader.sandbox.faults import FaultInjector
from gpt_trader.sandbox.keys import AuthError
from gpt_trader.sandbox.market import CandleUpdate, MarketEvent, MarketReplay, rfc3339
from gpt_trader.sandbox.messages import (
    candle_payload,
    heartbeat_payload,
    level_payload,
    snapshot_event,
    status_payload,
    ticker_payload,
    trade_payload,
)
from gpt_trader.sandbox.pacing import Pacer

__all__ = ["CHANNELS", "Hub", "WsSettings", "router"]

log = logging.getLogger(__name__)

MARKET_CHANNELS = ("ticker", "ticker_batch", "level2", "market_trades", "candles", "status")
CHANNELS = ("heartbeats", *MARKET_CHANNELS, "user")
WIRE_NAMES = {"level2": "l2_data"}
"""Channels whose messages arrive under another name than the one subscribed to."""
USER_SNAPSHOT_PAGE = 50
"""The user channel's snapshot lists open orders in pages of up to this many."""
NO_POSITIONS: dict[str, list[Any]] = {"perpetual_futures_positions": [], "expiring_futures_positions": []}
"""Spot accounts hold no futures positions."""
CLOSE_GRACE = 0.5
"""Seconds the sender gets to close a connection itself before it is cut off (a client not reading)."""


class OrderSource(Protocol):
    """What the `user` channel needs from the exchange (exchange.Exchange)."""

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]: ...

    def user_snapshot(self, key_name: str) -> list[dict[str, Any]]: ...


class TokenChecker(Protocol):
    def verify_ws(self, token: str) -> str: ...


_encode = msgspec.json.Encoder().encode


def _events(*events: dict[str, Any]) -> str:
    return _encode(list(events)).decode()


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
        self.pacer = Pacer()
        self.dropped_slow = 0
        """Connections dropped as slow consumers since the server started."""
        self._connections: set[Connection] = set()
        self._listeners: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._batched: dict[str, dict[str, Any]] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def timestamp(self) -> str:
        return rfc3339(self.replay.market_time)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.replay.pace_by(self.pace)
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
        connection = Connection(websocket, self.settings, self.timestamp)
        self._connections.add(connection)
        self.faults.attach(connection)
        sender = asyncio.create_task(connection.send_loop())
        receiver = asyncio.create_task(self._receive_loop(connection))
        closing = asyncio.create_task(connection.closing.wait())
        try:
            done, _ = await asyncio.wait({sender, receiver, closing}, return_when=asyncio.FIRST_COMPLETED)
            if connection.dropped_as_slow:
                self.dropped_slow += 1
            if closing in done and not sender.done():
                await self._cut_off(connection, sender)
        finally:
            self._connections.discard(connection)
            self.faults.detach(connection)
            self._forget(connection)
            tasks = [task for task in (sender, receiver, closing, connection.heartbeat) if task is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                    await task

    async def _cut_off(self, connection: Connection, sender: asyncio.Task[None]) -> None:
        """Close a connection that is to be closed: by its sender, unless that is stuck writing to a client
        that does not read; then the sender is stopped and the close frame sent past what is queued."""
        await asyncio.wait({sender}, timeout=CLOSE_GRACE)
        if sender.done() or connection.close_reason is None:
            return
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
            await sender
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await connection.websocket.close(*connection.close_reason)

    def pace(self) -> float:
        """The replay's pace for its next step, from the connections' lag (the rule is in `pacing`)."""
        return self.pacer.update(self._worst_lag())

    def _worst_lag(self) -> float:
        lags = [lag for connection in self._connections if (lag := connection.lag()) is not None]
        return max(lags, default=0.0)

    def status(self) -> dict[str, Any]:
        """What `GET /sandbox/feed` reports: the replay's asked and effective speed, and the connections."""
        return {
            "speed": self.replay.speed,
            "effective_speed": round(self.replay.effective_speed(), 3),
            "pace": round(self.pacer.pace, 4),
            "slowed": self.replay.slowed,
            "why": self.replay.slowdown() if self.replay.slowed else "",
            "connections": len(self._connections),
            "lag_seconds": round(self._worst_lag(), 3),
            "dropped_slow_consumers": self.dropped_slow,
        }

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
            await self.handle(connection, text)

    async def handle(self, connection: Connection, text: str) -> None:
        """Act on one client message; the next is read only once this one is done."""
        limit = self.settings.max_message_bytes
        if len(text) > limit:
            connection.send_error(f"message too large: {len(text)} characters; at most {limit} per message")
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            connection.send_error("malformed message: not JSON")
            return
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            connection.send_error("message type must be subscribe or unsubscribe")
            return
        channel = message.get("channel")
        if channel not in CHANNELS:
            connection.send_error(f"channel {channel!r} is not supported; use one of {', '.join(CHANNELS)}")
            return
        requested = message.get("product_ids") or []
        if not isinstance(requested, list) or not all(isinstance(p, str) for p in requested):
            connection.send_error("product_ids must be a list of product ids")
            return
        product_ids = list(dict.fromkeys(requested))
        if len(product_ids) > self.settings.max_products:
            connection.send_error(
                f"Failure to subscribe: {len(product_ids)} products in one message; at most "
                f"{self.settings.max_products} per subscribe (send several)"
            )
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
        elif not await self._subscribe(connection, channel, product_ids, message.get("jwt")):
            return
        connection.send("subscriptions", _events({"subscriptions": self._listing(connection)}))

    async def _subscribe(self, connection: Connection, channel: str, product_ids: list[str], token: Any) -> bool:
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
        elif channel == "status":
            new = [p for p in product_ids if p not in connection.subscriptions.get(channel, [])]
            products = [status_payload(self.catalog.get(p)) for p in new]
            connection.send(channel, _events({"type": "snapshot", "products": products}))
            for product_id in new:
                self._listeners[(channel, product_id)].add(connection)
        else:
            await self._subscribe_products(connection, channel, product_ids)
        listed = connection.subscriptions.setdefault(channel, [])
        listed.extend(p for p in product_ids if p not in listed)
        connection.subscribed = True
        return True

    async def _subscribe_products(self, connection: Connection, channel: str, product_ids: list[str]) -> None:
        """Each new product's snapshot, then its updates. The snapshot is queued and the listener added with
        no await between, so the snapshot precedes every update; between products the loop yields, so a
        large subscribe cannot hold up the other connections."""
        wire = WIRE_NAMES.get(channel, channel)
        for product_id in product_ids:
            if product_id in connection.subscriptions.get(channel, []) or connection.close_reason is not None:
                continue
            snapshot = snapshot_event(self.replay, channel, product_id, self.timestamp())
            if snapshot is not None:
                connection.send(wire, _events(snapshot))
            self._listeners[(channel, product_id)].add(connection)
            await asyncio.sleep(0)

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


router = APIRouter(prefix="/sandbox")


@router.get("/feed")
async def feed_status(request: Request) -> dict[str, Any]:
    """The WebSocket feed's state: asked and effective replay speed, whether it is slowed, the connections."""
    hub: Hub = request.app.state.hub
    return hub.status()
