"""A sandbox exchange built as `gpt-trader sandbox serve` builds it (`build_app` from a `SandboxConfig`),
running on loopback in a thread, with a key registered as `gpt-trader sandbox keys create` registers one,
and a trading session in a real SQLite store for a live broker to trade in::

    with running_sandbox(tmp_path, speed=60) as sandbox:
        store, session_id = live_session(tmp_path / "store.db", ["alpha", "beta"])
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gpt_trader.market.bars import Bars
from gpt_trader.sandbox.exchange import Exchange
from gpt_trader.sandbox.keys import KeyStore
from gpt_trader.sandbox.market import MarketReplay
from gpt_trader.sandbox.server import BackgroundServer, SandboxConfig, build_app, load_market
from gpt_trader.store import Store, open_store

START = 1_717_200_000 + 7 * 60 + 30
"""2024-06-01 00:07:30 UTC, mid-bar."""
PRODUCT = "BTC-USD"


@dataclass
class LiveSandbox:
    server: BackgroundServer
    key_file: Path
    bars: dict[str, Bars]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def exchange(self) -> Exchange:
        exchange: Exchange = self.server.app.state.exchange
        return exchange

    @property
    def replay(self) -> MarketReplay:
        replay: MarketReplay = self.server.app.state.replay
        return replay


@contextmanager
def running_sandbox(
    folder: Path, *, speed: float = 60.0, products: Sequence[str] = (PRODUCT,)
) -> Iterator[LiveSandbox]:
    """A sandbox on a synthetic market (seed 11) from START, its state and key file in `folder`."""
    config = SandboxConfig(
        state_dir=folder / "sandbox-state", source="synthetic:11", products=tuple(products), speed=speed,
        start=START, history_days=0.05, days=1.0,
    )  # fmt: skip
    created = KeyStore(config.state_dir).create_key(out=folder / "sandbox_api_key.json")
    assert created.path is not None
    bars, _ = load_market(config)
    with BackgroundServer(build_app(config)) as server:
        yield LiveSandbox(server, created.path, bars)


def live_session(database: Path, accounts: Sequence[str], product_id: str = PRODUCT) -> tuple[Store, int]:
    """A store at `database` holding one live session with `accounts` (each trading `product_id`)."""
    store = open_store(f"sqlite:///{database}")
    run_id = store.start_run("live", "live broker test")
    session_id = store.start_session(run_id, "live", strategies=["ma_crossover"])
    for name in accounts:
        store.add_account(session_id, name, strategy="ma_crossover", product_id=product_id,
                          starting_cash="10000", quote_currency="USD")  # fmt: skip
    return store, session_id
