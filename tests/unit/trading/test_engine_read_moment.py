"""Where the engine's latency starts: at the moment a live feed says it read the message (`market/arrival.py`),
which may be well before the engine took it, but never before the run began."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

from gpt_trader.market import arrival
from gpt_trader.market.events import MarketEvent
from tests.support.scheduled_engine import START, engine_of, quote, spec, strategies

WAITED = 0.05
"""Seconds a message waits between its read and the engine taking it."""


async def read_early(events: list[MarketEvent], moment: arrival.ReadMoment | None = None) -> AsyncIterator[MarketEvent]:
    """Each event handed over as read at `moment`, by default `WAITED` seconds before it is taken."""
    for event in events:
        read = moment or arrival.now()
        await asyncio.sleep(WAITED)
        arrival.hand_over(read)
        yield event
    arrival.hand_over(None)


def test_latency_counts_from_the_read_the_feed_handed_over(tmp_path: Path) -> None:
    engine = engine_of([spec(f"{strategies(tmp_path)}:AlwaysLong", "BTC-USD", "long")])
    summary = asyncio.run(engine.run(read_early([quote("BTC-USD", START + n) for n in range(3)])))
    latency = summary.latency["quote"]
    assert latency is not None and latency.count == 3
    assert latency.p50 >= WAITED, "the wait between the read and the engine counts"


def test_a_message_read_before_the_run_counts_from_its_start(tmp_path: Path) -> None:
    engine = engine_of([spec(f"{strategies(tmp_path)}:AlwaysLong", "BTC-USD", "long")])
    before = time.perf_counter()
    summary = asyncio.run(engine.run(read_early([quote("BTC-USD", START)], moment=(0.0, 0.0))))
    latency = summary.latency["quote"]
    assert latency is not None and latency.max <= time.perf_counter() - before, "not from the moment handed over"
