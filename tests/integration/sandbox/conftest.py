"""A real sandbox on loopback for the tests here: the synthetic market, every part wired as `serve` wires it.

`start_sandbox(...)` starts one (a random free port, in a thread) and stops it at the end of the test;
`sandbox` is one with the defaults. Rate limits are off unless a test asks for them. `connect`,
`subscribe`, `receive`, `until` and `collect` are the WebSocket client side of the tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange import Exchange
from gpt_trader.sandbox.faults import FaultInjector, FaultSchedule
from gpt_trader.sandbox.keys import KeyStore
from gpt_trader.sandbox.market import MarketReplay, TickGrid
from gpt_trader.sandbox.ratelimit import RateLimits
from gpt_trader.sandbox.server import BackgroundServer, create_app
from gpt_trader.sandbox.ws import WsSettings

START = 1_717_200_000 + 7 * 60 + 30  # 2024-06-01 00:07:30 UTC, mid-bar
PRODUCTS = ("BTC-USD", "ETH-USD")


@dataclass
class RunningSandbox:
    server: BackgroundServer
    replay: MarketReplay
    keys: KeyStore
    faults: FaultInjector
    bars: dict[str, Bars]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url


@pytest.fixture(scope="session")
def sandbox_bars() -> dict[str, Bars]:
    """Two days of 1-minute synthetic bars before START and one after."""
    source = SyntheticSource(seed=11)
    return {p: source.fetch(p, Granularity.ONE_MINUTE, START - 2 * 86_400, START + 86_400) for p in PRODUCTS}


StartSandbox = Callable[..., RunningSandbox]


@pytest.fixture
def start_sandbox(sandbox_bars: dict[str, Bars], tmp_path: Path) -> Iterator[StartSandbox]:
    running: list[BackgroundServer] = []

    def start(
        *,
        speed: float = 60.0,
        rate_limits: RateLimits | None = None,
        ws_settings: WsSettings | None = None,
        faults: str | None = None,
        tls_files: tuple[Path, Path] | None = None,
        bars: dict[str, Bars] | None = None,
    ) -> RunningSandbox:
        catalog = Catalog.default()
        market = bars or sandbox_bars
        grids = {p: TickGrid(catalog.get(p).price_increment, catalog.get(p).base_increment) for p in market}
        replay = MarketReplay(market, speed, START, grids=grids)
        exchange = Exchange(catalog, replay, clock=lambda: datetime.fromtimestamp(replay.market_time, UTC))
        keys = KeyStore(tmp_path / "state")
        injector = FaultInjector(FaultSchedule.parse(faults))
        app = create_app(
            replay,
            catalog,
            keys=keys,
            exchange=exchange,
            faults=injector,
            ws_settings=ws_settings,
            rate_limits=rate_limits or RateLimits.off(),
        )
        server = BackgroundServer(app, tls_files).start()
        running.append(server)
        return RunningSandbox(server, replay, keys, injector, market)

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    return start_sandbox()


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[ClientConnection]:
    # No client-side flow control: a test that stops reading must still close at once.
    async with websockets.connect(url, open_timeout=5, max_size=None, max_queue=None) as connection:
        yield connection


async def subscribe(connection: ClientConnection, channel: str, *products: str, **extra: Any) -> None:
    message = {"type": "subscribe", "channel": channel, **extra}
    if products:
        message["product_ids"] = list(products)
    await connection.send(json.dumps(message))


async def receive(connection: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), timeout))
    return message


async def collect(connection: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    messages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(await receive(connection, left))
        except TimeoutError:
            break
    return messages


async def until(connection: ClientConnection, channel: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(connection, max(0.01, deadline - time.monotonic()))
        if message.get("channel") == channel or message.get("type") == channel:
            return message


FREEZE = 5.0
"""Seconds between two heartbeats (due once a second) that only a frozen server exceeds: a generous bound,
so a machine busy with other work does not fail the test (before the fix, three huge subscribes froze the
server here for about 9 s)."""


async def feed_status(running: RunningSandbox) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        answer = await client.get("/sandbox/feed")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@asynccontextmanager
async def tight_client(running: RunningSandbox, max_queue: int = 4) -> AsyncIterator[ClientConnection]:
    """A client whose backlog the server feels at once: it reads the socket only while fewer than `max_queue`
    frames wait in its queue, and socket buffers on both ends are small (the server's accepted sockets inherit
    its listener's), so what it has not read waits in the server's queue, not in megabytes of kernel buffers.
    No keepalive pings: a client that stops reading would time out its own pings."""
    running.server._listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    host, port = running.server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect((host, int(port)))
    async with websockets.connect(running.ws_url, sock=sock, max_queue=max_queue, ping_interval=None) as connection:
        yield connection
