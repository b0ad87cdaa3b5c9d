"""The live feed's reader in a thread of its own, on the sandbox's real servers: a strategy that takes longer
than the stale deadline on one bar neither stalls the reading nor trips stale detection, while a venue that
really goes quiet still does; the engine's side asks for fresh books, learns of the reader's failure, and a
consumer far behind gets a bounded backlog and a gap instead of unbounded memory."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.coinbase.errors import CoinbaseUnavailable
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.config import load_settings
from gpt_trader.market.events import BarClosed, BookUpdate, FeedHealth, HealthKind, MarketEvent
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import BOOK
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.live import LiveFeed, feed_endpoints, fetch_venue_grids
from tests.integration.sandbox.conftest import PRODUCTS, RunningSandbox, StartSandbox
from tests.support.sandbox_faults import inject

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)
STALE_AFTER = 1.0
SLEEPY = """\
import time

import numpy as np

from gpt_trader.strategies import Strategy

NAP = 0.0
'''Seconds the next evaluation sleeps (once).'''
READ = None
'''How many messages the feed has read so far.'''
NAPS = []
'''READ() before and after each nap.'''


class Sleepy(Strategy):
    name = "sleepy"

    def lookback(self, params):
        return 2

    def signals(self, bars, params, cache=None):
        global NAP
        if NAP:
            nap, NAP = NAP, 0.0
            before = READ()
            time.sleep(nap)  # a strategy that takes seconds on one bar, on the engine's thread
            NAPS.append((before, READ()))
        return np.zeros(len(bars), dtype=np.int8)
"""


def _live(running: RunningSandbox, **options: float) -> LiveFeed:
    settings = load_settings()
    return LiveFeed(feed_endpoints(running.ws_url, settings), PRODUCTS, "1m", settings=settings, grace=5.0,
                    reconnect=FAST, stale_after=STALE_AFTER, **options)  # fmt: skip


def _readers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("feed-reader")]


def _messages_read(live: LiveFeed) -> int:
    return sum(live.feed.client.parser.counts.values())


async def _after_nap(events: AsyncIterator[MarketEvent], module: ModuleType, bars: int) -> AsyncIterator[MarketEvent]:
    """`events` until `bars` closed bars of BTC-USD came after the strategy's nap."""
    async for event in events:
        yield event
        if module.NAPS and isinstance(event, BarClosed) and event.product_id == "BTC-USD":
            bars -= 1
            if bars == 0:
                return


async def test_a_strategy_slower_than_the_stale_deadline_neither_stalls_reading_nor_reads_as_stale(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    running = start_sandbox(speed=60.0)
    grids = await fetch_venue_grids(feed_endpoints(running.ws_url, load_settings()), PRODUCTS)
    live = _live(running)
    await live.open()
    path = tmp_path / "sleepy.py"
    path.write_text(SLEEPY)
    spec = InstanceSpec(f"{path}:Sleepy", {}, "BTC-USD", "sleepy", Decimal(10_000), SimulationSettings())
    engine = Engine([spec], granularity="1m", broker=PaperBroker(grids, fill_model=BOOK), fill_model="book")
    engine.warm_up(await live.history({"BTC-USD": 5}))
    module = sys.modules[type(engine.instances[0].strategy).__module__]
    module.READ = lambda: _messages_read(live)
    module.NAP = 3 * STALE_AFTER
    async with asyncio.timeout(60):
        summary = await engine.run(_after_nap(live.events(), module, bars=3))
    await live.close()

    [(before, after)] = module.NAPS
    assert after > before, "the feed kept reading while the strategy slept"
    stats = live.statistics()
    assert "stale" not in stats["health_events"] and stats["connections"] == 1, stats["health_events"]
    assert summary.messages == stats["events"], "every event the feed delivered was read by the engine"
    assert stats["dropped_behind"] == 0
    assert not _readers(), "closing the feed ended its reader thread"


async def _until_health(live: LiveFeed, *wanted: HealthKind) -> list[MarketEvent]:
    """The events up to the health events `wanted`, in that order."""
    events: list[MarketEvent] = []
    left = list(wanted)
    async with asyncio.timeout(30):
        async for event in live.events():
            events.append(event)
            if isinstance(event, FeedHealth) and event.kind is left[0]:
                left.pop(0)
                if not left:
                    return events
    raise AssertionError(f"the feed ended before {left}")


async def test_a_venue_that_really_goes_quiet_still_reads_as_stale_and_reconnects(sandbox: RunningSandbox) -> None:
    live = _live(sandbox)
    await live.open()
    await inject(sandbox, "stall", 3 * STALE_AFTER)
    await _until_health(live, HealthKind.STALE, HealthKind.CONNECTED)
    await live.close()
    stats = live.statistics()
    assert stats["health_events"]["stale"] == 1 and stats["connections"] == 2
    assert not _readers()


async def test_the_engines_side_asks_for_fresh_books_through_the_reader(sandbox: RunningSandbox) -> None:
    live = _live(sandbox)
    await live.open()
    await live.resync(["BTC-USD"])
    events = await _until_health(live, HealthKind.RESYNCED)
    await live.close()
    assert any(isinstance(e, BookUpdate) and e.snapshot and e.product_id == "BTC-USD" for e in events)
    assert live.statistics()["health_events"] == {"connected": 1, "resynced": 1}


async def test_the_readers_failure_is_raised_on_the_engines_side(start_sandbox: StartSandbox) -> None:
    running = start_sandbox()
    live = _live(running)
    await live.open()
    await asyncio.to_thread(running.server.stop)
    with pytest.raises(CoinbaseUnavailable, match=r"3 connections in a row failed"):
        async with asyncio.timeout(30):
            async for _ in live.events():
                pass
    await live.close()
    assert live.statistics()["health_events"]["disconnected"] == 1
    assert not _readers()


async def test_an_engine_far_behind_gets_a_bounded_backlog_and_a_gap_then_fresh_books(sandbox: RunningSandbox) -> None:
    live = _live(sandbox, backlog=100)
    await live.open()
    assert live.statistics()["dropped_behind"] == 0, "the backlog held the first snapshots"
    await asyncio.sleep(3)  # busy elsewhere, while the reader reads on: some 500 messages at this speed
    events = await _until_health(live, HealthKind.GAP, HealthKind.RESYNCED)
    await live.close()
    [gap] = [e for e in events if isinstance(e, FeedHealth) and e.kind is HealthKind.GAP]
    after = events[events.index(gap) :]
    assert {e.product_id for e in after if isinstance(e, BookUpdate) and e.snapshot} == set(PRODUCTS)
    stats = live.statistics()
    assert stats["dropped_behind"] > 0
    assert gap.detail == (f"the engine fell 100 messages behind the feed: {stats['dropped_behind']:,} dropped; "
                          "re-snapshotting the books")  # fmt: skip
    assert 100 <= stats["backlog_peak"] <= 100 + sum(stats["health_events"].values())
    assert stats["connections"] == 1, "falling behind does not cost the connection"
