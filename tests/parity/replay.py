"""Replaying bars through the engine next to the vectorised backtest of the same bars, and comparing them.

`compare` runs one engine over every (strategy, settings) case on every product, with the bar fill model,
records the rule cash and units of every instance after every bar, and holds each instance to the
backtest kernel: the same cash and units on every bar, the same fills (time, side, fill price, exit
reason) and a final ledger equity within the rounding of its fills to the product's increments.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import SimulationResult, run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.market.replay import CandleReplay
from gpt_trader.strategies import checked_signals, get_strategy
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.money import ProductIncrements
from gpt_trader.trading.tape import SignalTape

CAPITAL = Decimal(10_000)


@dataclass(frozen=True)
class Case:
    strategy: str
    params: Mapping[str, object]
    settings: SimulationSettings


Fill = tuple[float, str, float, str]
"""(time, side, price, reason): reason is "signal" for entries and the exit reason for exits."""


def expected_fills(result: SimulationResult, bars: Bars) -> list[Fill]:
    """The fills the engine must make for the backtest's trades, timed as the engine times them: a fill at
    a bar's open at its start, a fill at its close or at a stop level at its end."""
    next_open = result.settings.fill == "next_open"
    step = bars.granularity.seconds
    fills: list[Fill] = []
    for trade in result.trades().itertuples(index=False):
        long = trade.side == "long"
        entry_time = float(bars.time[trade.entry_bar] + (0 if next_open else step))
        fills.append((entry_time, "BUY" if long else "SELL", float(trade.entry_price), "signal"))
        if trade.exit_reason == "open":
            continue
        at_open = next_open and trade.exit_reason == "signal"
        exit_time = float(bars.time[trade.exit_bar] + (0 if at_open else step))
        fills.append((exit_time, "SELL" if long else "BUY", float(trade.exit_price), trade.exit_reason))
    return fills


def equity_tolerance(fills: Sequence[Fill], grid: ProductIncrements, peak_growth: float) -> float:
    """How far the exact ledger may stray from the float backtest: each fill floors its units to one base
    increment and rounds its value and fee by half a quote increment each, and later compounding can grow
    what that cost by the equity's peak growth."""
    per_fill = sum(float(grid.base_increment) * price + 2 * float(grid.quote_increment) for _, _, price, _ in fills)
    return per_fill * max(1.0, peak_growth)


@dataclass
class Comparison:
    compared: int
    disagreements: list[str]
    trades: dict[str, int]
    """Backtest trades of each instance, so a caller can check the cases traded at all."""


def compare(history: Mapping[str, Bars], cases: Sequence[Case], *, use_tape: bool) -> Comparison:
    grids = catalog_grids(history)
    specs = [
        InstanceSpec(case.strategy, dict(case.params), product_id, f"{product_id}/{index}", CAPITAL, case.settings)
        for product_id in history
        for index, case in enumerate(cases)
    ]
    increments = {product_id: bars.price_increment for product_id, bars in history.items()}
    tape = SignalTape.record(specs, history, increments) if use_tape else None
    seen: dict[str, tuple[np.ndarray, np.ndarray]] = {
        spec.account: (
            np.full(len(history[spec.product_id]), math.nan),
            np.full(len(history[spec.product_id]), math.nan),
        )
        for spec in specs
    }
    engine: Engine

    def observe(product_id: str, bar: int) -> None:
        for instance in engine.instances:
            if instance.spec.product_id == product_id:
                cash, units = seen[instance.spec.account]
                cash[bar] = engine.rule_cash(instance)
                units[bar] = engine.position(instance).units

    engine = Engine(
        specs,
        granularity=next(iter(history.values())).granularity,
        broker=PaperBroker(grids),
        tape=tape,
        price_increments=increments,
        observer=observe,
    )
    summary = asyncio.run(engine.run(CandleReplay(list(history.values())).events()))
    disagreements: list[str] = []
    trades: dict[str, int] = {}
    if summary.rejected_orders:
        disagreements.append(f"{summary.rejected_orders} orders were rejected")
    for instance, status in zip(engine.instances, summary.statuses, strict=True):
        spec, bars = instance.spec, history[instance.spec.product_id]
        strategy = get_strategy(spec.strategy)
        signals = checked_signals(strategy, bars, strategy.resolve(spec.params))
        result = run_simulation(bars, signals, spec.rule_settings)
        name = f"{spec.strategy} {dict(spec.params)} {spec.settings} on {spec.product_id}"
        if status.last_signal != int(signals[-1]):
            disagreements.append(f"{name}: last signal {status.last_signal}, the backtest's {int(signals[-1])}")
        trades[spec.account] = result.n_trades
        cash, units = seen[spec.account]
        bad_bars = np.flatnonzero((cash != result.cash) | (units != result.units))
        if len(bad_bars):
            disagreements.append(f"{name}: rule cash or units differ first at bar {bad_bars[0]} of {len(bars)}")
        made = [
            (fill.time, fill.side.value, float(fill.price), order.request.reason)
            for order in engine.broker.orders.values()
            if order.request.account_id == spec.account
            for fill in order.fills
        ]
        wanted = expected_fills(result, bars)
        if made != wanted:
            first = next(
                (k for k, (a, b) in enumerate(zip(made, wanted, strict=False)) if a != b), min(len(made), len(wanted))
            )
            disagreements.append(f"{name}: fill {first} differs ({len(made)} made, {len(wanted)} expected)")
        tolerance = equity_tolerance(wanted, grids[spec.product_id], float(np.nanmax(result.equity)) / float(CAPITAL))
        if not abs(float(status.equity) - result.final_equity) <= tolerance:
            disagreements.append(
                f"{name}: ledger equity {status.equity} vs backtest {result.final_equity:.6f} "
                f"(tolerance {tolerance:.6f})"
            )
    return Comparison(len(specs), disagreements, trades)
