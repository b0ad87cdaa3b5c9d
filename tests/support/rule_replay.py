"""The position rules driven one bar at a time from Python, as an event engine drives them, and the small
hand-worked markets the rule tests share.

`replay_rules` walks bars through `at_open`, `check_stops` and `at_close`, keeping only the `Position`
record and cash between bars, as a live engine persists them.
"""

from __future__ import annotations

import numpy as np

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.trading.rules import (
    EXIT_REASONS,
    Position,
    RoundTrip,
    Step,
    at_close,
    at_open,
    check_stops,
    flat,
    rules_for,
)

L, S, H = 1, -1, 0
START = 1_704_067_200  # 2024-01-01 00:00 UTC


def make_bars(
    close: list[float],
    open_: list[float] | None = None,
    high: list[float] | None = None,
    low: list[float] | None = None,
) -> Bars:
    """Hourly bars; open defaults to the close (no gaps), high/low to the body's extremes."""
    closes = np.array(close, dtype=float)
    opens = closes.copy() if open_ is None else np.array(open_, dtype=float)
    highs = np.fmax(opens, closes) if high is None else np.array(high, dtype=float)
    lows = np.fmin(opens, closes) if low is None else np.array(low, dtype=float)
    time = START + 3600 * np.arange(len(closes))
    return Bars("BTC-USD", Granularity.ONE_HOUR, time, opens, highs, lows, closes, np.ones(len(closes)))


Trip = tuple[int, int, str, str, float, float, float, float]
"""(entry bar, exit bar, side, exit reason, units, entry price, exit price, pnl)."""


def _trip(trip: RoundTrip) -> Trip:
    side = "long" if trip.side > 0 else "short"
    return (trip.entry_bar, trip.exit_bar, side, EXIT_REASONS[trip.reason], trip.units, trip.entry_price,
            trip.exit_price, trip.pnl)


def replay_rules(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> tuple[list[Trip], float, Position]:
    """Closed round trips, final cash and final position of `signals` on `bars`, bar by bar."""
    rules = rules_for(settings)
    cash, position = settings.initial_cash, flat()
    trips: list[Trip] = []

    def take(step: Step) -> None:
        nonlocal cash, position
        cash, position = step.cash, step.position
        if step.closed.exit_bar >= 0:
            trips.append(_trip(step.closed))

    for bar in range(len(bars)):
        take(at_open(position, cash, bars.open[bar], bar, rules))
        take(check_stops(position, cash, bars.open[bar], bars.high[bar], bars.low[bar], bar, rules))
        take(at_close(position, cash, bars.close[bar], int(signals[bar]), bar, rules))
    return trips, cash, position


def closed_trips(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> list[Trip]:
    frame = run_simulation(bars, signals, settings).trades()
    closed = frame[frame["exit_reason"] != "open"]
    return list(closed[["entry_bar", "exit_bar", "side", "exit_reason", "units", "entry_price", "exit_price",
                        "pnl"]].itertuples(index=False, name=None))


