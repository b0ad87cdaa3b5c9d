"""A real WebSocket server on 127.0.0.1 that plays a script to each connection, for client tests.

It follows the WebSocket section of the Advanced Trade API page on its own, sharing no code with the
client under test: envelopes carry `channel`, `client_id` `""`, an RFC 3339 `timestamp` and a
`sequence_num` counting the messages of the connection from 0; a connection that has not subscribed
within the deadline is closed. Each connection runs the next script (the last one repeats); a script
drives a `Peer`, which can send messages, skip a sequence number, repeat a message, stall, and drop
the connection without a closing handshake::

    async def first(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "ticker"})
        await peer.send("ticker", [ticker_event("BTC-USD", "100.5")])
        peer.skip()
        await peer.drop()

    async with ScriptServer([first, second]) as server:
        ...  # connect a client to server.url; server.peers[i].received holds what connection i sent
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SUBSCRIBE_DEADLINE = 5.0
"""Seconds a new connection has to send its first subscribe before the server closes it."""
POLICY_VIOLATION = 1008

Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """One client connection as the script sees it."""

    def __init__(self, connection: ServerConnection, index: int) -> None:
        self.connection = connection
        self.index = index
        self.opened_at = time.monotonic()
        self.sequence_num = 0
        self.received: list[dict[str, Any]] = []
        """Every message the client sent, decoded, with `_at` (monotonic seconds) added."""
        self.sent: list[str] = []
        self.deadline_missed = False
        self._arrival = asyncio.Condition()
        self._send_lock = asyncio.Lock()

    def requests(self, kind: str = "subscribe", channel: str | None = None) -> list[dict[str, Any]]:
        """The client's messages of `type` `kind`, on `channel` if given."""
        return [
            request
            for request in self.received
            if request.get("type") == kind and (channel is None or request.get("channel") == channel)
        ]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self._arrival:
            await self._arrival.wait_for(condition)

    async def wait_subscribed(self, channels: set[str], timeout: float = SUBSCRIBE_DEADLINE) -> None:
        """Wait until the client has subscribed to every one of `channels`."""
        await self.wait_for(lambda: channels <= {request.get("channel") for request in self.requests()}, timeout)

    async def send(self, channel: str, events: list[dict[str, Any]], sequence_num: int | None = None) -> str:
        """Send one message of `channel` with the next sequence number (or `sequence_num`); returns its text."""
        async with self._send_lock:
            if sequence_num is None:
                sequence_num = self.sequence_num
                self.sequence_num += 1
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            text = json.dumps(
                {"channel": channel, "client_id": "", "timestamp": now, "sequence_num": sequence_num, "events": events}
            )
            await self.send_raw(text)
            return text

    async def send_raw(self, text: str) -> None:
        """Send `text` as it is (an error message, a broken message, a repeat)."""
        self.sent.append(text)
        await self.connection.send(text)

    def skip(self, count: int = 1) -> None:
        """Lose the next `count` sequence numbers: the client sees a gap."""
        self.sequence_num += count

    async def repeat(self, back: int = 1) -> None:
        """Send again the message sent `back` messages ago: a duplicate (1) or a late message (2 or more)."""
        await self.send_raw(self.sent[-back])

    async def stall(self, seconds: float) -> None:
        """Send nothing for `seconds`, or until the client goes away."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connection.wait_closed(), seconds)

    async def drop(self) -> None:
        """Cut the connection without a closing handshake, as a network failure would."""
        self.connection.transport.abort()

    async def _read(self) -> None:
        try:
            async for frame in self.connection:
                request = json.loads(frame)
                request["_at"] = time.monotonic()
                async with self._arrival:
                    self.received.append(request)
                    self._arrival.notify_all()
        except ConnectionClosed:
            pass

    async def _enforce_deadline(self, deadline: float) -> None:
        await asyncio.sleep(deadline)
        if not self.requests():
            self.deadline_missed = True
            await self.connection.close(POLICY_VIOLATION, "no subscribe within the deadline")


class ScriptServer:
    """Serves WebSocket connections on 127.0.0.1, connection i running `scripts[min(i, last)]`."""

    def __init__(self, scripts: Sequence[Script], subscribe_deadline: float = SUBSCRIBE_DEADLINE) -> None:
        self.scripts = list(scripts)
        self.subscribe_deadline = subscribe_deadline
        self.peers: list[Peer] = []
        self.failures: list[BaseException] = []
        """Exceptions raised by scripts (a test should assert this is empty)."""
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    async def __aenter__(self) -> ScriptServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_for_peers(self, count: int, timeout: float = 5.0) -> list[Peer]:
        async with asyncio.timeout(timeout):
            while len(self.peers) < count:
                await asyncio.sleep(0.01)
        return self.peers

    async def _handle(self, connection: ServerConnection) -> None:
        peer = Peer(connection, len(self.peers))
        self.peers.append(peer)
        script = self.scripts[min(peer.index, len(self.scripts) - 1)]
        reader = asyncio.create_task(peer._read())
        deadline = asyncio.create_task(peer._enforce_deadline(self.subscribe_deadline))
        try:
            await script(peer)
            await connection.wait_closed()
        except ConnectionClosed:
            pass
        except Exception as error:
            self.failures.append(error)
            raise
        finally:
            deadline.cancel()
            reader.cancel()


# Event bodies in the documented shapes; every decimal is a string.


def ticker_event(product_id: str, price: str, bid: str = "", ask: str = "", kind: str = "update") -> dict[str, Any]:
    ticker = {
        "type": "ticker",
        "product_id": product_id,
        "price": price,
        "best_bid": bid or price,
        "best_ask": ask or price,
        "best_bid_quantity": "1",
        "best_ask_quantity": "1",
    }
    return {"type": kind, "tickers": [ticker]}


def level2_event(product_id: str, kind: str, levels: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """A level2 event; `levels` are (side, price, new quantity), side `bid` or `offer`."""
    updates = [
        {"side": side, "event_time": "2026-08-09T21:05:48.170326Z", "price_level": price, "new_quantity": quantity}
        for side, price, quantity in levels
    ]
    return {"type": kind, "product_id": product_id, "updates": updates}


def heartbeat_event(counter: int) -> dict[str, Any]:
    return {"current_time": "2026-08-09 21:05:48.854840045 +0000 UTC m=+41691.260485341", "heartbeat_counter": counter}


def trades_event(product_id: str, trade_ids: Sequence[int], kind: str = "update") -> dict[str, Any]:
    """Trades newest first, as Coinbase sends a snapshot."""
    trades = [
        {
            "product_id": product_id,
            "trade_id": str(trade_id),
            "price": "100.00",
            "size": "0.1",
            "time": "2026-08-09T21:05:42.514318Z",
            "side": "SELL",
        }
        for trade_id in trade_ids
    ]
    return {"type": kind, "trades": trades}
