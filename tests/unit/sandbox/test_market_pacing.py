"""The replay's brakes on a fake clock: a pace below one, a step on a budget, and the pacer's rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.market.bars import Bars
from gpt_trader.sandbox.market import MarketEvent, MarketReplay
from gpt_trader.sandbox.pacing import Pacer
from tests.unit.sandbox.conftest import GRIDS, START, FakeClock, replay_of, ticks


class BusyClock(FakeClock):
    """A clock that moves on by `cost` at every reading, as if the work between two readings took that long."""

    def __init__(self, cost: float) -> None:
        super().__init__()
        self.cost = cost

    def __call__(self) -> float:
        self.now += self.cost
        return self.now - self.cost


def tape(events: list[MarketEvent]) -> list[tuple[int, Decimal, float]]:
    return [(t.trade.trade_id, t.trade.price, t.trade.time) for t in ticks(events)]


def test_a_pace_below_one_holds_the_clock_back_by_exactly_its_share(bars: dict[str, Bars]) -> None:
    replay, clock, _ = replay_of(bars, speed=60)
    replay.pace = 0.25
    clock.now += 10
    replay.step()
    assert replay.market_time == START + 150
    replay.pace = 1.0
    clock.now += 10
    replay.step()
    assert replay.market_time == START + 750, "full speed again, the lost time stays lost"


def test_a_step_on_a_budget_stops_early_holds_the_clock_and_skips_nothing(bars: dict[str, Bars]) -> None:
    free, free_clock, free_events = replay_of(bars, speed=60)
    free_clock.now += 300
    free.step()

    clock = BusyClock(cost=0.001)
    braked = MarketReplay(bars, 60, START, clock=clock, grids=GRIDS, seed=5)
    events: list[MarketEvent] = []
    braked.subscribe(events.append)
    clock.now += 300
    first_step = clock.now
    braked.step(budget=0.01)
    first = braked.market_time
    assert START < first < START + 300 * 60 / 10, "stopped well short of the clock's time"
    assert tape(events) and tape(events) == tape(free_events)[: len(tape(events))], "a prefix of the same tape"
    assert all(trade_time <= first for _, _, trade_time in tape(events))

    clock.cost = 0.0
    clock.now += 1
    braked.step(budget=0.01)
    market_seconds = (clock.now - first_step) * 60
    assert braked.market_time == pytest.approx(first + market_seconds), "the clock goes on from where it got to"
    assert tape(events) == tape(free_events)[: len(tape(events))] and len(tape(events)) > 0


def test_a_step_without_budget_pressure_reaches_the_clock(bars: dict[str, Bars]) -> None:
    replay, clock, _ = replay_of(bars, speed=60)
    clock.now += 30
    replay.step(budget=0.01)
    assert replay.market_time == START + 1800 and not replay.slowed


def test_the_pacer_cuts_while_the_lag_is_high_recovers_when_low_and_holds_between() -> None:
    pacer = Pacer(high=0.1, low=0.03, cut=0.5, recover=2.0, floor=0.01)
    assert [pacer.update(0.5) for _ in range(8)] == [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.01, 0.01]
    assert pacer.update(0.05) == 0.01, "between low and high: no change"
    assert [pacer.update(0.0) for _ in range(8)] == [0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0]


def test_a_pacer_needs_a_low_mark_below_its_high_one() -> None:
    with pytest.raises(ValueError, match="0 < low < high"):
        Pacer(high=0.1, low=0.2)
