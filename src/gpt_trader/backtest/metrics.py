"""Performance metrics of a backtest, honest for a 24/7 market.

The kernel feeds two small accumulators while it runs, so a sweep gets every metric in one pass without
per-bar arrays: `curve_step` folds one equity point into running sums (returns, squared returns, downside,
drawdown episodes), `curve_mark_held` folds a run of held bars in vectorised blocks, and `book_entry` /
`book_exit` fold each fill and closed round trip into the trade book. `finish_metrics` turns them into the
vector whose slots `METRIC_NAMES` names; `Metrics` is that vector as a typed record. `compute_metrics`
runs the same accumulators over an equity curve computed elsewhere.

Definitions (per-bar returns r_k = equity_k / equity_{k-1} - 1, with equity_{-1} = the initial cash, so a
backtest of n bars has n returns; bars_per_year = 365 * 86400 / bar_seconds):

* total_return: final / initial - 1.  cagr: (final / initial) ** (1 / years) - 1 over the span the bars
  cover (first open to last close); -1 when the account is wiped out.
* volatility: population std of r times sqrt(bars_per_year).  sharpe: mean(r) / std(r) *
  sqrt(bars_per_year), risk-free 0.  sortino: mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(bars_per_year).
  A ratio whose denominator is 0 is inf when its numerator is positive and NaN otherwise.
* max_drawdown: the deepest fall from a running peak, as a fraction <= 0; max_drawdown_bars and
  max_drawdown_seconds: that episode's length from its peak to recovery (or to the end if it never
  recovered). calmar: cagr / |max_drawdown|.
* win_rate, profit_factor (gross profit / gross loss), expectancy (mean pnl in cash) and avg_trade_return
  (mean pnl / committed cash) count CLOSED round trips only, net of fees; NaN without one.
* trades: entries (an open position at the end counts); exposure: fraction of bars that close with a
  position open; fees: total paid; buy_and_hold_return: one all-in buy at the first fill opportunity
  sold at the last close, paying the same costs (fee, spread, slippage) on both fills.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numba import njit

METRIC_NAMES: tuple[str, ...] = (
    "final_equity",
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_bars",
    "max_drawdown_seconds",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "trades",
    "closed_trades",
    "exposure",
    "fees",
    "buy_and_hold_return",
)
N_METRICS = len(METRIC_NAMES)
INTEGER_METRICS = frozenset({"max_drawdown_bars", "max_drawdown_seconds", "trades", "closed_trades"})
(
    M_FINAL_EQUITY,
    M_TOTAL_RETURN,
    M_CAGR,
    M_VOLATILITY,
    M_SHARPE,
    M_SORTINO,
    M_CALMAR,
    M_MAX_DRAWDOWN,
    M_MAX_DRAWDOWN_BARS,
    M_MAX_DRAWDOWN_SECONDS,
    M_WIN_RATE,
    M_PROFIT_FACTOR,
    M_EXPECTANCY,
    M_AVG_TRADE_RETURN,
    M_TRADES,
    M_CLOSED_TRADES,
    M_EXPOSURE,
    M_FEES,
    M_BUY_AND_HOLD_RETURN,
) = range(N_METRICS)

SECONDS_PER_YEAR = 365 * 86400

# Slots of the curve accumulator (`curve_start`) that the block fold reads.
_PREVIOUS, _PEAK, _TROUGH = 0, 4, 7

HELD_BLOCK = 256
"""Held bars summed per vectorised pass; a block that makes a new equity peak is folded bar by bar."""


@dataclass(frozen=True)
class Metrics:
    """One backtest's metrics, fields in the order of `METRIC_NAMES` (see the module doc)."""

    final_equity: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_seconds: int
    win_rate: float
    profit_factor: float
    expectancy: float
    avg_trade_return: float
    trades: int
    closed_trades: int
    exposure: float
    fees: float
    buy_and_hold_return: float

    @classmethod
    def from_array(cls, values: np.ndarray) -> Metrics:
        """Read a metric vector (slots in `METRIC_NAMES` order) as a record."""
        if len(values) != N_METRICS:
            raise ValueError(f"a metric vector has {N_METRICS} values, got {len(values)}")
        typed: dict[str, Any] = {}
        for field, value in zip(fields(cls), values, strict=True):
            typed[field.name] = int(value) if field.type == "int" else float(value)
        return cls(**typed)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def curve_start(initial_cash: float, start_time: float) -> tuple[float, ...]:
    """The curve accumulator before the first bar: (previous equity, sum r, sum r^2, sum downside r^2,
    peak, peak index, peak time, trough since peak, deepest drawdown, its bars, its seconds)."""
    return (initial_cash, 0.0, 0.0, 0.0, initial_cash, -1.0, start_time, initial_cash, 0.0, 0.0, 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def curve_step(acc: tuple[float, ...], equity: float, end_time: float, index: float) -> tuple[float, ...]:
    """Fold the equity at the close of bar `index` (ending at `end_time`) into the accumulator."""
    (previous, sum_r, sum_r2, sum_down2, peak, peak_index, peak_time, trough, deepest, deepest_bars,
     deepest_seconds) = acc
    if equity == previous:
        # A flat bar (the common case of a sweep) adds a zero return: only its place at the peak matters.
        if equity >= peak:
            peak_index = index
            peak_time = end_time
        return (equity, sum_r, sum_r2, sum_down2, peak, peak_index, peak_time, trough, deepest, deepest_bars,
                deepest_seconds)
    r = equity / previous - 1.0
    sum_r += r
    sum_r2 += r * r
    downside = min(r, 0.0)
    sum_down2 += downside * downside
    if equity >= peak:
        if trough < peak:
            depth = trough / peak - 1.0
            if depth < deepest:
                deepest = depth
                deepest_bars = index - peak_index
                deepest_seconds = end_time - peak_time
        peak = equity
        peak_index = index
        peak_time = end_time
        trough = equity
    elif equity < trough:
        trough = equity
    return (equity, sum_r, sum_r2, sum_down2, peak, peak_index, peak_time, trough, deepest, deepest_bars,
            deepest_seconds)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def curve_fold_block(
    acc: tuple[float, ...], last_equity: float, sum_r: float, sum_r2: float, sum_down2: float, lowest: float
) -> tuple[float, ...]:
    """Fold a run of bars summed elsewhere (the kernel's vectorised path): their return sums, lowest and
    last equity. Valid only when every equity of the run stayed below the peak, so no drawdown ended."""
    (_, run_r, run_r2, run_down2, peak, peak_index, peak_time, trough, deepest, deepest_bars,
     deepest_seconds) = acc
    return (last_equity, run_r + sum_r, run_r2 + sum_r2, run_down2 + sum_down2, peak, peak_index, peak_time,
            min(trough, lowest), deepest, deepest_bars, deepest_seconds)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def book_start() -> tuple[float, ...]:
    """An empty trade book: (entries, fees, closed, wins, gross profit, gross loss, sum pnl, sum return)."""
    return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def book_entry(book: tuple[float, ...], fee: float) -> tuple[float, ...]:
    """Count one entry and its fee."""
    entries, fees, closed, wins, gross_profit, gross_loss, sum_pnl, sum_return = book
    return (entries + 1.0, fees + fee, closed, wins, gross_profit, gross_loss, sum_pnl, sum_return)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def book_exit(book: tuple[float, ...], fee: float, pnl: float, trade_return: float) -> tuple[float, ...]:
    """Fold one closed round trip: its exit fee, pnl net of both fees, and pnl / committed cash."""
    entries, fees, closed, wins, gross_profit, gross_loss, sum_pnl, sum_return = book
    if pnl > 0.0:
        wins += 1.0
        gross_profit += pnl
    elif pnl < 0.0:
        gross_loss -= pnl
    return (entries, fees + fee, closed + 1.0, wins, gross_profit, gross_loss, sum_pnl + pnl,
            sum_return + trade_return)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"}, inline="always")
def _held_block_sums(
    close: np.ndarray,
    start: int,
    stop: int,
    cash: float,
    units: float,
    previous: float,
    peak: float,
    trough: float,
) -> tuple[float, float, float, int, int, int]:
    """Per-bar return sums of a held block marked at its closes, in one vectorised pass.

    Returns (sum r, sum r^2, sum min(r, 0)^2, usable closes, equities >= peak, equities < trough); the
    sums stand only when every close is usable and no equity reaches the peak. Indexing a view from 0
    lets LLVM drop Numba's negative-index fix-up, which would block SIMD.
    """
    prices = close[start:stop]
    equity = cash + units * prices[0]
    r = equity / previous - 1.0
    downside = min(r, 0.0)
    sum_r, sum_r2, sum_down2 = r, r * r, downside * downside
    usable, at_peak, below_trough = int(prices[0] > 0.0), int(equity >= peak), int(equity < trough)
    for i in range(1, len(prices)):
        equity = cash + units * prices[i]
        r = equity / (cash + units * prices[i - 1]) - 1.0
        downside = r if r < 0.0 else 0.0
        sum_r += r
        sum_r2 += r * r
        sum_down2 += downside * downside
        usable += prices[i] > 0.0
        at_peak += equity >= peak
        below_trough += equity < trough
    return sum_r, sum_r2, sum_down2, usable, at_peak, below_trough


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def curve_mark_held(
    close: np.ndarray,
    time: np.ndarray,
    start: int,
    stop: int,
    cash: float,
    units: float,
    last_price: float,
    acc: tuple[float, ...],
    bar_seconds: float,
) -> tuple[tuple[float, ...], float]:
    """Fold a position held over bars [start, stop), marked at each usable close: (accumulator, last price).

    The kernel's path for held bars where no signal acts and no stop is set. Blocks of HELD_BLOCK bars are
    summed in one pass that LLVM vectorises (`reassoc` lets it spread the sums over SIMD lanes, so they
    differ from a bar-by-bar fold in rounding order only). A block with a missing close, or whose equity
    reaches the running peak, is folded bar by bar with `curve_step`.
    """
    base = start
    while base < stop:
        block_end = min(base + HELD_BLOCK, stop)
        sum_r, sum_r2, sum_down2, usable, at_peak, below_trough = _held_block_sums(
            close, base, block_end, cash, units, acc[_PREVIOUS], acc[_PEAK], acc[_TROUGH]
        )
        if usable == block_end - base and at_peak == 0:
            lowest = acc[_TROUGH]
            if below_trough:
                for bar in range(base, block_end):
                    lowest = min(lowest, cash + units * close[bar])
            last_price = close[block_end - 1]
            acc = curve_fold_block(acc, cash + units * last_price, sum_r, sum_r2, sum_down2, lowest)
        else:
            for bar in range(base, block_end):
                if close[bar] > 0.0:
                    last_price = close[bar]
                acc = curve_step(acc, cash + units * last_price, time[bar] + bar_seconds, float(bar))
        base = block_end
    return acc, last_price


@njit(cache=True, nogil=True, error_model="numpy")
def buy_and_hold_return(
    open_: np.ndarray,
    close: np.ndarray,
    next_open: bool,
    buy_factor: float,
    sell_factor: float,
    fee_rate: float,
    initial_cash: float,
) -> float:
    """Return of one all-in buy at the first fill opportunity, sold at the last usable close, with the
    backtest's fill rule and costs on both fills (so it compares fairly with a strategy that ends flat);
    NaN when no bar offers a usable price."""
    n = len(close)
    entry = -1
    for k in range(1 if next_open else 0, n):
        if (open_[k] if next_open else close[k]) > 0.0:
            entry = k
            break
    if entry < 0:
        return math.nan
    quote = open_[entry] if next_open else close[entry]
    mark = quote
    for k in range(n - 1, entry - 1, -1):
        if close[k] > 0.0:
            mark = close[k]
            break
    units = initial_cash / (quote * buy_factor * (1.0 + fee_rate))
    return units * mark * sell_factor * (1.0 - fee_rate) / initial_cash - 1.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0.0:
        return numerator / denominator
    return math.inf if numerator > 0.0 else math.nan


@njit(cache=True, nogil=True, error_model="numpy")
def finish_metrics(
    out: np.ndarray,
    acc: tuple[float, ...],
    book: tuple[float, ...],
    initial_cash: float,
    n_bars: int,
    span_seconds: float,
    bar_seconds: float,
    last_end_time: float,
    exposure_bars: int,
    buy_and_hold_return: float,
) -> None:
    """Write every metric into `out` (length N_METRICS) from the accumulators after the last bar."""
    (final, sum_r, sum_r2, sum_down2, peak, peak_index, peak_time, trough, deepest, deepest_bars,
     deepest_seconds) = acc
    if trough < peak:  # the last drawdown episode has not recovered: it lasts to the end
        depth = trough / peak - 1.0
        if depth < deepest:
            deepest = depth
            deepest_bars = (n_bars - 1) - peak_index
            deepest_seconds = last_end_time - peak_time
    annualise = math.sqrt(SECONDS_PER_YEAR / bar_seconds)
    mean = sum_r / n_bars
    std = math.sqrt(max(sum_r2 / n_bars - mean * mean, 0.0))
    downside = math.sqrt(sum_down2 / n_bars)
    growth = final / initial_cash
    years = span_seconds / SECONDS_PER_YEAR
    cagr = growth ** (1.0 / years) - 1.0 if growth > 0.0 else -1.0

    out[M_FINAL_EQUITY] = final
    out[M_TOTAL_RETURN] = growth - 1.0
    out[M_CAGR] = cagr
    out[M_VOLATILITY] = std * annualise
    out[M_SHARPE] = _ratio(mean, std) * annualise
    out[M_SORTINO] = _ratio(mean, downside) * annualise
    out[M_CALMAR] = _ratio(cagr, -deepest)
    out[M_MAX_DRAWDOWN] = deepest
    out[M_MAX_DRAWDOWN_BARS] = deepest_bars
    out[M_MAX_DRAWDOWN_SECONDS] = deepest_seconds
    entries, fees, closed, wins, gross_profit, gross_loss, sum_pnl, sum_return = book
    if closed > 0:
        out[M_WIN_RATE] = wins / closed
        out[M_PROFIT_FACTOR] = _ratio(gross_profit, gross_loss)
        out[M_EXPECTANCY] = sum_pnl / closed
        out[M_AVG_TRADE_RETURN] = sum_return / closed
    else:
        out[M_WIN_RATE] = math.nan
        out[M_PROFIT_FACTOR] = math.nan
        out[M_EXPECTANCY] = math.nan
        out[M_AVG_TRADE_RETURN] = math.nan
    out[M_TRADES] = entries
    out[M_CLOSED_TRADES] = closed
    out[M_EXPOSURE] = exposure_bars / n_bars
    out[M_FEES] = fees
    out[M_BUY_AND_HOLD_RETURN] = buy_and_hold_return


@njit(cache=True, nogil=True, error_model="numpy")
def _curve_metrics(
    out: np.ndarray,
    equity: np.ndarray,
    time: np.ndarray,
    bar_seconds: float,
    initial_cash: float,
    closed_pnl: np.ndarray,
    closed_returns: np.ndarray,
    trades: int,
    fees: float,
    exposure_bars: int,
    buy_and_hold_return: float,
) -> None:
    book: tuple[float, ...] = (float(trades), fees, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for i in range(len(closed_pnl)):
        book = book_exit(book, 0.0, closed_pnl[i], closed_returns[i])
    n = len(equity)
    acc = curve_start(initial_cash, float(time[0]))
    for k in range(n):
        acc = curve_step(acc, equity[k], time[k] + bar_seconds, float(k))
    last_end = time[n - 1] + bar_seconds
    finish_metrics(out, acc, book, initial_cash, n, last_end - time[0], bar_seconds, last_end, exposure_bars,
                   buy_and_hold_return)


def compute_metrics(
    equity: np.ndarray,
    time: np.ndarray,
    bar_seconds: float,
    initial_cash: float,
    *,
    closed_pnl: np.ndarray | None = None,
    closed_returns: np.ndarray | None = None,
    trades: int = 0,
    fees: float = 0.0,
    exposure_bars: int = 0,
    buy_and_hold_return: float = math.nan,
) -> Metrics:
    """Metrics of an equity curve (equity at each bar's close; bar open times in Unix seconds).

    `closed_pnl` and `closed_returns` describe the closed round trips, `trades` counts entries. The
    kernel computes the same numbers in its own pass; this entry point serves curves produced
    elsewhere (the event engine, a reference simulation, a hand-made example).
    """
    equity = np.ascontiguousarray(equity, dtype=np.float64)
    time = np.ascontiguousarray(time, dtype=np.int64)
    if len(equity) == 0 or len(equity) != len(time):
        raise ValueError(f"need one equity value per bar time; got {len(equity)} values, {len(time)} times")
    pnl = np.ascontiguousarray([] if closed_pnl is None else closed_pnl, dtype=np.float64)
    returns = np.ascontiguousarray([] if closed_returns is None else closed_returns, dtype=np.float64)
    if len(pnl) != len(returns):
        raise ValueError(f"closed_pnl has {len(pnl)} values but closed_returns has {len(returns)}")
    out = np.empty(N_METRICS)
    _curve_metrics(out, equity, time, float(bar_seconds), float(initial_cash), pnl, returns, int(trades),
                   float(fees), int(exposure_bars), float(buy_and_hold_return))
    return Metrics.from_array(out)
