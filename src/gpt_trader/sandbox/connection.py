"""One WebSocket client of the sandbox: its send queue, its sequence numbers, its faults and how it is dropped.

Messages wait in the connection's own queue and one sender task writes them, so a slow client delays
only itself. The queue is bounded in bytes (`WsSettings.send_queue_bytes`): a client that falls that far
behind is dropped as a slow consumer, with close code 1008, as exchanges do, and what it had queued is
freed at once. `lag` says how long the oldest waiting message has waited, which is what paces the
replay (`pacing.Pacer`) while the client keeps reading.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.websockets import WebSocket

from gpt_trader.sandbox.faults import Fault, FaultKind

log = logging.getLogger(__name__)

YIELD_EVERY = 32
"""Messages a connection sends in a row before letting the event loop run other work."""
NOT_READING = 1.0
"""Seconds one write may take before the client counts as not reading (its delay is then its own)."""
GIVEN_UP = 10.0
"""Seconds behind past which a client is not keeping up even with a slowed market: it paces it no more."""
SLOW_CONSUMER = 1008


@dataclass(frozen=True)
class WsSettings:
    """Coinbase's documented timings (seconds), and the bounds that keep one client from hurting the others."""

    subscribe_deadline: float = 5.0
    heartbeat_interval: float = 1.0
    ticker_batch_interval: float = 5.0
    send_queue_bytes: int = 4 * 1024 * 1024
    """A client whose unsent messages pass this size is dropped as a slow consumer."""
    max_products: int = 100
    """Distinct products one subscribe message may name."""
    max_message_bytes: int = 64 * 1024
    """The largest client message read; a longer one is refused with an error."""


class Connection:
    """One client: its subscriptions, its send queue and sequence numbers, and its pending faults."""

    def __init__(
        self,
        websocket: WebSocket,
        settings: WsSettings,
        timestamp: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.websocket = websocket
        self.settings = settings
        self.timestamp = timestamp
        self.clock = clock
        self.subscriptions: dict[str, list[str]] = {}
        self.key_name: str | None = None
        self.sequence = 0
        self.subscribed = False
        self.heartbeat: asyncio.Task[None] | None = None
        self.closing = asyncio.Event()
        """Set once the connection is to be closed (the server then stops waiting for the client)."""
        self.close_reason: tuple[int, str] | None = None
        self._pending: deque[tuple[str | None, str, float]] = deque()
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._faults: list[Fault] = []
        self._last_frame: str | None = None
        self._writing_since: float | None = None
        self._stalled_until = 0.0

    # -- what the hub calls ------------------------------------------------------------------------

    def send(self, channel: str, events: str) -> None:
        """Queue a message of `channel` with `events` (a JSON array); it is numbered when sent."""
        self._enqueue(channel, events)

    def send_error(self, message: str) -> None:
        self._enqueue(None, json.dumps({"type": "error", "message": message}))

    def close(self, code: int, reason: str) -> None:
        """Close after the message being sent (queued ones are dropped)."""
        if self.close_reason is None:
            self.close_reason = (code, reason)
            self._drop_queue()
            self.closing.set()
            self._wake.set()

    def inject(self, fault: Fault) -> None:
        self._faults.append(fault)
        self._wake.set()

    def lag(self) -> float | None:
        """Seconds the oldest unsent message has waited; None when the delay is the client's own doing
        (it stopped reading or fell `GIVEN_UP` behind, or a stall fault holds it) or it is closing."""
        now = self.clock()
        writing = self._writing_since
        if self.close_reason is not None or now < self._stalled_until:
            return None
        if writing is not None and now - writing > NOT_READING:
            return None
        waited = now - self._pending[0][2] if self._pending else 0.0
        lag = max(waited, now - writing) if writing is not None else waited
        return lag if lag <= GIVEN_UP else None

    @property
    def dropped_as_slow(self) -> bool:
        return self.close_reason is not None and self.close_reason[0] == SLOW_CONSUMER

    # -- the sender --------------------------------------------------------------------------------

    async def send_loop(self) -> None:
        """The only writer of the socket: faults, then the close request, then the next message."""
        sent = 0
        while True:
            if not self._pending and not self._faults and self.close_reason is None:
                self._wake.clear()
                await self._wake.wait()
            while self._faults:
                await self._suffer(self._faults.pop(0))
            if self.close_reason is not None:
                await self.websocket.close(*self.close_reason)
                return
            if not self._pending:
                continue
            channel, payload, _ = self._pending.popleft()
            self._pending_bytes -= len(payload)
            if channel is not None:
                payload = (
                    f'{{"channel":"{channel}","client_id":"","timestamp":"{self.timestamp()}",'
                    f'"sequence_num":{self.sequence},"events":{payload}}}'
                )
                self.sequence += 1
                self._last_frame = payload
            await self._write(payload)
            sent += 1
            if sent % YIELD_EVERY == 0:
                # A send into a socket with room never suspends: give the market, the heartbeats and the
                # other connections their turn, so a fast reader cannot starve them.
                await asyncio.sleep(0)

    async def _write(self, frame: str) -> None:
        self._writing_since = self.clock()
        try:
            await self.websocket.send_text(frame)
        finally:
            self._writing_since = None

    async def _suffer(self, fault: Fault) -> None:
        if fault.kind is FaultKind.DISCONNECT:
            self.close(1011, "fault injected: disconnect")
        elif fault.kind is FaultKind.GAP:
            self.sequence += int(fault.size)
        elif fault.kind is FaultKind.DUPLICATE and self._last_frame is not None:
            await self._write(self._last_frame)
        elif fault.kind is FaultKind.STALL:
            self._stalled_until = self.clock() + fault.size
            await asyncio.sleep(fault.size)

    # -- the queue ---------------------------------------------------------------------------------

    def _enqueue(self, channel: str | None, payload: str) -> None:
        if self.close_reason is not None:
            return
        if self._pending_bytes + len(payload) > self.settings.send_queue_bytes:
            log.warning("dropping a WebSocket client %d bytes behind (a slow consumer)", self._pending_bytes)
            self.close(SLOW_CONSUMER, "slow consumer: too many messages waiting to be read")
            return
        self._pending.append((channel, payload, self.clock()))
        self._pending_bytes += len(payload)
        self._wake.set()

    def _drop_queue(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
