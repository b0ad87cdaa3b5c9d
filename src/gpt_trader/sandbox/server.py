"""The sandbox exchange as one process: its configuration, the app that serves it, and the server that runs it.

`create_app` assembles the parts on one FastAPI app, so REST (`/api/v3/brokerage/...`) and the
WebSocket (`/ws`, and `/` so a bare `ws://host:port` works) share one port::

    app.state.replay    the market (MarketReplay), stepped every few milliseconds
    app.state.catalog   the products and their increments (Catalog)
    app.state.keys      registered API keys and JWT checks (KeyStore), or None
    app.state.exchange  accounts, orders and matching (Exchange), fed every quote, or None
    app.state.faults    the fault injector (FaultInjector)
    app.state.hub       WebSocket connections and fan-out (ws.Hub)
    app.state.throttle  the REST rate limits (ratelimit.Throttle)

`build_app(config)` makes every part from a `SandboxConfig`; `serve(config)` runs it on loopback until
Ctrl-C or SIGTERM; `BackgroundServer` runs an app in a thread (tests, notebooks, benchmarks).

What survives a restart lives in `config.state_dir`: the keys (`keys.json`), and the exchange's balances,
orders and fills with the market time (`exchange.json`, saved within `SAVE_SECONDS` of each change and
on shutdown); a restarted sandbox continues the market from that time unless `--start` says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.sandbox import faults as faults_module
from gpt_trader.sandbox import orders, rest, ws
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange.engine import Exchange
from gpt_trader.sandbox.exchange.state import STATE_FILE_NAME, load_state, save_state
from gpt_trader.sandbox.faults import FaultInjector, FaultSchedule
from gpt_trader.sandbox.keys import KeyStore
from gpt_trader.sandbox.market import MarketEvent, MarketReplay, MarketTick, TickGrid
from gpt_trader.sandbox.ratelimit import RateLimitMiddleware, RateLimits, Throttle
from gpt_trader.sandbox.tls import ensure_certificate
from gpt_trader.sandbox.ws import Hub, WsSettings

log = logging.getLogger(__name__)

STEP_SECONDS = 0.02
"""How often the market replays the trades that have come due (wall-clock seconds)."""
SAVE_SECONDS = 1.0
"""How often the exchange's state is saved when it changed (wall-clock seconds)."""
DAY = 86_400
SOURCE_FORMS = "synthetic, synthetic:SEED, file:PATH, cache, cache:SOURCE (e.g. cache:local)"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything `gpt-trader sandbox serve` can be told; see the command's help for each."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    source: str = "synthetic"
    products: tuple[str, ...] = ()
    speed: float = 60.0
    start: int | None = None
    granularity: str = "1m"
    history_days: float = 31.0  # the 30 days `backtest --quick` asks for, and a day to spare
    days: float = 30.0
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    tls: bool = False
    cert_out: Path | None = None
    catalog_file: Path | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits)
    seed: int = 0

    @property
    def scheme(self) -> tuple[str, str]:
        return ("https", "wss") if self.tls else ("http", "ws")

    @property
    def certificate(self) -> Path:
        return self.cert_out or self.state_dir / "sandbox-cert.pem"


def create_app(
    replay: MarketReplay,
    catalog: Catalog,
    *,
    keys: KeyStore | None = None,
    exchange: Exchange | None = None,
    faults: FaultInjector | None = None,
    ws_settings: WsSettings | None = None,
    rate_limits: RateLimits | None = None,
    step_seconds: float = STEP_SECONDS,
    state_file: Path | None = None,
) -> FastAPI:
    """The sandbox's app over ready-made parts; the market steps while the app runs (its lifespan).
    With `state_file`, the exchange's state is saved there as it changes and when the app stops."""
    injector = faults or FaultInjector()
    hub = Hub(replay, catalog, injector, ws_settings, keys=keys, exchange=exchange)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        unsubscribe = replay.subscribe(_quote_feed(exchange)) if exchange is not None else None
        tasks = [
            asyncio.create_task(replay.run(step_seconds), name="market"),
            asyncio.create_task(injector.run(), name="faults"),
            asyncio.create_task(hub.run_ticker_batches(), name="ticker batches"),
        ]
        if exchange is not None and state_file is not None:
            tasks.append(asyncio.create_task(_save_changes(exchange, replay, state_file), name="state"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            hub.stop()
            if unsubscribe is not None:
                unsubscribe()
            if exchange is not None and state_file is not None:
                save_state(state_file, exchange, replay.market_time)

    app = FastAPI(title="GPT-Trader sandbox exchange", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.replay = replay
    app.state.catalog = catalog
    app.state.keys = keys
    app.state.exchange = exchange
    app.state.faults = injector
    app.state.hub = hub
    rest.install_error_handlers(app)
    app.include_router(rest.router)
    app.include_router(orders.router)
    app.include_router(faults_module.router)
    app.include_router(ws.router)
    app.add_api_websocket_route("/ws", hub.serve)
    app.add_api_websocket_route("/", hub.serve)
    app.state.throttle = Throttle(rate_limits or RateLimits())
    app.add_middleware(RateLimitMiddleware, throttle=app.state.throttle, api_prefix=rest.API_PREFIX)
    return app


async def _save_changes(exchange: Exchange, replay: MarketReplay, path: Path) -> None:
    saved = exchange.changes
    while True:
        await asyncio.sleep(SAVE_SECONDS)
        if exchange.changes != saved:
            saved = exchange.changes
            save_state(path, exchange, replay.market_time)


def _quote_feed(exchange: Exchange) -> Callable[[MarketEvent], None]:
    """Hands the exchange every new quote, so resting orders fill as the market moves."""

    def feed(event: MarketEvent) -> None:
        if isinstance(event, MarketTick):
            exchange.on_quote(event.product_id, event.quote)

    return feed


def build_app(config: SandboxConfig) -> FastAPI:
    """Every part made from `config`, the bars loaded from its source, on one app."""
    catalog = Catalog.from_payload(config.catalog_file) if config.catalog_file else Catalog.default()
    state_file = config.state_dir.expanduser() / STATE_FILE_NAME
    saved = load_state(state_file, catalog)
    if saved is not None and config.start is None:
        config = replace(config, start=math.floor(saved.market_time))
    loaded, start = load_market(config)
    # Data of a renamed product (MATIC-USD) is that market's history: replayed under the listed name (POL-USD).
    bars = {catalog.listed_name(p): replace(b, product_id=catalog.listed_name(p)) for p, b in loaded.items()}
    missing = [product for product in bars if product not in catalog]
    if missing:
        raise UserError(
            f"the product catalogue has no {', '.join(missing)}; choose products it lists "
            f"({', '.join(catalog.product_ids)}) or give a products payload with --catalog"
        )
    last = max((b.end for b in bars.values() if len(b)), default=None)
    if last is None or start >= last:
        if last is None:
            raise UserError("the market data holds no bars; choose another --source or more --days")
        raise UserError(f"the market data ends at {_utc(last)}; choose a --start before {_utc(last)}")
    grids = {p: TickGrid(catalog.get(p).price_increment, catalog.get(p).base_increment) for p in bars}
    replay = MarketReplay(bars, config.speed, start, grids=grids, seed=config.seed)
    exchange = Exchange(catalog, replay, clock=lambda: datetime.fromtimestamp(replay.market_time, UTC))
    if saved is not None:
        exchange.restore(saved.accounts, saved.orders, saved.fills)
    keys = KeyStore(config.state_dir)
    return create_app(
        replay, catalog, keys=keys, exchange=exchange, faults=FaultInjector(config.faults),
        rate_limits=config.rate_limits, state_file=state_file,
    )


def load_market(config: SandboxConfig) -> tuple[dict[str, Bars], int]:
    """The bars to replay and the market time to start from, as `config.source` says.

    | source | bars | start when not given |
    |---|---|---|
    | `synthetic[:SEED]` | the synthetic market, `history_days` before the start to `days` after | now |
    | `file:PATH` | the whole file, validated | its first bar |
    | `cache[:SOURCE]` | `load_bars` through the candle cache (SOURCE: coinbase by default, or local) | `days` ago |
    """
    from gpt_trader.market.load import load_bars, parse_granularity
    from gpt_trader.market.sources import FileSource, SyntheticSource, open_source

    size = parse_granularity(config.granularity)
    kind, _, argument = config.source.strip().partition(":")
    kind = kind.lower()
    products: Sequence[str] = config.products
    history, ahead = round(config.history_days * DAY), round(config.days * DAY)
    if kind == "synthetic":
        synthetic = open_source(config.source)
        assert isinstance(synthetic, SyntheticSource)
        start = config.start if config.start is not None else int(time.time()) // 60 * 60
        wanted = list(products) or synthetic.products()
        return {p: synthetic.fetch(p, size, start - history, start + ahead) for p in wanted}, start
    if kind == "file" and argument:
        file_source = FileSource(Path(argument).expanduser())
        bars = load_bars(list(products) or file_source.products(), size, source=file_source)
        first = min((b.start for b in bars.values() if len(b)), default=None)
        if first is None:
            raise UserError(f"{argument} holds no bars to replay")
        return bars, config.start if config.start is not None else first
    if kind == "cache":
        if not products:
            raise UserError("--source cache needs the products to load: pass --products BTC-USD,ETH-USD")
        start = config.start if config.start is not None else int(time.time()) // 60 * 60 - ahead
        bars = load_bars(list(products), size, start - history, start + ahead, source=argument or "coinbase")
        return bars, start
    raise UserError(f"unknown --source {config.source!r}; use one of: {SOURCE_FORMS}")


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT and SIGTERM without re-raising the signal afterwards
    (uvicorn re-raises it, which would make a clean stop look like a crash)."""

    stop_signal: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = sig
        self.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: any free port); a UserError says when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port or --host") from None
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


class _CoinbaseShapedHttp(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request it cannot parse (headers too large, not HTTP) as
    Coinbase answers errors: a 400 with the JSON error body. It then reads and drops what the client
    still sends, for at most DRAIN_SECONDS and DRAIN_BYTES, before closing: closing at once with data
    unread would reset the connection, and the client would never see the answer."""

    DRAIN_SECONDS = 2.0
    DRAIN_BYTES = 16 * 1024 * 1024
    _drained: int | None = None

    def send_400_response(self, msg: str) -> None:
        message = "the request cannot be read as HTTP/1.1 (are its headers larger than the server accepts?)"
        body = json.dumps({"error": "INVALID_ARGUMENT", "message": message, "error_details": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self._drained = 0
        asyncio.get_running_loop().call_later(self.DRAIN_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._drained is None:
            super().data_received(data)
            return
        self._drained += len(data)
        if self._drained > self.DRAIN_BYTES:
            self.transport.close()


def _uvicorn_config(app: FastAPI, tls_files: tuple[Path, Path] | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=_CoinbaseShapedHttp,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # The peer is who the socket says: X-Forwarded-For from loopback would let any client pick its own.
        proxy_headers=False,
        timeout_graceful_shutdown=3,
        ssl_certfile=str(tls_files[0]) if tls_files else None,
        ssl_keyfile=str(tls_files[1]) if tls_files else None,
    )


def serve(config: SandboxConfig, announce: Callable[[str], None] = print) -> str:
    """Run the sandbox until Ctrl-C or SIGTERM; `announce` gets the start-up lines. Returns how it stopped."""
    app = build_app(config)
    tls_files = ensure_certificate(config.certificate) if config.tls else None
    listener = bind(config.host, config.port)
    server = _Server(_uvicorn_config(app, tls_files))
    port = listener.getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    http, ws = config.scheme

    async def run() -> None:
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            for line in _banner(app, config, f"{http}://{host}:{port}", f"{ws}://{host}:{port}/ws", tls_files):
                announce(line)
        await serving

    asyncio.run(run())
    stopped_by = {int(signal.SIGINT): "Ctrl-C", int(signal.SIGTERM): "SIGTERM"}
    return stopped_by.get(server.stop_signal or 0, "server exit")


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _banner(
    app: FastAPI, config: SandboxConfig, rest_url: str, ws_url: str, tls_files: tuple[Path, Path] | None
) -> list[str]:
    replay: MarketReplay = app.state.replay
    lines = [
        f"sandbox exchange: {config.source} market, {', '.join(replay.products())}",
        f"  replaying from {_utc(replay.start)} at {config.speed:g}x; faults: {config.faults.describe()}",
        f"  REST:      {rest_url}",
        f"  WebSocket: {ws_url}",
    ]
    if tls_files:
        lines.append(f"  certificate: {tls_files[0]} (trust it, e.g. REQUESTS_CA_BUNDLE={tls_files[0]})")
    lines.append(f"  state:     {config.state_dir} (keys, balances, orders, fills and the market clock)")
    lines.append("Press Ctrl-C to stop.")
    return lines


class BackgroundServer:
    """Runs an app on 127.0.0.1 (a free port) in a thread; use as a context manager.

    `url` is the REST base URL, `ws_url` the WebSocket one; with `tls_files` (certificate, key) both
    are https/wss.
    """

    def __init__(self, app: FastAPI, tls_files: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
        self.app = app
        self._listener = bind(host, 0)
        self.port = int(self._listener.getsockname()[1])
        http, ws = ("https", "wss") if tls_files else ("http", "ws")
        self.url = f"{http}://{host}:{self.port}"
        self.ws_url = f"{ws}://{host}:{self.port}/ws"
        self._server = _Server(_uvicorn_config(app, tls_files))
        self._thread = threading.Thread(target=self._run, name="sandbox-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._listener]))

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._listener.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
