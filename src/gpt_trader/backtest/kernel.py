"""The simulation kernel: signals + bars + settings -> fills, equity and metrics, compiled with Numba.

Rules (`reference.py` states the same rules as a plain loop; tests hold the two equal):

* At most one position. LONG (+1) when flat buys; SHORT (-1) when long sells everything. With
  `allow_short`, LONG when short covers then buys, SHORT when long sells then shorts, SHORT when flat shorts.
* Fill: "close" fills a signal of bar i at close[i]; "next_open" fills it at open[i+1], and a signal on
  the last bar does nothing. A quoted price that is NaN or <= 0 gives no fill: the signal is dropped.
  Every fill price is the quote worsened by spread and slippage (`buy_factor` / `sell_factor`).
* Sizing: committed = cash * fraction; units = committed / (fill * (1 + fee_rate)); a buy takes exactly
  `committed` from cash (so an all-in buy leaves 0), a sell adds units * fill - fee, fee = notional *
  fee_rate. A short is sized the same way on cash and holds negative units.
* Stops are levels relative to the entry fill price, checked on each bar after the entry fill against that
  bar's range: for "next_open" the rest of the entry bar after its open counts, for "close" checks start on
  the next bar. A bar that opens beyond a level fills at its open (a gap); otherwise the level fills when
  the low (high for shorts) reaches it. When the stop and the take-profit both lie inside one bar, the stop
  wins (we cannot know which came first). The trailing level follows the best high (low) seen on earlier
  bars since entry, starting from the entry fill; the stop-loss wins a tie with it.
* Within a bar: the pending signal fills at the open (next_open), then stops are checked, then the bar's
  own signal fills at the close (close mode), then equity is marked at the last usable close (or at the
  entry's quote when no usable close has come since the entry).
* equity = cash + units * mark. Trades are counted at entry; a position still open at the end is marked,
  not closed, and appears in the trade records with exit reason "open".

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
from gpt_trader.backtest.settings import (
    P_ALLOW_SHORT,
    P_BUY_FACTOR,
    P_FEE_RATE,
    P_FRACTION,
    P_INITIAL_CASH,
    P_NEXT_OPEN,
    P_SELL_FACTOR,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TRAILING_STOP,
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

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "open")
EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING_STOP, EXIT_OPEN = range(len(EXIT_REASONS))

NO_TRADE = (-1.0,) * N_TRADE_FIELDS
"""A trade row whose exit bar is -1: what the step helpers return when nothing closed."""

SCAN_CHUNK = 64
"""Signals ruled out per vectorised check while skipping quiet bars."""

# Fields of the open position tuple the step helpers pass around. `costs`, the other tuple, holds
# (fee rate, buy factor, sell factor, fraction, stop loss, take profit, allow short) as `_run` builds it.
POS_ENTRY_BAR, POS_ENTRY_PRICE, POS_ENTRY_FEE, POS_CASH_BEFORE, POS_COMMITTED, POS_STOP, POS_TAKE = range(7)

# The helpers below take and return plain scalars and tuples, never arrays: Numba reference-counts every
# array handed to a function, and on the sweep's hot path that bookkeeping would cost more than the work.


@njit(cache=True, nogil=True, error_model="numpy")
def _wants(signal: int, units: float, allow_short: bool) -> bool:
    """Whether `signal` changes the position `units` (before any price check)."""
    if signal > 0:
        return units <= 0.0
    if signal < 0:
        return units > 0.0 or (units == 0.0 and allow_short)
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _enter(
    side: int, quote: float, bar: int, cash: float, book: tuple[float, ...], costs: tuple[float, ...]
) -> tuple[float, float, tuple[float, ...], tuple[float, ...]]:
    """Open `side` (+1 long, -1 short) at `quote`: (cash, units, position, book)."""
    fee_rate, buy_factor, sell_factor, fraction, stop_loss, take_profit, _ = costs
    fill = quote * (buy_factor if side > 0 else sell_factor)
    committed = cash * fraction
    size = committed / (fill * (1.0 + fee_rate))
    notional = size * fill
    fee = notional * fee_rate
    if side > 0:
        stop = fill * (1.0 - stop_loss) if stop_loss == stop_loss else -math.inf
        take = fill * (1.0 + take_profit) if take_profit == take_profit else math.inf
        position = (float(bar), fill, fee, cash, committed, stop, take)
        return cash - committed, size, position, book_entry(book, fee)
    stop = fill * (1.0 + stop_loss) if stop_loss == stop_loss else math.inf
    take = fill * (1.0 - take_profit) if take_profit == take_profit else -math.inf
    position = (float(bar), fill, fee, cash, committed, stop, take)
    return cash + (notional - fee), -size, position, book_entry(book, fee)


@njit(cache=True, nogil=True, error_model="numpy")
def _exit(
    quote: float,
    bar: int,
    reason: int,
    cash: float,
    units: float,
    position: tuple[float, ...],
    book: tuple[float, ...],
    costs: tuple[float, ...],
) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """Close the position at `quote`: (cash, book, the trade row)."""
    fee_rate, buy_factor, sell_factor = costs[0], costs[1], costs[2]
    if units > 0.0:
        fill = quote * sell_factor
        notional = units * fill
        fee = notional * fee_rate
        cash = cash + (notional - fee)
    else:
        fill = quote * buy_factor
        notional = -units * fill
        fee = notional * fee_rate
        cash = cash - (notional + fee)
    pnl = cash - position[POS_CASH_BEFORE]
    trade_return = pnl / position[POS_COMMITTED]
    row = (position[POS_ENTRY_BAR], float(bar), 1.0 if units > 0.0 else -1.0, abs(units),
           position[POS_ENTRY_PRICE], fill, position[POS_ENTRY_FEE] + fee, pnl, trade_return, float(reason))
    return cash, book_exit(book, fee, pnl, trade_return), row


@njit(cache=True, nogil=True, error_model="numpy")
def _act(
    signal: int,
    quote: float,
    bar: int,
    cash: float,
    units: float,
    position: tuple[float, ...],
    book: tuple[float, ...],
    costs: tuple[float, ...],
) -> tuple[float, float, tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Apply a signal that `_wants` to act, at a usable `quote`: (cash, units, position, book, closed row).

    A reversal closes first and re-enters on the cash that results; no entry without positive cash.
    """
    closed = NO_TRADE
    if units != 0.0:
        cash, book, closed = _exit(quote, bar, EXIT_SIGNAL, cash, units, position, book, costs)
        units = 0.0
    if cash > 0.0 and (signal > 0 or costs[6] != 0.0):
        cash, units, position, book = _enter(1 if signal > 0 else -1, quote, bar, cash, book, costs)
    return cash, units, position, book, closed


@njit(cache=True, nogil=True, error_model="numpy")
def _stop_exit(
    units: float,
    open_: float,
    high: float,
    low: float,
    position: tuple[float, ...],
    best: float,
    trailing: float,
) -> tuple[float, int, float]:
    """The quote and reason of a stop or take-profit exit during this bar (NaN quote: none), and the
    trailing extreme after the bar. A NaN open, high or low compares False, so it never triggers."""
    stop = position[POS_STOP]
    take = position[POS_TAKE]
    reason = EXIT_STOP_LOSS
    if units > 0.0:
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


@njit(cache=True, nogil=True, error_model="numpy")
def _acting_range(units: float, allow_short: bool) -> tuple[int, int]:
    """Signals in [low, high] leave the position `units` as it is; any other value may change it."""
    if units > 0.0:
        return 0, 1
    if units < 0.0:
        return -1, 0
    return (0 if allow_short else -1), 0


@njit(cache=True, nogil=True, error_model="numpy")
def _append_row(trades: np.ndarray, rows: int, row: tuple[float, ...]) -> int:
    """Store `row` after the first `rows` trade rows, unless it is NO_TRADE; the new row count."""
    if row[TR_EXIT_BAR] < 0.0:
        return rows
    for field in range(N_TRADE_FIELDS):
        trades[rows, field] = row[field]
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
    next_open = params[P_NEXT_OPEN] != 0.0
    shift = 1 if next_open else 0
    allow_short = params[P_ALLOW_SHORT] != 0.0
    trailing = params[P_TRAILING_STOP]
    initial_cash = params[P_INITIAL_CASH]
    costs = (params[P_FEE_RATE], params[P_BUY_FACTOR], params[P_SELL_FACTOR], params[P_FRACTION],
             params[P_STOP_LOSS], params[P_TAKE_PROFIT], params[P_ALLOW_SHORT])
    any_stops = not (math.isnan(params[P_STOP_LOSS]) and math.isnan(params[P_TAKE_PROFIT])
                     and math.isnan(trailing))
    cash = initial_cash
    units = 0.0
    last_price = math.nan
    best = math.nan
    position: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    book = book_start()
    acc = curve_start(initial_cash, float(time[0]))
    exposure_bars = 0
    rows = 0
    one = np.uint64(1)
    chunk = np.uint64(SCAN_CHUNK)
    k = 0
    while k < n:
        if next_open and k > 0 and _wants(signals[k - 1], units, allow_short) and open_[k] > 0.0:
            cash, units, position, book, closed = _act(signals[k - 1], open_[k], k, cash, units, position,
                                                       book, costs)
            last_price = open_[k]  # marks a new position until the bar's close, should that be missing
            best = position[POS_ENTRY_PRICE]
            if record:
                rows = _append_row(trades, rows, closed)
        if any_stops and units != 0.0:
            quote, reason, best = _stop_exit(units, open_[k], high[k], low[k], position, best, trailing)
            if quote == quote:
                cash, book, closed = _exit(quote, k, reason, cash, units, position, book, costs)
                units = 0.0
                if record:
                    rows = _append_row(trades, rows, closed)
        if not next_open and _wants(signals[k], units, allow_short) and close[k] > 0.0:
            cash, units, position, book, closed = _act(signals[k], close[k], k, cash, units, position, book,
                                                       costs)
            best = position[POS_ENTRY_PRICE]
            if record:
                rows = _append_row(trades, rows, closed)
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
        keep_low, keep_high = _acting_range(units, allow_short)
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
        if units == 0.0:
            if quiet_end > k:
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
        pnl = acc[0] - position[POS_CASH_BEFORE]  # acc[0]: the final equity
        rows = _append_row(trades, rows, (position[POS_ENTRY_BAR], float(n - 1), 1.0 if units > 0.0 else -1.0,
                                          abs(units), position[POS_ENTRY_PRICE], last_price,
                                          position[POS_ENTRY_FEE], pnl, pnl / position[POS_COMMITTED],
                                          float(EXIT_OPEN)))
    last_end = time[n - 1] + bar_seconds
    finish_metrics(out, acc, book, initial_cash, n, last_end - time[0], bar_seconds, last_end, exposure_bars,
                   buy_and_hold_return(open_, close, next_open, params[P_BUY_FACTOR], params[P_SELL_FACTOR],
                                       params[P_FEE_RATE], initial_cash))
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
