"""The position rules, written once: how signals and prices move one account's position in one product.

The backtest kernel calls these functions from its loop over arrays; an event engine calls the same ones
per bar or per quote. They are compiled with Numba and callable from Python alike, take the position state
and one bar (or one price), and return the new state with what filled. `backtest/reference.py` states the
same rules again as a plain loop, apart from this code, and tests hold the two equal.

* At most one position. LONG (+1) when flat buys; SHORT (-1) when long sells everything. With
  `allow_short`, LONG when short covers then buys, SHORT when long sells then shorts, SHORT when flat shorts.
  A reversal closes first and re-enters on the cash that results; no entry without positive cash.
* Fill: "close" fills a signal of bar i at close[i]; "next_open" fills it at open[i+1] (the signal waits in
  `Position.pending`). A quoted price that is NaN or <= 0 gives no fill: the signal is dropped, not delayed;
  nor does such an open, high or low trigger a stop or take-profit.
  Every fill price is the quote worsened by spread and slippage (`buy_factor` / `sell_factor`).
* Sizing: committed = cash * fraction; units = committed / (fill * (1 + fee_rate)); a buy takes exactly
  `committed` from cash (so an all-in buy leaves 0), a sell adds units * fill - fee, fee = notional *
  fee_rate. A short is sized the same way on cash and holds negative units.
* Stops are levels relative to the entry fill price, checked on each bar after the entry fill against that
  bar's range: for "next_open" the rest of the entry bar after its open counts, for "close" checks start on
  the next bar. A bar that opens at or beyond a level fills at its open (a gap); otherwise the level fills
  when the low (high for shorts) reaches it. When the stop and the take-profit both lie inside one bar, the
  stop wins (we cannot know which came first). The trailing level follows the best high (low) seen on
  earlier bars since entry, starting from the entry fill; the stop-loss wins a tie with it. A single price
  (a quote) is a bar whose open, high and low are that price.
* Within a bar: `at_open` (the pending signal fills at the open), then `check_stops`, then `at_close` (the
  bar's own signal fills at the close, or waits for the next open).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np
from numba import njit

from gpt_trader.backtest.settings import (
    P_ALLOW_SHORT,
    P_BUY_FACTOR,
    P_FEE_RATE,
    P_FRACTION,
    P_NEXT_OPEN,
    P_SELL_FACTOR,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TRAILING_STOP,
)

if TYPE_CHECKING:
    from gpt_trader.backtest.settings import SimulationSettings

# The phase functions and the small helpers they run on every bar are inlined into their caller (inline="always",
# at Numba's IR level): as calls they made the kernel up to twice as slow. Inlining the rest as well would double
# the kernel's first compile, so the rest stay calls.

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "open")
EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING_STOP, EXIT_OPEN = range(len(EXIT_REASONS))


class Rules(NamedTuple):
    """What the rules read from the settings; a missing stop, take-profit or trailing stop is NaN."""

    next_open: bool
    allow_short: bool
    fee_rate: float
    buy_factor: float
    sell_factor: float
    fraction: float
    stop_loss: float
    take_profit: float
    trailing_stop: float


class Position(NamedTuple):
    """The rule state of one account in one product between bars: what a live engine persists.

    `units` > 0 long, < 0 short, 0 flat. `stop` and `take` are the fixed levels (infinite when not set);
    `best` is the trailing extreme (best high for a long, best low for a short) of the bars since entry,
    starting from the entry fill. `pending` is a next_open signal waiting for the next bar's open. The last
    three fields are the round trip's books: pnl = cash after the exit - `cash_before`, trade return =
    pnl / `committed`.
    """

    units: float
    entry_price: float
    stop: float
    take: float
    best: float
    pending: int
    entry_bar: int
    entry_fee: float
    cash_before: float
    committed: float


class RoundTrip(NamedTuple):
    """One closed position: `exit_bar` -1 means nothing closed. `fees` counts both fills, pnl is net."""

    entry_bar: int
    exit_bar: int
    side: int
    units: float
    entry_price: float
    exit_price: float
    exit_fee: float
    fees: float
    pnl: float
    trade_return: float
    reason: int


class Step(NamedTuple):
    """The outcome of one rule phase: cash and position after it, the round trip it closed (exit_bar -1:
    none) and whether it opened a new position (whose entry fee is `position.entry_fee`)."""

    cash: float
    position: Position
    closed: RoundTrip
    entered: bool


@njit(cache=True, nogil=True, error_model="numpy")
def rules_from_params(params: np.ndarray) -> Rules:
    """The rules of a `SimulationSettings.kernel_params()` vector."""
    return Rules(params[P_NEXT_OPEN] != 0.0, params[P_ALLOW_SHORT] != 0.0, params[P_FEE_RATE],
                 params[P_BUY_FACTOR], params[P_SELL_FACTOR], params[P_FRACTION], params[P_STOP_LOSS],
                 params[P_TAKE_PROFIT], params[P_TRAILING_STOP])


def rules_for(settings: SimulationSettings) -> Rules:
    """The rules of one backtest's (or one paper account's) settings."""
    return rules_from_params(settings.kernel_params())


@njit(cache=True, nogil=True, error_model="numpy")
def flat(pending: int = 0) -> Position:
    """No position (optionally with a next_open signal waiting)."""
    return Position(0.0, math.nan, -math.inf, math.inf, math.nan, pending, -1, 0.0, 0.0, 0.0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def nothing_closed() -> RoundTrip:
    return RoundTrip(-1, -1, 0, 0.0, math.nan, math.nan, 0.0, 0.0, 0.0, 0.0, EXIT_SIGNAL)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def wants(signal: int, units: float, allow_short: bool) -> bool:
    """Whether `signal` changes the position `units` (before any price check)."""
    if signal > 0:
        return units <= 0.0
    if signal < 0:
        return units > 0.0 or (units == 0.0 and allow_short)
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def quiet_signals(units: float, allow_short: bool) -> tuple[int, int]:
    """Signals in [low, high] leave the position `units` as it is (`wants` is False for exactly those): the
    range a backtest loop may skip over without looking at prices."""
    if units > 0.0:
        return 0, 1
    if units < 0.0:
        return -1, 0
    return (0 if allow_short else -1), 0


@njit(cache=True, nogil=True, error_model="numpy")
def enter(side: int, quote: float, bar: int, cash: float, rules: Rules) -> tuple[float, Position]:
    """Open `side` (+1 long, -1 short) at `quote`, sized on `cash`: (cash after, position)."""
    fee_rate = rules.fee_rate
    fill = quote * (rules.buy_factor if side > 0 else rules.sell_factor)
    committed = cash * rules.fraction
    size = committed / (fill * (1.0 + fee_rate))
    notional = size * fill
    fee = notional * fee_rate
    stop, take = levels(side, fill, rules)
    if side > 0:
        return cash - committed, Position(size, fill, stop, take, fill, 0, bar, fee, cash, committed)
    return cash + (notional - fee), Position(-size, fill, stop, take, fill, 0, bar, fee, cash, committed)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def levels(side: int, fill: float, rules: Rules) -> tuple[float, float]:
    """The stop-loss and take-profit levels of a `side` entry filled at `fill` (infinite when not set)."""
    stop_loss, take_profit = rules.stop_loss, rules.take_profit
    if side > 0:
        return (fill * (1.0 - stop_loss) if stop_loss == stop_loss else -math.inf,
                fill * (1.0 + take_profit) if take_profit == take_profit else math.inf)  # fmt: skip
    return (fill * (1.0 + stop_loss) if stop_loss == stop_loss else math.inf,
            fill * (1.0 - take_profit) if take_profit == take_profit else -math.inf)  # fmt: skip


T = TypeVar("T")


def python_source(compiled: Callable[..., T]) -> Callable[..., T]:
    """A compiled rule as plain Python: the same source and float arithmetic, without a compiled call's
    argument conversion (and the function itself when NUMBA_DISABLE_JIT leaves it uncompiled)."""
    return getattr(compiled, "py_func", compiled)


def refilled(position: Position, units: float, fill: float, fee: float, cash_before: float,
             rules: Rules) -> Position:  # fmt: skip
    """`position` as its entry actually filled: `units` (signed) at the average price `fill` for `fee`, out of
    `cash_before`; the levels and the trailing extreme start again from that fill. A broker that fills at the
    book (not at the rules' price) or fills part of the size calls for this, once per fill, from Python: it
    runs `levels` as plain Python (the same source, the same float arithmetic, without a compiled call's
    argument conversion)."""
    stop, take = python_source(levels)(1 if units > 0.0 else -1, fill, rules)
    committed = abs(units) * fill + fee
    return Position(units, fill, stop, take, fill, position.pending, position.entry_bar, fee, cash_before,
                    committed)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def leave(position: Position, quote: float, bar: int, reason: int, cash: float,
          rules: Rules) -> tuple[float, RoundTrip]:
    """Close the position at `quote`: (cash after, the round trip)."""
    units = position.units
    if units > 0.0:
        fill = quote * rules.sell_factor
        fee = (units * fill) * rules.fee_rate
        cash = cash + (units * fill - fee)
    else:
        fill = quote * rules.buy_factor
        fee = (-units * fill) * rules.fee_rate
        cash = cash - (-units * fill + fee)
    pnl = cash - position.cash_before
    trip = RoundTrip(position.entry_bar, bar, 1 if units > 0.0 else -1, abs(units), position.entry_price, fill,
                     fee, position.entry_fee + fee, pnl, pnl / position.committed, reason)
    return cash, trip


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def act(signal: int, quote: float, bar: int, cash: float, position: Position, rules: Rules) -> Step:
    """Apply `signal` at `quote`: a reversal closes first, then enters on the cash that results."""
    closed = nothing_closed()
    if not (wants(signal, position.units, rules.allow_short) and quote > 0.0):
        return Step(cash, position, closed, False)
    if position.units != 0.0:
        cash, closed = leave(position, quote, bar, EXIT_SIGNAL, cash, rules)
        position = flat()
    if cash > 0.0 and (signal > 0 or rules.allow_short):
        cash, position = enter(1 if signal > 0 else -1, quote, bar, cash, rules)
        return Step(cash, position, closed, True)
    return Step(cash, position, closed, False)


@njit(cache=True, nogil=True, error_model="numpy")
def stop_exit(position: Position, open_: float, high: float, low: float,
              rules: Rules) -> tuple[float, int, float]:
    """The quote and reason of a stop or take-profit exit during this bar (NaN quote: none), and the
    trailing extreme after the bar. An open, high or low that is not a price (NaN, 0 or below) never
    triggers, fills or moves the trailing extreme: no fill without a price."""
    if not open_ > 0.0:
        open_ = math.nan  # NaN compares False with every level
    if not high > 0.0:
        high = math.nan
    if not low > 0.0:
        low = math.nan
    stop, take, best, trailing = position.stop, position.take, position.best, rules.trailing_stop
    reason = EXIT_STOP_LOSS
    if position.units > 0.0:
        if trailing == trailing and best * (1.0 - trailing) > stop:
            stop = best * (1.0 - trailing)
            reason = EXIT_TRAILING_STOP
        if open_ <= stop:
            return open_, reason, best
        if open_ >= take:
            return open_, EXIT_TAKE_PROFIT, best
        if low <= stop:
            return stop, reason, best
        if high >= take:
            return take, EXIT_TAKE_PROFIT, best
        return math.nan, reason, high if high > best else best
    if trailing == trailing and best * (1.0 + trailing) < stop:
        stop = best * (1.0 + trailing)
        reason = EXIT_TRAILING_STOP
    if open_ >= stop:
        return open_, reason, best
    if open_ <= take:
        return open_, EXIT_TAKE_PROFIT, best
    if high >= stop:
        return stop, reason, best
    if low <= take:
        return take, EXIT_TAKE_PROFIT, best
    return math.nan, reason, low if low < best else best


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _moved(position: Position, best: float, pending: int) -> Position:
    """`position` with another trailing extreme and pending signal."""
    return Position(position.units, position.entry_price, position.stop, position.take, best, pending,
                    position.entry_bar, position.entry_fee, position.cash_before, position.committed)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def at_open(position: Position, cash: float, open_: float, bar: int, rules: Rules) -> Step:
    """A bar opens: the pending next_open signal fills at `open_`, or is dropped when it cannot."""
    step = act(position.pending, open_, bar, cash, position, rules)
    return Step(step.cash, _moved(step.position, step.position.best, 0), step.closed, step.entered)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def check_stops(position: Position, cash: float, open_: float, high: float, low: float, bar: int,
                rules: Rules) -> Step:
    """A held position meets a bar's range (or one price: open = high = low): it exits at a stop or
    take-profit it reaches, or it moves its trailing extreme."""
    if position.units == 0.0:
        return Step(cash, position, nothing_closed(), False)
    quote, reason, best = stop_exit(position, open_, high, low, rules)
    if quote == quote:
        cash, closed = leave(position, quote, bar, reason, cash, rules)
        return Step(cash, flat(), closed, False)
    return Step(cash, _moved(position, best, position.pending), nothing_closed(), False)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def at_close(position: Position, cash: float, close: float, signal: int, bar: int, rules: Rules) -> Step:
    """A bar closes with `signal`: it fills at `close`, or under next_open waits for the next bar's open."""
    if rules.next_open:
        # Widened to the field's int64: Numba keeps int() of an int8 signal an int8, another Position type.
        pending = int(np.int64(signal))
        return Step(cash, _moved(position, position.best, pending), nothing_closed(), False)
    return act(signal, close, bar, cash, position, rules)
