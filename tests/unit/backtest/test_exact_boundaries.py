"""Prices exactly at a stop, take-profit or trailing level, run through the kernel and the reference alike.

A level is reached when the bar touches it, not only when it trades through: `low <= stop`, never
`low < stop`. Random markets rarely land exactly on a level, so these hand-made bars do, on purpose, with
levels chosen to be exact in binary floating point (100 * (1 - 0.05) == 95.0). Each case runs in both fill
modes through the kernel, the reference and the rules called bar by bar, each on its own, so a boundary bug
in the rules or in the reference is caught by itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from gpt_trader.backtest.reference import simulate_reference
from gpt_trader.backtest.settings import FILL_MODES, FillMode, SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from tests.support.rule_replay import H, L, S, make_bars, replay_rules

Exit = tuple[int, int, float, str]
"""(entry bar, exit bar, exit price, exit reason) of the one round trip."""


def kernel_trips(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> list[Exit]:
    frame = run_simulation(bars, signals, settings).trades()
    return list(zip(frame["entry_bar"], frame["exit_bar"], frame["exit_price"], frame["exit_reason"],
                    strict=True))


def reference_trips(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> list[Exit]:
    trades = simulate_reference(bars, signals, settings).trades
    return [(trade.entry_bar, trade.exit_bar, trade.exit_price, trade.exit_reason) for trade in trades]


def bar_by_bar_trips(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> list[Exit]:
    """The rules called one bar at a time, as the event engine calls them."""
    trips, _, _ = replay_rules(bars, signals, settings)
    return [(entry_bar, exit_bar, exit_price, reason) for entry_bar, exit_bar, _, reason, _, _, exit_price, _ in trips]


SIMULATORS: dict[str, Callable[[Bars, np.ndarray, SimulationSettings], list[Exit]]] = {
    "kernel": kernel_trips,
    "reference": reference_trips,
    "bar_by_bar": bar_by_bar_trips,
}


@dataclass(frozen=True)
class Case:
    """One position entered at 100 on bar 0's close, then the bars that follow it (open = previous close
    unless given), and the exit they must produce."""

    side: int
    closes: list[float]
    highs: list[float]
    lows: list[float]
    levels: dict[str, Any]
    exit_bar: int
    exit_price: float
    reason: str
    opens: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def market(self, fill: FillMode) -> tuple[Bars, np.ndarray, SimulationSettings]:
        """The bars, signals and settings; under next_open a flat bar at 100 comes first, so the entry fills
        at the open of the bar that used to be bar 0 and every later bar moves one place on."""
        closes, highs, lows = list(self.closes), list(self.highs), list(self.lows)
        opens = list(self.opens) if self.opens else [closes[0], *closes[:-1]]
        if fill == "next_open":
            closes, highs, lows, opens = [100.0, *closes], [100.0, *highs], [100.0, *lows], [100.0, *opens]
        bars = make_bars(closes, open_=opens, high=highs, low=lows)
        signals = np.full(len(closes), H, dtype=np.int8)
        signals[0] = self.side
        settings = SimulationSettings(fill=fill, fee_rate=0.0, allow_short=self.side == S, **self.levels)
        return bars, signals, settings

    def expected(self, fill: FillMode) -> list[Exit]:
        shift = 1 if fill == "next_open" else 0
        return [(shift, self.exit_bar + shift, self.exit_price, self.reason)]


CASES = {
    # The example: a 5 % stop at 95 and a bar whose low is exactly 95.
    "long stop-loss touched": Case(L, [100, 97, 99], [100, 97, 99], [100, 95, 99], {"stop_loss": 0.05},
                                   1, 95.0, "stop_loss"),
    "short stop-loss touched": Case(S, [100, 103, 101], [100, 105, 101], [100, 103, 101], {"stop_loss": 0.05},
                                    1, 105.0, "stop_loss"),
    "long take-profit touched": Case(L, [100, 110, 112], [100, 120, 112], [100, 100, 110],
                                     {"take_profit": 0.2}, 1, 120.0, "take_profit"),
    "short take-profit touched": Case(S, [100, 95, 94], [100, 100, 95], [100, 90, 94], {"take_profit": 0.1},
                                      1, 90.0, "take_profit"),
    # Best high 120 after bar 1 puts a 5 % trailing level at 114; bar 2's low is exactly 114.
    "long trailing stop touched": Case(L, [100, 118, 116, 115], [100, 120, 118, 116], [100, 115, 114, 115],
                                       {"trailing_stop": 0.05}, 2, 114.0, "trailing_stop"),
    "short trailing stop touched": Case(S, [100, 82, 83, 85], [100, 100, 84, 85], [100, 80, 82, 85],
                                        {"trailing_stop": 0.05}, 2, 84.0, "trailing_stop"),
    # Trailing and fixed levels tie at 95 from the entry: the tie goes to the stop-loss.
    "trailing ties the stop-loss": Case(L, [100, 97, 99], [100, 97, 99], [100, 95, 99],
                                        {"stop_loss": 0.05, "trailing_stop": 0.05}, 1, 95.0, "stop_loss"),
    "short trailing ties the stop-loss": Case(S, [100, 103, 101], [100, 105, 101], [100, 103, 101],
                                         {"stop_loss": 0.05, "trailing_stop": 0.05}, 1, 105.0, "stop_loss"),
    # A bar that opens exactly at the stop fills at its open, whatever the rest of the bar (here: no low).
    "long opens at the stop": Case(L, [100, 97], [100, 97], [100, math.nan], {"stop_loss": 0.05}, 1, 95.0,
                                   "stop_loss", opens=[100, 95]),
    "short opens at the stop": Case(S, [100, 103], [100, math.nan], [100, 103], {"stop_loss": 0.05}, 1, 105.0,
                                    "stop_loss", opens=[100, 105]),
    # A bar that opens exactly at the take-profit fills there, even though it then falls through the stop.
    "long opens at take-profit": Case(L, [100, 90], [100, 120], [100, 90], {"stop_loss": 0.05, "take_profit": 0.2},
                                      1, 120.0, "take_profit", opens=[100, 120]),
    "short opens at take-profit": Case(S, [100, 110], [100, 110], [100, 90],
                                       {"stop_loss": 0.05, "take_profit": 0.1}, 1, 90.0, "take_profit",
                                       opens=[100, 90]),
}


def test_the_levels_are_exact_in_floating_point() -> None:
    assert (100 * (1 - 0.05), 100 * (1 + 0.05), 100 * (1 + 0.2), 100 * (1 - 0.1)) == (95.0, 105.0, 120.0, 90.0)
    assert (120 * (1 - 0.05), 80 * (1 + 0.05)) == (114.0, 84.0)


@pytest.mark.parametrize("fill", FILL_MODES)
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", CASES)
def test_a_price_exactly_at_a_level_fills_there(name: str, simulator: str, fill: FillMode) -> None:
    case = CASES[name]
    bars, signals, settings = case.market(fill)
    assert SIMULATORS[simulator](bars, signals, settings) == case.expected(fill)
