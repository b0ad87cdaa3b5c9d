"""A plain-Python reference simulator: the position rules (see `trading.rules`) as one loop a reviewer can read.

It restates the rules apart from `trading.rules` on purpose, sharing no code with it, so that a bug in
either shows as a disagreement: tests (on random markets, on exact-boundary cases and on recorded data) and
the benchmark's agreement check hold the kernel to it. No Numba and no vectorisation, so it is slow. Its
arithmetic follows the rules operation by operation, so equity and trades agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpt_trader.backtest.metrics import Metrics, compute_metrics
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars


@dataclass(frozen=True)
class ReferenceTrade:
    """One entry and its exit (exit_reason "open": still held at the end, marked at the last price)."""

    entry_bar: int
    exit_bar: int
    side: int
    units: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float
    trade_return: float
    exit_reason: str


@dataclass(frozen=True)
class ReferenceResult:
    """Per-bar equity, cash and units (at each close), every trade, total fees and buy-and-hold return."""

    equity: np.ndarray
    cash: np.ndarray
    units: np.ndarray
    trades: list[ReferenceTrade]
    fees: float
    buy_and_hold_return: float

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    def metrics(self, bars: Bars, settings: SimulationSettings) -> Metrics:
        """The metrics of this run, computed from its curve and trades by `compute_metrics`."""
        closed = [trade for trade in self.trades if trade.exit_reason != "open"]
        return compute_metrics(
            self.equity, bars.time, bars.granularity.seconds, settings.initial_cash,
            closed_pnl=np.array([trade.pnl for trade in closed]),
            closed_returns=np.array([trade.trade_return for trade in closed]),
            trades=len(self.trades), fees=self.fees, exposure_bars=int(np.count_nonzero(self.units)),
            buy_and_hold_return=self.buy_and_hold_return,
        )


def usable(price: float) -> bool:
    """A price we can trade at: not NaN, above zero."""
    return price > 0.0


def simulate_reference(bars: Bars, signals: np.ndarray, settings: SimulationSettings) -> ReferenceResult:
    """Simulate `signals` on `bars` bar by bar under the position rules."""
    fee_rate = settings.fee_rate
    cash = settings.initial_cash
    units = 0.0
    last_price = math.nan  # the latest known quote: marks the position
    entry: dict[str, float] = {}  # the open position's entry facts
    trades: list[ReferenceTrade] = []
    fees = 0.0
    equity_curve, cash_curve, units_curve = [], [], []

    def enter(side: int, quote: float, bar: int) -> None:
        nonlocal cash, units, fees
        fill = quote * (settings.buy_factor if side > 0 else settings.sell_factor)
        committed = cash * settings.fraction
        size = committed / (fill * (1.0 + fee_rate))
        fee = (size * fill) * fee_rate
        entry.update(bar=bar, price=fill, fee=fee, cash_before=cash, committed=committed, best=fill)
        if side > 0:
            cash = cash - committed
            units = size
            entry["stop"] = fill * (1.0 - settings.stop_loss) if settings.stop_loss else -math.inf
            entry["take"] = fill * (1.0 + settings.take_profit) if settings.take_profit else math.inf
        else:
            cash = cash + (size * fill - fee)
            units = -size
            entry["stop"] = fill * (1.0 + settings.stop_loss) if settings.stop_loss else math.inf
            entry["take"] = fill * (1.0 - settings.take_profit) if settings.take_profit else -math.inf
        fees += fee

    def leave(quote: float, bar: int, reason: str) -> None:
        nonlocal cash, units, fees
        if units > 0:
            fill = quote * settings.sell_factor
            fee = (units * fill) * fee_rate
            cash = cash + (units * fill - fee)
        else:
            fill = quote * settings.buy_factor
            fee = (-units * fill) * fee_rate
            cash = cash - (-units * fill + fee)
        pnl = cash - entry["cash_before"]
        side = 1 if units > 0 else -1
        trades.append(ReferenceTrade(int(entry["bar"]), bar, side, abs(units), entry["price"], fill,
                                     entry["fee"] + fee, pnl, pnl / entry["committed"], reason))
        units = 0.0
        fees += fee

    def act(signal: int, quote: float, bar: int) -> None:
        """LONG buys (covering a short first); SHORT sells a long (and shorts, if allowed)."""
        wants_long = signal > 0 and units <= 0
        wants_short = signal < 0 and (units > 0 or (units == 0 and settings.allow_short))
        if not (wants_long or wants_short) or not usable(quote):
            return
        if units != 0:
            leave(quote, bar, "signal")
        if cash > 0 and (wants_long or settings.allow_short):
            enter(1 if wants_long else -1, quote, bar)

    def stop_exit(bar: int) -> tuple[float, str] | None:
        """The quote and reason of a stop or take-profit exit during this bar, moving the trailing extreme."""
        # A value that is not a price (NaN, 0 or below) never triggers: no fill without a price.
        open_, high, low = (value if usable(value) else math.nan
                            for value in (bars.open[bar], bars.high[bar], bars.low[bar]))  # fmt: skip
        stop, reason, take, trail = entry["stop"], "stop_loss", entry["take"], settings.trailing_stop
        if units > 0:
            if trail and entry["best"] * (1.0 - trail) > stop:
                stop, reason = entry["best"] * (1.0 - trail), "trailing_stop"
            # A gap through a level fills at the open; inside the bar the stop is assumed to come first.
            for hit, price, why in ((open_ <= stop, open_, reason), (open_ >= take, open_, "take_profit"),
                                    (low <= stop, stop, reason), (high >= take, take, "take_profit")):
                if hit:
                    return price, why
            if high > entry["best"]:
                entry["best"] = high
        else:
            if trail and entry["best"] * (1.0 + trail) < stop:
                stop, reason = entry["best"] * (1.0 + trail), "trailing_stop"
            for hit, price, why in ((open_ >= stop, open_, reason), (open_ <= take, open_, "take_profit"),
                                    (high >= stop, stop, reason), (low <= take, take, "take_profit")):
                if hit:
                    return price, why
            if low < entry["best"]:
                entry["best"] = low
        return None

    next_open = settings.fill == "next_open"
    has_stops = any(level is not None for level in (settings.stop_loss, settings.take_profit,
                                                    settings.trailing_stop))
    for bar in range(len(bars)):
        if next_open and bar > 0:
            act(int(signals[bar - 1]), bars.open[bar], bar)
            if units != 0 and entry["bar"] == bar:
                last_price = bars.open[bar]
        if has_stops and units != 0:
            hit = stop_exit(bar)
            if hit is not None:
                leave(hit[0], bar, hit[1])
        if not next_open:
            act(int(signals[bar]), bars.close[bar], bar)
        if usable(bars.close[bar]):
            last_price = bars.close[bar]
        equity_curve.append(cash + units * last_price if units != 0 else cash)
        cash_curve.append(cash)
        units_curve.append(units)
    if units != 0:
        pnl = equity_curve[-1] - entry["cash_before"]
        trades.append(ReferenceTrade(int(entry["bar"]), len(bars) - 1, 1 if units > 0 else -1, abs(units),
                                     entry["price"], last_price, entry["fee"], pnl, pnl / entry["committed"],
                                     "open"))
    return ReferenceResult(np.array(equity_curve), np.array(cash_curve), np.array(units_curve), trades, fees,
                           reference_buy_and_hold(bars, settings))


def reference_buy_and_hold(bars: Bars, settings: SimulationSettings) -> float:
    """One all-in buy at the first fill opportunity, sold at the last usable close, same costs both ways."""
    next_open = settings.fill == "next_open"
    quotes = bars.open if next_open else bars.close
    first = next((bar for bar in range(1 if next_open else 0, len(bars)) if usable(quotes[bar])), None)
    if first is None:
        return math.nan
    mark = next((bars.close[bar] for bar in range(len(bars) - 1, first - 1, -1) if usable(bars.close[bar])),
                quotes[first])
    units = settings.initial_cash / (quotes[first] * settings.buy_factor * (1.0 + settings.fee_rate))
    return units * mark * settings.sell_factor * (1.0 - settings.fee_rate) / settings.initial_cash - 1.0
