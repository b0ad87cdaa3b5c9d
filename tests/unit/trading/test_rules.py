"""The position rules called the way an event engine calls them, one bar or one price at a time.

`replay_rules` walks bars through `at_open`, `check_stops` and `at_close` from Python, keeping only the
`Position` record and cash between bars, as a live engine persists them. It must give the kernel's trades
and cash exactly, on random markets, signals and settings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.trading.rules import (
    EXIT_REASONS,
    Position,
    at_close,
    at_open,
    check_stops,
    flat,
    quiet_signals,
    rules_for,
    wants,
)
from tests.support.rule_replay import H, L, S, closed_trips, make_bars, replay_rules
from tests.support.simulation_cases import close_enough, simulation_cases


@given(simulation_cases())
def test_bar_by_bar_rules_give_the_kernels_trades_and_cash(
    case: tuple[Bars, np.ndarray, SimulationSettings],
) -> None:
    bars, signals, settings = case
    trips, cash, position = replay_rules(bars, signals, settings)
    kernel = run_simulation(bars, signals, settings)
    expected = closed_trips(bars, signals, settings)
    assert [trip[:4] for trip in trips] == [trip[:4] for trip in expected]
    for got, want in zip(trips, expected, strict=True):
        assert all(close_enough(a, b) for a, b in zip(got[4:], want[4:], strict=True))
    assert close_enough(cash, kernel.cash[-1])
    assert close_enough(position.units, kernel.units[-1])


def test_wants_and_the_quiet_range_agree_on_every_signal_and_position() -> None:
    for units in (-2.0, 0.0, 3.0):
        for allow_short in (False, True):
            low, high = quiet_signals(units, allow_short)
            for signal in (S, H, L):
                assert wants(signal, units, allow_short) == (not low <= signal <= high), (units, allow_short, signal)


def test_a_single_price_is_a_bar_whose_open_high_and_low_are_that_price() -> None:
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05, trailing_stop=0.1))
    entered = at_close(flat(), 10_000.0, 100.0, L, 0, rules)
    assert entered.entered and entered.cash == 0.0
    long = entered.position
    assert (long.units, long.entry_price, long.stop, long.best) == (100.0, 100.0, 95.0, 100.0)
    higher = check_stops(long, 0.0, 120.0, 120.0, 120.0, 1, rules)
    assert higher.closed.exit_bar == -1 and higher.position.best == 120.0
    # From the best price of 120 a 10 % trailing level sits at 108, above the 95 stop: it is the one hit.
    stopped = check_stops(higher.position, 0.0, 108.0, 108.0, 108.0, 2, rules)
    assert (stopped.closed.exit_price, EXIT_REASONS[stopped.closed.reason]) == (108.0, "trailing_stop")
    assert stopped.position.units == 0.0 and stopped.cash == pytest.approx(10_800.0)


def test_a_next_open_signal_waits_in_the_position_record_until_the_next_open() -> None:
    rules = rules_for(SimulationSettings(fill="next_open", fee_rate=0.0))
    waiting = at_close(flat(), 10_000.0, 100.0, L, 0, rules)
    assert (waiting.position.pending, waiting.position.units, waiting.entered) == (L, 0.0, False)
    restored = Position(*waiting.position)  # what an engine reads back from its store
    filled = at_open(restored, waiting.cash, 104.0, 1, rules)
    assert filled.entered and (filled.position.units, filled.position.pending) == (10_000.0 / 104.0, 0)
    # A pending signal that meets no usable open is dropped, not carried to the bar after.
    dropped = at_open(waiting.position, waiting.cash, math.nan, 1, rules)
    assert not dropped.entered and dropped.position.pending == 0


def test_a_reversal_closes_then_enters_on_the_cash_it_freed() -> None:
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.01, allow_short=True))
    long = at_close(flat(), 10_000.0, 100.0, L, 0, rules)
    reversed_ = at_close(long.position, long.cash, 110.0, S, 1, rules)
    assert reversed_.entered and EXIT_REASONS[reversed_.closed.reason] == "signal"
    freed = long.position.units * 110.0 * 0.99
    assert reversed_.closed.pnl == pytest.approx(freed - 10_000.0)
    assert reversed_.position.units == pytest.approx(-freed / (110.0 * 1.01))
    assert reversed_.position.stop == math.inf and reversed_.position.take == -math.inf


def test_the_kernel_and_the_replay_agree_on_a_hand_made_market() -> None:
    bars = make_bars([100, 97, 104, 99, 90, 95], low=[100, 94, 96, 98, 85, 94], high=[100, 99, 106, 101, 99, 96])
    signals = np.array([L, H, S, L, H, S], dtype=np.int8)
    settings = SimulationSettings(fill="next_open", stop_loss=0.05, take_profit=0.05, allow_short=True)
    trips, _, _ = replay_rules(bars, signals, settings)
    assert [trip[:4] for trip in trips] == [trip[:4] for trip in closed_trips(bars, signals, settings)]
    assert len(trips) >= 2
