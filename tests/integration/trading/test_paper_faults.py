"""Paper trading through a broken feed, on the sandbox's real servers: a gap and a disconnect injected
(through the sandbox's fault endpoint) while a position is open. Nothing fills on a broken book, the losses
are in the store's feed events, and trading resumes once the books are snapshotted again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.config import load_settings
from gpt_trader.market.events import BookUpdate, FeedHealth, HealthKind, MarketEvent
from gpt_trader.store import open_store
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import BOOK
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.live import LiveFeed, feed_endpoints, fetch_venue_grids
from gpt_trader.trading.run import finish_trading_run, start_trading_run
from tests.integration.sandbox.conftest import PRODUCTS, RunningSandbox, StartSandbox
from tests.support.sandbox_faults import inject

LOSSES = frozenset({HealthKind.GAP, HealthKind.DISCONNECTED})
# Parameters that trade on minutes, so positions open and close within a short run.
ACTIVE = {"momentum": {"lookback": 1, "threshold": 0.0002}, "breakout": {"window": 3}}


class Watch:
    """Passes the feed's events to the engine and notes each product's broken spells, in the order the
    engine reads them: from a loss until the product's next snapshot, as the product's fill count when the
    loss and the snapshot reached the engine (market times across channels need not be in order)."""

    def __init__(self, live: LiveFeed) -> None:
        self.live = live
        self.broken: dict[str, list[list[int]]] = {product: [] for product in live.products}
        self.losses: list[HealthKind] = []
        self.injected = 0

    async def events(
        self, broker: PaperBroker, faults: list[str], running: RunningSandbox
    ) -> AsyncIterator[MarketEvent]:
        async for event in self.live.events():
            if isinstance(event, FeedHealth) and event.kind in LOSSES:
                self.losses.append(event.kind)
                for product, spells in self.broken.items():
                    if not spells or len(spells[-1]) == 2:
                        spells.append([_fills(broker, product)])
            elif isinstance(event, BookUpdate) and event.snapshot:
                spells = self.broken[event.product_id]
                if spells and len(spells[-1]) == 1:
                    spells[-1].append(_fills(broker, event.product_id))
            yield event
            # One fault at a time: the next only once the last one's loss was seen and healed.
            if faults and len(self.losses) == self.injected and not self._mid_break() and _position_open(broker):
                await inject(running, faults.pop(0))
                self.injected += 1
            if not faults and self._resumed(broker):
                return

    def _mid_break(self) -> bool:
        return any(spells and len(spells[-1]) == 1 for spells in self.broken.values())

    def _resumed(self, broker: PaperBroker) -> bool:
        """Both faults seen and healed, and a fill made after a book came back."""
        if len(self.losses) < 2 or self._mid_break():
            return False
        return any(spells and _fills(broker, product) > spells[-1][1] for product, spells in self.broken.items())


def _fills(broker: PaperBroker, product_id: str) -> int:
    return sum(len(order.fills) for order in broker.orders.values() if order.request.product_id == product_id)


def _position_open(broker: PaperBroker) -> bool:
    return any(account.units(product) for account in broker.accounts.values() for product in PRODUCTS)


async def test_a_gap_and_a_disconnect_while_a_position_is_open(start_sandbox: StartSandbox, tmp_path: Path) -> None:
    running = start_sandbox(speed=120.0)
    settings = load_settings()
    endpoints = feed_endpoints(running.ws_url, settings)
    grids = await fetch_venue_grids(endpoints, PRODUCTS)
    live = LiveFeed(endpoints, PRODUCTS, "1m", settings=settings)
    await live.open()
    specs = [
        InstanceSpec(name, params, product, f"{name}:{product}", Decimal(10_000), SimulationSettings())
        for name, params in ACTIVE.items() for product in PRODUCTS
    ]
    database = f"sqlite:///{tmp_path / 'paper.db'}"
    watch = Watch(live)
    with open_store(database) as store:
        run_id, session_id, account_ids = start_trading_run(store, "paper", specs, {"test": "faults"})
        broker = PaperBroker(grids, fill_model=BOOK)
        with StoreWriter(store) as writer:
            engine = Engine(specs, granularity="1m", broker=broker, fill_model="book", writer=writer,
                            session_id=session_id, account_ids=account_ids)
            engine.warm_up(await live.history({product: 10 for product in PRODUCTS}))
            async with asyncio.timeout(150):
                summary = await engine.run(watch.events(broker, ["gap", "disconnect"], running))
            await live.close()
        finish_trading_run(store, run_id, session_id, summary, feed=live.statistics())
        recorded = {str(event.kind.value) for event in store.feed_events(session_id, limit=1000)}

    assert watch.losses == [HealthKind.GAP, HealthKind.DISCONNECTED]
    assert all(len(windows) == 2 for windows in watch.broken.values()), "two breaks, each healed"
    for product, spells in watch.broken.items():
        for at_loss, at_snapshot in spells:
            assert at_snapshot == at_loss, f"{product}: {at_snapshot - at_loss} fill(s) on a broken book"
    assert {"gap", "disconnected", "resynced"} <= recorded, recorded
    assert live.statistics()["connections"] == 2, "the disconnect reconnected once"
