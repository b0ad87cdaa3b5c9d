"""The sandbox unit tests' shared market: a fake clock and a replay of seeded synthetic bars on two grids."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource
from gpt_trader.sandbox.market import MarketEvent, MarketReplay, MarketTick, TickGrid

START = 1_704_067_200 + 5 * 86_400 + 7 * 60 + 13  # mid-bar, mid five-minute bucket
GRIDS = {
    "BTC-USD": TickGrid(Decimal("0.01"), Decimal("0.00000001")),
    "DOGE-USD": TickGrid(Decimal("0.00001"), Decimal("0.1")),
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def bars() -> dict[str, Bars]:
    source = SyntheticSource(seed=3)
    return {p: source.fetch(p, Granularity.ONE_MINUTE, START - 2 * 86_400, START + 86_400) for p in GRIDS}


def replay_of(bars: dict[str, Bars], speed: float = 60.0) -> tuple[MarketReplay, FakeClock, list[MarketEvent]]:
    clock = FakeClock()
    replay = MarketReplay(bars, speed, START, clock=clock, grids=GRIDS, seed=5)
    events: list[MarketEvent] = []
    replay.subscribe(events.append)
    return replay, clock, events


def ticks(events: list[MarketEvent], product: str = "BTC-USD") -> list[MarketTick]:
    return [e for e in events if isinstance(e, MarketTick) and e.product_id == product]


