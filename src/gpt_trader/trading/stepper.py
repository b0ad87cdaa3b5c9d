"""The position rules stepped for many strategy instances at once: one compiled call per product and bar.

An engine holds the rule state of every instance as one row of a float array (the `Position` fields, then
the rule cash and the equity peak and drawdown the status reports, then a copy of the `Position` and cash as
they were before the last step that filled: the engine restores it when the broker does not complete an
exit). When a product's bar closes, `step_bar` runs each of that product's instances through `at_open ->
check_stops -> at_close` of `trading/rules.py`, the same functions in the same order as the backtest
kernel, and writes what filled to an event array;
`step_quote` runs `check_stops` on one price (a quote is a bar whose open, high and low are that price) and
fills a pending next_open signal there. Python then books only the rows that filled, so an instance-bar
where nothing happens costs a few compiled instructions rather than an interpreter round trip.

The entry points keep the GIL (no `nogil`): a call lasts microseconds, and releasing the GIL would make
each return wait for the store writer's thread to hand it back, up to a switch interval every time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.trading.rules import (
    Position,
    Step,
    at_close,
    at_open,
    check_stops,
    rules_from_params,
)

# Columns of the state array: the Position fields in their order, then the account's rule books.
S_UNITS, S_ENTRY_PRICE, S_STOP, S_TAKE, S_BEST, S_PENDING, S_ENTRY_BAR, S_ENTRY_FEE, S_CASH_BEFORE, S_COMMITTED = (
    range(10)
)
S_CASH, S_PEAK, S_DRAWDOWN = 10, 11, 12
S_BEFORE = 13
"""The first of the columns holding the `Position` fields and the cash before the last step that filled."""
STATE_COLUMNS = S_BEFORE + S_CASH + 1

# Columns of the event array: one row per fill the rules made.
E_ROW, E_PHASE, E_SIDE, E_PRICE, E_UNITS, E_REASON, E_ENTRY = range(7)
EVENT_COLUMNS = 7
PHASE_OPEN, PHASE_STOPS, PHASE_CLOSE = 0, 1, 2
"""When in the bar a fill happened: at its open, at a stop level during it, or at its close."""
EVENTS_PER_STEP = 2
"""The most fills one phase makes for one instance: a reversal's exit and entry."""


def new_state(count: int, cash: np.ndarray) -> np.ndarray:
    """Flat rule state for `count` instances starting with `cash` each."""
    state = np.zeros((count, STATE_COLUMNS))
    state[:, S_ENTRY_PRICE] = math.nan
    state[:, S_STOP] = -math.inf
    state[:, S_TAKE] = math.inf
    state[:, S_BEST] = math.nan
    state[:, S_ENTRY_BAR] = -1
    state[:, S_CASH] = cash
    state[:, S_PEAK] = cash
    return state


def position_of(row: np.ndarray) -> Position:
    """The `Position` record a state row holds."""
    return Position(float(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), int(row[5]),
                    int(row[6]), float(row[7]), float(row[8]), float(row[9]))  # fmt: skip


def before_of(row: np.ndarray) -> tuple[Position, float]:
    """The `Position` and the rule cash a state row held before its last step that filled."""
    return position_of(row[S_BEFORE:]), float(row[S_BEFORE + S_CASH])


def event_buffer(instances: int) -> np.ndarray:
    """Room for every fill one step of `instances` instances can make (three phases, two fills each)."""
    return np.empty((3 * EVENTS_PER_STEP * max(instances, 1), EVENT_COLUMNS))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _load(state: np.ndarray, row: int) -> Position:
    s = state[row]
    return Position(s[0], s[1], s[2], s[3], s[4], int(s[5]), int(s[6]), s[7], s[8], s[9])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _store(state: np.ndarray, row: int, cash: float, p: Position) -> None:
    s = state[row]
    s[0], s[1], s[2], s[3], s[4] = p.units, p.entry_price, p.stop, p.take, p.best
    s[5], s[6], s[7], s[8], s[9] = p.pending, p.entry_bar, p.entry_fee, p.cash_before, p.committed
    s[S_CASH] = cash


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _keep_before(state: np.ndarray, row: int) -> None:
    """Copy the row's position and cash (not yet overwritten by this step) to the columns from `S_BEFORE`."""
    s = state[row]
    for column in range(S_CASH + 1):
        s[S_BEFORE + column] = s[column]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _record(events: np.ndarray, count: int, row: int, phase: int, step: Step) -> int:
    """Write the exit and the entry `step` made (if any) after `count` events; returns the new count."""
    closed = step.closed
    if closed.exit_bar >= 0:
        e = events[count]
        e[E_ROW], e[E_PHASE], e[E_SIDE] = row, phase, -closed.side
        e[E_PRICE], e[E_UNITS], e[E_REASON], e[E_ENTRY] = closed.exit_price, closed.units, closed.reason, 0.0
        count += 1
    if step.entered:
        p = step.position
        e = events[count]
        e[E_ROW], e[E_PHASE], e[E_SIDE] = row, phase, 1.0 if p.units > 0.0 else -1.0
        e[E_PRICE], e[E_UNITS], e[E_REASON], e[E_ENTRY] = p.entry_price, abs(p.units), 0.0, 1.0
        count += 1
    return count


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mark(state: np.ndarray, row: int, price: float) -> None:
    """Track the rule equity's peak and deepest drawdown at `price`."""
    s = state[row]
    equity = s[S_CASH] + s[S_UNITS] * price
    if equity > s[S_PEAK]:
        s[S_PEAK] = equity
    elif s[S_PEAK] > 0.0:
        drawdown = 1.0 - equity / s[S_PEAK]
        if drawdown > s[S_DRAWDOWN]:
            s[S_DRAWDOWN] = drawdown


@njit(cache=True, error_model="numpy")
def step_bar(state: np.ndarray, rows: np.ndarray, signals: np.ndarray, params: np.ndarray, bar: int,
             open_: float, high: float, low: float, close: float, events: np.ndarray) -> int:  # fmt: skip
    """One closed bar for the instances `rows` (with their `signals`): the kernel's per-bar rules.

    `params` holds each instance's `kernel_params()` row. Returns how many fill events were written.
    """
    count = 0
    for k in range(len(rows)):
        row = rows[k]
        rules = rules_from_params(params[row])
        position = _load(state, row)
        cash = state[row, S_CASH]
        first = count
        step = at_open(position, cash, open_, bar, rules)
        count = _record(events, count, row, PHASE_OPEN, step)
        step2 = check_stops(step.position, step.cash, open_, high, low, bar, rules)
        count = _record(events, count, row, PHASE_STOPS, step2)
        step3 = at_close(step2.position, step2.cash, close, signals[k], bar, rules)
        count = _record(events, count, row, PHASE_CLOSE, step3)
        if count > first:
            _keep_before(state, row)
        _store(state, row, step3.cash, step3.position)
        _mark(state, row, close)
    return count


@njit(cache=True, error_model="numpy")
def step_quote(state: np.ndarray, rows: np.ndarray, params: np.ndarray, bar: int, price: float,
               events: np.ndarray) -> int:  # fmt: skip
    """One quote at `price` for the instances `rows`: a pending next_open signal fills at it, then stops
    and take-profits are checked against it. Returns how many fill events were written."""
    count = 0
    for k in range(len(rows)):
        row = rows[k]
        rules = rules_from_params(params[row])
        position = _load(state, row)
        cash = state[row, S_CASH]
        first = count
        step = at_open(position, cash, price, bar, rules)
        count = _record(events, count, row, PHASE_OPEN, step)
        step2 = check_stops(step.position, step.cash, price, price, price, bar, rules)
        count = _record(events, count, row, PHASE_STOPS, step2)
        if count > first:
            _keep_before(state, row)
        _store(state, row, step2.cash, step2.position)
        _mark(state, row, price)
    return count


@njit(cache=True, error_model="numpy")
def step_close(state: np.ndarray, rows: np.ndarray, signals: np.ndarray, params: np.ndarray, bar: int,
               close: float, events: np.ndarray) -> int:  # fmt: skip
    """A closed bar in a live mode, where quotes already ran the open and the stops: only `at_close`."""
    count = 0
    for k in range(len(rows)):
        row = rows[k]
        rules = rules_from_params(params[row])
        position = _load(state, row)
        first = count
        step = at_close(position, state[row, S_CASH], close, signals[k], bar, rules)
        count = _record(events, count, row, PHASE_CLOSE, step)
        if count > first:
            _keep_before(state, row)
        _store(state, row, step.cash, step.position)
        _mark(state, row, close)
    return count


def compile_stepper(progress: Callable[[int, int], None] | None = None) -> None:
    """Compile (or load from Numba's on-disk cache) the three step functions, on one flat instance, with the
    argument types an engine passes them. A cold cache takes seconds: an engine does this when it is built,
    so that the first bar or quote of a feed never waits for the compiler. `progress(done, total)` follows
    the functions; once compiled in this process each call costs microseconds."""
    state = new_state(1, np.ones(1))
    rows, signals = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int8)
    params = SimulationSettings().kernel_params()[np.newaxis, :]
    events = event_buffer(1)
    calls: tuple[Callable[[], object], ...] = (
        lambda: step_bar(state, rows, signals, params, 0, 1.0, 1.0, 1.0, 1.0, events),
        lambda: step_quote(state, rows, params, 0, 1.0, events),
        lambda: step_close(state, rows, signals, params, 0, 1.0, events),
    )
    for done, call in enumerate(calls, 1):
        call()
        if progress is not None:
            progress(done, len(calls))
