"""Exact cases of the position rules that mutation testing found unguarded (`python -m bench.mutation`).

Each pins one promise of `trading.rules` on a price exactly at a boundary, or one field of the records an
engine persists, with numbers worked out by hand.
"""

from __future__ import annotations

import math

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.trading.rules import EXIT_REASONS, Position, at_close, check_stops, flat, refilled, rules_for
from tests.support.rule_replay import L, S


def entered(side: int, **settings: float) -> Position:
    """A position opened at 100 with no fees or spread, at bar 0's close."""
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0, allow_short=True, **settings))
    step = at_close(flat(), 10_000.0, 100.0, side, 0, rules)
    assert step.entered
    return step.position


def exit_of(position: Position, open_: float, high: float, low: float, **settings: float) -> tuple[float, str]:
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0, allow_short=True, **settings))
    step = check_stops(position, 0.0, open_, high, low, 1, rules)
    assert step.closed.exit_bar == 1, "the bar should have closed the position"
    return step.closed.exit_price, EXIT_REASONS[step.closed.reason]


def test_a_flat_position_has_no_entry_and_levels_no_price_can_reach() -> None:
    position = flat(1)
    assert (position.units, position.pending, position.entry_bar) == (0.0, 1, -1)
    assert (position.stop, position.take) == (-math.inf, math.inf)
    assert math.isnan(position.entry_price) and math.isnan(position.best)


def test_nothing_closed_names_no_bar_at_all() -> None:
    rules = rules_for(SimulationSettings(fill="close"))
    closed = check_stops(flat(), 1_000.0, 100.0, 101.0, 99.0, 3, rules).closed
    assert (closed.entry_bar, closed.exit_bar, closed.side) == (-1, -1, 0)


def test_stops_on_a_flat_position_enter_nothing_and_leave_the_cash() -> None:
    rules = rules_for(SimulationSettings(fill="close", stop_loss=0.05))
    step = check_stops(flat(), 1_000.0, 100.0, 101.0, 90.0, 3, rules)
    assert not step.entered and step.cash == 1_000.0 and step.position.units == 0.0


def test_a_long_bar_opening_exactly_at_the_take_profit_takes_profit_at_the_open_though_its_low_hits_the_stop() -> None:
    long = entered(L, stop_loss=0.25, take_profit=0.5)
    assert (long.stop, long.take) == (75.0, 150.0)
    assert exit_of(long, 150.0, 151.0, 74.0, stop_loss=0.25, take_profit=0.5) == (150.0, "take_profit")


def test_a_short_bar_opening_exactly_at_the_take_profit_takes_profit_at_the_open_though_its_high_hits_the_stop() -> (
    None
):
    short = entered(S, stop_loss=0.25, take_profit=0.5)
    assert (short.stop, short.take) == (125.0, 50.0)
    assert exit_of(short, 50.0, 126.0, 49.0, stop_loss=0.25, take_profit=0.5) == (50.0, "take_profit")


def test_the_stop_loss_wins_a_tie_with_the_trailing_level_on_either_side() -> None:
    # From the entry at 100 both levels sit at 75 (125 for the short), exactly: the stop-loss names the exit.
    long = entered(L, stop_loss=0.25, trailing_stop=0.25)
    assert exit_of(long, 80.0, 80.0, 75.0, stop_loss=0.25, trailing_stop=0.25) == (75.0, "stop_loss")
    short = entered(S, stop_loss=0.25, trailing_stop=0.25)
    assert exit_of(short, 120.0, 125.0, 120.0, stop_loss=0.25, trailing_stop=0.25) == (125.0, "stop_loss")


def test_a_signal_at_a_price_of_zero_fills_nothing() -> None:
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0))
    held = at_close(flat(), 10_000.0, 100.0, L, 0, rules).position
    kept = at_close(held, 0.0, 0.0, S, 1, rules)
    assert kept.closed.exit_bar == -1 and kept.position == held and kept.cash == 0.0
    assert not at_close(flat(), 10_000.0, 0.0, L, 0, rules).entered


def test_no_entry_without_positive_cash() -> None:
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0, allow_short=True))
    for signal in (L, S):
        step = at_close(flat(), 0.0, 100.0, signal, 0, rules)
        assert not step.entered and step.position.units == 0.0


def test_an_entry_refilled_at_the_book_takes_its_side_s_levels_from_the_fill() -> None:
    # A book fill re-bases the rules: a long filled at 101 stops at 101 × 0.9 and takes at 101 × 1.2; a short
    # filled at 99 stops at 99 × 1.1 and takes at 99 × 0.8. Committed is the fill's value plus its fee.
    rules = rules_for(SimulationSettings(fill="close", fee_rate=0.0, allow_short=True, stop_loss=0.1,
                                         take_profit=0.2))  # fmt: skip
    long = refilled(entered(1, stop_loss=0.1, take_profit=0.2), 2.0, 101.0, 0.5, 9_000.0, rules)
    assert (long.units, long.entry_price, long.best) == (2.0, 101.0, 101.0)
    assert (long.stop, long.take) == (101.0 * 0.9, 101.0 * 1.2)
    assert (long.entry_fee, long.cash_before, long.committed) == (0.5, 9_000.0, 202.5)
    short = refilled(entered(-1, stop_loss=0.1, take_profit=0.2), -3.0, 99.0, 0.25, 8_000.0, rules)
    assert (short.units, short.stop, short.take, short.best) == (-3.0, 99.0 * 1.1, 99.0 * 0.8, 99.0)
    assert short.committed == 3.0 * 99.0 + 0.25
