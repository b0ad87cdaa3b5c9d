"""The simulation kernel: signals + bars + settings -> fills, equity and metrics, compiled with Numba.

The position rules (entry, reversal, sizing, fees, stops, fill modes, their order within a bar) live in
`trading.rules`; this loop walks the bars through them and does the backtest's own work around them:

* Equity is marked at each bar's close: the last usable close, or the entry's quote when no usable close has
  come since the entry. equity = cash + units * mark.
* Trades are counted at entry; a position still open at the end is marked, not closed, and appears in the
  trade records with exit reason "open".
* Bars where nothing can happen are skipped: flat bars until a signal would enter, and (without stops) held
  bars until a signal would exit, which are only marked to market.

`simulate` stores per-bar arrays and trade records; `summarize_into` keeps only the final state and the
metric accumulators (the sweep's hot path). Both run the same loop, `_run`, so they agree exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gpt_trader.backtest.metrics import (
    N_METRICS,
    book_entry,
    book_exit,
    book_start,
    buy_and_hold_return,
    curve_mark_held,
    curve_start,
    curve_step,
    finish_metrics,
)
from gpt_trader.backtest.settings import P_INITIAL_CASH
from gpt_trader.trading.rules import (
    EXIT_OPEN,
    RoundTrip,
    Step,
    at_close,
    at_open,
    check_stops,
    flat,
    quiet_signals,
    rules_from_params,
)

TRADE_FIELDS = (
    "entry_bar",
    "exit_bar",
    "side",
    "units",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "return",
    "exit_reason",
)
(
    TR_ENTRY_BAR,
    TR_EXIT_BAR,
    TR_SIDE,
    TR_UNITS,
    TR_ENTRY_PRICE,
    TR_EXIT_PRICE,
    TR_FEES,
    TR_PNL,
    TR_RETURN,
    TR_EXIT_REASON,
) = range(len(TRADE_FIELDS))
N_TRADE_FIELDS = len(TRADE_FIELDS)

SCAN_CHUNK = 64
"""Signals ruled out per vectorised check while skipping quiet bars."""

# The helpers below take and return plain scalars and tuples, never arrays (but the trade rows, only when
# recording): Numba reference-counts every array handed to a function, and on the sweep's hot path that
# bookkeeping would cost more than the work.


@njit(cache=True, nogil=True, error_model="numpy")
def _book_step(book: tuple[float, ...], step: Step) -> tuple[float, ...]:
    """Fold what one rule phase filled into the trade book: the round trip it closed, the entry it made."""
    closed = step.closed
    if closed.exit_bar >= 0:
        book = book_exit(book, closed.exit_fee, closed.pnl, closed.trade_return)
    if step.entered:
        book = book_entry(book, step.position.entry_fee)
    return book


@njit(cache=True, nogil=True, error_model="numpy")
def _append_row(trades: np.ndarray, rows: int, trip: RoundTrip) -> int:
    """Store `trip` after the first `rows` trade rows, unless nothing closed; the new row count."""
    if trip.exit_bar < 0:
        return rows
    row = trades[rows]
    row[TR_ENTRY_BAR] = trip.entry_bar
    row[TR_EXIT_BAR] = trip.exit_bar
    row[TR_SIDE] = trip.side
    row[TR_UNITS] = trip.units
    row[TR_ENTRY_PRICE] = trip.entry_price
    row[TR_EXIT_PRICE] = trip.exit_price
    row[TR_FEES] = trip.fees
    row[TR_PNL] = trip.pnl
    row[TR_RETURN] = trip.trade_return
    row[TR_EXIT_REASON] = trip.reason
    return rows + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _run(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    time: np.ndarray,
    signals: np.ndarray,
    params: np.ndarray,
    bar_seconds: float,
    out: np.ndarray,
    record: bool,
    equity_out: np.ndarray,
    cash_out: np.ndarray,
    units_out: np.ndarray,
    trades: np.ndarray,
) -> int:
    """The one simulation loop; with `record` it also fills the per-bar arrays and trade rows.

    Writes the metric vector into `out` and returns the number of trade rows written. After each full
    step it skips ahead over bars where nothing can happen: flat bars until a signal would enter, and
    (without stops) held bars until a signal would exit, which it only marks to market.
    """
    n = len(close)
    rules = rules_from_params(params)
    next_open = rules.next_open
    shift = 1 if next_open else 0
    initial_cash = params[P_INITIAL_CASH]
    any_stops = not (math.isnan(rules.stop_loss) and math.isnan(rules.take_profit)
                     and math.isnan(rules.trailing_stop))
    cash = initial_cash
    position = flat()
    last_price = math.nan
    book = book_start()
    acc = curve_start(initial_cash, float(time[0]))
    exposure_bars = 0
    rows = 0
    one = np.uint64(1)
    chunk = np.uint64(SCAN_CHUNK)
    k = 0
    while k < n:
        if next_open and k > 0:
            step = at_open(position, cash, open_[k], k, rules)
            if step.entered:
                last_price = open_[k]  # marks the new position until the bar's close, should that be missing
            cash, position, book = step.cash, step.position, _book_step(book, step)
            if record:
                rows = _append_row(trades, rows, step.closed)
        if any_stops and position.units != 0.0:
            step = check_stops(position, cash, open_[k], high[k], low[k], k, rules)
            cash, position, book = step.cash, step.position, _book_step(book, step)
            if record:
                rows = _append_row(trades, rows, step.closed)
        step = at_close(position, cash, close[k], signals[k], k, rules)
        cash, position, book = step.cash, step.position, _book_step(book, step)
        if record:
            rows = _append_row(trades, rows, step.closed)
        units = position.units
        if close[k] > 0.0:
            last_price = close[k]
        equity = cash + units * last_price if units != 0.0 else cash
        exposure_bars += units != 0.0
        acc = curve_step(acc, equity, time[k] + bar_seconds, float(k))
        if record:
            equity_out[k] = equity
            cash_out[k] = cash
            units_out[k] = units
        k += 1
        if units != 0.0 and any_stops:
            continue  # a held position with stops needs the full step on every bar
        # Skip to the next bar whose signal could change the position: flat bars keep equity at `cash`,
        # held bars (without stops) are only marked to market.
        # The scan is written out here rather than in a helper: a helper taking `signals` would pay Numba's
        # reference counting on every call. It rules out SCAN_CHUNK signals at a time with a min/max that
        # LLVM vectorises (unsigned indices spare it Numba's negative-index fix-up), then steps one by one.
        keep_low, keep_high = quiet_signals(units, rules.allow_short)
        scan = np.uint64(k - shift)
        scan_end = np.uint64(n - shift)
        while scan + chunk <= scan_end:
            chunk_low = signals[scan]
            chunk_high = signals[scan]
            for j in range(scan + one, scan + chunk):
                chunk_low = min(chunk_low, signals[j])
                chunk_high = max(chunk_high, signals[j])
            if chunk_low < keep_low or chunk_high > keep_high:
                break
            scan += chunk
        while scan < scan_end and keep_low <= signals[scan] <= keep_high:
            scan += one
        quiet_end = int(scan) + shift
        if quiet_end <= k:
            continue
        if next_open:
            # The skipped bars closed on signals that leave the position alone, but the last one's signal
            # is the one the next open fills.
            position = at_close(position, cash, close[quiet_end - 1], signals[quiet_end - 1], quiet_end - 1,
                                rules).position
        if units == 0.0:
            # One flat step stands for all of them: equity does not move.
            acc = curve_step(acc, cash, time[quiet_end - 1] + bar_seconds, float(quiet_end - 1))
            if record:
                equity_out[k:quiet_end] = cash
                cash_out[k:quiet_end] = cash
                units_out[k:quiet_end] = 0.0
            k = quiet_end
            continue
        exposure_bars += quiet_end - k
        if record:
            price = last_price
            for bar in range(k, quiet_end):
                if close[bar] > 0.0:
                    price = close[bar]
                equity_out[bar] = cash + units * price
            cash_out[k:quiet_end] = cash
            units_out[k:quiet_end] = units
        acc, last_price = curve_mark_held(close, time, k, quiet_end, cash, units, last_price, acc,
                                          bar_seconds)
        k = quiet_end
    if record and units != 0.0:
        pnl = acc[0] - position.cash_before  # acc[0]: the final equity
        held = RoundTrip(position.entry_bar, n - 1, 1 if units > 0.0 else -1, abs(units), position.entry_price,
                         last_price, 0.0, position.entry_fee, pnl, pnl / position.committed, EXIT_OPEN)
        rows = _append_row(trades, rows, held)
    last_end = time[n - 1] + bar_seconds
    finish_metrics(out, acc, book, initial_cash, n, last_end - time[0], bar_seconds, last_end, exposure_bars,
                   buy_and_hold_return(open_, close, next_open, rules.buy_factor, rules.sell_factor,
                                       rules.fee_rate, initial_cash))
    return rows


@njit(cache=True, nogil=True, error_model="numpy")
def simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    time: np.ndarray,
    signals: np.ndarray,
    params: np.ndarray,
    bar_seconds: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full simulation: (equity, cash, units per bar, trade rows [TRADE_FIELDS], metric vector).

    Arrays: float64 prices, int64 open times (Unix seconds), int8 signals, params from
    `SimulationSettings.kernel_params()`; at least one bar.
    """
    n = len(close)
    equity = np.empty(n)
    cash = np.empty(n)
    units = np.empty(n)
    trades = np.empty((n, N_TRADE_FIELDS))
    out = np.empty(N_METRICS)
    rows = _run(open_, high, low, close, time, signals, params, bar_seconds, out, True, equity, cash, units,
                trades)
    return equity, cash, units, trades[:rows].copy(), out


@njit(cache=True, nogil=True, error_model="numpy")
def summarize_into(
    out: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    time: np.ndarray,
    signals: np.ndarray,
    params: np.ndarray,
    bar_seconds: float,
) -> None:
    """Write the metric vector (`METRIC_NAMES` slots) of one backtest into `out`, storing nothing per bar.

    Callable from other Numba code (e.g. a parallel sweep writing one row of a result matrix each).
    """
    nothing = out[:0]  # empty views stand in for the per-bar arrays: nothing is allocated
    _run(open_, high, low, close, time, signals, params, bar_seconds, out, False, nothing, nothing, nothing,
         nothing.reshape((0, N_TRADE_FIELDS)))
